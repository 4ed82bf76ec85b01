/*
 * notbrought - policy: why a rule does not fire for a child, in words (nb_policy_why_not(),
 * for 'policy test' and the inbox; see eval.c). Pure: writes into the caller's buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/internal.h"

typedef struct nb__why_s {
    char *buf;
    size_t size, len;
} nb__why_t;

__attribute__((format(printf, 2, 3))) static void nb__say(nb__why_t *w, const char *fmt, ...)
{
    va_list ap;
    if (w->len + 1 >= w->size)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(w->buf + w->len, w->size - w->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->len += (size_t)n < w->size - w->len ? (size_t)n : w->size - w->len - 1;
}

static void nb__say_mask(nb__why_t *w, uint32_t mask, const char *(*name)(int))
{
    int n = 0;
    for (int i = 0; i < 32; i++)
        if (mask >> i & 1)
            nb__say(w, "%s%s", n++ ? " or " : "", name(i));
}

static const char *nb__fact_nm(int i)
{
    return nb_fact_kind_name((nb_fact_kind_t)i);
}

static const char *nb__kind_nm(int i)
{
    return nb_subject_kind_name((nb_subject_kind_t)i);
}

static void nb__say_stage(nb__why_t *w, const nb__ev_t *ev)
{
    if (ev->kind == NB_SUBJECT_CHILD)
        nb__say(w, "a born child aged %d month%s", (int)ev->age_months,
                ev->age_months == 1 ? "" : "s");
    else if (ev->kind == NB_SUBJECT_UNBORN)
        nb__say(w, "an unborn child at %d+%d weeks", (int)(ev->gestation / 7),
                (int)(ev->gestation % 7));
    else
        nb__say(w, "a child whose life stage is unknown (no date of birth or expected delivery "
                   "date)");
}

static void nb__say_range(nb__why_t *w, const nb__range_t *r, bool weeks)
{
    if (r->min != NB__UNSET)
        weeks ? nb__say(w, "from %d+%d", (int)(r->min / 7), (int)(r->min % 7))
              : nb__say(w, "from %d", (int)r->min);
    if (r->max != NB__UNSET)
        weeks ? nb__say(w, "%sup to %d+%d", r->min != NB__UNSET ? " " : "", (int)(r->max / 7),
                        (int)(r->max % 7))
              : nb__say(w, "%sup to %d", r->min != NB__UNSET ? " " : "", (int)r->max);
}

/* Which subject condition fails, in the order nb__spred() checks them. @returns true when one
 * does (and says which). */
static bool nb__spred_why(const nb__ev_t *ev, const nb__spred_t *s, nb__why_t *w)
{
    if (s->kinds && (ev->kind == NB__KIND_UNKNOWN || !(s->kinds >> ev->kind & 1))) {
        nb__say(w, "the rule applies to ");
        nb__say_mask(w, s->kinds, nb__kind_nm);
        nb__say(w, " subjects only; this is ");
        nb__say_stage(w, ev);
        return true;
    }
    if (!nb__in(&s->age_months, ev->age_months)) {
        nb__say(w, "the rule applies to children aged ");
        nb__say_range(w, &s->age_months, false);
        nb__say(w, " months; this is ");
        nb__say_stage(w, ev);
        return true;
    }
    if (!nb__in(&s->gestation, ev->gestation)) {
        nb__say(w, "the rule applies at a gestation ");
        nb__say_range(w, &s->gestation, true);
        nb__say(w, " weeks; this is ");
        nb__say_stage(w, ev);
        return true;
    }
    if (s->facts_any || s->facts_none) {
        int32_t within = s->ended_within_days == NB__UNSET ? 0 : s->ended_within_days;
        uint32_t mask = nb__facts(ev, within, 0, NULL, NULL);
        if (s->facts_any && !(mask & s->facts_any)) {
            nb__say(w, "no fact ");
            nb__say_mask(w, s->facts_any, nb__fact_nm);
            nb__say(w, " applies today%s", within ? " (or ended within the days allowed)" : "");
            return true;
        }
        if (s->facts_none && (mask & s->facts_none)) {
            nb__say(w, "the fact ");
            nb__say_mask(w, mask & s->facts_none, nb__fact_nm);
            nb__say(w, " applies, and the rule excludes it");
            return true;
        }
    }
    if (ev->self_managing && s->self_managing == NB__SELF_EXCLUDE &&
        (ev->age_months == NB__UNSET || (ev->age_months >= 192 && ev->age_months < 216))) {
        nb__say(w, "a self-managing young person, whom the rule excludes (self_managing: "
                   "exclude)");
        return true;
    }
    return false;
}

/* Matching appointments (any status the rule counts) outside a window, for "N more before". */
static int nb__outside(const nb__ev_t *ev, const nb__rule_t *r, int32_t from, int *future)
{
    int n = 0;
    *future = 0;
    for (size_t i = 0; i < ev->n; i++) {
        const nb_ledger_appt_t *a = &ev->appts[i];
        if (a->status == NB_STATUS_ENTERED_IN_ERROR || !nb__matches(ev, &r->match, i, false))
            continue;
        if (a->start_min > ev->now_min)
            (*future)++;
        else if (a->start_min < from)
            n++;
    }
    return n;
}

static void nb__count_why(const nb__ev_t *ev, const nb__rule_t *r, const nb__fire_t *f,
                          nb__why_t *w)
{
    char t0[32], t1[32];
    int32_t from = r->within_days == NB__UNSET ? INT32_MIN : ev->now_min - r->within_days * 1440;
    nb_format_time(ev->now, t1, sizeof(t1));
    if (r->consecutive == NB__UNSET) {
        nb_format_time(ev->now - (int64_t)r->within_days * NB_MS_PER_DAY, t0, sizeof(t0));
        nb__say(w, "%d matching appointment%s in the %d days from %s to %s", (int)f->count,
                f->count == 1 ? "" : "s", (int)r->within_days, t0, t1);
        if (f->count < r->at_least)
            nb__say(w, "; needs at least %d", (int)r->at_least);
        else
            nb__say(w, ", from %d agenc%s; needs %d agencies", (int)f->agencies,
                    f->agencies == 1 ? "y" : "ies", (int)r->distinct_agencies);
    } else {
        nb__say(w, "the latest outcomes of appointments of this kind: %d in a row match%s",
                (int)f->count, r->within_days != NB__UNSET ? " within the window" : "");
        if (f->count < r->consecutive)
            nb__say(w, "; needs %d in a row", (int)r->consecutive);
        else
            nb__say(w, ", from %d agenc%s; needs %d agencies", (int)f->agencies,
                    f->agencies == 1 ? "y" : "ies", (int)r->distinct_agencies);
    }
    int future, before = nb__outside(ev, r, from, &future);
    if (before)
        nb__say(w, " (%d more before the window)", before);
    if (future)
        nb__say(w, " (%d scheduled after now, not counted)", future);
}

static void nb__absence_why(const nb__ev_t *ev, const nb__rule_t *r, nb__why_t *w)
{
    char t[32];
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
            int64_t deadline =
                nb_policy_add_working_days(ev->pol, (int64_t)a->start_min * 60000, r->by_value);
            nb_format_time(deadline, t, sizeof(t));
            if (ev->now <= deadline)
                nb__say(w, "the deadline, %d working days after the latest appointment that "
                           "starts the clock, is %s: not passed yet",
                        (int)r->by_value, t);
            else
                nb__say(w, "the expected contact was recorded after the latest appointment that "
                           "starts the clock (deadline %s)",
                        t);
            return;
        }
        nb__say(w, "no appointment that starts the clock ('match') in the %d days looked back",
                (int)r->lookback_days);
        return;
    }
    if (r->by == NB__BY_GESTATION && ev->edd == NB_DATE_NONE) {
        nb__say(w, "no expected delivery date, so no gestation deadline");
        return;
    }
    if (r->by == NB__BY_AGE_DAYS && ev->dob == NB_DATE_NONE) {
        nb__say(w, "no date of birth, so no deadline by age");
        return;
    }
    int32_t day = r->by == NB__BY_GESTATION ? ev->edd - 280 + r->by_value : ev->dob + r->by_value;
    int64_t deadline = ((int64_t)day + 1) * NB_MS_PER_DAY;
    nb_format_time(deadline, t, sizeof(t));
    if (ev->now < deadline)
        nb__say(w, "the deadline has not passed: late from %s", t);
    else
        nb__say(w, "the expected contact was recorded (deadline %s)", t);
}

nb_err_t nb_policy_why_not(const nb_policy_t *pol, const nb_ledger_t *led,
                           const nb_policy_subject_t *subj, int64_t now_ms, const char *rule_id,
                           nb_policy_result_t *res, char *out, size_t size)
{
    nb__why_t w = {out, size, 0};
    nb__ev_t ev;
    nb__fire_t f;
    size_t ri;
    if (!size)
        return NB_ERR_INVALID_ARG;
    out[0] = '\0';
    if (!subj || !rule_id)
        return NB_ERR_INVALID_ARG;
    for (ri = 0; ri < pol->n_rules; ri++)
        if (strcmp(pol->rules[ri].info.id, rule_id) == 0)
            break;
    if (ri == pol->n_rules)
        return NB_ERR_INVALID_ARG;
    const nb__rule_t *r = &pol->rules[ri];
    nb__ev_init(&ev, pol, led, subj, now_ms, res);
    if (nb__spred_why(&ev, &r->subject, &w))
        return NB_ERR_OK;
    if (nb__rule_fires(&ev, r, &f)) {
        nb__say(&w, "the rule fires");
        return NB_ERR_OK;
    }
    if (r->kind == NB__RULE_COUNT)
        nb__count_why(&ev, r, &f, &w);
    else
        nb__absence_why(&ev, r, &w);
    return NB_ERR_OK;
}
