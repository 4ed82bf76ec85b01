/*
 * notbrought - identity: resolving an event's subject to a child (see identity.c and
 * docs/identity.md): by NHS number, or by a local identifier linked to one; otherwise the
 * event is parked, with a demographic suggestion when the deployment asks for them (never a
 * join).
 */
#include "identity/internal.h"

#include <stdio.h>
#include <string.h>

/* ---- demographics ------------------------------------------------------------------------ */

/* Family name: ASCII letters upper-cased; whitespace, hyphens and apostrophes (', U+2018,
 * U+2019) removed; other bytes (non-ASCII letters) kept as they are. */
static size_t nb__norm_name(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '-' || *p == '\'')
            continue;
        if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0x98 || p[2] == 0x99)) {
            p += 2;
            continue;
        }
        if (n + 1 >= cap)
            break;
        out[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    }
    out[n] = '\0';
    return n;
}

/* Postcode: upper case, no whitespace. */
static size_t nb__norm_postcode(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            continue;
        if (n + 1 >= cap)
            break;
        out[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    }
    out[n] = '\0';
    return n;
}

/* The keyed digest of (date of birth, family name, postcode); false when any is missing. */
static bool nb__demo_digest(nb_identity_t *idt, const nb_identity_subject_t *subj,
                            uint8_t dig[NB__DIGEST_LEN])
{
    char name[NB_NAME_MAX * 2 + 1], pc[NB_POSTCODE_MAX * 2 + 1];
    if (subj->date_of_birth == NB_DATE_NONE || !subj->family_name || !subj->postcode)
        return false;
    size_t nn = nb__norm_name(subj->family_name, name, sizeof(name));
    size_t pn = nb__norm_postcode(subj->postcode, pc, sizeof(pc));
    if (!nn || !pn)
        return false;
    uint8_t be[4];
    nb_be_put(be, (uint32_t)subj->date_of_birth, 4);
    uint8_t mac[NB__MAC_LEN];
    if (nb__identity_mac(idt, "nb1:demo", be, sizeof(be), name, nn, pc, pn, mac))
        return false;
    memcpy(dig, mac, NB__DIGEST_LEN);
    return true;
}

static uint64_t nb__demo_nhs(const nb__demo_slot_t *s)
{
    return (uint64_t)s->nhs_lo | ((uint64_t)s->nhs_hi << 32);
}

static void nb__demo_set(nb__demo_slot_t *s, uint64_t nhs)
{
    s->nhs_lo = (uint32_t)nhs;
    s->nhs_hi = (uint8_t)(nhs >> 32);
}

/* Remembers that a resolved child has this tuple. A tuple seen with two different children
 * (twins, a shared household) becomes ambiguous for good: it will never suggest. */
static void nb__demo_learn(nb_identity_t *idt, const nb_identity_subject_t *subj, uint64_t fin)
{
    uint8_t dig[NB__DIGEST_LEN];
    if (!idt->conf.suggest_demographic_links || !nb__demo_digest(idt, subj, dig))
        return;
    nb__demo_slot_t *s = nb__tab_find(&idt->demo, dig);
    if (!s) {
        int created;
        if (idt->demo.count >= idt->conf.demographics_max ||
            nb__tab_reserve(&idt->demo, 1) != NB_ERR_OK ||
            !(s = nb__tab_insert(&idt->demo, dig, &created))) {
            idt->demo_dropped++;
            return;
        }
        nb__demo_set(s, fin);
        return;
    }
    if (s->flags & NB__DEMO_AMBIGUOUS)
        return;
    if (nb__identity_final(idt, nb__demo_nhs(s), NULL, NULL) == fin)
        nb__demo_set(s, fin);
    else
        s->flags |= NB__DEMO_AMBIGUOUS;
}

static void nb__demo_suggest(nb_identity_t *idt, const nb_identity_subject_t *subj,
                             const uint8_t local_dig[NB__DIGEST_LEN],
                             const nb__link_slot_t *tombstone, nb_identity_resolution_t *res)
{
    uint8_t dig[NB__DIGEST_LEN];
    if (!idt->conf.suggest_demographic_links || !subj->local_id ||
        !nb__demo_digest(idt, subj, dig))
        return;
    const nb__demo_slot_t *s = nb__tab_find(&idt->demo, dig);
    if (!s || (s->flags & NB__DEMO_AMBIGUOUS))
        return;
    uint64_t fin = nb__identity_final(idt, nb__demo_nhs(s), NULL, NULL);
    /* Do not suggest again the child a human has just unlinked this identifier from. */
    if (tombstone && nb__identity_final(idt, tombstone->nhs, NULL, NULL) == fin)
        return;
    nb_identity_suggestion_t *sg = &res->suggestion;
    memset(sg, 0, sizeof(*sg));
    if (nb__identity_key_of(idt, fin, sg->child_key))
        return;
    uint8_t fin_be[8], mac[NB__MAC_LEN];
    nb_be_put(fin_be, fin, 8);
    if (nb__identity_mac(idt, "nb1:suggest", local_dig, NB__DIGEST_LEN, fin_be, sizeof(fin_be),
                         NULL, 0, mac))
        return;
    nb_identity_link_t *l = &sg->link;
    char hex[2 * 12 + 1];
    nb__identity_hex(mac, 12, hex);
    snprintf(l->event_id, sizeof(l->event_id), "suggest-%s", hex);
    l->kind = NB_LINK_LINK;
    l->from = *subj->local_id;
    snprintf(l->to.system, sizeof(l->to.system), "%s", NB_SYSTEM_NHS_NUMBER);
    nb__identity_nhs_format(fin, l->to.value);
    l->expected_delivery_date = NB_DATE_NONE;
    l->source.agency = NB_AGENCY_OTHER;
    snprintf(l->source.system, sizeof(l->source.system), "notbrought");
    if (subj->source)
        snprintf(l->source.organisation_code, sizeof(l->source.organisation_code), "%s",
                 subj->source->organisation_code);
    l->verification = NB_VERIFICATION_UNVERIFIED;
    l->recorded_at = NB_TIME_NONE;
    sg->matched = 1u << NB_DEMO_DATE_OF_BIRTH | 1u << NB_DEMO_FAMILY_NAME | 1u << NB_DEMO_POSTCODE;
    sg->candidates = 1;
    res->has_suggestion = true;
}

/* ---- resolution -------------------------------------------------------------------------- */

void nb_identity_subject_of_appointment(nb_identity_subject_t *subj,
                                        const nb_appointment_event_t *ev)
{
    memset(subj, 0, sizeof(*subj));
    subj->kind = ev->subject_kind;
    subj->event_id = ev->event_id;
    subj->source = &ev->source;
    subj->nhs_number = ev->nhs_number;
    subj->local_id = &ev->local_id;
    subj->pregnant_person_id = &ev->pregnant_person_id;
    subj->expected_delivery_date = ev->expected_delivery_date;
    subj->date_of_birth = ev->date_of_birth;
    subj->family_name = ev->family_name;
    subj->postcode = ev->postcode;
}

void nb_identity_subject_of_fact(nb_identity_subject_t *subj, const nb_context_fact_t *fact)
{
    memset(subj, 0, sizeof(*subj));
    subj->kind = NB_SUBJECT_CHILD;
    subj->event_id = fact->event_id;
    subj->nhs_number = fact->nhs_number;
    subj->local_id = &fact->local_id;
    subj->expected_delivery_date = NB_DATE_NONE;
    subj->date_of_birth = NB_DATE_NONE;
}

nb_err_t nb__identity_resolve_via_link(nb_identity_t *idt, const nb__link_slot_t *slot,
                                       nb_identity_method_t method, nb_identity_resolution_t *res)
{
    uint32_t hops;
    const nb__sup_slot_t *last;
    uint64_t fin = nb__identity_final(idt, slot->nhs, &hops, &last);
    nb_err_t err = nb__identity_key_of(idt, fin, res->key);
    if (err)
        return err;
    res->method = method;
    nb__identity_nhs_format(fin, res->nhs_number);
    nb__identity_ref(idt, slot->ev_off, slot->ev_len, slot->src, slot->flags, &res->via);
    res->supersession_hops = hops;
    if (last)
        nb__identity_ref(idt, last->ev_off, last->ev_len, last->src, last->flags,
                         &res->supersession);
    return NB_ERR_OK;
}

nb_err_t nb_identity_resolve(nb_identity_t *idt, const nb_identity_subject_t *subj,
                             nb_identity_resolution_t *res, char *errstr, size_t errstr_size)
{
    memset(res, 0, sizeof(*res));
    if (errstr && errstr_size)
        errstr[0] = '\0';
    if (subj->kind == NB_SUBJECT_UNBORN)
        return nb__identity_resolve_unborn(idt, subj, res, errstr, errstr_size);

    bool has_nhs = subj->nhs_number && subj->nhs_number[0];
    bool has_local = subj->local_id && nb_identifier_present(subj->local_id);
    if (!has_nhs && !has_local)
        return nb__fail(errstr, errstr_size, NB_ERR_MISSING_IDENTIFIER,
                        "subject has neither an NHS number nor a local identifier");
    nb_err_t err;
    uint8_t dig[NB__DIGEST_LEN];
    const nb__link_slot_t *slot = NULL;
    if (has_local) {
        if ((err = nb__local_digest(idt, subj->local_id, dig)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        slot = nb__tab_find(&idt->local, dig);
    }
    bool linked = slot && (slot->flags & NB__F_LINKED);

    if (has_nhs) {
        uint64_t nhs, fin;
        const nb__sup_slot_t *last;
        if ((err = nb__nhs_parse(idt, subj->nhs_number, &nhs, "subject.nhs_number", errstr,
                                 errstr_size)))
            return err;
        fin = nb__identity_final(idt, nhs, &res->supersession_hops, &last);
        if ((err = nb__identity_key_of(idt, fin, res->key)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        if (linked) {
            uint64_t other = nb__identity_final(idt, slot->nhs, NULL, NULL);
            if (other != fin) {
                nb_identity_conflict_t *c = &res->conflict;
                c->kind = NB_IDENTITY_CONFLICT_SUBJECT;
                snprintf(c->proposed_key, sizeof(c->proposed_key), "%s", res->key);
                if ((err = nb__identity_key_of(idt, other, c->existing_key)))
                    return nb__fail(errstr, errstr_size, err, "keyed hash failed");
                nb__identity_ref(idt, slot->ev_off, slot->ev_len, slot->src, slot->flags,
                                 &c->existing);
                snprintf(c->proposed.event_id, sizeof(c->proposed.event_id), "%s",
                         subj->event_id ? subj->event_id : "");
                if (subj->source)
                    c->proposed.source = *subj->source;
                c->proposed.verification = NB_VERIFICATION_UNVERIFIED;
                res->key[0] = '\0';
                res->supersession_hops = 0;
                return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CONFLICT,
                                "subject.nhs_number and subject.local_id name different "
                                "children; not joined");
            }
        }
        res->method = NB_IDENTITY_METHOD_NHS_NUMBER;
        nb__identity_nhs_format(fin, res->nhs_number);
        if (last)
            nb__identity_ref(idt, last->ev_off, last->ev_len, last->src, last->flags,
                             &res->supersession);
        nb__demo_learn(idt, subj, fin);
        return NB_ERR_OK;
    }

    if (linked) {
        if ((err = nb__identity_resolve_via_link(idt, slot, NB_IDENTITY_METHOD_LINK, res)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        nb__demo_learn(idt, subj, nb__identity_final(idt, slot->nhs, NULL, NULL));
        return NB_ERR_OK;
    }

    res->method = NB_IDENTITY_METHOD_NONE;
    res->park_reason =
        slot ? NB_IDENTITY_PARK_UNLINKED_LOCAL_ID : NB_IDENTITY_PARK_UNKNOWN_LOCAL_ID;
    memcpy(res->want, dig, NB_IDENTITY_WANT_LEN);
    nb__demo_suggest(idt, subj, dig, slot, res);
    return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_UNRESOLVED,
                    slot ? "subject.local_id was unlinked and no NHS number is given; parked"
                         : "subject.local_id is not linked to a child yet; parked");
}

nb_err_t nb_identity_resolve_appointment(nb_identity_t *idt, const nb_appointment_event_t *ev,
                                         nb_identity_resolution_t *res, char *errstr,
                                         size_t errstr_size)
{
    nb_identity_subject_t subj;
    nb_identity_subject_of_appointment(&subj, ev);
    return nb_identity_resolve(idt, &subj, res, errstr, errstr_size);
}
