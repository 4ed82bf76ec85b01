/*
 * notbrought - util: the growable byte buffer.
 */
#include "notbrought/util.h"

#include <stdlib.h>
#include <string.h>

nb_err_t nb_buf_reserve(nb_buf_t *buf, size_t extra)
{
    if (buf->err)
        return buf->err;
    if (extra > SIZE_MAX / 4 - buf->len) /* before the sum below, which would wrap */
        return buf->err = NB_ERR_NOMEM;
    if (buf->len + extra <= buf->cap)
        return NB_ERR_OK;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < buf->len + extra)
        cap *= 2;
    uint8_t *d = realloc(buf->data, cap);
    if (!d)
        return buf->err = NB_ERR_NOMEM;
    buf->data = d;
    buf->cap = cap;
    return NB_ERR_OK;
}

nb_err_t nb_buf_append(nb_buf_t *buf, const void *data, size_t len)
{
    nb_err_t err = nb_buf_reserve(buf, len);
    if (err)
        return err;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return NB_ERR_OK;
}

void nb_buf_add(nb_buf_t *buf, const void *data, size_t len)
{
    /* The error is in buf->err, where the caller looks for it (util.h). */
    NB_IGNORE(nb_buf_append(buf, data, len));
}

nb_err_t nb_grow(void **arr, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return NB_ERR_OK;
    size_t c = *cap ? 2 * *cap : first;
    if (c < *cap || (size && c > SIZE_MAX / size))
        return NB_ERR_NOMEM;
    void *v = realloc(*arr, c * size);
    if (!v)
        return NB_ERR_NOMEM;
    *arr = v;
    *cap = c;
    return NB_ERR_OK;
}

void nb_buf_free(nb_buf_t *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
    buf->err = NB_ERR_OK;
}
