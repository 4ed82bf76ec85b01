/*
 * notbrought - stream: the index of pregnancies kept under a local (maternity) identifier's
 * key in the owned partitions (state kind 6, see pipeline.c). Rebuilt from the states on
 * restore and rollback; the pipeline looks at each entry again whenever the identity table
 * changes, and moves the pregnancy's history to where it resolves now (docs/identity.md,
 * "Pregnancies").
 */
#include "stream/internal.h"

#include <stdlib.h>
#include <string.h>
/* Keys are uniform already (keyed hashes): bytes 12-15 of the key are the bucket hash. */
#define HASH_FUNCTION(keyptr, keylen, hashv)                                                     \
    do {                                                                                         \
        const uint8_t *hk_ = (const uint8_t *)(keyptr) + 12;                                     \
        (void)(keylen);                                                                          \
        (hashv) = (unsigned)nb_le_get(hk_, 4);                                                   \
    } while (0)
#include <uthash.h>

typedef struct nb__preg_s {
    struct {
        int32_t partition;
        uint8_t key[NB__KEY_LEN];
    } id;
    nb_identity_preg_ref_t ref;
    UT_hash_handle hh;
} nb__preg_t;

struct nb__pregidx_s {
    nb__preg_t *head;
};

nb__pregidx_t *nb__pregidx_new(void)
{
    return calloc(1, sizeof(nb__pregidx_t));
}

void nb__pregidx_destroy(nb__pregidx_t *x)
{
    if (!x)
        return;
    nb__preg_t *g, *tmp;
    HASH_ITER(hh, x->head, g, tmp)
    {
        HASH_DEL(x->head, g);
        free(g);
    }
    free(x);
}

void nb__pregidx_note(nb__pregidx_t *x, int32_t partition, const uint8_t key[NB__KEY_LEN],
                      const uint8_t *val, size_t len)
{
    nb__preg_t probe, *g;
    memset(&probe, 0, sizeof(probe));
    probe.id.partition = partition;
    memcpy(probe.id.key, key, NB__KEY_LEN);
    HASH_FIND(hh, x->head, &probe.id, sizeof(probe.id), g);
    if (!val || len < 5 + NB__PREG_REF_LEN || val[4] != NB__STATE_PREG) {
        if (g) {
            HASH_DEL(x->head, g);
            free(g);
        }
        return;
    }
    if (!g) {
        if (!(g = calloc(1, sizeof(*g))))
            return; /* found again at the next restore */
        g->id = probe.id;
        HASH_ADD(hh, x->head, id, sizeof(g->id), g);
    }
    /* The pregnancy reference closes the value. */
    const uint8_t *t = val + len - NB__PREG_REF_LEN;
    memcpy(g->ref.person, t, NB_IDENTITY_WANT_LEN);
    t += NB_IDENTITY_WANT_LEN;
    g->ref.expected_delivery_date = (int32_t)(uint32_t)nb_le_get(t, 4);
}

void nb__pregidx_drop_partition(nb__pregidx_t *x, int32_t partition)
{
    nb__preg_t *g, *tmp;
    HASH_ITER(hh, x->head, g, tmp)
    {
        if (g->id.partition == partition) {
            HASH_DEL(x->head, g);
            free(g);
        }
    }
}

nb_err_t nb__pregidx_owned(const nb__pregidx_t *x, const nb_stream_t *st,
                           nb__pregidx_entry_t **out, size_t *n)
{
    size_t cap = HASH_COUNT(x->head), k = 0;
    *out = NULL;
    *n = 0;
    if (cap == 0)
        return NB_ERR_OK;
    nb__pregidx_entry_t *v = malloc(cap * sizeof(*v));
    if (!v)
        return NB_ERR_NOMEM;
    const nb__preg_t *g, *tmp;
    HASH_ITER(hh, x->head, g, tmp)
    {
        if (!nb__owns(st, g->id.partition))
            continue;
        v[k].partition = g->id.partition;
        memcpy(v[k].key, g->id.key, NB__KEY_LEN);
        v[k].ref = g->ref;
        k++;
    }
    *out = v;
    *n = k;
    return NB_ERR_OK;
}
