/*
 * notbrought - identity: applying statements (see identity.c and docs/identity.md): link and
 * unlink a local identifier or a pregnancy, unborn_to_child, and the dispatch of
 * nb_identity_apply() (supersedes: merge.c). A statement that contradicts the table is
 * refused, never re-pointed, and changes nothing.
 */
#include "identity/internal.h"

#include <stdio.h>
#include <string.h>

/* link / unborn_to_child: joins the slot @p dig of @p tab to child @p x. */
NB_NODISCARD static nb_err_t nb__apply_join(nb_identity_t *idt, nb__tab_t *tab, const uint8_t *dig,
                                            uint64_t x, const nb_identity_link_t *link,
                                            const char *preg_key, nb_identity_result_t *res,
                                            char *errstr, size_t errstr_size)
{
    bool is_preg = preg_key != NULL;
    size_t evlen = strlen(link->event_id);
    uint16_t src;
    nb_err_t err;
    uint64_t xfin = nb__identity_final(idt, x, NULL, NULL);
    if ((err = nb__identity_key_of(idt, xfin, res->child_key)) ||
        (err = nb__source_intern(idt, &link->source, &src)))
        return nb__fail(errstr, errstr_size, err, "cannot record the statement's source");
    uint8_t flags = NB__F_USED | NB__F_LINKED | nb__verif_flags(link->verification);

    nb__link_slot_t *slot = nb__tab_find(tab, dig);
    if (slot && (slot->flags & NB__F_LINKED)) {
        uint64_t cur = nb__identity_final(idt, slot->nhs, NULL, NULL);
        if (cur != xfin) {
            nb_identity_conflict_t *c = &res->conflict;
            c->kind = is_preg ? NB_IDENTITY_CONFLICT_PREGNANCY : NB_IDENTITY_CONFLICT_LOCAL_ID;
            snprintf(c->proposed_key, sizeof(c->proposed_key), "%s", res->child_key);
            if ((err = nb__identity_key_of(idt, cur, c->existing_key)))
                return nb__fail(errstr, errstr_size, err, "keyed hash failed");
            nb__identity_ref(idt, slot->ev_off, slot->ev_len, slot->src, slot->flags,
                             &c->existing);
            nb__ref_of_link(link, &c->proposed);
            res->child_key[0] = '\0';
            return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CONFLICT,
                            is_preg ? "the pregnancy is already linked to another child (a "
                                      "multiple birth needs a human decision); not re-pointed"
                                    : "the local identifier is already linked to another "
                                      "child; not re-pointed");
        }
        if (slot->nhs == x && nb__same_event(idt, slot->ev_off, slot->ev_len, link->event_id)) {
            res->change = NB_IDENTITY_CHANGE_NONE;
            return NB_ERR_OK;
        }
        /* The same child stated again (perhaps under a newer number): keep the newest
         * statement as the evidence, as compaction of identity.links would. */
        if ((err = nb__arena_reserve(idt, evlen)))
            return nb__fail(errstr, errstr_size, err, "out of memory");
        idt->arena_garbage += slot->ev_len;
        slot->ev_off = nb__arena_put(idt, link->event_id, evlen);
        slot->ev_len = (uint8_t)evlen;
        slot->src = src;
        slot->flags = flags;
        slot->nhs = x;
        res->change = NB_IDENTITY_CHANGE_RESTATED;
        nb__arena_maybe_compact(idt);
        return NB_ERR_OK;
    }

    /* A new join: reserve everything first, so that nothing changes on failure. */
    if ((!slot && (err = nb__tab_reserve(tab, 1))) || (err = nb__arena_reserve(idt, evlen)))
        return nb__fail(errstr, errstr_size, err, "out of memory");
    nb__link_slot_t tmp;
    memset(&tmp, 0, sizeof(tmp));
    memcpy(tmp.key, dig, NB__DIGEST_LEN);
    tmp.nhs = x;
    tmp.ev_off = nb__arena_put(idt, link->event_id, evlen);
    tmp.ev_len = (uint8_t)evlen;
    tmp.src = src;
    tmp.flags = flags;
    if (!is_preg && nb__park_waiting(idt, dig)) {
        nb_identity_resolution_t proto;
        memset(&proto, 0, sizeof(proto));
        if ((err = nb__identity_resolve_via_link(idt, &tmp, NB_IDENTITY_METHOD_LINK, &proto)) ||
            (err = nb__park_take(idt, dig, &proto, &res->released, &res->n_released))) {
            idt->arena_garbage += evlen;
            return nb__fail(errstr, errstr_size, err, "out of memory releasing parked events");
        }
    }
    int created;
    slot = nb__tab_insert(tab, dig, &created);
    if (!created)
        idt->arena_garbage += slot->ev_len; /* the tombstone's unlink statement */
    *slot = tmp;
    if (is_preg)
        idt->preg_linked++;
    else
        idt->local_linked++;
    if (is_preg) {
        res->change = NB_IDENTITY_CHANGE_PREGNANCY_LINKED;
        res->has_merge = true;
        snprintf(res->merge.from_key, sizeof(res->merge.from_key), "%s", preg_key);
        snprintf(res->merge.into_key, sizeof(res->merge.into_key), "%s", res->child_key);
    } else {
        res->change = NB_IDENTITY_CHANGE_LINKED;
    }
    nb__arena_maybe_compact(idt);
    return NB_ERR_OK;
}

/* unlink: withdraws the join of slot @p dig with child @p x. */
NB_NODISCARD static nb_err_t nb__apply_unjoin(nb_identity_t *idt, nb__tab_t *tab,
                                              const uint8_t *dig, uint64_t x,
                                              const nb_identity_link_t *link, bool is_preg,
                                              nb_identity_result_t *res, char *errstr,
                                              size_t errstr_size)
{
    size_t evlen = strlen(link->event_id);
    uint16_t src;
    nb_err_t err;
    nb__link_slot_t *slot = nb__tab_find(tab, dig);
    uint64_t xfin = nb__identity_final(idt, x, NULL, NULL);
    if (slot && !(slot->flags & NB__F_LINKED) &&
        nb__same_event(idt, slot->ev_off, slot->ev_len, link->event_id) &&
        nb__identity_final(idt, slot->nhs, NULL, NULL) == xfin) {
        res->change = NB_IDENTITY_CHANGE_NONE;
        if ((err = nb__identity_key_of(idt, xfin, res->child_key)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        return NB_ERR_OK;
    }
    if (!slot || !(slot->flags & NB__F_LINKED) ||
        nb__identity_final(idt, slot->nhs, NULL, NULL) != xfin)
        return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_UNKNOWN_LINK,
                        is_preg ? "unlink names no pregnancy link in force"
                                : "unlink names no link in force for this local identifier");
    if ((err = nb__identity_key_of(idt, xfin, res->child_key)) ||
        (err = nb__source_intern(idt, &link->source, &src)) ||
        (err = nb__arena_reserve(idt, evlen)))
        return nb__fail(errstr, errstr_size, err, "out of memory");
    idt->arena_garbage += slot->ev_len;
    slot->ev_off = nb__arena_put(idt, link->event_id, evlen);
    slot->ev_len = (uint8_t)evlen;
    slot->src = src;
    slot->flags = NB__F_USED | nb__verif_flags(link->verification); /* a tombstone */
    if (is_preg)
        idt->preg_linked--;
    else
        idt->local_linked--;
    res->change = is_preg ? NB_IDENTITY_CHANGE_PREGNANCY_UNLINKED : NB_IDENTITY_CHANGE_UNLINKED;
    nb__arena_maybe_compact(idt);
    return NB_ERR_OK;
}

/* nb__apply_join(), then what the statement does to pregnancies (planned and reserved
 * before, so that nothing can fail after the join). */
NB_NODISCARD static nb_err_t nb__apply_preg(nb_identity_t *idt, nb__tab_t *tab, const uint8_t *dig,
                                            uint64_t x, const nb_identity_link_t *link,
                                            const char *preg_key, nb__preg_plan_t *plan,
                                            nb_identity_result_t *res, char *errstr,
                                            size_t errstr_size)
{
    idt->arena_hold = true;
    nb_err_t err = nb__apply_join(idt, tab, dig, x, link, preg_key, res, errstr, errstr_size);
    if (err == NB_ERR_OK && res->change != NB_IDENTITY_CHANGE_NONE)
        nb__preg_commit(idt, link, plan, res);
    idt->arena_hold = false;
    nb__arena_maybe_compact(idt);
    return err;
}

nb_err_t nb_identity_apply(nb_identity_t *idt, const nb_identity_link_t *link,
                           nb_identity_result_t *res, char *errstr, size_t errstr_size)
{
    nb_err_t err;
    uint64_t x;
    uint8_t dig[NB__MAC_LEN];
    memset(res, 0, sizeof(*res));
    if (errstr && errstr_size)
        errstr[0] = '\0';
    size_t evlen = strnlen(link->event_id, sizeof(link->event_id));
    if (evlen == 0 || evlen > NB_ID_MAX)
        return nb__fail(errstr, errstr_size, NB_ERR_FIELD_EMPTY,
                        "event_id is empty or too long; statements are identified by it");
    if (!nb_identifier_present(&link->from) || !nb_identifier_present(&link->to))
        return nb__fail(errstr, errstr_size, NB_ERR_MISSING_IDENTIFIER,
                        "from and to are both required");

    switch (link->kind) {
    case NB_LINK_LINK:
    case NB_LINK_UNLINK: {
        const char *what = link->kind == NB_LINK_LINK ? "link" : "unlink";
        bool preg = link->kind == NB_LINK_UNLINK && link->expected_delivery_date != NB_DATE_NONE;
        if (strcmp(link->to.system, NB_SYSTEM_NHS_NUMBER) != 0)
            return nb__fail(errstr, errstr_size, NB_ERR_INCONSISTENT,
                            "%s.to must be an NHS number", what);
        if (!preg && strcmp(link->from.system, NB_SYSTEM_NHS_NUMBER) == 0)
            return nb__fail(errstr, errstr_size, NB_ERR_INCONSISTENT,
                            "%s.from is an NHS number; NHS numbers are joined by supersedes",
                            what);
        char field[16];
        snprintf(field, sizeof(field), "%s.to", what);
        if ((err = nb__nhs_parse(idt, link->to.value, &x, field, errstr, errstr_size)))
            return err;
        if (preg) {
            if ((err = nb__preg_mac(idt, &link->from, link->expected_delivery_date, "unlink",
                                    dig, errstr, errstr_size)))
                return err;
            return nb__apply_unjoin(idt, &idt->preg, dig, x, link, true, res, errstr,
                                    errstr_size);
        }
        if ((err = nb__local_digest(idt, &link->from, dig)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        if (link->kind == NB_LINK_LINK) {
            /* Pregnancies joined under this local identifier are joined under the NHS
             * number too (pregnancy.c). */
            nb__preg_plan_t plan;
            if ((err = nb__preg_plan_link(idt, link, x, &plan, res, errstr, errstr_size)) ==
                NB_ERR_OK)
                err = nb__apply_preg(idt, &idt->local, dig, x, link, NULL, &plan, res, errstr,
                                     errstr_size);
            nb__preg_plan_free(&plan);
            return err;
        }
        return nb__apply_unjoin(idt, &idt->local, dig, x, link, false, res, errstr, errstr_size);
    }
    case NB_LINK_SUPERSEDES:
        return nb__apply_supersedes(idt, link, res, errstr, errstr_size);
    case NB_LINK_UNBORN_TO_CHILD: {
        char preg_key[NB_KEY_MAX + 1];
        if (strcmp(link->to.system, NB_SYSTEM_NHS_NUMBER) != 0)
            return nb__fail(errstr, errstr_size, NB_ERR_INCONSISTENT,
                            "unborn_to_child.to must be an NHS number");
        if ((err = nb__nhs_parse(idt, link->to.value, &x, "unborn_to_child.to", errstr,
                                 errstr_size)) ||
            (err = nb__preg_mac(idt, &link->from, link->expected_delivery_date,
                                "unborn_to_child", dig, errstr, errstr_size)))
            return err;
        nb__identity_hex(dig, NB__MAC_LEN, preg_key);
        nb__preg_plan_t plan;
        if ((err = nb__preg_plan_unborn(idt, link, x, &plan, res, errstr, errstr_size)) ==
            NB_ERR_OK)
            err = nb__apply_preg(idt, &idt->preg, dig, x, link, preg_key, &plan, res, errstr,
                                 errstr_size);
        nb__preg_plan_free(&plan);
        return err;
    }
    default:
        return nb__fail(errstr, errstr_size, NB_ERR_INVALID_ARG, "unknown link kind");
    }
}
