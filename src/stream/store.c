/*
 * notbrought - stream: per-partition state store, child key -> serialized child state.
 *
 * The table is GLib's GHashTable (Debian libglib2.0-dev), used as a set of entries keyed by
 * their first 32 bytes. It keeps the hashes and the keys in flat arrays with open addressing,
 * so a lookup touches two small arrays and then the one entry it finds; uthash's chains cost a
 * cache miss or two per entry walked, and a lookup was as dear as the whole policy evaluation
 * (docs/benchmarks.md). The entry the last lookup found is remembered: the put that follows a
 * get of the same key (every event: load the child, save it) needs no second lookup.
 *
 * Each entry is one allocation: the key, the batch mark, the timer and the value after them (a
 * value of its own cost a pointer, a length and a second allocation with its own rounding:
 * docs/benchmarks.md, "Memory per child"). A value that outgrows what the allocator gave the
 * entry, or shrinks below half of it, moves the entry: the table's pointer is taken out and
 * put back.
 */
#include "stream/internal.h"

#include <glib.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct nb__entry_s {
    uint8_t key[NB__KEY_LEN]; /* first: the table's key is the entry itself */
    uint64_t mark;            /* see nb__store_swap() */
    nb__timer_slot_t timer;   /* see nb__store_timer() */
    uint32_t len;
    uint8_t val[]; /* the value */
} nb__entry_t;

struct nb__store_s {
    GHashTable *tab;
    nb__entry_t *last; /* the entry the last lookup found, or NULL */
    size_t bytes;      /* the entries as allocated (malloc_usable_size) */
    size_t timed;      /* entries whose timer is set */
};

/* What an entry with a value of @p len bytes is allocated with. */
static size_t nb__entry_size(size_t len)
{
    size_t n = offsetof(nb__entry_t, val) + len;
    return n < sizeof(nb__entry_t) ? sizeof(nb__entry_t) : n;
}

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

nb__store_t *nb__store_new(void)
{
    nb__store_t *s = calloc(1, sizeof(nb__store_t));
    if (s)
        s->tab = g_hash_table_new_full(nb__key_hash, nb__key_equal, free, NULL);
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

/* A new entry holding @p val, its timer not set, in the table. @returns NULL: out of memory. */
static nb__entry_t *nb__entry_add(nb__store_t *s, const uint8_t key[NB__KEY_LEN], const void *val,
                                  size_t len)
{
    nb__entry_t *e = malloc(nb__entry_size(len));
    if (!e)
        return NULL;
    memcpy(e->key, key, NB__KEY_LEN);
    e->mark = 0;
    e->timer.due = e->timer.esc = NB_TIME_NONE;
    e->len = (uint32_t)len;
    if (len)
        memcpy(e->val, val, len);
    g_hash_table_add(s->tab, e);
    s->bytes += malloc_usable_size(e);
    s->last = e;
    return e;
}

/* Takes @p e out of the table and frees it. */
static void nb__entry_remove(nb__store_t *s, nb__entry_t *e)
{
    if (s->last == e)
        s->last = NULL;
    g_hash_table_steal(s->tab, e->key);
    s->bytes -= malloc_usable_size(e);
    if (e->timer.due != NB_TIME_NONE)
        s->timed--;
    free(e);
}

/* Sets the value of @p e (in the table) to @p val (not within the store): in place when it
 * fits what the entry was given and does not leave most of it unused, else in the entry moved
 * to a new allocation. @returns the entry, or NULL: out of memory, @p e unchanged. */
static nb__entry_t *nb__entry_set(nb__store_t *s, nb__entry_t *e, const void *val, size_t len)
{
    /* A value as long as the one it replaces fits where that one was, with no need to ask
     * the allocator (an event that changes an appointment's status leaves the length). */
    size_t need = nb__entry_size(len);
    bool stays = len == e->len;
    size_t have = stays ? 0 : malloc_usable_size(e);
    if (!stays && (need > have || need < have / 2)) {
        bool last = s->last == e;
        g_hash_table_steal(s->tab, e->key);
        nb__entry_t *moved = realloc(e, need);
        if (!moved) {
            g_hash_table_add(s->tab, e);
            return NULL;
        }
        e = moved;
        g_hash_table_add(s->tab, e);
        s->bytes -= have;
        s->bytes += malloc_usable_size(e);
        if (last)
            s->last = e;
    }
    e->len = (uint32_t)len;
    if (len)
        memcpy(e->val, val, len);
    return e;
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
    if (len > UINT32_MAX)
        return NB_ERR_INVALID_ARG;
    nb__entry_t *e = nb__find(s, key);
    if (e)
        return nb__entry_set(s, e, val, len) ? NB_ERR_OK : NB_ERR_NOMEM;
    return nb__entry_add(s, key, val, len) ? NB_ERR_OK : NB_ERR_NOMEM;
}

nb_err_t nb__store_swap(nb__store_t *s, const uint8_t key[NB__KEY_LEN], const void *val, size_t len,
                        uint64_t mark, uint8_t **old, size_t *old_len, bool *existed, bool *marked)
{
    *old = NULL;
    *old_len = 0;
    *existed = *marked = false;
    if (len > UINT32_MAX)
        return NB_ERR_INVALID_ARG;
    nb__entry_t *e = nb__find(s, key);
    if (!e) {
        if (val && !(e = nb__entry_add(s, key, val, len)))
            return NB_ERR_NOMEM;
        if (e)
            e->mark = mark;
        return NB_ERR_OK;
    }
    *existed = true;
    *marked = mark != 0 && e->mark == mark;
    if (!*marked) {
        /* The pre-image, copied out for the caller (allocated before anything changes). */
        if (!(*old = malloc(e->len ? e->len : 1)))
            return NB_ERR_NOMEM;
        memcpy(*old, e->val, e->len);
        *old_len = e->len;
    }
    if (!val) {
        nb__entry_remove(s, e);
        return NB_ERR_OK;
    }
    if (!(e = nb__entry_set(s, e, val, len))) {
        free(*old);
        *old = NULL;
        *old_len = 0;
        return NB_ERR_NOMEM;
    }
    e->mark = mark;
    return NB_ERR_OK;
}

void nb__store_del(nb__store_t *s, const uint8_t key[NB__KEY_LEN])
{
    nb__entry_t *e = nb__find(s, key);
    if (e)
        nb__entry_remove(s, e);
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
    /* The entries as allocated, and the table's arrays of hashes and of keys (a set keeps no
     * array of values): GLib doubles them once the keys fill 16/17 of the slots (tombstones
     * aside), so their size is about the first power of two above that. */
    size_t n = g_hash_table_size(s->tab), slots = 8;
    while (slots <= n + n / 16)
        slots *= 2;
    return s->bytes + slots * (sizeof(guint) + sizeof(void *));
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
