/*
 * notbrought - policy: the policy in plain English, for sign-off by a safeguarding board.
 * Pure: renders into a buffer; the caller prints it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/internal.h"

typedef struct nb__out_s {
    nb_buf_t *buf;
    nb_err_t err;
} nb__out_t;

__attribute__((format(printf, 2, 3))) static void nb__pf(nb__out_t *o, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    if (o->err)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(tmp))
        n = (int)sizeof(tmp) - 1;
    o->err = nb_buf_append(o->buf, tmp, (size_t)n);
}

static int nb__popcount32(uint32_t x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

/* "a, b or c" from a bitmask of enum values. */
static void nb__list(nb__out_t *o, uint32_t mask, const char *(*name)(int), const char *joiner)
{
    int n = 0, total = nb__popcount32(mask);
    for (int i = 0; i < 32; i++) {
        if (!(mask >> i & 1))
            continue;
        const char *sep = n == 0 ? "" : n == total - 1 ? joiner : ", ";
        nb__pf(o, "%s%s", sep, name(i));
        n++;
    }
}

static const char *nb__status_word(int i)
{
    static const char *const w[] = {"booked",         "attended",
                                    "was not brought", "no access visit",
                                    "cancelled by the family", "cancelled by the provider",
                                    "rescheduled",    "entered in error"};
    return i >= 0 && i < (int)(sizeof(w) / sizeof(w[0])) ? w[i] : "?";
}

static const char *nb__agency_word(int i)
{
    static const char *const w[] = {"GP",         "midwifery",   "health visiting",
                                    "school nursing", "outpatients", "other"};
    return i >= 0 && i < (int)(sizeof(w) / sizeof(w[0])) ? w[i] : "?";
}

static const char *nb__mode_word(int i)
{
    return nb_contact_mode_name((nb_contact_mode_t)i);
}

static const char *nb__fact_word(int i)
{
    static const char *const w[] = {"a child protection plan", "an unborn child protection plan",
                                    "looked after", "a child in need plan"};
    return i >= 0 && i < (int)(sizeof(w) / sizeof(w[0])) ? w[i] : "?";
}

static const char *nb__subject_word(int i)
{
    return i == NB_SUBJECT_UNBORN ? "unborn" : "born";
}

static void nb__gest(nb__out_t *o, int32_t days)
{
    nb__pf(o, "%d+%d weeks", (int)(days / 7), (int)(days % 7));
}

static void nb__range(nb__out_t *o, const nb__range_t *r, const char *what, bool gestation)
{
    if (r->min == NB__UNSET && r->max == NB__UNSET)
        return;
    nb__pf(o, "%s ", what);
    if (r->min != NB__UNSET && r->max != NB__UNSET) {
        nb__pf(o, "from ");
        gestation ? nb__gest(o, r->min) : nb__pf(o, "%d", (int)r->min);
        nb__pf(o, " to ");
        gestation ? nb__gest(o, r->max) : nb__pf(o, "%d", (int)r->max);
    } else if (r->min != NB__UNSET) {
        nb__pf(o, "at least ");
        gestation ? nb__gest(o, r->min) : nb__pf(o, "%d", (int)r->min);
    } else {
        nb__pf(o, "at most ");
        gestation ? nb__gest(o, r->max) : nb__pf(o, "%d", (int)r->max);
    }
}

static void nb__epred(nb__out_t *o, const nb_policy_t *pol, const nb__epred_t *e)
{
    bool any = false;
    if (e->mandated == 1) {
        nb__pf(o, "mandated ");
    } else if (e->mandated == 0) {
        nb__pf(o, "non-mandated ");
    }
    if (e->agencies) {
        nb__list(o, e->agencies, nb__agency_word, " or ");
        nb__pf(o, " ");
    }
    if (e->types) {
        int n = 0;
        for (size_t i = 0; i < pol->n_types; i++)
            if (e->types >> i & 1)
                nb__pf(o, "%s%s", n++ ? "/" : "", pol->types[i]);
        nb__pf(o, " ");
    }
    nb__pf(o, "appointments");
    if (e->subjects) {
        nb__pf(o, " for ");
        nb__list(o, e->subjects, nb__subject_word, " or ");
        nb__pf(o, " children");
    }
    if (e->modes) {
        nb__pf(o, " (");
        nb__list(o, e->modes, nb__mode_word, " or ");
        nb__pf(o, ")");
    }
    if (e->statuses) {
        nb__pf(o, " recorded as ");
        nb__list(o, e->statuses, nb__status_word, " or ");
        any = true;
    }
    if (e->gestation.min != NB__UNSET || e->gestation.max != NB__UNSET) {
        nb__pf(o, "%s", any ? ", " : " ");
        nb__range(o, &e->gestation, "at a gestation", true);
    }
    if (e->age_days.min != NB__UNSET || e->age_days.max != NB__UNSET) {
        nb__pf(o, "%s", any ? ", " : " ");
        nb__range(o, &e->age_days, "at an age in days", false);
    }
}

static void nb__match(nb__out_t *o, const nb_policy_t *pol, const nb__match_t *m)
{
    if (m->n == 0) {
        nb__pf(o, "any appointments");
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (i)
            nb__pf(o, ", or ");
        nb__epred(o, pol, &m->alt[i]);
    }
}

static void nb__subject(nb__out_t *o, const nb__spred_t *s, const char *indent)
{
    if (s->kinds) {
        nb__pf(o, "%sApplies to ", indent);
        nb__list(o, s->kinds, nb__subject_word, " and ");
        nb__pf(o, " children only.\n");
    }
    if (s->age_months.min != NB__UNSET || s->age_months.max != NB__UNSET) {
        nb__pf(o, "%sApplies to children aged ", indent);
        if (s->age_months.min != NB__UNSET && s->age_months.max != NB__UNSET)
            nb__pf(o, "%d to %d months", (int)s->age_months.min, (int)s->age_months.max);
        else if (s->age_months.min != NB__UNSET)
            nb__pf(o, "%d months or more", (int)s->age_months.min);
        else
            nb__pf(o, "%d months or less (under %d months)", (int)s->age_months.max,
                   (int)s->age_months.max + 1);
        nb__pf(o, ".\n");
    }
    if (s->gestation.min != NB__UNSET || s->gestation.max != NB__UNSET) {
        nb__pf(o, "%sApplies to pregnancies ", indent);
        nb__range(o, &s->gestation, "at a gestation", true);
        nb__pf(o, ".\n");
    }
    if (s->facts_any) {
        nb__pf(o, "%sApplies only while the child is subject to ", indent);
        nb__list(o, s->facts_any, nb__fact_word, " or ");
        if (s->ended_within_days > 0)
            nb__pf(o, " (or was, within %d days after it ended)", (int)s->ended_within_days);
        nb__pf(o, ".\n");
    }
    if (s->facts_none) {
        nb__pf(o, "%sDoes not apply to a child subject to ", indent);
        nb__list(o, s->facts_none, nb__fact_word, " or ");
        nb__pf(o, ".\n");
    }
    if (s->self_managing == NB__SELF_INCLUDE)
        nb__pf(o, "%sSelf-managing 16-17 year olds are included.\n", indent);
    else if (s->self_managing == NB__SELF_AS_DNA)
        nb__pf(o, "%sFor self-managing 16-17 year olds the missed appointment is treated as "
                  "'did not attend'.\n",
               indent);
    else if (s->self_managing == NB__SELF_EXCLUDE)
        nb__pf(o, "%sSelf-managing 16-17 year olds are excluded.\n", indent);
}

static void nb__respond(nb__out_t *o, const nb__respond_t *r)
{
    switch (r->kind) {
    case NB__RESPOND_HOURS:
        nb__pf(o, "within %d hours", (int)r->n);
        break;
    case NB__RESPOND_SAME_DAY:
        nb__pf(o, "the same day");
        break;
    case NB__RESPOND_WORKING_DAYS:
        if (r->n == 0)
            nb__pf(o, "by close of business today (or the next working day)");
        else
            nb__pf(o, "within %d working day%s", (int)r->n, r->n == 1 ? "" : "s");
        break;
    default:
        break;
    }
}

static void nb__roles(nb__out_t *o, const nb__refs_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const char *sep = i == 0 ? "" : i == r->n - 1 ? " and " : ", ";
        nb__pf(o, "%s%s", sep, r->roles[i] ? r->roles[i]->title : r->ids[i]);
    }
}

static void nb__rule(nb__out_t *o, const nb_policy_t *pol, const nb__rule_t *r, size_t idx)
{
    nb__pf(o, "%zu. %s  [%s]%s\n", idx + 1, r->info.title, r->info.id,
           r->info.shadow ? "  (SHADOW: counted, never notified)" : "");
    nb__pf(o, "   Source: %s\n", r->info.source);
    if (r->kind == NB__RULE_COUNT) {
        nb__pf(o, "   When: ");
        if (r->consecutive != NB__UNSET)
            nb__pf(o, "the last %d outcomes in a row are ", (int)r->consecutive);
        else if (r->at_least == 1)
            nb__pf(o, "any ");
        else
            nb__pf(o, "%d or more ", (int)r->at_least);
        nb__match(o, pol, &r->match);
        if (r->within_days != NB__UNSET)
            nb__pf(o, " within %d days", (int)r->within_days);
        if (r->distinct_agencies != NB__UNSET)
            nb__pf(o, ", from at least %d different agencies", (int)r->distinct_agencies);
        nb__pf(o, ".\n");
    } else {
        nb__pf(o, "   When: no ");
        nb__match(o, pol, &r->expect);
        if (r->by == NB__BY_GESTATION) {
            nb__pf(o, " by ");
            nb__gest(o, r->by_value);
            nb__pf(o, " of pregnancy");
        } else if (r->by == NB__BY_AGE_DAYS) {
            nb__pf(o, " by day %d of life", (int)r->by_value);
        } else {
            nb__pf(o, " within %d working days after ", (int)r->by_value);
            nb__match(o, pol, &r->match);
            nb__pf(o, " (looking back %d days)", (int)r->lookback_days);
        }
        nb__pf(o, ". It closes when the expected contact is recorded.\n");
    }
    nb__subject(o, &r->subject, "   ");
    nb__pf(o, "   Then: tell ");
    nb__roles(o, &r->to);
    nb__pf(o, " (tier %s)", nb_tier_name(r->info.tier));
    if (r->eff_respond.kind != NB__RESPOND_NONE) {
        nb__pf(o, ", to respond ");
        nb__respond(o, &r->eff_respond);
        if (r->respond.kind == NB__RESPOND_NONE)
            nb__pf(o, " (the tier's default)");
    }
    nb__pf(o, ".\n   What to do: %s\n", r->info.action);
    for (size_t i = 0; i < r->n_rungs; i++) {
        long long h = (long long)(r->flat[i].after_ms / 3600000);
        if (r->flat[i].early)
            nb__pf(o, "   Early alert, before the response is due: if not acknowledged after "
                      "%lld hours, tell ",
                   h);
        else if (r->flat[i].from == NB__FROM_RESPOND_BY)
            nb__pf(o, "   If not acknowledged %lld hours after the response was due: tell ", h);
        else
            nb__pf(o, "   If not acknowledged after %lld hours (never before the response is "
                      "due): tell ",
                   h);
        nb__roles(o, r->flat[i].to);
        nb__pf(o, " (tier %s).\n", nb_tier_name(r->flat[i].tier));
    }
    nb__pf(o, "   Not repeated for the same child within %d day(s) unless newer evidence "
              "arrives.%s\n",
           (int)r->info.cooldown_days,
           r->info.digest == NB_POLICY_DIGEST_DAILY    ? " Delivered in a daily digest."
           : r->info.digest == NB_POLICY_DIGEST_WEEKLY ? " Delivered in a weekly digest."
                                                       : "");
    if (r->layer > 0)
        nb__pf(o, "   Defined by the local overlay %s.\n", r->info.file);
    nb__pf(o, "\n");
}

/* The title, identity, source files and content hash. */
static void nb__explain_head(nb__out_t *o, const nb_policy_info_t *in)
{
    char date[16];
    nb_format_date(in->effective_from, date, sizeof(date));
    nb__pf(o, "%s\n", in->title);
    nb__pf(o, "Policy %s, version %s, owned by %s, in effect from %s.\n", in->name, in->version,
           in->owner, date);
    nb__pf(o, "Built from:");
    for (size_t i = 0; i < in->n_files; i++)
        nb__pf(o, " %s", in->files[i]);
    nb__pf(o, "\nContent hash (SHA-256): %s\n\n", in->hash);
}

/* One modifier, lettered by its position @p idx. */
static void nb__modifier(nb__out_t *o, const nb__modifier_t *m, size_t idx)
{
    nb__pf(o, "%c. %s  [%s]\n   Source: %s\n", (char)('a' + (int)(idx % 26)), m->title, m->id,
           m->source);
    nb__subject(o, &m->subject, "   ");
    if (m->n_rules) {
        nb__pf(o, "   For the rules:");
        for (size_t k = 0; k < m->n_rules; k++)
            nb__pf(o, " %s", m->rules[k]);
        nb__pf(o, ".\n");
    } else {
        nb__pf(o, "   For every rule.\n");
    }
    if (m->set_tier != NB__UNSET)
        nb__pf(o, "   The tier becomes at least %s.\n", nb_tier_name((nb_tier_t)m->set_tier));
    if (m->raise)
        nb__pf(o, "   The tier goes up %d step%s.\n", (int)m->raise, m->raise == 1 ? "" : "s");
    if (m->respond.kind != NB__RESPOND_NONE) {
        nb__pf(o, "   Respond ");
        nb__respond(o, &m->respond);
        nb__pf(o, ".\n");
    }
    if (m->add_to.n) {
        nb__pf(o, "   Also tell ");
        nb__roles(o, &m->add_to);
        nb__pf(o, ".\n");
    }
    nb__pf(o, "\n");
}

/* The tiers' default response times, highest tier first; nothing when no tier has one. */
static void nb__tier_times(nb__out_t *o, const nb_policy_t *pol)
{
    bool any_tier = false;
    for (int t = NB_TIER__COUNT; t-- > 0;) {
        if (pol->tiers[t].respond.kind == NB__RESPOND_NONE)
            continue;
        if (!any_tier)
            nb__pf(o, "RESPONSE TIMES BY TIER (when neither the rule nor a modifier says; a "
                      "modifier that raises the tier takes the new tier's, or the rule's own "
                      "if sooner)\n");
        any_tier = true;
        nb__pf(o, "  %s: respond ", nb_tier_name((nb_tier_t)t));
        nb__respond(o, &pol->tiers[t].respond);
        nb__pf(o, ".\n");
    }
    if (any_tier)
        nb__pf(o, "\n");
}

/* The declared appointment types, grouped by the stage of life they belong to. */
static void nb__vocab(nb__out_t *o, const nb_policy_t *pol)
{
    static const char *const heads[] = {"Pregnancy (antenatal, unborn child)", "Born child",
                                        "Either"};
    const uint32_t stages[] = {1u << NB_SUBJECT_UNBORN, 1u << NB_SUBJECT_CHILD, 0};
    nb__pf(o, "APPOINTMENT TYPES (the vocabulary rules may name)\n");
    for (int k = 0; k < 3; k++) {
        int n = 0;
        for (size_t i = 0; i < pol->n_vocab; i++) {
            if (pol->vocab[i].stages != stages[k])
                continue;
            if (n++ == 0)
                nb__pf(o, "  %s: %s", heads[k], pol->vocab[i].name);
            else
                nb__pf(o, ", %s", pol->vocab[i].name);
        }
        if (n)
            nb__pf(o, ".\n");
    }
    nb__pf(o, "\n");
}

/* The groups of overlapping rules and how they hold back each other's notifications. */
static void nb__overlap_groups(nb__out_t *o, const nb_policy_t *pol)
{
    nb__pf(o, "\nOVERLAPPING RULES (one thing to act on)\n");
    for (size_t g = 0; g < pol->n_overlaps; g++) {
        const nb__overlap_t *ov = &pol->overlaps[g];
        nb__pf(o, "  %s: %s\n    Rules, the first taking precedence:", ov->id, ov->title);
        for (size_t k = 0; k < ov->n_rules; k++)
            nb__pf(o, "%s %s", k ? "," : "", ov->rules[k]);
        nb__pf(o, ".\n    A new notification of one of them is not sent to anyone an open "
                  "notification of another already reached");
        if (ov->within_days != NB__UNSET)
            nb__pf(o, " in the last %d days", (int)ov->within_days);
        else
            nb__pf(o, " within that rule's cool-down");
        nb__pf(o, "; it names that notification.\n");
    }
}

/* One 'ownership:' block in words (docs/inbox.md). */
static void nb__own(nb__out_t *o, const nb__own_t *own, const char *indent)
{
    nb__pf(o, "%sEscalation stops when the notification is %s.\n", indent,
           own->pub.stops_on_take ? "taken (someone owns it) or closed"
                                  : "closed (taking it "
                                    "does not stop it)");
    if (!own->pub.reassign_restarts) {
        nb__pf(o, "%sA reassignment keeps the respond-by and the ladder's times.\n", indent);
    } else {
        nb__pf(o,
               "%sA reassignment restarts the respond-by (and the ladder's times with it): "
               "respond ",
               indent);
        if (own->after.kind != NB__RESPOND_NONE)
            nb__respond(o, &own->after);
        else
            nb__pf(o, "as the rule gives, counted from the reassignment");
        nb__pf(o, ".\n");
    }
    if (own->pub.n_may_reassign) {
        nb__pf(o, "%sMay reassign what another person owns:", indent);
        for (size_t i = 0; i < own->pub.n_may_reassign; i++)
            nb__pf(o, "%s %s", i ? "," : "", own->pub.may_reassign[i]);
        nb__pf(o, ".\n");
    } else {
        nb__pf(o, "%sOnly its owner may reassign or close what a person owns.\n", indent);
    }
}

/* The ownership keys: the policy's, and each ladder's own. */
static void nb__ownership(nb__out_t *o, const nb_policy_t *pol)
{
    nb__pf(o, "\nOWNERSHIP (taking, reassigning and closing a notification)\n");
    nb__own(o, &pol->own, "  ");
    for (size_t i = 0; i < pol->n_ladders; i++) {
        if (!pol->ladders[i].own.set)
            continue;
        nb__pf(o, "  On the ladder %s:\n", pol->ladders[i].id);
        nb__own(o, &pol->ladders[i].own, "    ");
    }
}

nb_err_t nb_policy_explain(const nb_policy_t *pol, nb_buf_t *out)
{
    nb__out_t o = {out, NB_ERR_OK};
    const nb_policy_info_t *in = &pol->info;
    nb__explain_head(&o, in);

    nb__pf(&o, "WHO IS TOLD\n");
    for (size_t i = 0; i < pol->n_roles; i++)
        nb__pf(&o, "  - %s [%s], reached through %s\n", pol->roles[i].pub.title,
               pol->roles[i].pub.id, pol->roles[i].pub.route);
    nb__pf(&o, "\nRULES\n\n");
    for (size_t i = 0; i < pol->n_rules; i++)
        nb__rule(&o, pol, &pol->rules[i], i);
    if (pol->n_modifiers) {
        nb__pf(&o, "MODIFIERS (applied in this order to the rules that fire)\n\n");
        for (size_t i = 0; i < pol->n_modifiers; i++)
            nb__modifier(&o, &pol->modifiers[i], i);
    }
    nb__tier_times(&o, pol);
    if (pol->vocab_declared)
        nb__vocab(&o, pol);
    nb__pf(&o, "CALENDAR\n  %s: %zu bank holidays listed for %d-%d; working-day deadlines fall "
               "at %02d:%02d UK time.\n",
           in->calendar[0] ? in->calendar : "(none)", pol->n_holidays, in->calendar_from,
           in->calendar_to, (int)(pol->cob_minutes / 60), (int)(pol->cob_minutes % 60));
    nb__pf(&o, "  History is kept for %d days.\n", in->retention_days);
    if (pol->n_overlaps)
        nb__overlap_groups(&o, pol);
    nb__ownership(&o, pol);
    if (pol->self_managing_from_age < 18)
        nb__pf(&o, "\nYOUNG PEOPLE\n  From the age of %d, a young person is presumed to manage their "
                   "own appointments: a missed one is 'did not attend', and each rule says whether "
                   "it still applies.\n",
               (int)pol->self_managing_from_age);
    else
        nb__pf(&o, "\nYOUNG PEOPLE\n  No young person is presumed to manage their own "
                   "appointments: only a source that says so makes them self-managing.\n");
    if (!o.err)
        o.err = nb_buf_append(out, "", 1);
    if (!o.err)
        out->len--; /* NUL-terminated, not counted */
    return o.err;
}

/* ---- what a decision counted, for the notification -------------------------------------------- */

nb_err_t nb_policy_rule_counted(const nb_policy_t *pol, const nb_policy_rule_info_t *rule,
                                int32_t count, int32_t agencies, nb_buf_t *out)
{
    const nb__rule_t *r = NULL;
    for (size_t i = 0; i < pol->n_rules && !r; i++)
        if (&pol->rules[i].info == rule)
            r = &pol->rules[i];
    if (!r)
        return NB_ERR_INVALID_ARG;
    nb__out_t o = {out, NB_ERR_OK};
    size_t start = out->len;
    if (r->kind == NB__RULE_COUNT) {
        if (r->consecutive != NB__UNSET)
            nb__pf(&o, "%d in a row: ", (int)count);
        else
            nb__pf(&o, "%d ", (int)count);
        if (r->match.n == 0)
            nb__pf(&o, "appointments");
        else
            nb__match(&o, pol, &r->match);
        if (r->within_days != NB__UNSET)
            nb__pf(&o, " in the last %d day%s", (int)r->within_days,
                   r->within_days == 1 ? "" : "s");
        nb__pf(&o, ", from %d agenc%s", (int)agencies, agencies == 1 ? "y" : "ies");
        if (r->distinct_agencies != NB__UNSET)
            nb__pf(&o, " (the rule needs %d)", (int)r->distinct_agencies);
    } else {
        nb__pf(&o, "No ");
        nb__match(&o, pol, &r->expect);
        if (r->by == NB__BY_GESTATION) {
            nb__pf(&o, " by ");
            nb__gest(&o, r->by_value);
            nb__pf(&o, " of pregnancy");
        } else if (r->by == NB__BY_AGE_DAYS) {
            nb__pf(&o, " by day %d of life", (int)r->by_value);
        } else {
            nb__pf(&o, " within %d working day%s after ", (int)r->by_value,
                   r->by_value == 1 ? "" : "s");
            nb__match(&o, pol, &r->match);
        }
    }
    if (o.err)
        return o.err;
    /* "1 appointment", not "1 appointments". */
    if (r->kind == NB__RULE_COUNT && count == 1) {
        size_t w = start;
        for (size_t i = start; i < out->len; i++) {
            if (i > start + 10 && out->data[i] == 's' &&
                memcmp(out->data + i - 11, "appointment", 11) == 0)
                continue;
            out->data[w++] = out->data[i];
        }
        out->len = w;
    }
    /* Appointment types are ids ("new_birth_visit", "6_8_week_review"): shown as words
     * ("new birth visit", "6-8 week review"). */
    for (size_t i = start; i < out->len; i++)
        if (out->data[i] == '_')
            out->data[i] = i > start && i + 1 < out->len && out->data[i - 1] >= '0' &&
                                   out->data[i - 1] <= '9' && out->data[i + 1] >= '0' &&
                                   out->data[i + 1] <= '9'
                               ? '-'
                               : ' ';
    return NB_ERR_OK;
}
