/*
 * notbrought - report: the name tables and hash maps the aggregation keeps.
 */
#include "report/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t nb__report_hash(uint64_t h, const void *p, size_t len)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h ? h : 1;
}

/* Doubles the slots of a name table and puts every name back. */
static int nb__names_grow(nb__names_t *t)
{
    size_t n_slots = t->n_slots ? t->n_slots * 2 : 64;
    uint32_t *slots = calloc(n_slots, sizeof(*slots));
    uint64_t *hashes = calloc(n_slots, sizeof(*hashes));
    if (!slots || !hashes) {
        free(slots);
        free(hashes);
        return -1;
    }
    for (size_t i = 0; i < t->n_slots; i++) {
        if (!t->slots[i])
            continue;
        size_t j = t->slot_hash[i] & (n_slots - 1);
        while (slots[j])
            j = (j + 1) & (n_slots - 1);
        slots[j] = t->slots[i];
        hashes[j] = t->slot_hash[i];
    }
    free(t->slots);
    free(t->slot_hash);
    t->slots = slots;
    t->slot_hash = hashes;
    t->n_slots = n_slots;
    return 0;
}

int32_t nb__names_get(nb__names_t *t, const char *p, size_t len)
{
    if ((t->n + 1) * 2 > t->n_slots && nb__names_grow(t) != 0)
        return -1;
    uint64_t h = nb__report_hash(NB__FNV_SEED, p, len);
    size_t j = h & (t->n_slots - 1);
    for (; t->slots[j]; j = (j + 1) & (t->n_slots - 1)) {
        const char *name = t->names[t->slots[j] - 1];
        if (t->slot_hash[j] == h && strlen(name) == len && memcmp(name, p, len) == 0)
            return (int32_t)(t->slots[j] - 1);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **names = realloc(t->names, cap * sizeof(*names));
        if (!names)
            return -1;
        t->names = names;
        uint64_t(*counts)[NB__NAME_COUNTERS] = realloc(t->counts, cap * sizeof(*counts));
        if (!counts)
            return -1;
        t->counts = counts;
        t->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, p, len);
    copy[len] = '\0';
    t->names[t->n] = copy;
    memset(t->counts[t->n], 0, sizeof(t->counts[t->n]));
    t->slots[j] = (uint32_t)(t->n + 1);
    t->slot_hash[j] = h;
    return (int32_t)t->n++;
}

void nb__names_free(nb__names_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t->counts);
    free(t->slots);
    free(t->slot_hash);
    memset(t, 0, sizeof(*t));
}

/* Whether a name is a whole number (a rung), so that 10 sorts after 9. */
static bool nb__is_number(const char *s)
{
    if (!*s || strlen(s) > 18)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

typedef struct nb__named_s {
    const char *name;
    size_t i;
} nb__named_t;

static int nb__cmp_names(const void *a, const void *b)
{
    const char *x = ((const nb__named_t *)a)->name;
    const char *y = ((const nb__named_t *)b)->name;
    if (nb__is_number(x) && nb__is_number(y)) {
        long long p = atoll(x), q = atoll(y);
        return (p > q) - (p < q);
    }
    return strcmp(x, y);
}

size_t *nb__names_sorted(const nb__names_t *t)
{
    size_t n = t->n ? t->n : 1;
    size_t *idx = malloc(n * sizeof(*idx));
    nb__named_t *named = malloc(n * sizeof(*named));
    if (!idx || !named) {
        free(idx);
        free(named);
        return NULL;
    }
    for (size_t i = 0; i < t->n; i++)
        named[i] = (nb__named_t){t->names[i], i};
    qsort(named, t->n, sizeof(*named), nb__cmp_names);
    for (size_t i = 0; i < t->n; i++)
        idx[i] = named[i].i;
    free(named);
    return idx;
}

uint32_t nb__map_find(const nb__map_t *m, uint64_t key)
{
    if (!m->n_slots)
        return UINT32_MAX;
    for (size_t j = key & (m->n_slots - 1); m->keys[j]; j = (j + 1) & (m->n_slots - 1))
        if (m->keys[j] == key)
            return m->vals[j];
    return UINT32_MAX;
}

nb_err_t nb__map_put(nb__map_t *m, uint64_t key, uint32_t val)
{
    if ((m->n + 1) * 10 > m->n_slots * 7) {
        size_t n_slots = m->n_slots ? m->n_slots * 2 : 1024;
        uint64_t *keys = calloc(n_slots, sizeof(*keys));
        uint32_t *vals = malloc(n_slots * sizeof(*vals));
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return NB_ERR_NOMEM;
        }
        for (size_t i = 0; i < m->n_slots; i++) {
            if (!m->keys[i])
                continue;
            size_t j = m->keys[i] & (n_slots - 1);
            while (keys[j])
                j = (j + 1) & (n_slots - 1);
            keys[j] = m->keys[i];
            vals[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->n_slots = n_slots;
    }
    size_t j = key & (m->n_slots - 1);
    while (m->keys[j] && m->keys[j] != key)
        j = (j + 1) & (m->n_slots - 1);
    if (!m->keys[j])
        m->n++;
    m->keys[j] = key;
    m->vals[j] = val;
    return NB_ERR_OK;
}

void nb__map_free(nb__map_t *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

double nb__report_quantile(const int64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return NAN;
    size_t rank = (size_t)ceil(q * (double)n); /* nearest rank: 1..n */
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted[rank - 1];
}
