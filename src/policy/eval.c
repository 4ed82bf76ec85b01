/*
 * notbrought - policy: the engine. Evaluates every rule over one child's ledger at a given
 * time. Pure: no I/O, no clock, no allocation (the result object carries the scratch space).
 *
 * This file holds the result object, the evaluation context of one child at one time, and
 * nb_policy_evaluate(): which rules fire, the decisions they make, and whether what was raised
 * before is still supported. The rest of the engine:
 *   eval_fire.c    whether one rule fires: predicates, count windows, N in a row, absence
 *                  deadlines, and when an absence rule would fire next
 *   eval_decide.c  one decision: evidence, modifiers, id and state, respond-by, rungs
 *   eval_why.c     why a rule does not fire, in words (nb_policy_why_not())
 *   overlap.c      overlapping rules, and who a raised notification reached
 */
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

nb_policy_result_t *nb_policy_result_new(void)
{
    return calloc(1, sizeof(nb_policy_result_t));
}

void nb_policy_result_destroy(nb_policy_result_t *res)
{
    free(res);
}

const nb_policy_decision_t *nb_policy_result_decisions(const nb_policy_result_t *res, size_t *n)
{
    *n = res->n_decisions;
    return res->decisions;
}

const nb_policy_raised_status_t *nb_policy_result_raised(const nb_policy_result_t *res, size_t *n)
{
    *n = res->n_raised;
    return res->raised;
}

int64_t nb_policy_result_next_due(const nb_policy_result_t *res)
{
    return res->next_due;
}

const char *nb_policy_support_name(nb_policy_support_t s)
{
    static const char *const names[] = {"supported", "withdrawn", "resolved", "expired",
                                        "rule_removed"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *nb_policy_state_name(nb_policy_state_t s)
{
    static const char *const names[] = {"new", "raised", "suppressed"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *nb_policy_digest_name(nb_policy_digest_t d)
{
    static const char *const names[] = {"none", "daily", "weekly"};
    return (unsigned)d < sizeof(names) / sizeof(names[0]) ? names[d] : "?";
}

/* ---- evaluation context ------------------------------------------------------------------ */

void nb__ev_at(nb__ev_t *ev, int64_t now)
{
    ev->now = now;
    ev->now_min = nb_ledger_minutes(now);
    ev->today = nb_day_of(now);
    ev->kind = NB__KIND_UNKNOWN;
    ev->age_months = NB__UNSET;
    ev->gestation = NB__UNSET;
    if (ev->dob != NB_DATE_NONE && ev->dob <= ev->today) {
        ev->kind = NB_SUBJECT_CHILD;
        ev->age_months = nb_age_months(ev->dob, ev->today);
    } else if (ev->edd != NB_DATE_NONE) {
        ev->kind = NB_SUBJECT_UNBORN;
        ev->gestation = 280 - (ev->edd - ev->today);
    }
    /* A young person of the age the policy gives (defaults.self_managing_from_age) manages
     * their own appointments unless said otherwise: they "did not attend". */
    ev->self_managing = ev->said_self_managing ||
                        (ev->age_months != NB__UNSET &&
                         ev->age_months >= ev->pol->self_managing_from_age * 12);
}

/* Which of the policy's types each appointment has (binary search on hashes). */
static void nb__type_bits(const nb_policy_t *pol, const nb_ledger_t *led, const nb__ev_t *ev,
                          nb_policy_result_t *res)
{
    if (!pol->n_types)
        return;
    const nb_ledger_dict_t *dict = nb_ledger_dict(led);
    for (size_t i = 0; i < ev->n; i++) {
        uint64_t h = nb_ledger_dict_hash(dict, ev->appts[i].type);
        size_t lo = 0, hi = pol->n_types;
        res->type_bits[i] = 0;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (pol->type_index[mid].hash == h) {
                res->type_bits[i] = 1ull << pol->type_index[mid].bit;
                break;
            }
            if (pol->type_index[mid].hash < h)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
}

/* The evaluation context of one child's ledger at @p now_ms (what nb_policy_evaluate() and
 * nb_policy_why_not() both start from). */
void nb__ev_init(nb__ev_t *ev, const nb_policy_t *pol, const nb_ledger_t *led,
                 const nb_policy_subject_t *subj, int64_t now_ms, nb_policy_result_t *res)
{
    memset(ev, 0, sizeof(*ev));
    ev->pol = pol;
    ev->led = led;
    ev->appts = nb_ledger_appts(led, &ev->n);
    ev->facts = nb_ledger_facts(led, &ev->n_facts);
    ev->dob = subj->date_of_birth != NB_DATE_NONE ? subj->date_of_birth
                                                  : nb_ledger_date_of_birth(led);
    ev->edd = subj->expected_delivery_date != NB_DATE_NONE ? subj->expected_delivery_date
                                                           : nb_ledger_expected_delivery(led);
    ev->said_self_managing = subj->self_managing;
    ev->type_bits = res->type_bits;
    nb__ev_at(ev, now_ms);
    nb__type_bits(pol, led, ev, res);
}

/* ---- evaluation -------------------------------------------------------------------------- */

/* A raised notification of rule @p ri, which fires now: escalated by the rule's decision when
 * that is its own (state raised). Else the rule decides over other evidence now: the
 * notification stands if what the rule found when it was raised, as known now, still makes it
 * fire, and escalates by a decision of its own (nb__decide_carried()); a count rule's
 * notification whose own evidence no longer does (an appointment it relied on corrected or
 * entered in error) is withdrawn, though the rule fires on other evidence. */
static nb_policy_support_t nb__raised_carried(const nb__ev_t *ev, nb_policy_result_t *res,
                                              size_t ri, nb_policy_raised_status_t *s)
{
    const nb__rule_t *r = &ev->pol->rules[ri];
    const nb_policy_decision_t *now = NULL;
    s->escalate_by = NULL;
    for (size_t i = 0; i < res->n_decisions; i++) {
        const nb_policy_decision_t *d = &res->decisions[i];
        if (d->rule != &r->info)
            continue;
        if (memcmp(d->id_bytes, s->raised->id, NB_LEDGER_ID_BYTES) == 0) {
            s->escalate_by = d->shadow ? NULL : d;
            return NB_POLICY_SUPPORTED;
        }
        now = d;
    }
    if (!now)
        return NB_POLICY_SUPPORTED;
    nb__ev_t then = *ev;
    nb__fire_t f;
    nb__ev_at(&then, s->raised->raised_at);
    if (!nb__rule_fires(&then, r, &f))
        return r->kind == NB__RULE_ABSENCE ? NB_POLICY_SUPPORTED : NB_POLICY_WITHDRAWN;
    if (!now->shadow) {
        nb_policy_decision_t *c = &res->carried[res->n_raised - 1];
        nb__decide_carried(ev, ri, &f, s->raised, c);
        s->escalate_by = c;
    }
    return NB_POLICY_SUPPORTED;
}

/* Raised notifications: still supported? @p fired has a bit for each rule that fires now. */
static void nb__raised_support(const nb__ev_t *ev, nb_policy_result_t *res, uint64_t fired)
{
    const nb_policy_t *pol = ev->pol;
    nb__fire_t f;
    size_t n_raised;
    const nb_ledger_raised_t *raised = nb_ledger_raised(ev->led, &n_raised);
    for (size_t i = 0; i < n_raised && res->n_raised < NB_LEDGER_MAX_RAISED; i++) {
        nb_policy_raised_status_t *s = &res->raised[res->n_raised++];
        const nb_ledger_raised_t *x = &raised[i];
        nb_ledger_id_format(x->id, s->id);
        s->raised = x;
        s->rule = NULL;
        s->escalate_by = NULL;
        s->n_recipients = 0;
        size_t ri;
        for (ri = 0; ri < pol->n_rules; ri++)
            if (pol->rules[ri].info.hash == x->rule_hash)
                break;
        if (ri == pol->n_rules) {
            s->support = NB_POLICY_RULE_REMOVED;
            continue;
        }
        s->rule = &pol->rules[ri].info;
        s->n_recipients =
            nb__raised_recipients(ev, ri, x, s->recipients, NB_NOTIF_MAX_RECIPIENTS);
        if (fired >> ri & 1) {
            s->support = nb__raised_carried(ev, res, ri, s);
            continue;
        }
        const nb__rule_t *r = &pol->rules[ri];
        nb__ev_t then = *ev;
        if (r->kind == NB__RULE_ABSENCE) {
            /* Was the deadline missed, given what is known now? (Judged at the deadline, not
             * when the notification was raised: that may be later, at the clock, while the
             * deadline was judged at the watermark.) Then the contact was recorded after the
             * deadline (resolved), or time moved on (the child was born, or grew out of the
             * rule: expired, it stands). */
            int64_t at = r->by == NB__BY_WORKING_DAYS
                             ? nb_policy_add_working_days(pol, (int64_t)x->evidence_max_min * 60000,
                                                          r->by_value) + 1
                             : (int64_t)x->evidence_max_min * 60000;
            nb__ev_at(&then, at);
            if (!nb__rule_fires(&then, r, &f))
                s->support = NB_POLICY_WITHDRAWN;
            else if (nb__contact(ev, &r->expect, nb_ledger_minutes(at)))
                s->support = NB_POLICY_RESOLVED;
            else
                s->support = NB_POLICY_EXPIRED;
            continue;
        }
        /* Would the rule have fired when this was raised, given what is known now? */
        nb__ev_at(&then, x->raised_at);
        s->support = nb__rule_fires(&then, r, &f) ? NB_POLICY_EXPIRED : NB_POLICY_WITHDRAWN;
    }
}

nb_err_t nb_policy_evaluate(const nb_policy_t *pol, const nb_ledger_t *led,
                            const nb_policy_subject_t *subj, int64_t now_ms,
                            nb_policy_result_t *res)
{
    nb__ev_t ev;
    res->n_decisions = 0;
    res->n_raised = 0;
    if (!subj || !subj->child_key || !subj->child_key[0] || strlen(subj->child_key) > NB_KEY_MAX)
        return NB_ERR_INVALID_ARG;
    nb__ev_init(&ev, pol, led, subj, now_ms, res);

    /* Absence deadlines are judged at absence_now (no later than now): a deadline that
     * passed by the clock but not yet by what the sources have recorded waits, so that a
     * record still on its way (a backlog) can answer it. */
    int64_t absence_now = subj->absence_now == NB_TIME_NONE || subj->absence_now > now_ms
                              ? now_ms
                              : subj->absence_now;
    nb__ev_t held = ev;
    if (absence_now != now_ms)
        nb__ev_at(&held, absence_now);
    uint64_t fired = 0;
    nb__fire_t f;
    res->next_due = NB_TIME_NONE;
    for (size_t ri = 0; ri < pol->n_rules; ri++) {
        const nb__rule_t *r = &pol->rules[ri];
        if (r->kind == NB__RULE_ABSENCE && absence_now != now_ms) {
            if (nb__rule_fires(&held, r, &f)) {
                nb__decide(&ev, res, ri, &f, subj->child_key);
                fired |= 1ull << ri;
            } else if (nb__rule_fires(&ev, r, &f)) {
                /* Passed by the clock, not yet by the sources: whatever was raised for it
                 * stays supported; nothing new until the sources catch up. */
                fired |= 1ull << ri;
            }
        } else if (nb__rule_fires(&ev, r, &f)) {
            nb__decide(&ev, res, ri, &f, subj->child_key);
            fired |= 1ull << ri;
        }
        if (r->kind == NB__RULE_ABSENCE) {
            /* Triggers and dates as known now; deadlines not yet judged. */
            int64_t at = nb__absence_next(&ev, r, absence_now);
            if (at != NB_TIME_NONE && (res->next_due == NB_TIME_NONE || at < res->next_due))
                res->next_due = at;
        }
    }

    nb__raised_support(&ev, res, fired);
    nb__overlaps(&ev, res);
    return NB_ERR_OK;
}

void nb_policy_decision_to_raised(const nb_policy_decision_t *d, nb_ledger_raised_t *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->id, d->id_bytes, NB_LEDGER_ID_BYTES);
    out->rule_hash = d->rule->hash;
    out->fingerprint = d->fingerprint;
    out->raised_at = d->decided_at;
    out->evidence_max_min = d->evidence_max_min;
    out->tier = (uint8_t)d->tier;
    out->level = 0;
}
