/*
 * notbrought - notify: notification content and lifecycle (pure).
 */
#include "notify/internal.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- lifecycle state -------------------------------------------------------------------- */

bool nb_notify_is_closed(const nb_notify_state_t *s, const uint8_t id[NB_LEDGER_ID_BYTES])
{
    for (size_t i = 0; i < s->n_closed; i++)
        if (memcmp(s->closed[i], id, NB_LEDGER_ID_BYTES) == 0)
            return true;
    return false;
}

void nb__notify_close(nb_notify_state_t *s, const uint8_t id[NB_LEDGER_ID_BYTES])
{
    if (nb_notify_is_closed(s, id))
        return;
    if (s->n_closed == NB_NOTIFY_MAX_CLOSED) {
        /* The oldest closure goes: its raised entry is the oldest and is pruned first. */
        memmove(s->closed[0], s->closed[1], (NB_NOTIFY_MAX_CLOSED - 1) * NB_LEDGER_ID_BYTES);
        s->n_closed--;
    }
    memcpy(s->closed[s->n_closed++], id, NB_LEDGER_ID_BYTES);
}

const nb_ledger_raised_t *nb__notify_find_raised(const nb_ledger_t *led,
                                                 const uint8_t id[NB_LEDGER_ID_BYTES])
{
    size_t n;
    const nb_ledger_raised_t *r = nb_ledger_raised(led, &n);
    for (size_t i = 0; i < n; i++)
        if (memcmp(r[i].id, id, NB_LEDGER_ID_BYTES) == 0)
            return &r[i];
    return NULL;
}

static const char *const nb__ack_names[] = {"acknowledged", "ack_duplicate", "ack_early",
                                            "ack_unknown"};

const char *nb_notify_ack_name(nb_notify_ack_t a)
{
    return (unsigned)a < 4 ? nb__ack_names[a] : "?";
}

bool nb__notify_parse_id(const char *notification_id, uint8_t id[NB_LEDGER_ID_BYTES])
{
    char hex[NB_LEDGER_ID_HEX + 1];
    /* Escalations ("<id>-e<n>") and withdrawals ("<id>-w") are acted on as their origin. */
    if (strlen(notification_id) < NB_LEDGER_ID_HEX)
        return false;
    memcpy(hex, notification_id, NB_LEDGER_ID_HEX);
    hex[NB_LEDGER_ID_HEX] = '\0';
    const char *rest = notification_id + NB_LEDGER_ID_HEX;
    return !(rest[0] && rest[0] != '-') && nb_ledger_id_parse(hex, id);
}

nb_notify_ack_t nb_notify_ack(nb_notify_state_t *s, const nb_ledger_t *led,
                              const char *notification_id, int64_t now_ms)
{
    nb_ack_t a;
    memset(&a, 0, sizeof(a));
    a.intent = NB_ACK_INTENT_CLOSE;
    nb_str_copy(a.notification_id, sizeof(a.notification_id), notification_id);
    switch (nb_notify_apply(NULL, s, led, &a, now_ms, NULL)) {
    case NB_NOTIFY_CLOSED:
        return NB_NOTIFY_ACK_CLOSED;
    case NB_NOTIFY_DUPLICATE:
        return NB_NOTIFY_ACK_DUPLICATE;
    case NB_NOTIFY_EARLY:
        return NB_NOTIFY_ACK_EARLY;
    default:
        return NB_NOTIFY_ACK_UNKNOWN;
    }
}

void nb_notify_sync(nb_notify_state_t *s, const nb_ledger_t *led, int64_t now_ms)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n_pending; i++) {
        if (nb__notify_find_raised(led, s->pending[i].id))
            nb__notify_close(s, s->pending[i].id);
        else if (s->pending[i].at + NB_NOTIFY_PENDING_MS > now_ms)
            s->pending[k++] = s->pending[i];
    }
    s->n_pending = k;
    k = 0;
    for (size_t i = 0; i < s->n_closed; i++)
        if (nb__notify_find_raised(led, s->closed[i]))
            memmove(s->closed[k++], s->closed[i], NB_LEDGER_ID_BYTES);
    s->n_closed = k;
    nb__notify_owners_sync(s, led, now_ms);
}

static const char *const nb__act_names[] = {"fired",     "fired_closed", "escalated",
                                            "withdrawn", "corrected",    "suppressed",
                                            "shadow"};

const char *nb_notify_act_name(nb_notify_act_t a)
{
    return (unsigned)a < 7 ? nb__act_names[a] : "?";
}

bool nb__notify_pending(const nb_notify_state_t *s, const uint8_t id[NB_LEDGER_ID_BYTES])
{
    for (size_t i = 0; i < s->n_pending; i++)
        if (memcmp(s->pending[i].id, id, NB_LEDGER_ID_BYTES) == 0)
            return true;
    return false;
}

/* Writes @p a when there is room, and counts it either way. */
static void nb__put_action(nb_notify_action_t *out, size_t max, size_t *n, nb_notify_action_t a)
{
    if (*n < max)
        out[*n] = a;
    (*n)++;
}

nb_err_t nb_notify_scratch_reserve(nb_notify_scratch_t *s, size_t n)
{
    if (n <= s->cap)
        return NB_ERR_OK;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < n)
        cap *= 2;
    nb_notify_action_t *acts = realloc(s->acts, cap * sizeof(*acts));
    if (acts)
        s->acts = acts;
    nb_ledger_raised_t *add = acts ? realloc(s->add, cap * sizeof(*add)) : NULL;
    if (add)
        s->add = add;
    uint8_t(*drop)[NB_LEDGER_ID_BYTES] = add ? realloc(s->drop, cap * sizeof(*drop)) : NULL;
    if (!drop)
        return NB_ERR_NOMEM; /* the arrays that did grow keep their old contents; cap stays */
    s->drop = drop;
    s->cap = cap;
    return NB_ERR_OK;
}

void nb_notify_scratch_free(nb_notify_scratch_t *s)
{
    free(s->acts);
    free(s->add);
    free(s->drop);
    free(s->note);
    memset(s, 0, sizeof(*s));
}

size_t nb_notify_plan_bound(const nb_policy_result_t *res)
{
    size_t nd, nr;
    (void)nb_policy_result_decisions(res, &nd);
    (void)nb_policy_result_raised(res, &nr);
    return nd + nr;
}

/* The escalation of raised decision @p d at @p level (its raised record's) if its next rung
 * is due, and when the rung after falls due. */
static void nb__plan_rung(const nb_policy_decision_t *d, size_t level, const nb_notify_state_t *s,
                          int64_t now_ms, nb_notify_action_t *out, size_t max, size_t *n,
                          int64_t *next_due)
{
    if (nb_notify_is_closed(s, d->id_bytes) || level >= d->n_rungs)
        return;
    /* Ownership (docs/inbox.md): a taken notification escalates no further when its ladder
     * says so; a reassignment that restarted the respond-by moves the rungs by as much. */
    const nb_notify_owner_t *own = nb_notify_owner(s, d->id_bytes);
    if (own && own->state == NB_NOTIFY_OWN_OPEN && own->user_id[0] && d->ownership &&
        d->ownership->stops_on_take)
        return;
    int64_t shift = own && own->state == NB_NOTIFY_OWN_OPEN && own->respond_by != NB_TIME_NONE &&
                            d->respond_by != NB_TIME_NONE
                        ? own->respond_by - d->respond_by
                        : 0;
    if (d->rungs[level].due + shift <= now_ms) {
        nb_notify_action_t a = {NB_NOTIFY_ACT_ESCALATE, d, NULL, level, shift};
        nb__put_action(out, max, n, a);
        level++;
    }
    if (level < d->n_rungs &&
        (*next_due == NB_TIME_NONE || d->rungs[level].due + shift < *next_due))
        *next_due = d->rungs[level].due + shift;
}

size_t nb_notify_plan(const nb_policy_result_t *res, const nb_notify_state_t *s, int64_t now_ms,
                      bool audit_quiet, nb_notify_action_t *out, size_t max, int64_t *next_due)
{
    size_t nd, nr, n = 0;
    const nb_policy_decision_t *ds = nb_policy_result_decisions(res, &nd);
    const nb_policy_raised_status_t *rs = nb_policy_result_raised(res, &nr);
    *next_due = NB_TIME_NONE;
    for (size_t i = 0; i < nr; i++) {
        bool closed = nb_notify_is_closed(s, rs[i].raised->id);
        if (rs[i].support == NB_POLICY_WITHDRAWN || rs[i].support == NB_POLICY_RESOLVED) {
            nb_notify_action_t a = {closed ? NB_NOTIFY_ACT_CORRECTED : NB_NOTIFY_ACT_WITHDRAW, NULL,
                                    &rs[i], 0, 0};
            nb__put_action(out, max, &n, a);
        }
    }
    for (size_t i = 0; i < nd; i++) {
        const nb_policy_decision_t *d = &ds[i];
        if (d->state == NB_POLICY_NEW) {
            nb_notify_act_t act = d->shadow                            ? NB_NOTIFY_ACT_SHADOW
                                  : nb__notify_pending(s, d->id_bytes) ? NB_NOTIFY_ACT_NEW_CLOSED
                                                                       : NB_NOTIFY_ACT_NEW;
            if (act == NB_NOTIFY_ACT_SHADOW && audit_quiet)
                continue;
            nb_notify_action_t a = {act, d, NULL, 0, 0};
            nb__put_action(out, max, &n, a);
            if (act == NB_NOTIFY_ACT_NEW && d->n_rungs > 0 &&
                (*next_due == NB_TIME_NONE || d->rungs[0].due < *next_due))
                *next_due = d->rungs[0].due;
        } else if (d->state == NB_POLICY_SUPPRESSED) {
            if (!audit_quiet && !d->shadow) {
                nb_notify_action_t a = {NB_NOTIFY_ACT_SUPPRESSED, d, NULL, 0, 0};
                nb__put_action(out, max, &n, a);
            }
        }
    }
    /* Escalations: every raised notification its rule supports climbs its own ladder (the
     * level reached lives in its raised record), whether the rule makes its decision again or
     * now decides over other evidence (nb_policy_raised_status_t.escalate_by). */
    for (size_t i = 0; i < nr; i++)
        if (rs[i].support == NB_POLICY_SUPPORTED && rs[i].escalate_by)
            nb__plan_rung(rs[i].escalate_by, rs[i].raised->level, s, now_ms, out, max, &n,
                          next_due);
    return n;
}

/* ---- content ----------------------------------------------------------------------------- */

void nb_notify_reference(const uint8_t id[NB_LEDGER_ID_BYTES], char out[NB_REF_MAX + 1])
{
    static const char alphabet[] = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"; /* 31 symbols */
    uint64_t v = nb_be_get(id, 8);
    char sym[8];
    for (int i = 0; i < 8; i++) {
        sym[i] = alphabet[v % 31];
        v /= 31;
    }
    snprintf(out, NB_REF_MAX + 1, "WNB-%.4s-%.4s", sym, sym + 4);
}

static void nb__common(const nb_policy_t *pol, const nb_ledger_t *led,
                       const nb_notify_child_t *child, int64_t now_ms, nb_notification_t *n)
{
    const nb_policy_info_t *info = nb_policy_info(pol);
    nb_str_copy(n->nhs_number, sizeof(n->nhs_number), child->nhs_number);
    n->date_of_birth = nb_ledger_date_of_birth(led);
    n->age_months = -1;
    if (n->date_of_birth != NB_DATE_NONE) {
        int32_t m = nb_age_months(n->date_of_birth, nb_day_of(now_ms));
        n->age_months = m >= 0 ? m : -1;
    }
    nb_str_copy(n->child_key, sizeof(n->child_key), child->key);
    nb_str_copy(n->pregnant_person_nhs, sizeof(n->pregnant_person_nhs),
                child->pregnant_person_nhs);
    n->expected_delivery_date = nb_ledger_expected_delivery(led);
    nb_str_copy(n->policy_name, sizeof(n->policy_name), info->name);
    nb_str_copy(n->policy_version, sizeof(n->policy_version), info->version);
    nb_str_copy(n->policy_hash, sizeof(n->policy_hash), info->hash);
    n->created_at = now_ms;
}

/* A recipient: the role's id (the machine field), its title (what a nurse reads), its route. */
static void nb__recipient(nb_recipient_t *out, const nb_policy_role_t *role)
{
    nb_str_copy(out->role, sizeof(out->role), role->id);
    nb_str_copy(out->title, sizeof(out->title), role->title ? role->title : "");
    nb_str_copy(out->route, sizeof(out->route), role->route);
}

void nb_notify_fill_titles(const nb_policy_t *pol, nb_notification_t *n)
{
    for (size_t i = 0; i < n->n_recipients; i++) {
        n->recipients[i].title[0] = '\0';
        for (size_t k = 0; k < nb_policy_role_count(pol); k++) {
            const nb_policy_role_t *role = nb_policy_role(pol, k);
            if (strcmp(role->id, n->recipients[i].role) == 0) {
                nb_str_copy(n->recipients[i].title, sizeof(n->recipients[i].title),
                            role->title ? role->title : "");
                break;
            }
        }
    }
}

/* What the rule counted, in words (empty when the policy cannot say: out of memory). */
static void nb__counted(const nb_policy_t *pol, const nb_policy_rule_info_t *rule,
                        nb_window_count_t *c)
{
    nb_buf_t b = {0};
    c->counted[0] = '\0';
    if (nb_policy_rule_counted(pol, rule, c->count, c->agencies, &b) == NB_ERR_OK && b.len) {
        size_t len = b.len < NB_TEXT_MAX ? b.len : NB_TEXT_MAX;
        memcpy(c->counted, b.data, len);
        c->counted[len] = '\0';
    }
    nb_buf_free(&b);
}

static void nb__from_decision(const nb_policy_t *pol, const nb_policy_decision_t *d,
                              const nb_ledger_t *led, const nb_notify_child_t *child,
                              int64_t now_ms, nb_notification_t *n)
{
    memset(n, 0, sizeof(*n));
    nb__common(pol, led, child, now_ms, n);
    nb_str_copy(n->notification_id, sizeof(n->notification_id), d->id);
    nb_notify_reference(d->id_bytes, n->reference);
    n->kind = NB_NOTIFICATION_NEW;
    nb_str_copy(n->rule_id, sizeof(n->rule_id), d->rule->id);
    snprintf(n->rule_text, sizeof(n->rule_text), "%s%s", d->rule->title,
             d->as_dna ? " (a young person who manages their own care: did not attend)" : "");
    n->tier = d->tier;
    nb_str_copy(n->action, sizeof(n->action), d->rule->action);
    n->respond_by = d->respond_by;
    n->n_recipients = d->n_recipients;
    for (size_t i = 0; i < d->n_recipients; i++)
        nb__recipient(&n->recipients[i], d->recipients[i]);
    n->n_evidence = d->n_evidence;
    for (size_t i = 0; i < d->n_evidence; i++)
        nb_ledger_evidence(led, d->evidence[i], &n->evidence[i]);
    n->n_context = d->n_context;
    for (size_t i = 0; i < d->n_context; i++)
        nb_ledger_context(led, d->context[i], &n->context[i]);
    n->n_counts = d->n_counts;
    memcpy(n->counts, d->counts, sizeof(n->counts[0]) * d->n_counts);
    for (size_t i = 0; i < d->n_counts; i++)
        nb__counted(pol, d->rule, &n->counts[i]);
}

void nb_notify_build_new(const nb_policy_t *pol, const nb_policy_decision_t *d,
                         const nb_ledger_t *led, const nb_notify_child_t *child, int64_t now_ms,
                         nb_notification_t *n)
{
    nb__from_decision(pol, d, led, child, now_ms, n);
    nb_str_copy(n->supersedes, sizeof(n->supersedes), d->related);
    if (d->covered_by_rule && d->n_covered) {
        /* Overlapping rules: those already told by another notification are not told again;
         * the others learn where the work already is. */
        char ref[NB_REF_MAX + 1] = "";
        uint8_t id[NB_LEDGER_ID_BYTES];
        if (nb_ledger_id_parse(d->covered_by, id))
            nb_notify_reference(id, ref);
        size_t len = strlen(n->action);
        if (len + 1 < sizeof(n->action))
            snprintf(n->action + len, sizeof(n->action) - len,
                         " Already with the %s: notification %s (\"%s\"); agree with them who "
                         "does what.",
                         d->covered[0]->title, ref[0] ? ref : d->covered_by,
                     d->covered_by_rule->title);
    }
}

void nb_notify_build_escalation(const nb_policy_t *pol, const nb_policy_decision_t *d, size_t rung,
                                int64_t shift, const nb_ledger_t *led,
                                const nb_notify_child_t *child, int64_t now_ms,
                                nb_notification_t *n)
{
    const nb_policy_rung_t *r = &d->rungs[rung];
    nb__from_decision(pol, d, led, child, now_ms, n);
    snprintf(n->notification_id, sizeof(n->notification_id), "%s-e%zu", d->id, rung + 1);
    n->kind = NB_NOTIFICATION_ESCALATED;
    n->tier = r->tier;
    n->escalation_level = (int32_t)(rung + 1);
    nb_str_copy(n->supersedes, sizeof(n->supersedes), d->id);
    n->n_recipients = r->n_roles;
    for (size_t i = 0; i < r->n_roles; i++)
        nb__recipient(&n->recipients[i], r->roles[i]);
    /* Respond by the next rung, if there is one: when it falls due, moved as the plan moved
     * it after a reassignment that restarted the respond-by. */
    n->respond_by = rung + 1 < d->n_rungs ? d->rungs[rung + 1].due + shift : NB_TIME_NONE;
    char action[NB_TEXT_MAX + 1];
    snprintf(action, sizeof(action), "Not acknowledged in time (escalation %zu of %zu). %s",
             rung + 1, d->n_rungs, d->rule->action);
    nb_str_copy(n->action, sizeof(n->action), action);
}

const char *nb_withdrawal_reason_name(nb_withdrawal_reason_t r)
{
    switch (r) {
    case NB_WITHDRAWN_CORRECTED:
        return "corrected";
    case NB_WITHDRAWN_ENTERED_IN_ERROR:
        return "entered_in_error";
    case NB_WITHDRAWN_CONTACT_RECORDED:
        return "contact_recorded";
    case NB_WITHDRAWN_POLICY_CHANGED:
        return "policy_changed";
    case NB_WITHDRAWN_CONTEXT_ENTERED_IN_ERROR:
        return "context_entered_in_error";
    case NB_WITHDRAWN_CONTEXT_CHANGED:
        return "context_changed";
    }
    return "unknown";
}

nb_withdrawal_reason_t nb_notify_withdrawal_reason(const nb_policy_raised_status_t *rs,
                                                   const nb_evidence_t *cause)
{
    if (rs->support == NB_POLICY_RULE_REMOVED || !rs->rule)
        return NB_WITHDRAWN_POLICY_CHANGED;
    if (rs->support == NB_POLICY_RESOLVED)
        return NB_WITHDRAWN_CONTACT_RECORDED;
    if (cause && cause->status == NB_STATUS_ENTERED_IN_ERROR)
        return NB_WITHDRAWN_ENTERED_IN_ERROR;
    /* Withdrawn by an absence rule's own contact, dated before its deadline (it arrived
     * late): the contact was recorded after all. */
    if (rs->rule->absence && cause && cause->status == NB_STATUS_ATTENDED)
        return NB_WITHDRAWN_CONTACT_RECORDED;
    return NB_WITHDRAWN_CORRECTED;
}

void nb_notify_evidence_of(const nb_appointment_event_t *a, nb_evidence_t *e)
{
    nb_str_copy(e->event_id, sizeof(e->event_id), a->event_id);
    nb_str_copy(e->appointment_id, sizeof(e->appointment_id), a->appointment_id);
    e->agency = a->source.agency;
    nb_str_copy(e->appointment_type, sizeof(e->appointment_type), a->appointment_type);
    e->scheduled_start = a->scheduled_start;
    e->status = a->status;
    nb_str_copy(e->organisation_code, sizeof(e->organisation_code),
                a->source.organisation_code);
    e->recorded_at = a->recorded_at;
}

int64_t nb_notify_digest_period_end(nb_policy_digest_t digest, int64_t at)
{
    int32_t day = nb_day_of(at) + 1;
    if (digest == NB_POLICY_DIGEST_WEEKLY) {
        /* 1970-01-01 was a Thursday: day 4 was a Monday. */
        int32_t since_monday = ((day - 4) % 7 + 7) % 7;
        if (since_monday)
            day += 7 - since_monday;
    }
    return (int64_t)day * NB_MS_PER_DAY;
}

nb_withdrawal_reason_t nb_notify_withdrawal_reason_of_fact(const nb_policy_raised_status_t *rs,
                                                           const nb_context_fact_t *fact)
{
    nb_withdrawal_reason_t r = nb_notify_withdrawal_reason(rs, NULL);
    if (!fact || r != NB_WITHDRAWN_CORRECTED)
        return r;
    return fact->status == NB_FACT_STATUS_ENTERED_IN_ERROR ? NB_WITHDRAWN_CONTEXT_ENTERED_IN_ERROR
                                                           : NB_WITHDRAWN_CONTEXT_CHANGED;
}

void nb_notify_build_withdrawal_by(const nb_policy_t *pol, const nb_policy_raised_status_t *rs,
                                   const nb_ledger_t *led, const nb_notify_child_t *child,
                                   const nb_evidence_t *cause, int64_t now_ms,
                                   nb_notification_t *n)
{
    memset(n, 0, sizeof(*n));
    nb__common(pol, led, child, now_ms, n);
    snprintf(n->notification_id, sizeof(n->notification_id), "%s-w", rs->id);
    nb_notify_reference(rs->raised->id, n->reference);
    n->kind = NB_NOTIFICATION_WITHDRAWN;
    nb_str_copy(n->rule_id, sizeof(n->rule_id), rs->rule ? rs->rule->id : "removed");
    nb_str_copy(n->rule_text, sizeof(n->rule_text),
                rs->rule ? rs->rule->title : "a rule no longer in the policy");
    n->tier = (nb_tier_t)rs->raised->tier;
    const char *why;
    switch (nb_notify_withdrawal_reason(rs, cause)) {
    case NB_WITHDRAWN_CONTACT_RECORDED:
        why = "No action needed: withdrawn because the expected contact has now been recorded";
        break;
    case NB_WITHDRAWN_ENTERED_IN_ERROR:
        why = "No action needed: withdrawn because an appointment record it relied on was "
              "entered in error";
        break;
    case NB_WITHDRAWN_POLICY_CHANGED:
        why = "Withdrawn because the protocol in force no longer has this rule; the concern it "
              "raised has not been reviewed by anyone";
        break;
    default:
        why = "No action needed: withdrawn because an appointment record it relied on was "
              "corrected, so the rule no longer applies";
        break;
    }
    if (cause && cause->appointment_id[0])
        snprintf(n->action, sizeof(n->action), "%s (%s appointment %s at %s, now %s).", why,
                 nb_notify_agency_words(cause->agency), cause->appointment_id,
                 cause->organisation_code[0] ? cause->organisation_code : "an unnamed organisation",
                 nb_notify_status_words(cause->status));
    else
        snprintf(n->action, sizeof(n->action), "%s.", why);
    if (cause) {
        n->evidence[0] = *cause;
        n->n_evidence = 1;
    }
    /* Those who were told are told it is withdrawn: the rule's recipients, the roles its
     * modifiers added, and those of the rungs it was escalated to. */
    size_t nr = rs->rule ? rs->n_recipients : 0;
    n->n_recipients = nr;
    for (size_t i = 0; i < nr; i++) {
        nb_str_copy(n->recipients[i].role, sizeof(n->recipients[i].role), rs->recipients[i]->id);
        nb_str_copy(n->recipients[i].route, sizeof(n->recipients[i].route),
                    rs->recipients[i]->route);
    }
    n->respond_by = NB_TIME_NONE;
    n->escalation_level = rs->raised->level;
    nb_str_copy(n->supersedes, sizeof(n->supersedes), rs->id);
    nb_notify_fill_titles(pol, n);
}

void nb_notify_build_withdrawal_fact(const nb_policy_t *pol, const nb_policy_raised_status_t *rs,
                                     const nb_ledger_t *led, const nb_notify_child_t *child,
                                     const nb_context_fact_t *fact, int64_t now_ms,
                                     nb_notification_t *n)
{
    nb_notify_build_withdrawal_by(pol, rs, led, child, NULL, now_ms, n);
    nb_withdrawal_reason_t why = nb_notify_withdrawal_reason_of_fact(rs, fact);
    if (why != NB_WITHDRAWN_CONTEXT_ENTERED_IN_ERROR && why != NB_WITHDRAWN_CONTEXT_CHANGED)
        return; /* the rule was removed, or the contact recorded: said already */
    char what[64], source[NB_SYSTEM_MAX + 4] = "";
    nb_str_copy(what, sizeof(what), nb_notify_fact_words(fact->kind));
    what[0] = (char)tolower((unsigned char)what[0]); /* mid-sentence */
    if (fact->source_system[0])
        snprintf(source, sizeof(source), " (%s)", fact->source_system);
    if (why == NB_WITHDRAWN_CONTEXT_ENTERED_IN_ERROR)
        snprintf(n->action, sizeof(n->action),
                 "No action needed: withdrawn because the record it relied on, the %s%s, was "
                 "entered in error.",
                 what, source);
    else
        snprintf(n->action, sizeof(n->action),
                 "No action needed: withdrawn because the record it relied on, the %s%s, was "
                 "changed%s, so the rule no longer applies.",
                 what, source, fact->end_date != NB_DATE_NONE ? " (it has ended)" : "");
}

void nb_notify_build_withdrawal(const nb_policy_t *pol, const nb_policy_raised_status_t *rs,
                                const nb_ledger_t *led, const nb_notify_child_t *child,
                                int64_t now_ms, nb_notification_t *n)
{
    nb_notify_build_withdrawal_by(pol, rs, led, child, NULL, now_ms, n);
}

void nb_notify_audit_policy(const nb_policy_t *pol, nb_audit_t *out)
{
    const nb_policy_info_t *info = nb_policy_info(pol);
    out->has_policy = true;
    nb_str_copy(out->policy.name, sizeof(out->policy.name), info->name);
    nb_str_copy(out->policy.version, sizeof(out->policy.version), info->version);
    nb_str_copy(out->policy.hash, sizeof(out->policy.hash), info->hash);
}

void nb_notify_audit_note(const nb_policy_t *pol, nb_audit_kind_t kind, const nb_notification_t *n,
                          int64_t now_ms, nb_audit_t *out)
{
    nb_audit_init(out, kind, now_ms);
    nb_str_copy(out->child_key, sizeof(out->child_key), n->child_key);
    nb_str_copy(out->notification_id, sizeof(out->notification_id), n->notification_id);
    nb_str_copy(out->reference, sizeof(out->reference), n->reference);
    nb_str_copy(out->rule_id, sizeof(out->rule_id), n->rule_id);
    out->tier = (int)n->tier;
    out->level = n->escalation_level;
    out->respond_by = n->respond_by;
    /* The most recent evidence says which agency and organisation the pattern ends at. */
    const nb_evidence_t *last = NULL;
    for (size_t i = 0; i < n->n_evidence && i < NB_NOTIF_MAX_EVIDENCE; i++) {
        nb_str_copy(out->evidence[i], sizeof(out->evidence[i]), n->evidence[i].event_id);
        out->n_evidence = i + 1;
        if (!last || n->evidence[i].scheduled_start > last->scheduled_start)
            last = &n->evidence[i];
    }
    if (last) {
        out->agency = (int)last->agency;
        nb_str_copy(out->organisation, sizeof(out->organisation), last->organisation_code);
    }
    for (size_t i = 0; i < n->n_recipients && i < NB_NOTIF_MAX_RECIPIENTS; i++) {
        nb_str_copy(out->recipients[i].role, sizeof(out->recipients[i].role),
                    n->recipients[i].role);
        nb_str_copy(out->recipients[i].route, sizeof(out->recipients[i].route),
                    n->recipients[i].route);
        out->n_recipients = i + 1;
    }
    nb_notify_audit_policy(pol, out);
    nb_audit_set_id(out, n->notification_id, "", (int64_t)n->escalation_level);
}

/* An action without a notification of its own (corrected, suppressed, shadow). */
static void nb__audit_bare(const nb_policy_t *pol, nb_audit_kind_t kind, const char *id,
                           const char *rule_id, const char *child_key, int tier, int level,
                           const char *reason, const nb_notify_cause_t *cause, int64_t now_ms,
                           nb_audit_t *out)
{
    nb_audit_init(out, kind, now_ms);
    nb_str_copy(out->child_key, sizeof(out->child_key), child_key);
    nb_str_copy(out->notification_id, sizeof(out->notification_id), id);
    nb_str_copy(out->rule_id, sizeof(out->rule_id), rule_id ? rule_id : "");
    out->tier = tier;
    out->level = level;
    nb_str_copy(out->reason, sizeof(out->reason), reason);
    nb_notify_audit_policy(pol, out);
    /* A suppression or a shadow decision recurs at each evaluation: one record per time and
     * per record that caused it (two records of one child can be handled in one millisecond,
     * and a fixed clock gives every evaluation the same time); a timer's has no record. */
    const char *by = !cause         ? ""
                     : cause->fact  ? cause->fact->event_id
                     : cause->event ? cause->event->event_id
                                    : "";
    char part[NB_KEY_MAX + NB_ID_MAX + 2];
    snprintf(part, sizeof(part), "%s\x1f%s", child_key, by);
    nb_audit_set_id(out, id, part, now_ms);
}

void nb_notify_audit_step(const nb_policy_t *pol, const nb_notify_out_t *o, const char *child_key,
                          int64_t now_ms, nb_audit_t *out)
{
    const nb_notify_action_t *a = o->action;
    static const nb_audit_kind_t kinds[] = {[NB_NOTIFY_ACT_NEW] = NB_AUDIT_FIRED,
                                            [NB_NOTIFY_ACT_NEW_CLOSED] = NB_AUDIT_FIRED_CLOSED,
                                            [NB_NOTIFY_ACT_ESCALATE] = NB_AUDIT_ESCALATED,
                                            [NB_NOTIFY_ACT_WITHDRAW] = NB_AUDIT_WITHDRAWN,
                                            [NB_NOTIFY_ACT_CORRECTED] = NB_AUDIT_CORRECTED,
                                            [NB_NOTIFY_ACT_SUPPRESSED] = NB_AUDIT_SUPPRESSED,
                                            [NB_NOTIFY_ACT_SHADOW] = NB_AUDIT_SHADOW};
    nb_audit_kind_t kind =
        (unsigned)a->act < sizeof(kinds) / sizeof(kinds[0]) ? kinds[a->act] : NB_AUDIT_OTHER;
    if (o->note) {
        nb_notify_audit_note(pol, o->digest ? NB_AUDIT_DIGESTED : kind, o->note, now_ms, out);
        nb_str_copy(out->child_key, sizeof(out->child_key), child_key);
        if (a->act == NB_NOTIFY_ACT_ESCALATE)
            out->level = (int32_t)a->rung + 1;
        if (a->act == NB_NOTIFY_ACT_WITHDRAW) /* why, in the program's words */
            nb_str_copy(out->reason, sizeof(out->reason), o->note->action);
        if (o->digest)
            nb_str_copy(out->reason, sizeof(out->reason),
                        "gathered into the recipients' digest (a low tier)");
        nb_audit_set_id(out, out->notification_id, nb_audit_kind_name(out->kind),
                        (int64_t)out->level);
    } else if (a->act == NB_NOTIFY_ACT_CORRECTED) {
        const nb_policy_raised_status_t *r = a->raised;
        nb__audit_bare(pol, kind, r->id, r->rule ? r->rule->id : "", child_key,
                       (int)r->raised->tier, r->raised->level,
                       "closed, and the evidence it relied on was amended since", o->cause, now_ms,
                       out);
    } else {
        const nb_policy_decision_t *d = a->decision;
        nb__audit_bare(pol, kind, d->id, d->rule->id, child_key, (int)d->tier, 0,
                       a->act == NB_NOTIFY_ACT_SHADOW
                           ? "a shadow rule: counted, never sent"
                           : "a notification of the same rule is still in its cool-down",
                       o->cause, now_ms, out);
    }
}

/* ---- serialisation ------------------------------------------------------------------------ */

/* Version 1: closed and pending ids. Version 2 adds the owner entries (own.c); version 1
 * state (an older build's changelog) still decodes, with no owners. */
nb_err_t nb_notify_state_encode(const nb_notify_state_t *s, nb_buf_t *out)
{
    uint8_t hdr[4] = {2, (uint8_t)s->n_closed, (uint8_t)s->n_pending, (uint8_t)s->n_owned};
    nb_err_t err = nb_buf_append(out, hdr, 4);
    for (size_t i = 0; !err && i < s->n_closed; i++)
        err = nb_buf_append(out, s->closed[i], NB_LEDGER_ID_BYTES);
    for (size_t i = 0; !err && i < s->n_pending; i++) {
        err = nb_buf_append(out, s->pending[i].id, NB_LEDGER_ID_BYTES);
        if (!err)
            err = nb_buf_put_le(out, (uint64_t)s->pending[i].at, 8);
    }
    return err ? err : nb__notify_owners_encode(s, out);
}

nb_err_t nb_notify_state_decode(nb_notify_state_t *s, const void *buf, size_t len, size_t *used)
{
    const uint8_t *p = buf;
    memset(s, 0, sizeof(*s));
    size_t hlen = len >= 1 && p[0] == 2 ? 4 : 3;
    if (len < hlen || (p[0] != 1 && p[0] != 2) || p[1] > NB_NOTIFY_MAX_CLOSED ||
        p[2] > NB_NOTIFY_MAX_PENDING || (hlen == 4 && p[3] > NB_NOTIFY_MAX_OWNED))
        return NB_ERR_LEDGER_CORRUPT;
    size_t need =
        hlen + (size_t)p[1] * NB_LEDGER_ID_BYTES + (size_t)p[2] * (NB_LEDGER_ID_BYTES + 8);
    if (len < need)
        return NB_ERR_LEDGER_CORRUPT;
    s->n_closed = p[1];
    s->n_pending = p[2];
    const uint8_t *q = p + hlen;
    for (size_t i = 0; i < s->n_closed; i++, q += NB_LEDGER_ID_BYTES)
        memcpy(s->closed[i], q, NB_LEDGER_ID_BYTES);
    for (size_t i = 0; i < s->n_pending; i++) {
        memcpy(s->pending[i].id, q, NB_LEDGER_ID_BYTES);
        q += NB_LEDGER_ID_BYTES;
        s->pending[i].at = (int64_t)nb_le_get(q, 8);
        q += 8;
    }
    size_t owners = 0;
    if (hlen == 4 && !nb__notify_owners_decode(s, p[3], q, len - need, &owners))
        return NB_ERR_LEDGER_CORRUPT;
    *used = need + owners;
    return NB_ERR_OK;
}
