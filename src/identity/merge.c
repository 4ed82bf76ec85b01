/*
 * notbrought - identity: supersedes, one NHS number replacing another (see identity.c and
 * docs/identity.md): the chains they make, which stay acyclic, and the merge of the two
 * children's keys a new supersession announces.
 */
#include "identity/internal.h"

#include <stdio.h>
#include <string.h>

/* ---- supersession chains ---------------------------------------------------------------- */

uint64_t nb__identity_final(const nb_identity_t *idt, uint64_t nhs, uint32_t *hops,
                            const nb__sup_slot_t **last)
{
    uint32_t n = 0;
    const nb__sup_slot_t *l = NULL;
    /* Chains are acyclic by construction (nb__apply_supersedes); the bound is a backstop. */
    for (size_t guard = 0; guard <= idt->sup.count; guard++) {
        const nb__sup_slot_t *s = nb__tab_find(&idt->sup, &nhs);
        if (!s)
            break;
        l = s;
        nhs = s->new_nhs;
        n++;
    }
    if (hops)
        *hops = n;
    if (last)
        *last = l;
    return nhs;
}

/* True when the supersession chain starting at @p from passes through @p node. */
static bool nb__chain_contains(const nb_identity_t *idt, uint64_t from, uint64_t node)
{
    for (size_t guard = 0; guard <= idt->sup.count; guard++) {
        if (from == node)
            return true;
        const nb__sup_slot_t *s = nb__tab_find(&idt->sup, &from);
        if (!s)
            return false;
        from = s->new_nhs;
    }
    return true; /* unreachable: chains are acyclic; refuse rather than loop */
}

/* ---- applying supersedes ----------------------------------------------------------------- */

nb_err_t nb__apply_supersedes(nb_identity_t *idt, const nb_identity_link_t *link,
                              nb_identity_result_t *res, char *errstr,
                              size_t errstr_size)
{
    uint64_t x, y;
    nb_err_t err;
    size_t evlen = strlen(link->event_id);
    uint16_t src;
    if (strcmp(link->from.system, NB_SYSTEM_NHS_NUMBER) != 0 ||
        strcmp(link->to.system, NB_SYSTEM_NHS_NUMBER) != 0)
        return nb__fail(errstr, errstr_size, NB_ERR_INCONSISTENT,
                        "supersedes needs NHS numbers in from and to");
    if ((err = nb__nhs_parse(idt, link->from.value, &x, "supersedes.from", errstr,
                             errstr_size)) ||
        (err = nb__nhs_parse(idt, link->to.value, &y, "supersedes.to", errstr, errstr_size)))
        return err;
    if (x == y)
        return nb__fail(errstr, errstr_size, NB_ERR_INCONSISTENT,
                        "supersedes names the same NHS number twice");
    uint64_t yfin = nb__identity_final(idt, y, NULL, NULL);
    if ((err = nb__identity_key_of(idt, yfin, res->child_key)) ||
        (err = nb__source_intern(idt, &link->source, &src)))
        return nb__fail(errstr, errstr_size, err, "cannot record the statement's source");
    uint8_t flags = NB__F_USED | nb__verif_flags(link->verification);

    nb__sup_slot_t *s = nb__tab_find(&idt->sup, &x);
    if (s) {
        if (s->new_nhs == y && nb__same_event(idt, s->ev_off, s->ev_len, link->event_id)) {
            res->change = NB_IDENTITY_CHANGE_NONE;
            return NB_ERR_OK;
        }
        uint64_t cur = nb__identity_final(idt, s->new_nhs, NULL, NULL);
        if (cur != yfin) {
            nb_identity_conflict_t *c = &res->conflict;
            c->kind = NB_IDENTITY_CONFLICT_SUPERSEDED;
            snprintf(c->proposed_key, sizeof(c->proposed_key), "%s", res->child_key);
            if ((err = nb__identity_key_of(idt, cur, c->existing_key)))
                return nb__fail(errstr, errstr_size, err, "keyed hash failed");
            nb__identity_ref(idt, s->ev_off, s->ev_len, s->src, s->flags, &c->existing);
            nb__ref_of_link(link, &c->proposed);
            res->child_key[0] = '\0';
            return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CONFLICT,
                            "the old NHS number is already superseded by another number; not "
                            "re-pointed");
        }
        /* Same final child, but y may lie upstream of x (y -> ... -> x -> ...): re-pointing
         * x at y would then close a cycle. */
        if (nb__chain_contains(idt, y, x)) {
            res->child_key[0] = '\0';
            return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CYCLE,
                            "supersedes would make a cycle of NHS numbers; refused");
        }
        /* Keep the newest statement. */
        if ((err = nb__arena_reserve(idt, evlen)))
            return nb__fail(errstr, errstr_size, err, "out of memory");
        idt->arena_garbage += s->ev_len;
        s->ev_off = nb__arena_put(idt, link->event_id, evlen);
        s->ev_len = (uint8_t)evlen;
        s->src = src;
        s->flags = flags;
        s->new_nhs = y;
        res->change = NB_IDENTITY_CHANGE_RESTATED;
        nb__arena_maybe_compact(idt);
        return NB_ERR_OK;
    }
    /* x is not superseded, so it ends its own chain: y's chain reaches x iff it ends there. */
    if (yfin == x || nb__chain_contains(idt, y, x)) {
        res->child_key[0] = '\0';
        return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CYCLE,
                        "supersedes would make a cycle of NHS numbers; refused");
    }
    char from_key[NB_KEY_MAX + 1];
    int created;
    if ((err = nb__identity_key_of(idt, x, from_key)) || (err = nb__tab_reserve(&idt->sup, 1)) ||
        (err = nb__arena_reserve(idt, evlen)))
        return nb__fail(errstr, errstr_size, err, "out of memory");
    s = nb__tab_insert(&idt->sup, &x, &created);
    s->new_nhs = y;
    s->ev_off = nb__arena_put(idt, link->event_id, evlen);
    s->ev_len = (uint8_t)evlen;
    s->src = src;
    s->flags = flags;
    res->change = NB_IDENTITY_CHANGE_SUPERSEDED;
    res->has_merge = true;
    memcpy(res->merge.from_key, from_key, sizeof(from_key));
    snprintf(res->merge.into_key, sizeof(res->merge.into_key), "%s", res->child_key);
    return NB_ERR_OK;
}
