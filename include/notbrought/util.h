/*
 * notbrought - util: the small things every module needs and no module owns: a growable
 * byte buffer.
 *
 * util is the lowest layer: it uses no other module. The error table
 * (notbrought/err.h) belongs to it too.
 */
#ifndef NOTBROUGHT_UTIL_H
#define NOTBROUGHT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"

/* ---- growable buffer --------------------------------------------------------------------- */

/**
 * A growable byte buffer. Zero-initialise before first use. It remembers the first error of a
 * write (`err`): later writes do nothing and return it, so an encoder may write a whole value
 * and check `err` once before it uses the bytes; a value cut short is never used.
 */
typedef struct nb_buf_s {
    uint8_t *data;
    size_t len;
    size_t cap;
    nb_err_t err; /**< the first write that failed (NB_ERR_NOMEM), or NB_ERR_OK */
} nb_buf_t;

/** @brief Makes room for @p extra more bytes. @returns NB_ERR_OK, or the buffer's error. */
nb_err_t nb_buf_reserve(nb_buf_t *buf, size_t extra);
/** @brief Appends bytes. @returns NB_ERR_OK, or the buffer's error (nothing is appended). */
nb_err_t nb_buf_append(nb_buf_t *buf, const void *data, size_t len);
/** @brief Frees the buffer's memory and zeroes it. */
void nb_buf_free(nb_buf_t *buf);

#endif /* NOTBROUGHT_UTIL_H */
