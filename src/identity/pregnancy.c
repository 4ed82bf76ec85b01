/*
 * notbrought - identity: pregnancies, whichever identifier names the pregnant person.
 *
 * A pregnancy is (pregnant person, expected delivery date). Midwifery systems often name the
 * person by a local (maternity) number only, and a `link` joins that number to her NHS
 * number; the birth link (`unborn_to_child`) may name either. Every route must reach one
 * pregnancy (docs/identity.md, "Pregnancies"):
 *
 *  - the canonical key of a pregnancy is the key of her NHS number and the date, when the NHS
 *    number is known (named, or through a link in force from the local identifier); the
 *    literal key of the local identifier and the date only while no link is known. Keys of
 *    pregnancies named by NHS number are unchanged from earlier versions.
 *  - a resolution through a link names the literal key as merge_from, so history kept under
 *    it (before the link was known, or by an earlier version) joins the canonical key or the
 *    child.
 *  - an unborn_to_child naming a local identifier is also kept as a join of the pregnancy of
 *    the NHS number the identifier is linked to, now or when the link arrives (nb__pend_slot_t
 *    remembers the dates for that), so that events naming the NHS number reach the child too.
 *  - a pregnancy keyed by a local identifier while no link is known carries a reference
 *    (digest, date) that the state keeps: nb_identity_pregnancy_locate() finds where it
 *    belongs once the link is known, after any restart (the table is rebuilt from the links).
 */
#include "identity/internal.h"

#include <stdlib.h>
#include <string.h>

uint64_t nb__pend_hash(const void *key)
{
    uint64_t h;
    uint32_t idx;
    memcpy(&h, key, sizeof(h));
    memcpy(&idx, (const uint8_t *)key + NB__DIGEST_LEN, sizeof(idx));
    return nb__mix64(h ^ idx);
}

static void nb__pend_key(uint8_t out[NB__PEND_KEY_LEN], const uint8_t dig[NB__DIGEST_LEN],
                         uint32_t idx)
{
    memcpy(out, dig, NB__DIGEST_LEN);
    memcpy(out + NB__DIGEST_LEN, &idx, sizeof(idx));
}

/* The pend slot of (dig, idx), or NULL. */
static const nb__pend_slot_t *nb__pend_at(const nb_identity_t *idt,
                                          const uint8_t dig[NB__DIGEST_LEN], uint32_t idx)
{
    uint8_t k[NB__PEND_KEY_LEN];
    nb__pend_key(k, dig, idx);
    return nb__tab_find(&idt->pend, k);
}

/* The pregnancy MAC of an NHS number (as an integer) and a date. */
NB_NODISCARD static nb_err_t nb__preg_mac_nhs(nb_identity_t *idt, uint64_t nhs, int32_t edd,
                                              uint8_t mac[NB__MAC_LEN])
{
    nb_identifier_t person;
    memset(&person, 0, sizeof(person));
    memcpy(person.system, NB_SYSTEM_NHS_NUMBER, sizeof(NB_SYSTEM_NHS_NUMBER));
    nb__identity_nhs_format(nhs, person.value);
    return nb__preg_mac(idt, &person, edd, "pregnancy", mac, NULL, 0);
}

static bool nb__joined(const nb__link_slot_t *s)
{
    return s && (s->flags & NB__F_LINKED);
}

/*
 * Settles a pregnancy whose literal MAC is @p lit and whose canonical MAC is @p canon (the
 * same when no NHS number is known): joined to a child through either slot, else keyed by
 * canon. Both joined to different children is a conflict.
 */
NB_NODISCARD static nb_err_t nb__preg_settle(nb_identity_t *idt, const uint8_t lit[NB__MAC_LEN],
                                             const uint8_t canon[NB__MAC_LEN],
                                             nb_identity_resolution_t *res, char *errstr,
                                             size_t errstr_size)
{
    const nb__link_slot_t *sc = nb__tab_find(&idt->preg, canon);
    const nb__link_slot_t *sl =
        memcmp(lit, canon, NB__MAC_LEN) != 0 ? nb__tab_find(&idt->preg, lit) : NULL;
    bool jc = nb__joined(sc), jl = nb__joined(sl);
    nb_err_t err;
    if (jc && jl && nb__identity_final(idt, sc->nhs, NULL, NULL) !=
                        nb__identity_final(idt, sl->nhs, NULL, NULL)) {
        nb_identity_conflict_t *c = &res->conflict;
        c->kind = NB_IDENTITY_CONFLICT_PREGNANCY;
        if ((err = nb__identity_key_of(idt, nb__identity_final(idt, sc->nhs, NULL, NULL),
                                       c->existing_key)) ||
            (err = nb__identity_key_of(idt, nb__identity_final(idt, sl->nhs, NULL, NULL),
                                       c->proposed_key)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        nb__identity_ref(idt, sc->ev_off, sc->ev_len, sc->src, sc->flags, &c->existing);
        nb__identity_ref(idt, sl->ev_off, sl->ev_len, sl->src, sl->flags, &c->proposed);
        return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CONFLICT,
                        "the pregnancy is joined to one child under the pregnant person's NHS "
                        "number and to another under her local identifier; not joined");
    }
    if (jc || jl) {
        char keep[NB_NHS_LEN + 1];
        memcpy(keep, res->pregnant_nhs, sizeof(keep));
        err = nb__identity_resolve_via_link(idt, jc ? sc : sl, NB_IDENTITY_METHOD_PREGNANCY_LINK,
                                            res);
        memcpy(res->pregnant_nhs, keep, sizeof(keep));
        if (err)
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        return NB_ERR_OK;
    }
    res->method = NB_IDENTITY_METHOD_PREGNANCY;
    nb__identity_hex(canon, NB__MAC_LEN, res->key);
    return NB_ERR_OK;
}

/* The NHS number a local identifier is linked to (as the link named it), or 0. */
static uint64_t nb__linked_nhs(const nb_identity_t *idt, const uint8_t dig[NB__DIGEST_LEN])
{
    const nb__link_slot_t *ls = nb__tab_find(&idt->local, dig);
    return nb__joined(ls) ? ls->nhs : 0;
}

nb_err_t nb__identity_resolve_unborn(nb_identity_t *idt, const nb_identity_subject_t *subj,
                                     nb_identity_resolution_t *res, char *errstr,
                                     size_t errstr_size)
{
    uint8_t lit[NB__MAC_LEN], canon[NB__MAC_LEN], dig[NB__DIGEST_LEN];
    const nb_identifier_t *person = subj->pregnant_person_id;
    int32_t edd = subj->expected_delivery_date;
    nb_err_t err = nb__preg_mac(idt, person, edd, "unborn subject", lit, errstr, errstr_size);
    if (err)
        return err;
    memcpy(canon, lit, sizeof(canon));
    if (strcmp(person->system, NB_SYSTEM_NHS_NUMBER) == 0) {
        uint64_t v = 0;
        if (nb__nhs_parse(idt, person->value, &v, "pregnant person", NULL, 0) == NB_ERR_OK)
            nb__identity_nhs_format(v, res->pregnant_nhs);
        return nb__preg_settle(idt, lit, canon, res, errstr, errstr_size);
    }
    if ((err = nb__local_digest(idt, person, dig)))
        return nb__fail(errstr, errstr_size, err, "keyed hash failed");
    uint64_t nhs = nb__linked_nhs(idt, dig);
    if (nhs) {
        if ((err = nb__preg_mac_nhs(idt, nhs, edd, canon)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        nb__identity_nhs_format(nhs, res->pregnant_nhs);
    }
    if ((err = nb__preg_settle(idt, lit, canon, res, errstr, errstr_size)))
        return err;
    if (nhs) {
        /* History kept under the literal key (before the link was known) belongs here. */
        res->has_merge_from = true;
        nb__identity_hex(lit, NB__MAC_LEN, res->merge_from);
    } else if (res->method == NB_IDENTITY_METHOD_PREGNANCY) {
        res->preg_provisional = true;
        memcpy(res->preg_ref.person, dig, NB__DIGEST_LEN);
        res->preg_ref.expected_delivery_date = edd;
    }
    return NB_ERR_OK;
}

nb_err_t nb_identity_pregnancy_ref(nb_identity_t *idt, const nb_identifier_t *person,
                                   int32_t expected_delivery_date, nb_identity_preg_ref_t *ref,
                                   char literal_key[NB_KEY_MAX + 1])
{
    uint8_t lit[NB__MAC_LEN];
    literal_key[0] = '\0';
    memset(ref, 0, sizeof(*ref));
    if (person && strcmp(person->system, NB_SYSTEM_NHS_NUMBER) == 0)
        return NB_ERR_INVALID_ARG;
    nb_err_t err = nb__preg_mac(idt, person, expected_delivery_date, "pregnancy", lit, NULL, 0);
    if (err)
        return err;
    if ((err = nb__local_digest(idt, person, ref->person)))
        return err;
    ref->expected_delivery_date = expected_delivery_date;
    nb__identity_hex(lit, NB__MAC_LEN, literal_key);
    return NB_ERR_OK;
}

static int nb__unhex_nibble(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

nb_err_t nb_identity_pregnancy_locate(nb_identity_t *idt, const nb_identity_preg_ref_t *ref,
                                      const char *literal_key, nb_identity_resolution_t *res)
{
    uint8_t lit[NB__MAC_LEN], canon[NB__MAC_LEN];
    memset(res, 0, sizeof(*res));
    if (!literal_key || strlen(literal_key) != 2 * NB__MAC_LEN)
        return NB_ERR_INVALID_ARG;
    for (size_t i = 0; i < NB__MAC_LEN; i++) {
        int hi = nb__unhex_nibble(literal_key[2 * i]);
        int lo = nb__unhex_nibble(literal_key[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return NB_ERR_INVALID_ARG;
        lit[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(canon, lit, sizeof(canon));
    uint64_t nhs = nb__linked_nhs(idt, ref->person);
    nb_err_t err;
    if (nhs) {
        if ((err = nb__preg_mac_nhs(idt, nhs, ref->expected_delivery_date, canon)))
            return err;
        nb__identity_nhs_format(nhs, res->pregnant_nhs);
    }
    return nb__preg_settle(idt, lit, canon, res, NULL, 0);
}

/* ---- statements ---------------------------------------------------------------------------- */

void nb__preg_plan_free(nb__preg_plan_t *plan)
{
    free(plan->macs);
    free(plan->lits);
    free(plan->merges);
    memset(plan, 0, sizeof(*plan));
}

NB_NODISCARD static nb_err_t nb__plan_grow(nb__preg_plan_t *plan, size_t n)
{
    if (n == 0)
        return NB_ERR_OK;
    plan->macs = calloc(n, sizeof(*plan->macs));
    plan->lits = calloc(n, sizeof(*plan->lits));
    plan->merges = calloc(n, sizeof(*plan->merges));
    return plan->macs && plan->lits && plan->merges ? NB_ERR_OK : NB_ERR_NOMEM;
}

/* A refusal: joining @p lit's child under @p canon_slot, joined to another child. */
NB_NODISCARD static nb_err_t
nb__plan_conflict(nb_identity_t *idt, const nb__link_slot_t *canon_slot, uint64_t proposed_nhs,
                  const nb_identity_link_t *link, nb_identity_result_t *res, char *errstr,
                  size_t errstr_size)
{
    nb_identity_conflict_t *c = &res->conflict;
    nb_err_t err;
    c->kind = NB_IDENTITY_CONFLICT_PREGNANCY;
    if ((err = nb__identity_key_of(idt, nb__identity_final(idt, canon_slot->nhs, NULL, NULL),
                                   c->existing_key)) ||
        (err = nb__identity_key_of(idt, nb__identity_final(idt, proposed_nhs, NULL, NULL),
                                   c->proposed_key)))
        return nb__fail(errstr, errstr_size, err, "keyed hash failed");
    nb__identity_ref(idt, canon_slot->ev_off, canon_slot->ev_len, canon_slot->src,
                     canon_slot->flags, &c->existing);
    nb__ref_of_link(link, &c->proposed);
    res->child_key[0] = '\0';
    return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CONFLICT,
                    "the pregnancy is already joined to another child under the pregnant "
                    "person's NHS number; not re-pointed");
}

nb_err_t nb__preg_plan_link(nb_identity_t *idt, const nb_identity_link_t *link, uint64_t x,
                            nb__preg_plan_t *plan, nb_identity_result_t *res, char *errstr,
                            size_t errstr_size)
{
    uint8_t dig[NB__DIGEST_LEN];
    nb_err_t err;
    memset(plan, 0, sizeof(*plan));
    if ((err = nb__local_digest(idt, &link->from, dig)))
        return nb__fail(errstr, errstr_size, err, "keyed hash failed");
    uint32_t n = 0;
    while (nb__pend_at(idt, dig, n))
        n++;
    if (n == 0)
        return NB_ERR_OK;
    if ((err = nb__plan_grow(plan, n)))
        return nb__fail(errstr, errstr_size, err, "out of memory");
    size_t arena = strlen(link->event_id);
    for (uint32_t i = 0; i < n; i++) {
        int32_t edd = nb__pend_at(idt, dig, i)->edd;
        uint8_t lit[NB__MAC_LEN], canon[NB__MAC_LEN];
        if ((err = nb__preg_mac(idt, &link->from, edd, "link", lit, errstr, errstr_size)) ||
            (err = nb__preg_mac_nhs(idt, x, edd, canon)))
            return err;
        const nb__link_slot_t *sl = nb__tab_find(&idt->preg, lit);
        if (!nb__joined(sl))
            continue; /* withdrawn since */
        const nb__link_slot_t *sc = nb__tab_find(&idt->preg, canon);
        if (nb__joined(sc)) {
            if (nb__identity_final(idt, sc->nhs, NULL, NULL) !=
                nb__identity_final(idt, sl->nhs, NULL, NULL))
                return nb__plan_conflict(idt, sc, sl->nhs, link, res, errstr, errstr_size);
            continue; /* joined to the same child already */
        }
        memcpy(plan->macs[plan->n], canon, NB__MAC_LEN);
        memcpy(plan->lits[plan->n], lit, NB__MAC_LEN);
        nb_identity_merge_t *m = &plan->merges[plan->n];
        nb__identity_hex(canon, NB__MAC_LEN, m->from_key);
        if ((err = nb__identity_key_of(idt, nb__identity_final(idt, sl->nhs, NULL, NULL),
                                       m->into_key)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        arena += sl->ev_len;
        plan->n++;
    }
    if ((err = nb__tab_reserve(&idt->preg, plan->n)) || (err = nb__arena_reserve(idt, arena)))
        return nb__fail(errstr, errstr_size, err, "out of memory");
    return NB_ERR_OK;
}

nb_err_t nb__preg_plan_unborn(nb_identity_t *idt, const nb_identity_link_t *link, uint64_t x,
                              nb__preg_plan_t *plan, nb_identity_result_t *res, char *errstr,
                              size_t errstr_size)
{
    uint8_t dig[NB__DIGEST_LEN];
    nb_err_t err;
    int32_t edd = link->expected_delivery_date;
    memset(plan, 0, sizeof(*plan));
    if (strcmp(link->from.system, NB_SYSTEM_NHS_NUMBER) == 0)
        return NB_ERR_OK; /* the canonical key already */
    if ((err = nb__local_digest(idt, &link->from, dig)))
        return nb__fail(errstr, errstr_size, err, "keyed hash failed");
    uint32_t n = 0;
    bool known = false;
    for (const nb__pend_slot_t *ps; (ps = nb__pend_at(idt, dig, n)); n++)
        known = known || ps->edd == edd;
    if (!known) {
        plan->add_pend = true;
        memcpy(plan->pend_dig, dig, NB__DIGEST_LEN);
        plan->pend_idx = n;
        plan->pend_edd = edd;
        if ((err = nb__tab_reserve(&idt->pend, 1)))
            return nb__fail(errstr, errstr_size, err, "out of memory");
    }
    uint64_t nhs = nb__linked_nhs(idt, dig);
    size_t evlen = strlen(link->event_id);
    if (nhs) {
        uint8_t lit[NB__MAC_LEN], canon[NB__MAC_LEN];
        if ((err = nb__preg_mac(idt, &link->from, edd, "unborn_to_child", lit, errstr,
                                errstr_size)) ||
            (err = nb__preg_mac_nhs(idt, nhs, edd, canon)))
            return err;
        const nb__link_slot_t *sc = nb__tab_find(&idt->preg, canon);
        if (nb__joined(sc)) {
            if (nb__identity_final(idt, sc->nhs, NULL, NULL) !=
                nb__identity_final(idt, x, NULL, NULL))
                return nb__plan_conflict(idt, sc, x, link, res, errstr, errstr_size);
        } else {
            if ((err = nb__plan_grow(plan, 1)))
                return nb__fail(errstr, errstr_size, err, "out of memory");
            memcpy(plan->macs[0], canon, NB__MAC_LEN);
            memcpy(plan->lits[0], lit, NB__MAC_LEN);
            nb__identity_hex(canon, NB__MAC_LEN, plan->merges[0].from_key);
            if ((err = nb__identity_key_of(idt, nb__identity_final(idt, x, NULL, NULL),
                                           plan->merges[0].into_key)))
                return nb__fail(errstr, errstr_size, err, "keyed hash failed");
            plan->n = 1;
        }
    }
    /* The literal slot the statement itself joins, and its copy under the NHS number. */
    if ((err = nb__tab_reserve(&idt->preg, plan->n + 1)) ||
        (err = nb__arena_reserve(idt, evlen * (plan->n + 1))))
        return nb__fail(errstr, errstr_size, err, "out of memory");
    return NB_ERR_OK;
}

void nb__preg_commit(nb_identity_t *idt, const nb_identity_link_t *link, nb__preg_plan_t *plan,
                     nb_identity_result_t *res)
{
    (void)link; /* the plan has what the statement needs */
    if (plan->add_pend) {
        uint8_t k[NB__PEND_KEY_LEN];
        int created;
        nb__pend_key(k, plan->pend_dig, plan->pend_idx);
        nb__pend_slot_t *ps = nb__tab_insert(&idt->pend, k, &created);
        if (ps)
            ps->edd = plan->pend_edd;
    }
    size_t done = 0;
    for (size_t i = 0; i < plan->n; i++) {
        const nb__link_slot_t *sl = nb__tab_find(&idt->preg, plan->lits[i]);
        if (!nb__joined(sl))
            continue;
        nb__link_slot_t copy = *sl;
        memcpy(copy.key, plan->macs[i], NB__DIGEST_LEN);
        /* Its own copy of the event id: slots never share arena strings. */
        copy.ev_off = nb__arena_put(idt, idt->arena + sl->ev_off, sl->ev_len);
        int created;
        nb__link_slot_t *sc = nb__tab_insert(&idt->preg, plan->macs[i], &created);
        if (!sc)
            continue; /* not reached: reserved by the plan */
        if (!created)
            idt->arena_garbage += sc->ev_len; /* the tombstone's unlink statement */
        *sc = copy;
        idt->preg_linked++;
        plan->merges[done++] = plan->merges[i];
    }
    if (done == 0)
        return;
    size_t at = 0;
    if (!res->has_merge) {
        res->has_merge = true;
        res->merge = plan->merges[0];
        at = 1;
    }
    if (at < done) {
        /* Hand the rest of the plan's array to the result. */
        memmove(plan->merges, plan->merges + at, (done - at) * sizeof(*plan->merges));
        res->more_merges = plan->merges;
        res->n_more_merges = done - at;
        plan->merges = NULL;
    }
}
