/*
 * notbrought - policy: whether one rule fires for one child at one time (see eval.c): event
 * and subject predicates, count rules over a window or N in a row, absence rules by a
 * deadline, and when an absence rule would fire next. Pure, as eval.c.
 */
#include "policy/internal.h"

/* ---- predicates -------------------------------------------------------------------------- */

bool nb__in(const nb__range_t *r, int32_t v)
{
    if (r->min == NB__UNSET && r->max == NB__UNSET)
        return true;
    if (v == NB__UNSET)
        return false;
    return (r->min == NB__UNSET || v >= r->min) && (r->max == NB__UNSET || v <= r->max);
}

/* Does appointment i satisfy one alternative? */
static bool nb__epred(const nb__ev_t *ev, const nb__epred_t *e, size_t i, bool ignore_status)
{
    const nb_ledger_appt_t *a = &ev->appts[i];
    if (!ignore_status && e->statuses && !(e->statuses >> a->status & 1))
        return false;
    if (e->agencies && !(e->agencies >> a->agency & 1))
        return false;
    if (e->modes && !(e->modes >> a->mode & 1))
        return false;
    if (e->subjects &&
        !(e->subjects >> (a->flags & NB_LEDGER_UNBORN ? NB_SUBJECT_UNBORN : NB_SUBJECT_CHILD) &
          1))
        return false;
    if (e->mandated != NB__UNSET && ((a->flags & NB_LEDGER_MANDATED) != 0) != (e->mandated != 0))
        return false;
    if (e->types && !(e->types & ev->type_bits[i]))
        return false;
    if (e->gestation.min != NB__UNSET || e->gestation.max != NB__UNSET) {
        if (ev->edd == NB_DATE_NONE)
            return false;
        int32_t day = (int32_t)(a->start_min >= 0 ? a->start_min / 1440
                                                  : (a->start_min - 1439) / 1440);
        if (!nb__in(&e->gestation, 280 - (ev->edd - day)))
            return false;
    }
    if (e->age_days.min != NB__UNSET || e->age_days.max != NB__UNSET) {
        if (ev->dob == NB_DATE_NONE)
            return false;
        int32_t day = (int32_t)(a->start_min >= 0 ? a->start_min / 1440
                                                  : (a->start_min - 1439) / 1440);
        if (!nb__in(&e->age_days, day - ev->dob))
            return false;
    }
    return true;
}

bool nb__matches(const nb__ev_t *ev, const nb__match_t *m, size_t i, bool ignore_status)
{
    if (m->n == 0)
        return true;
    for (size_t k = 0; k < m->n; k++)
        if (nb__epred(ev, &m->alt[k], i, ignore_status))
            return true;
    return false;
}

/* Facts that apply on the evaluation day: a mask of kinds, and which entries. */
uint32_t nb__facts(const nb__ev_t *ev, int32_t ended_within, uint32_t want,
                   const nb_ledger_fact_t **used, size_t *n_used)
{
    uint32_t mask = 0;
    for (size_t i = 0; i < ev->n_facts; i++) {
        const nb_ledger_fact_t *f = &ev->facts[i];
        if (f->status != NB_FACT_STATUS_CURRENT || f->start_date > ev->today)
            continue;
        if (f->end_date != NB_DATE_NONE && (int64_t)f->end_date + ended_within < ev->today)
            continue;
        mask |= 1u << f->kind;
        if (used && (want >> f->kind & 1) && *n_used < NB_NOTIF_MAX_CONTEXT) {
            bool dup = false;
            for (size_t k = 0; k < *n_used; k++)
                dup |= used[k] == f;
            if (!dup)
                used[(*n_used)++] = f;
        }
    }
    return mask;
}

/* Does the child satisfy a subject predicate? */
bool nb__spred(const nb__ev_t *ev, const nb__spred_t *s, bool *as_dna,
                      const nb_ledger_fact_t **used, size_t *n_used)
{
    if (s->kinds && (ev->kind == NB__KIND_UNKNOWN || !(s->kinds >> ev->kind & 1)))
        return false;
    if (!nb__in(&s->age_months, ev->age_months))
        return false;
    if (!nb__in(&s->gestation, ev->gestation))
        return false;
    if (s->facts_any || s->facts_none) {
        int32_t within = s->ended_within_days == NB__UNSET ? 0 : s->ended_within_days;
        uint32_t mask = nb__facts(ev, within, s->facts_any, NULL, NULL);
        if (s->facts_any && !(mask & s->facts_any))
            return false;
        if (s->facts_none && (mask & s->facts_none))
            return false;
        if (used && s->facts_any)
            nb__facts(ev, within, s->facts_any, used, n_used);
    }
    if (ev->self_managing &&
        (ev->age_months == NB__UNSET || (ev->age_months >= 192 && ev->age_months < 216))) {
        if (s->self_managing == NB__SELF_EXCLUDE)
            return false;
        if (s->self_managing == NB__SELF_AS_DNA && as_dna)
            *as_dna = true;
    }
    return true;
}

/* ---- one rule ---------------------------------------------------------------------------- */

static bool nb__is_outcome(unsigned st)
{
    return st == NB_STATUS_ATTENDED || st == NB_STATUS_WAS_NOT_BROUGHT ||
           st == NB_STATUS_NO_ACCESS_VISIT || st == NB_STATUS_CANCELLED_BY_PATIENT;
}

static int nb__popcount(uint32_t x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

/* Is there an expected contact (not entered in error) scheduled in (after_min, now]? */
bool nb__contact(const nb__ev_t *ev, const nb__match_t *expect, int32_t after_min)
{
    for (size_t i = ev->n; i-- > 0;) {
        const nb_ledger_appt_t *a = &ev->appts[i];
        if (a->start_min > ev->now_min)
            continue;
        if (a->start_min <= after_min)
            break;
        if (a->status != NB_STATUS_ENTERED_IN_ERROR && nb__matches(ev, expect, i, false))
            return true;
    }
    return false;
}

/* A count rule with 'at_least': the matching appointments in the window up to now. */
static bool nb__count_fires(const nb__ev_t *ev, const nb__rule_t *r, int32_t from,
                            nb__fire_t *out)
{
    uint32_t agencies = 0;
    int32_t count = 0;
    for (size_t i = ev->n; i-- > 0;) {
        const nb_ledger_appt_t *a = &ev->appts[i];
        if (a->start_min > ev->now_min)
            continue;
        if (a->start_min < from)
            break;
        if (a->status == NB_STATUS_ENTERED_IN_ERROR || !nb__matches(ev, &r->match, i, false))
            continue;
        count++;
        agencies |= 1u << a->agency;
        if (out->n_ev < NB_NOTIF_MAX_EVIDENCE)
            out->ev[out->n_ev++] = a;
    }
    out->count = count;
    out->agencies = nb__popcount(agencies);
    return count >= r->at_least &&
           (r->distinct_agencies == NB__UNSET || out->agencies >= r->distinct_agencies);
}

/* A count rule with 'consecutive', N in a row: the latest outcomes of appointments of this
 * kind. */
static bool nb__consecutive_fires(const nb__ev_t *ev, const nb__rule_t *r, int32_t from,
                                  nb__fire_t *out)
{
    uint32_t agencies = 0;
    int32_t count = 0;
    for (size_t i = ev->n; i-- > 0;) {
        const nb_ledger_appt_t *a = &ev->appts[i];
        if (a->start_min > ev->now_min || !nb__is_outcome(a->status))
            continue;
        if (a->start_min < from)
            break;
        if (!nb__matches(ev, &r->match, i, true))
            continue;
        if (!nb__matches(ev, &r->match, i, false))
            break;
        count++;
        agencies |= 1u << a->agency;
        if (out->n_ev < NB_NOTIF_MAX_EVIDENCE)
            out->ev[out->n_ev++] = a;
        if (count >= r->consecutive)
            break;
    }
    out->count = count;
    out->agencies = nb__popcount(agencies);
    return count >= r->consecutive &&
           (r->distinct_agencies == NB__UNSET || out->agencies >= r->distinct_agencies);
}

/* An absence rule: the expected contact not recorded by its deadline, a number of working
 * days after the latest appointment that starts the clock, or a gestation or an age. */
static bool nb__absence_fires(const nb__ev_t *ev, const nb__rule_t *r, nb__fire_t *out)
{
    if (r->by == NB__BY_WORKING_DAYS) {
        int32_t from = ev->now_min - r->lookback_days * 1440;
        for (size_t i = ev->n; i-- > 0;) {
            const nb_ledger_appt_t *a = &ev->appts[i];
            if (a->start_min > ev->now_min)
                continue;
            if (a->start_min < from)
                break;
            if (a->status == NB_STATUS_ENTERED_IN_ERROR || !nb__matches(ev, &r->match, i, false))
                continue;
            /* The latest trigger decides. */
            int64_t deadline =
                nb_policy_add_working_days(ev->pol, (int64_t)a->start_min * 60000, r->by_value);
            if (ev->now <= deadline || nb__contact(ev, &r->expect, a->start_min))
                return false;
            out->deadline = deadline;
            out->ev[out->n_ev++] = a;
            out->count = 1;
            out->agencies = 1;
            return true;
        }
        return false;
    }
    int32_t deadline_day;
    if (r->by == NB__BY_GESTATION) {
        if (ev->edd == NB_DATE_NONE)
            return false;
        deadline_day = ev->edd - 280 + r->by_value;
    } else {
        if (ev->dob == NB_DATE_NONE)
            return false;
        deadline_day = ev->dob + r->by_value;
    }
    /* "By 10+0" and "by day 14" include that day: late from the next day on. */
    int64_t deadline = ((int64_t)deadline_day + 1) * NB_MS_PER_DAY;
    if (ev->now < deadline || nb__contact(ev, &r->expect, INT32_MIN))
        return false;
    out->deadline = deadline;
    out->fp_extra = (uint64_t)(uint32_t)deadline_day | (uint64_t)r->by << 32;
    /* Evidence: appointments of the expected kind that did not happen. */
    for (size_t i = ev->n; i-- > 0 && out->n_ev < NB_NOTIF_MAX_EVIDENCE;) {
        const nb_ledger_appt_t *a = &ev->appts[i];
        if (a->start_min <= ev->now_min && a->status != NB_STATUS_ENTERED_IN_ERROR &&
            nb__matches(ev, &r->expect, i, true))
            out->ev[out->n_ev++] = a;
    }
    out->count = (int32_t)out->n_ev;
    return true;
}

bool nb__rule_fires(const nb__ev_t *ev, const nb__rule_t *r, nb__fire_t *out)
{
    out->n_ev = 0;
    out->count = out->agencies = 0;
    out->window_days = 0;
    out->deadline = NB_TIME_NONE;
    out->fp_extra = 0;
    out->as_dna = false;
    out->n_ctx = 0;
    if (!nb__spred(ev, &r->subject, &out->as_dna, out->ctx, &out->n_ctx))
        return false;
    if (r->kind != NB__RULE_COUNT)
        return nb__absence_fires(ev, r, out);
    int32_t from = r->within_days == NB__UNSET
                       ? INT32_MIN
                       : ev->now_min - r->within_days * 1440;
    out->window_days = r->within_days == NB__UNSET ? 0 : r->within_days;
    if (r->consecutive == NB__UNSET)
        return nb__count_fires(ev, r, from, out);
    return nb__consecutive_fires(ev, r, from, out);
}

/*
 * When an absence rule would fire next if nothing more were recorded: the first instant after
 * @p after at which it fires (its deadline, or just past it for working days, which are late
 * only once the deadline has passed), or NB_TIME_NONE. The rule is evaluated at that instant,
 * so a subject it will no longer apply to, or a contact already recorded, gives none.
 */
int64_t nb__absence_next(const nb__ev_t *ev, const nb__rule_t *r, int64_t after)
{
    int64_t at;
    if (r->kind != NB__RULE_ABSENCE)
        return NB_TIME_NONE;
    if (r->by == NB__BY_WORKING_DAYS) {
        /* The latest trigger up to now decides (as in nb__rule_fires). */
        int32_t from = ev->now_min - r->lookback_days * 1440;
        at = NB_TIME_NONE;
        for (size_t i = ev->n; i-- > 0;) {
            const nb_ledger_appt_t *a = &ev->appts[i];
            if (a->start_min > ev->now_min)
                continue;
            if (a->start_min < from)
                break;
            if (a->status == NB_STATUS_ENTERED_IN_ERROR || !nb__matches(ev, &r->match, i, false))
                continue;
            at = nb_policy_add_working_days(ev->pol, (int64_t)a->start_min * 60000,
                                            r->by_value) + 1;
            break;
        }
    } else if (r->by == NB__BY_GESTATION) {
        at = ev->edd == NB_DATE_NONE
                 ? NB_TIME_NONE
                 : ((int64_t)(ev->edd - 280 + r->by_value) + 1) * NB_MS_PER_DAY;
    } else {
        at = ev->dob == NB_DATE_NONE ? NB_TIME_NONE
                                     : ((int64_t)(ev->dob + r->by_value) + 1) * NB_MS_PER_DAY;
    }
    if (at == NB_TIME_NONE || at <= after)
        return NB_TIME_NONE;
    nb__ev_t then = *ev;
    nb__fire_t f;
    nb__ev_at(&then, at);
    return nb__rule_fires(&then, r, &f) ? at : NB_TIME_NONE;
}
