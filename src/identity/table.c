/*
 * notbrought - identity: open-addressing hash table (see table.h).
 */
#include "identity/table.h"

#include <stdlib.h>
#include <string.h>

void nb__tab_init(nb__tab_t *t, size_t slot_size, size_t key_size, size_t used_off,
                  nb__tab_hash_fn hash)
{
    memset(t, 0, sizeof(*t));
    t->slot_size = slot_size;
    t->key_size = key_size;
    t->used_off = used_off;
    t->hash = hash;
}

void nb__tab_free(nb__tab_t *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = 0;
    t->count = 0;
}

static inline uint8_t *nb__tab_slot(const nb__tab_t *t, size_t i)
{
    return t->slots + i * t->slot_size;
}

static inline int nb__tab_used(const nb__tab_t *t, const uint8_t *slot)
{
    return slot[t->used_off] != 0;
}

/* Places an entry into a fresh array (no duplicates possible there). */
static void nb__tab_place(uint8_t *slots, size_t cap, const nb__tab_t *t, const uint8_t *entry)
{
    size_t mask = cap - 1;
    size_t i = (size_t)t->hash(entry) & mask;
    while (slots[i * t->slot_size + t->used_off])
        i = (i + 1) & mask;
    memcpy(slots + i * t->slot_size, entry, t->slot_size);
}

nb_err_t nb__tab_reserve(nb__tab_t *t, size_t n)
{
    if (n > SIZE_MAX / 8 - t->count)
        return NB_ERR_LIMIT;
    size_t want = t->count + n;
    /* At most 3/4 full. */
    if (t->cap && want <= t->cap / 4 * 3)
        return NB_ERR_OK;
    size_t cap = t->cap ? t->cap : 16;
    while (want > cap / 4 * 3) {
        if (cap > SIZE_MAX / 2 / t->slot_size)
            return NB_ERR_LIMIT;
        cap *= 2;
    }
    uint8_t *slots = calloc(cap, t->slot_size);
    if (!slots)
        return NB_ERR_NOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        const uint8_t *s = nb__tab_slot(t, i);
        if (nb__tab_used(t, s))
            nb__tab_place(slots, cap, t, s);
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return NB_ERR_OK;
}

void *nb__tab_find(const nb__tab_t *t, const void *key)
{
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    size_t i = (size_t)t->hash(key) & mask;
    for (;;) {
        uint8_t *s = nb__tab_slot(t, i);
        if (!nb__tab_used(t, s))
            return NULL;
        if (memcmp(s, key, t->key_size) == 0)
            return s;
        i = (i + 1) & mask;
    }
}

void *nb__tab_insert(nb__tab_t *t, const void *key, int *created)
{
    *created = 0;
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    size_t i = (size_t)t->hash(key) & mask;
    for (;;) {
        uint8_t *s = nb__tab_slot(t, i);
        if (!nb__tab_used(t, s)) {
            if (t->count + 1 > t->cap / 4 * 3)
                return NULL; /* caller did not reserve */
            memset(s, 0, t->slot_size);
            memcpy(s, key, t->key_size);
            s[t->used_off] = 1;
            t->count++;
            *created = 1;
            return s;
        }
        if (memcmp(s, key, t->key_size) == 0)
            return s;
        i = (i + 1) & mask;
    }
}

void nb__tab_remove(nb__tab_t *t, void *slot)
{
    size_t mask = t->cap - 1;
    size_t i = (size_t)((uint8_t *)slot - t->slots) / t->slot_size;
    size_t j = i;
    /* Backward-shift deletion: move each following entry of the probe run into the hole
     * unless its home position lies cyclically in (i, j]. */
    for (;;) {
        j = (j + 1) & mask;
        uint8_t *sj = nb__tab_slot(t, j);
        if (!nb__tab_used(t, sj))
            break;
        size_t k = (size_t)t->hash(sj) & mask;
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        memcpy(nb__tab_slot(t, i), sj, t->slot_size);
        i = j;
    }
    memset(nb__tab_slot(t, i), 0, t->slot_size);
    t->count--;
}

void *nb__tab_at(const nb__tab_t *t, size_t i)
{
    uint8_t *s = nb__tab_slot(t, i);
    return nb__tab_used(t, s) ? s : NULL;
}

size_t nb__tab_bytes(const nb__tab_t *t)
{
    return t->cap * t->slot_size;
}

uint64_t nb__mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}
