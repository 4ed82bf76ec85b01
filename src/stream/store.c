/*
 * notbrought - stream: per-partition state store, child key -> serialized child state.
 *
 * The table is GLib's GHashTable (Debian libglib2.0-dev), used as a set of entries keyed by
 * their first 32 bytes. It keeps the hashes and the keys in flat arrays with open addressing,
 * so a lookup touches two small arrays and then the one entry it finds; uthash's chains cost a
 * cache miss or two per entry walked, and a lookup was as dear as the whole policy evaluation
 * (docs/benchmarks.md). The entry the last lookup found is remembered: the put that follows a
 * get of the same key (every event: load the child, save it) needs no second lookup.
 */
#include "stream/internal.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

typedef struct nb__entry_s {
    uint8_t key[NB__KEY_LEN]; /* first: the table's key is the entry itself */
    uint8_t *val;
    size_t len;
    uint64_t mark; /* see nb__store_swap() */
    nb__timer_slot_t timer; /* see nb__store_timer() */
} nb__entry_t;

struct nb__store_s {
    GHashTable *tab;
    nb__entry_t *last; /* the entry the last lookup found, or NULL */
    size_t bytes;
    size_t timed; /* entries whose timer is set */
};

/* Keys are HMAC-SHA256 or SHA-256 outputs, uniform already: their bytes 8-11 are the hash
 * (bytes 0-3 choose the partition, so all keys of one store agree on them modulo the
 * partition count). */
static guint nb__key_hash(gconstpointer k)
{
    const uint8_t *b = k;
    return (guint)nb_le_get(b + 8, 4);
}

static gboolean nb__key_equal(gconstpointer a, gconstpointer b)
{
    return memcmp(a, b, NB__KEY_LEN) == 0;
}

static void nb__entry_free(gpointer p)
{
    nb__entry_t *e = p;
    free(e->val);
    free(e);
}

nb__store_t *nb__store_new(void)
{
    nb__store_t *s = calloc(1, sizeof(nb__store_t));
    if (s)
        s->tab = g_hash_table_new_full(nb__key_hash, nb__key_equal, nb__entry_free, NULL);
    return s;
}

void nb__store_destroy(nb__store_t *s)
{
    if (!s)
        return;
    g_hash_table_destroy(s->tab);
    free(s);
}

static nb__entry_t *nb__find(nb__store_t *s, const uint8_t key[NB__KEY_LEN])
{
    if (s->last && memcmp(s->last->key, key, NB__KEY_LEN) == 0)
        return s->last;
    nb__entry_t *e = g_hash_table_lookup(s->tab, key);
    if (e)
        s->last = e;
    return e;
}

/* A new entry (no value yet), its timer not set. */
static nb__entry_t *nb__entry_new(const uint8_t key[NB__KEY_LEN])
{
    nb__entry_t *e = calloc(1, sizeof(*e));
    if (e) {
        memcpy(e->key, key, NB__KEY_LEN);
        e->timer.due = e->timer.esc = NB_TIME_NONE;
    }
    return e;
}

/* Takes @p e out of the table (not freed). */
static void nb__unlink(nb__store_t *s, nb__entry_t *e)
{
    if (s->last == e)
        s->last = NULL;
    g_hash_table_steal(s->tab, e->key);
    s->bytes -= e->len;
    if (e->timer.due != NB_TIME_NONE)
        s->timed--;
}

const uint8_t *nb__store_get(nb__store_t *s, const uint8_t key[NB__KEY_LEN], size_t *len)
{
    nb__entry_t *e = nb__find(s, key);
    if (!e)
        return NULL;
    *len = e->len;
    return e->val;
}

nb_err_t nb__store_put(nb__store_t *s, const uint8_t key[NB__KEY_LEN], const void *val,
                       size_t len)
{
    nb__entry_t *e = nb__find(s, key);
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
    if (!copy || !(e = nb__entry_new(key))) {
        free(copy);
        return NB_ERR_NOMEM;
    }
    memcpy(copy, val, len);
    e->val = copy;
    e->len = len;
    g_hash_table_add(s->tab, e);
    s->bytes += len;
    return NB_ERR_OK;
}

nb_err_t nb__store_swap(nb__store_t *s, const uint8_t key[NB__KEY_LEN], uint8_t *val, size_t len,
                        uint64_t mark, uint8_t **old, size_t *old_len, bool *marked)
{
    nb__entry_t *e = nb__find(s, key);
    *old = NULL;
    *old_len = 0;
    *marked = false;
    if (e) {
        *old = e->val;
        *old_len = e->len;
        *marked = mark != 0 && e->mark == mark;
        if (!val) {
            nb__unlink(s, e);
            free(e);
            return NB_ERR_OK;
        }
        s->bytes -= e->len;
    } else {
        if (!val)
            return NB_ERR_OK;
        if (!(e = nb__entry_new(key)))
            return NB_ERR_NOMEM;
        g_hash_table_add(s->tab, e);
        s->last = e;
    }
    e->val = val;
    e->len = len;
    e->mark = mark;
    s->bytes += len;
    return NB_ERR_OK;
}

void nb__store_del(nb__store_t *s, const uint8_t key[NB__KEY_LEN])
{
    nb__entry_t *e = nb__find(s, key);
    if (!e)
        return;
    nb__unlink(s, e);
    nb__entry_free(e);
}

bool nb__store_timer(nb__store_t *s, const uint8_t key[NB__KEY_LEN], nb__timer_slot_t *out)
{
    nb__entry_t *e = nb__find(s, key);
    out->due = out->esc = NB_TIME_NONE;
    if (!e)
        return false;
    *out = e->timer;
    return true;
}

bool nb__store_timer_set(nb__store_t *s, const uint8_t key[NB__KEY_LEN],
                         const nb__timer_slot_t *timer, nb__timer_slot_t *old)
{
    nb__entry_t *e = nb__find(s, key);
    old->due = old->esc = NB_TIME_NONE;
    if (!e)
        return false;
    *old = e->timer;
    s->timed -= e->timer.due != NB_TIME_NONE;
    s->timed += timer->due != NB_TIME_NONE;
    e->timer = *timer;
    return true;
}

size_t nb__store_timed(const nb__store_t *s)
{
    return s->timed;
}

int nb__store_scan(nb__store_t *s, nb__store_scan_cb_t *cb, void *opaque)
{
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, s->tab);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        nb__entry_t *e = k;
        s->timed -= e->timer.due != NB_TIME_NONE;
        int rc = cb(opaque, e->key, e->val, e->len, &e->timer);
        s->timed += e->timer.due != NB_TIME_NONE;
        if (rc)
            return rc;
    }
    return 0;
}

size_t nb__store_count(const nb__store_t *s)
{
    return g_hash_table_size(s->tab);
}

size_t nb__store_bytes(const nb__store_t *s)
{
    /* An entry, and about two slots of the table's arrays of hashes and of keys (a set keeps
     * no separate array of values). */
    size_t per = sizeof(nb__entry_t) + 2 * (sizeof(guint) + sizeof(void *));
    return s->bytes + g_hash_table_size(s->tab) * per;
}

int nb__store_foreach(const nb__store_t *s, nb__store_cb_t *cb, void *opaque)
{
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, s->tab);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        const nb__entry_t *e = k;
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
