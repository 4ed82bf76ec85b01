/*
 * notbrought - util: the small things every module needs and no module owns. A growable
 * byte buffer, the byte-order helpers of the project's binary formats, the one function
 * that reads a whole file, and the one that starts a thread.
 *
 * util is the lowest layer: it uses no other module. The error table
 * (notbrought/err.h) belongs to it too.
 */
#ifndef NOTBROUGHT_UTIL_H
#define NOTBROUGHT_UTIL_H

#include <pthread.h>
#include <signal.h>
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
NB_NODISCARD nb_err_t nb_buf_reserve(nb_buf_t *buf, size_t extra);
/** @brief Appends bytes. @returns NB_ERR_OK, or the buffer's error (nothing is appended). */
NB_NODISCARD nb_err_t nb_buf_append(nb_buf_t *buf, const void *data, size_t len);
/**
 * @brief Appends bytes, keeping the error in the buffer: the sticky write of an encoder that
 *        writes a whole value and then checks `buf->err` once, before it uses the bytes.
 * @remark It returns nothing, so that no caller discards an error: a failed write is in
 *         buf->err, and every later write does nothing. Where each write must be checked on
 *         its own, use nb_buf_append().
 */
void nb_buf_add(nb_buf_t *buf, const void *data, size_t len);
/** @brief Frees the buffer's memory and zeroes it. */
void nb_buf_free(nb_buf_t *buf);

/**
 * @brief Room for one more element in the array @p *arr of @p *cap elements of @p size bytes,
 *        @p n of them used: doubles it (from @p first elements) when it is full.
 * @returns NB_ERR_OK, or NB_ERR_NOMEM with the array unchanged.
 */
NB_NODISCARD nb_err_t nb_grow(void **arr, size_t *cap, size_t n, size_t size, size_t first);

/* ---- byte order -------------------------------------------------------------------------- */
/*
 * Fixed-width unsigned integers of 1 to 8 bytes in either byte order. The formats choose:
 * the ledger, the stream's state and the dead-letter origin are little-endian; parked events
 * and the Confluent frame's schema id are big-endian (docs/schemas.md). Signed values travel
 * as their two's-complement bits: cast to uint64_t (or uint32_t for a 4-byte field) before
 * writing and back after reading. Inline, as the ledger's encoder calls them once per field.
 */

/**
 * @brief Stores the low @p n bytes of @p v (1 <= n <= 8) at @p p, least significant first.
 * @returns p + n, where the next field goes.
 */
static inline uint8_t *nb_le_put(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + n;
}

/** @brief The @p n-byte (1 <= n <= 8) little-endian unsigned integer at @p p. */
static inline uint64_t nb_le_get(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/**
 * @brief Stores the low @p n bytes of @p v (1 <= n <= 8) at @p p, most significant first.
 * @returns p + n, where the next field goes.
 */
static inline uint8_t *nb_be_put(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return p + n;
}

/** @brief The @p n-byte (1 <= n <= 8) big-endian unsigned integer at @p p. */
static inline uint64_t nb_be_get(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/** @brief Appends the low @p n bytes of @p v, little-endian. @returns as nb_buf_append(). */
NB_NODISCARD static inline nb_err_t nb_buf_put_le(nb_buf_t *buf, uint64_t v, size_t n)
{
    uint8_t x[8];
    nb_le_put(x, v, n);
    return nb_buf_append(buf, x, n);
}

/** @brief Appends the low @p n bytes of @p v, little-endian, as nb_buf_add() (sticky). */
static inline void nb_buf_add_le(nb_buf_t *buf, uint64_t v, size_t n)
{
    uint8_t x[8];
    nb_le_put(x, v, n);
    nb_buf_add(buf, x, n);
}

/** @brief Appends the low @p n bytes of @p v, big-endian. @returns as nb_buf_append(). */
NB_NODISCARD static inline nb_err_t nb_buf_put_be(nb_buf_t *buf, uint64_t v, size_t n)
{
    uint8_t x[8];
    nb_be_put(x, v, n);
    return nb_buf_append(buf, x, n);
}

/* ---- reading a whole file ---------------------------------------------------------------- */

/** Why nb_file_read() did not read a file. */
typedef enum nb_file_status_e {
    NB_FILE_OK = 0,
    NB_FILE_CANNOT, /**< cannot open or read it: the reason is strerror()'s text */
    NB_FILE_KIND,   /**< not a regular file: the reason says what it is ("a directory") */
    NB_FILE_SIZE,   /**< larger than the limit the caller gave */
    NB_FILE_NOMEM
} nb_file_status_t;

/**
 * @brief Reads a whole file, which must be a regular file of at most @p max bytes.
 *
 * A FIFO, a device or a socket named by mistake or by malice never blocks the caller (the
 * policy loader runs on the daemon's main loop, at SIGHUP): the file is opened with O_NONBLOCK
 * and fstat() refuses anything that is not a regular file before a byte is read; stat()
 * before open() spares a device the side effects of being opened, and says what a socket is
 * (open() fails on one). At most one byte more than @p max is read, however the file grows
 * meanwhile.
 *
 * @param oflags more open() flags, e.g. O_NOFOLLOW; 0 for none.
 * @param why receives a static or strerror() string saying why, for NB_FILE_CANNOT and
 *        NB_FILE_KIND; "" otherwise. Never NULL on return.
 * @returns NB_FILE_OK with *bufp (malloc'd and NUL-terminated; the caller frees it) and *lenp;
 *          otherwise *bufp is NULL and *lenp 0.
 */
nb_file_status_t nb_file_read(const char *path, int oflags, size_t max, char **bufp,
                              size_t *lenp, const char **why);

/* ---- threads and signals ----------------------------------------------------------------- */
/*
 * `notbrought run` handles SIGTERM, SIGINT and SIGHUP by setting `volatile sig_atomic_t` flags
 * that only its main loop reads, and C11 promises such a flag's value only to the thread the
 * handler interrupted. The kernel delivers a signal sent to the process to any one thread that
 * does not block it; so every thread notbrought starts blocks these three from its first
 * instruction, and the main thread is the only one left to take them. librdkafka does the same
 * for every thread it starts (it blocks all signals around thrd_create in rd_kafka_new(), for
 * its broker threads and for its background thread; its documentation does not say so, its
 * source does), except its mock cluster's thread. That one and libmicrohttpd's inherit their
 * creator's mask: notbrought starts them between nb_thread_signals_block() and _restore().
 *
 * SIGPIPE is not among them: `notbrought` ignores it, a disposition every thread shares, and
 * the kernel sends it to the thread that wrote to the broken pipe, not to the process.
 */

/**
 * @brief pthread_create() (default attributes) with SIGTERM, SIGINT and SIGHUP blocked in the
 *        new thread from birth: they are blocked in the calling thread around the call, which
 *        the new thread inherits, and the caller's mask is then restored. The new thread's
 *        other signals are as the caller's.
 * @returns 0, or pthread_create()'s error number (no thread was started).
 */
int nb_thread_create(pthread_t *thread, void *(*start)(void *), void *arg);

/**
 * @brief Blocks SIGTERM, SIGINT and SIGHUP in the calling thread, for a call into a library
 *        that starts threads of its own, which inherit the mask. Undo it with
 *        nb_thread_signals_restore(@p old) on the same thread, right after that call.
 * @param old receives the calling thread's mask as it was.
 */
void nb_thread_signals_block(sigset_t *old);

/** @brief Restores the calling thread's mask nb_thread_signals_block() saved in @p old. */
void nb_thread_signals_restore(const sigset_t *old);

#endif /* NOTBROUGHT_UTIL_H */
