/*
 * notbrought - identity: the state the tables share (see identity.c): the string arena of
 * the event ids of the statements in force and its compaction, interned sources, references
 * to statements, and what the table holds (nb_identity_stats(), nb_identity_state_digest()).
 */
#include "identity/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- string arena and sources ------------------------------------------------------------ */

nb_err_t nb__arena_reserve(nb_identity_t *idt, size_t n)
{
    if (idt->arena_len + n <= idt->arena_cap)
        return NB_ERR_OK;
    if (idt->arena_len + n > UINT32_MAX)
        return NB_ERR_LIMIT;
    size_t cap = idt->arena_cap ? idt->arena_cap : 4096;
    while (cap < idt->arena_len + n)
        cap *= 2;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    char *p = realloc(idt->arena, cap);
    if (!p)
        return NB_ERR_NOMEM;
    idt->arena = p;
    idt->arena_cap = cap;
    return NB_ERR_OK;
}

/* After nb__arena_reserve(). */
uint32_t nb__arena_put(nb_identity_t *idt, const char *s, size_t len)
{
    uint32_t off = (uint32_t)idt->arena_len;
    memcpy(idt->arena + off, s, len);
    idt->arena_len += len;
    return off;
}

static void nb__compact_tab(nb__tab_t *t, size_t ev_off_at, size_t ev_len_at, const char *old,
                            char *fresh, size_t *len)
{
    for (size_t i = 0; i < t->cap; i++) {
        uint8_t *s = nb__tab_at(t, i);
        if (!s)
            continue;
        uint32_t off;
        memcpy(&off, s + ev_off_at, sizeof(off));
        uint8_t n = s[ev_len_at];
        memcpy(fresh + *len, old + off, n);
        off = (uint32_t)*len;
        memcpy(s + ev_off_at, &off, sizeof(off));
        *len += n;
    }
}

/* Rewrites the arena without the strings of replaced statements, once they are most of it.
 * Best effort: without memory it simply waits for the next time. */
void nb__arena_maybe_compact(nb_identity_t *idt)
{
    if (idt->arena_hold || idt->arena_garbage < 65536 || idt->arena_garbage * 2 < idt->arena_len)
        return;
    size_t live = idt->arena_len - idt->arena_garbage;
    size_t cap = live < 4096 ? 4096 : live + live / 2;
    char *fresh = malloc(cap);
    if (!fresh)
        return;
    size_t len = 0;
    nb__compact_tab(&idt->local, offsetof(nb__link_slot_t, ev_off),
                    offsetof(nb__link_slot_t, ev_len), idt->arena, fresh, &len);
    nb__compact_tab(&idt->preg, offsetof(nb__link_slot_t, ev_off),
                    offsetof(nb__link_slot_t, ev_len), idt->arena, fresh, &len);
    nb__compact_tab(&idt->sup, offsetof(nb__sup_slot_t, ev_off), offsetof(nb__sup_slot_t, ev_len),
                    idt->arena, fresh, &len);
    free(idt->arena);
    idt->arena = fresh;
    idt->arena_len = len;
    idt->arena_cap = cap;
    idt->arena_garbage = 0;
}

static uint64_t nb__source_hash(const nb_source_t *s)
{
    uint64_t h = nb__mix64((uint64_t)s->agency + 1);
    for (const char *p = s->system; *p; p++)
        h = nb__mix64(h ^ (uint8_t)*p);
    h = nb__mix64(h ^ 0xff);
    for (const char *p = s->organisation_code; *p; p++)
        h = nb__mix64(h ^ (uint8_t)*p);
    return h;
}

static bool nb__source_eq(const nb_source_t *a, const nb_source_t *b)
{
    return a->agency == b->agency && strcmp(a->system, b->system) == 0 &&
           strcmp(a->organisation_code, b->organisation_code) == 0;
}

/* Interns a source. Interning is invisible state: an unused entry changes no behaviour. */
nb_err_t nb__source_intern(nb_identity_t *idt, const nb_source_t *src, uint16_t *out)
{
    nb_source_t s;
    memset(&s, 0, sizeof(s));
    s.agency = src->agency;
    snprintf(s.system, sizeof(s.system), "%s", src->system);
    snprintf(s.organisation_code, sizeof(s.organisation_code), "%s", src->organisation_code);
    uint64_t h = nb__source_hash(&s);
    if (idt->src_index_cap) {
        size_t mask = idt->src_index_cap - 1;
        for (size_t i = (size_t)h & mask; idt->src_index[i]; i = (i + 1) & mask) {
            if (nb__source_eq(&idt->sources[idt->src_index[i] - 1], &s)) {
                *out = (uint16_t)(idt->src_index[i] - 1);
                return NB_ERR_OK;
            }
        }
    }
    if (idt->n_sources >= UINT16_MAX)
        return NB_ERR_LIMIT;
    if (idt->n_sources == idt->sources_cap) {
        size_t cap = idt->sources_cap ? idt->sources_cap * 2 : 16;
        nb_source_t *p = realloc(idt->sources, cap * sizeof(*p));
        if (!p)
            return NB_ERR_NOMEM;
        idt->sources = p;
        idt->sources_cap = cap;
    }
    if ((idt->n_sources + 1) * 2 > idt->src_index_cap) {
        size_t cap = idt->src_index_cap ? idt->src_index_cap * 2 : 32;
        uint32_t *ix = calloc(cap, sizeof(*ix));
        if (!ix)
            return NB_ERR_NOMEM;
        for (size_t k = 0; k < idt->n_sources; k++) {
            size_t i = (size_t)nb__source_hash(&idt->sources[k]) & (cap - 1);
            while (ix[i])
                i = (i + 1) & (cap - 1);
            ix[i] = (uint32_t)k + 1;
        }
        free(idt->src_index);
        idt->src_index = ix;
        idt->src_index_cap = cap;
    }
    size_t mask = idt->src_index_cap - 1;
    size_t i = (size_t)h & mask;
    while (idt->src_index[i])
        i = (i + 1) & mask;
    idt->sources[idt->n_sources] = s;
    idt->src_index[i] = (uint32_t)++idt->n_sources;
    *out = (uint16_t)(idt->n_sources - 1);
    return NB_ERR_OK;
}

uint8_t nb__verif_flags(nb_verification_t v)
{
    unsigned u = (unsigned)v;
    if (u > 7)
        u = 0;
    return (uint8_t)(u << NB__F_VERIF_SHIFT);
}

void nb__identity_ref(const nb_identity_t *idt, uint32_t ev_off, uint8_t ev_len, uint16_t src,
                      uint8_t flags, nb_identity_link_ref_t *ref)
{
    memset(ref, 0, sizeof(*ref));
    memcpy(ref->event_id, idt->arena + ev_off, ev_len);
    ref->event_id[ev_len] = '\0';
    if (src < idt->n_sources)
        ref->source = idt->sources[src];
    ref->verification = (nb_verification_t)((flags & NB__F_VERIF_MASK) >> NB__F_VERIF_SHIFT);
}

void nb__ref_of_link(const nb_identity_link_t *link, nb_identity_link_ref_t *ref)
{
    memset(ref, 0, sizeof(*ref));
    snprintf(ref->event_id, sizeof(ref->event_id), "%s", link->event_id);
    ref->source = link->source;
    ref->verification = link->verification;
}

bool nb__same_event(const nb_identity_t *idt, uint32_t ev_off, uint8_t ev_len,
                    const char *event_id)
{
    return strlen(event_id) == ev_len && memcmp(idt->arena + ev_off, event_id, ev_len) == 0;
}

/* ---- observation ------------------------------------------------------------------------- */

void nb_identity_stats(const nb_identity_t *idt, int64_t now_ms, nb_identity_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->links = idt->local_linked;
    st->unlinked = idt->local.count - idt->local_linked;
    st->pregnancies = idt->preg_linked;
    st->supersessions = idt->sup.count;
    st->demographics = idt->demo.count;
    st->demographics_dropped = idt->demo_dropped;
    st->parked = idt->pcount;
    st->parked_bytes = idt->pbytes;
    st->oldest_parked_age_ms = idt->phead ? now_ms - idt->phead->parked_at : 0;
    if (st->oldest_parked_age_ms < 0)
        st->oldest_parked_age_ms = 0;
    st->parked_total = idt->parked_total;
    st->released_total = idt->released_total;
    st->expired_total = idt->expired_total;
    st->park_rejected_total = idt->park_rejected_total;
    st->memory_bytes = sizeof(*idt) + nb__tab_bytes(&idt->local) + nb__tab_bytes(&idt->preg) +
                       nb__tab_bytes(&idt->sup) + nb__tab_bytes(&idt->demo) +
                       nb__tab_bytes(&idt->pend) +
                       nb__tab_bytes(&idt->pwant) + idt->arena_cap +
                       idt->sources_cap * sizeof(nb_source_t) +
                       idt->src_index_cap * sizeof(uint32_t) + idt->pbytes;
}

/* One entry's canonical bytes, hashed with SHA-256 and added lane-wise into acc: the sum does
 * not depend on the order of the slots. */
static bool nb__digest_entry(EVP_MD_CTX *md, const EVP_MD *sha, const nb_identity_t *idt,
                             uint8_t tag, const void *key, size_t key_len, uint64_t a, uint64_t b,
                             uint8_t flags, uint32_t ev_off, uint8_t ev_len, uint16_t src,
                             uint64_t acc[4])
{
    uint8_t buf[1 + 16 + 8 + 8 + 1 + 1];
    size_t n = 0;
    buf[n++] = tag;
    memcpy(buf + n, key, key_len);
    n += key_len;
    nb_be_put(buf + n, a, 8);
    n += 8;
    nb_be_put(buf + n, b, 8);
    n += 8;
    buf[n++] = (uint8_t)(flags & ~NB__F_USED);
    buf[n++] = ev_len;
    const nb_source_t *s = src < idt->n_sources ? &idt->sources[src] : NULL;
    uint8_t agency = s ? (uint8_t)s->agency : 0xff;
    uint8_t out[32];
    unsigned int outl = 0;
    if (!EVP_DigestInit_ex(md, sha, NULL) || !EVP_DigestUpdate(md, buf, n) ||
        !EVP_DigestUpdate(md, idt->arena + ev_off, ev_len) || !EVP_DigestUpdate(md, &agency, 1) ||
        (s && (!EVP_DigestUpdate(md, s->system, strlen(s->system) + 1) ||
               !EVP_DigestUpdate(md, s->organisation_code, strlen(s->organisation_code) + 1))) ||
        !EVP_DigestFinal_ex(md, out, &outl))
        return false;
    for (int l = 0; l < 4; l++)
        acc[l] += nb_be_get(out + 8 * l, 8);
    return true;
}

nb_err_t nb_identity_state_digest(const nb_identity_t *idt, uint8_t out[32])
{
    uint64_t acc[4] = {0, 0, 0, 0};
    /* SHA-256 fetched once: EVP_sha256() looks it up at every init (OpenSSL 3), under the
     * provider store's locks; 474 ns a link before. */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
    nb_err_t err = NB_ERR_NOMEM;
    if (!md || !sha)
        goto done;
    for (size_t i = 0; i < idt->local.cap; i++) {
        const nb__link_slot_t *s = nb__tab_at(&idt->local, i);
        if (s && !nb__digest_entry(md, sha, idt, 'L', s->key, NB__DIGEST_LEN, s->nhs, 0, s->flags,
                                   s->ev_off, s->ev_len, s->src, acc))
            goto done;
    }
    for (size_t i = 0; i < idt->preg.cap; i++) {
        const nb__link_slot_t *s = nb__tab_at(&idt->preg, i);
        if (s && !nb__digest_entry(md, sha, idt, 'P', s->key, NB__DIGEST_LEN, s->nhs, 0, s->flags,
                                   s->ev_off, s->ev_len, s->src, acc))
            goto done;
    }
    for (size_t i = 0; i < idt->sup.cap; i++) {
        const nb__sup_slot_t *s = nb__tab_at(&idt->sup, i);
        if (s && !nb__digest_entry(md, sha, idt, 'S', &s->old_nhs, sizeof(s->old_nhs), s->old_nhs,
                                   s->new_nhs, s->flags, s->ev_off, s->ev_len, s->src, acc))
            goto done;
    }
    uint8_t fin[4 * 8 + 3 * 8];
    size_t n = 0;
    uint64_t counts[3] = {idt->local.count, idt->preg.count, idt->sup.count};
    for (int l = 0; l < 4; l++, n += 8)
        nb_be_put(fin + n, acc[l], 8);
    for (int l = 0; l < 3; l++, n += 8)
        nb_be_put(fin + n, counts[l], 8);
    unsigned int outl = 0;
    if (EVP_DigestInit_ex(md, sha, NULL) && EVP_DigestUpdate(md, fin, n) &&
        EVP_DigestFinal_ex(md, out, &outl))
        err = NB_ERR_OK;
done:
    EVP_MD_free(sha);
    EVP_MD_CTX_free(md);
    return err;
}
