/*
 * notbrought - stream: per-partition state store, child key -> serialized child state.
 * The hash table is uthash (Debian uthash-dev).
 */
#include "stream/internal.h"

#include <stdlib.h>
#include <string.h>

/* Keys are HMAC-SHA256 or SHA-256 outputs, uniform already: their bytes 8-11 are the bucket
 * hash (bytes 0-3 choose the partition, so all keys of one store agree on them modulo the
 * partition count). */
#define HASH_FUNCTION(keyptr, keylen, hashv)                                                     \
    do {                                                                                         \
        const uint8_t *hk_ = (const uint8_t *)(keyptr);                                          \
        (void)(keylen);                                                                          \
        (hashv) = (unsigned)hk_[8] | (unsigned)hk_[9] << 8 | (unsigned)hk_[10] << 16 |           \
                  (unsigned)hk_[11] << 24;                                                       \
    } while (0)
#include <uthash.h>

typedef struct nb__entry_s {
    uint8_t key[NB__KEY_LEN];
    uint8_t *val;
    size_t len;
    UT_hash_handle hh;
} nb__entry_t;

struct nb__store_s {
    nb__entry_t *head;
    size_t bytes;
};

nb__store_t *nb__store_new(void)
{
    return calloc(1, sizeof(nb__store_t));
}

void nb__store_destroy(nb__store_t *s)
{
    if (!s)
        return;
    nb__entry_t *e, *tmp;
    HASH_ITER(hh, s->head, e, tmp)
    {
        HASH_DEL(s->head, e);
        free(e->val);
        free(e);
    }
    free(s);
}

const uint8_t *nb__store_get(const nb__store_t *s, const uint8_t key[NB__KEY_LEN], size_t *len)
{
    nb__entry_t *e;
    HASH_FIND(hh, s->head, key, NB__KEY_LEN, e);
    if (!e)
        return NULL;
    *len = e->len;
    return e->val;
}

nb_err_t nb__store_put(nb__store_t *s, const uint8_t key[NB__KEY_LEN], const void *val,
                       size_t len)
{
    nb__entry_t *e;
    HASH_FIND(hh, s->head, key, NB__KEY_LEN, e);
    if (e) {
        /* Usually a value of about the same size: realloc keeps it in place. */
        uint8_t *v = realloc(e->val, len ? len : 1);
        if (!v)
            return NB_ERR_NOMEM;
        memcpy(v, val, len);
        s->bytes += len;
        s->bytes -= e->len;
        e->val = v;
        e->len = len;
        return NB_ERR_OK;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy || !(e = malloc(sizeof(*e)))) {
        free(copy);
        return NB_ERR_NOMEM;
    }
    memcpy(copy, val, len);
    memcpy(e->key, key, NB__KEY_LEN);
    e->val = copy;
    e->len = len;
    HASH_ADD(hh, s->head, key, NB__KEY_LEN, e);
    s->bytes += len;
    return NB_ERR_OK;
}

nb_err_t nb__store_swap(nb__store_t *s, const uint8_t key[NB__KEY_LEN], uint8_t *val, size_t len,
                        uint8_t **old, size_t *old_len)
{
    nb__entry_t *e;
    *old = NULL;
    *old_len = 0;
    HASH_FIND(hh, s->head, key, NB__KEY_LEN, e);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e)
            return NB_ERR_NOMEM;
        memcpy(e->key, key, NB__KEY_LEN);
        HASH_ADD(hh, s->head, key, NB__KEY_LEN, e);
    } else {
        s->bytes -= e->len;
        *old = e->val;
        *old_len = e->len;
    }
    e->val = val;
    e->len = len;
    s->bytes += len;
    return NB_ERR_OK;
}

uint8_t *nb__store_take(nb__store_t *s, const uint8_t key[NB__KEY_LEN], size_t *len)
{
    nb__entry_t *e;
    HASH_FIND(hh, s->head, key, NB__KEY_LEN, e);
    *len = 0;
    if (!e)
        return NULL;
    uint8_t *val = e->val;
    *len = e->len;
    HASH_DEL(s->head, e);
    s->bytes -= e->len;
    free(e);
    return val;
}

void nb__store_del(nb__store_t *s, const uint8_t key[NB__KEY_LEN])
{
    nb__entry_t *e;
    HASH_FIND(hh, s->head, key, NB__KEY_LEN, e);
    if (!e)
        return;
    HASH_DEL(s->head, e);
    s->bytes -= e->len;
    free(e->val);
    free(e);
}

size_t nb__store_count(const nb__store_t *s)
{
    return HASH_COUNT(s->head);
}

size_t nb__store_bytes(const nb__store_t *s)
{
    return s->bytes + HASH_COUNT(s->head) * sizeof(nb__entry_t);
}

int nb__store_foreach(const nb__store_t *s, nb__store_cb_t *cb, void *opaque)
{
    nb__entry_t *e, *tmp;
    HASH_ITER(hh, s->head, e, tmp)
    {
        int rc = cb(opaque, e->key, e->val, e->len);
        if (rc)
            return rc;
    }
    return 0;
}

void nb__key_hex(const uint8_t key[NB__KEY_LEN], char out[2 * NB__KEY_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < NB__KEY_LEN; i++) {
        out[2 * i] = digits[key[i] >> 4];
        out[2 * i + 1] = digits[key[i] & 15];
    }
    out[2 * NB__KEY_LEN] = '\0';
}

/* Hex digit values; -1 for anything else. */
static const int8_t nb__hexval[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
}; /* value + 1, so that 0 (the default) means "not a digit" */

bool nb__key_unhex(const void *hex, size_t len, uint8_t key[NB__KEY_LEN])
{
    const uint8_t *s = hex;
    if (len != 2 * NB__KEY_LEN)
        return false;
    int bad = 0;
    for (size_t i = 0; i < NB__KEY_LEN; i++) {
        int hi = nb__hexval[s[2 * i]] - 1, lo = nb__hexval[s[2 * i + 1]] - 1;
        bad |= hi | lo; /* negative when either is not a digit */
        key[i] = (uint8_t)(((unsigned)hi & 15u) << 4 | ((unsigned)lo & 15u));
    }
    return bad >= 0;
}
