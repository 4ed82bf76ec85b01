/*
 * notbrought - policy: checks of response times and escalation across rules, modifiers and
 * tiers (see load.c), once every layer is loaded: a tier's working days need the calendar, a
 * modifier that changes the tier needs a response time that fits it, and no rung may come
 * before the respond-by unless it is an early alert.
 */
#include <stdio.h>
#include <stdlib.h>

#include "policy/internal.h"

/* "Thursday 23 December 2027 at 00:00" (Europe/London), for messages about deadlines. */
static void nb__local_text(int64_t ms, char *buf, size_t size)
{
    static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
    static const char *const months[] = {"January", "February", "March",     "April",
                                         "May",     "June",     "July",      "August",
                                         "September", "October", "November", "December"};
    int64_t local = ms + nb_policy_london_offset(ms);
    int32_t day = nb_day_of(local);
    int y;
    unsigned m, d;
    nb_civil_from_days(day, &y, &m, &d);
    int minutes = (int)((local - (int64_t)day * NB_MS_PER_DAY) / 60000);
    snprintf(buf, size, "%s %u %s %d at %02d:%02d", days[nb__policy_weekday(day)], d,
             months[m - 1], y, minutes / 60, minutes % 60);
}

static void nb__respond_text(const nb__respond_t *r, char *buf, size_t size)
{
    switch (r->kind) {
    case NB__RESPOND_HOURS:
        snprintf(buf, size, "%d hours", (int)r->n);
        break;
    case NB__RESPOND_WORKING_DAYS:
        snprintf(buf, size, "%d working day%s", (int)r->n, r->n == 1 ? "" : "s");
        break;
    case NB__RESPOND_SAME_DAY:
        snprintf(buf, size, "the same day");
        break;
    default:
        snprintf(buf, size, "no response time");
        break;
    }
}

/* The tiers a rule's decisions can reach when the modifiers before modifier 'upto' may or may
 * not apply: a bitmask of nb_tier_t. */
static uint32_t nb__tiers_before(const nb_policy_t *pol, size_t ri, size_t upto)
{
    uint32_t set = 1u << pol->rules[ri].info.tier;
    for (size_t m = 0; m < upto; m++) {
        const nb__modifier_t *mod = &pol->modifiers[m];
        if (!(mod->rule_mask >> ri & 1) || (mod->set_tier == NB__UNSET && mod->raise == 0))
            continue;
        uint32_t next = set;
        for (int t = 0; t < NB_TIER__COUNT; t++) {
            if (!(set >> t & 1))
                continue;
            int u = mod->set_tier != NB__UNSET && t < mod->set_tier ? mod->set_tier : t;
            u += mod->raise;
            next |= 1u << (u > NB_TIER_URGENT ? NB_TIER_URGENT : u);
        }
        set = next;
    }
    return set;
}

/*
 * A modifier that changes the tier changes what the notification says ("URGENT"), so the
 * response time must fit the new tier: the modifier's own respond_within, or the new tier's
 * default ('tiers'). Otherwise the decision would keep the old tier's respond-by, as it did
 * before tiers had defaults: "URGENT ... respond by" five working days later.
 */
static void nb__check_modifier_tiers(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    for (size_t m = 0; m < pol->n_modifiers; m++) {
        const nb__modifier_t *mod = &pol->modifiers[m];
        if ((mod->set_tier == NB__UNSET && mod->raise == 0) ||
            mod->respond.kind != NB__RESPOND_NONE)
            continue;
        for (size_t ri = 0; ri < pol->n_rules; ri++) {
            if (!(mod->rule_mask >> ri & 1))
                continue;
            const nb__rule_t *r = &pol->rules[ri];
            uint32_t before = nb__tiers_before(pol, ri, m);
            for (int t = 0; t < NB_TIER__COUNT; t++) {
                if (!(before >> t & 1))
                    continue;
                int u = mod->set_tier != NB__UNSET && t < mod->set_tier ? mod->set_tier : t;
                u += mod->raise;
                if (u > NB_TIER_URGENT)
                    u = NB_TIER_URGENT;
                if (u == t || pol->tiers[u].respond.kind != NB__RESPOND_NONE)
                    continue;
                char was[64];
                nb__respond_text(&r->eff_respond, was, sizeof(was));
                nb__report(ctx, mod->mark, NB_ERR_POLICY_VALUE, false,
                           "modifier '%s' changes rule '%s' from %s to %s, but no response time "
                           "fits %s: the notification would keep %s (%s). Give the modifier "
                           "'respond_within', or the tier a default (tiers: {%s: "
                           "{respond_within: ...}})",
                           mod->id, r->info.id, nb__tier_names[t], nb__tier_names[u],
                           nb__tier_names[u], nb__tier_names[t], was, nb__tier_names[u]);
                break;
            }
        }
    }
}

/* The worst case of a response time, computed once per distinct response time. */
typedef struct nb__worst_s {
    nb__workdays_t wd;
    size_t n;
    struct {
        nb__respond_t r;
        int64_t worst, at;
    } v[32];
} nb__worst_t;

static int64_t nb__worst(const nb_policy_t *pol, nb__worst_t *w, const nb__respond_t *r,
                         int64_t *at)
{
    for (size_t i = 0; i < w->n; i++) {
        if (w->v[i].r.kind == r->kind && w->v[i].r.n == r->n) {
            *at = w->v[i].at;
            return w->v[i].worst;
        }
    }
    int64_t worst = nb__policy_respond_worst(pol, r, &w->wd, at);
    if (w->n < sizeof(w->v) / sizeof(w->v[0])) {
        w->v[w->n].r = *r;
        w->v[w->n].worst = worst;
        w->v[w->n].at = *at;
        w->n++;
    }
    return worst;
}

/*
 * Escalation never comes before the deadline the recipients were given, unless it is an
 * explicit early alert. A rung counted from the respond-by cannot; a rung counted from the
 * notification can, when its hours are fewer than the response time takes in the worst case
 * (working days over a weekend and bank holidays), so it must be at least that late or say
 * 'early: true'. The response times a decision of the rule can have: the rule's own (or its
 * tier's default), and those of the modifiers that apply to it. (A modifier's new tier's
 * default only ever shortens the rule's own, see nb__decide().)
 */
static void nb__check_rungs(nb__ctx_t *ctx, nb__worst_t *w)
{
    nb_policy_t *pol = ctx->pol;
    for (size_t ri = 0; ri < pol->n_rules; ri++) {
        nb__rule_t *r = &pol->rules[ri];
        const nb__respond_t *latest = NULL;
        int64_t worst = 0, at = NB_TIME_NONE;
        if (r->eff_respond.kind != NB__RESPOND_NONE) {
            latest = &r->eff_respond;
            worst = nb__worst(pol, w, latest, &at);
        } else {
            /* No response time of its own: a raised tier's default is then the respond-by. */
            uint32_t reach = nb__tiers_before(pol, ri, pol->n_modifiers);
            for (int t = 0; t < NB_TIER__COUNT; t++) {
                int64_t a;
                if (!(reach >> t & 1) || pol->tiers[t].respond.kind == NB__RESPOND_NONE)
                    continue;
                int64_t x = nb__worst(pol, w, &pol->tiers[t].respond, &a);
                if (!latest || x > worst) {
                    latest = &pol->tiers[t].respond;
                    worst = x;
                    at = a;
                }
            }
        }
        for (size_t m = 0; m < pol->n_modifiers; m++) {
            const nb__modifier_t *mod = &pol->modifiers[m];
            int64_t a;
            if (!(mod->rule_mask >> ri & 1) || mod->respond.kind == NB__RESPOND_NONE)
                continue;
            int64_t x = nb__worst(pol, w, &mod->respond, &a);
            if (!latest || x > worst) {
                latest = &mod->respond;
                worst = x;
                at = a;
            }
        }
        bool seen_late = false;
        int32_t late_from = NB__UNSET;
        for (size_t i = 0; i < r->n_rungs; i++) {
            const nb__mark_t *mark = &r->flat[i].mark;
            long long hours = (long long)(r->flat[i].after_ms / 3600000);
            if (r->flat[i].early) {
                if (seen_late)
                    nb__report(ctx, *mark, NB_ERR_POLICY_VALUE, false,
                               "rule '%s': the early alert at %lld hours comes after a rung "
                               "that is not early; early alerts come first",
                               r->info.id, hours);
                continue;
            }
            if (seen_late && late_from != r->flat[i].from) {
                nb__report(ctx, *mark, NB_ERR_POLICY_VALUE, false,
                           "rule '%s': its escalation counts some rungs from the notification "
                           "and some from the respond-by, so their order depends on the day; "
                           "count them all from one (early alerts apart)",
                           r->info.id);
                continue;
            }
            seen_late = true;
            late_from = r->flat[i].from;
            if (r->flat[i].from == NB__FROM_RESPOND_BY) {
                if (r->eff_respond.kind == NB__RESPOND_NONE)
                    nb__report(ctx, *mark, NB_ERR_POLICY_VALUE, false,
                               "rule '%s': the escalation rung at %lld hours counts from the "
                               "respond-by, but the rule has no response time (respond_within, "
                               "or a default for its tier in 'tiers')",
                               r->info.id, hours);
                continue;
            }
            if (!latest || r->flat[i].after_ms >= worst)
                continue;
            char resp[64], when[64], by[64], example[200] = "";
            nb__respond_text(latest, resp, sizeof(resp));
            if (at != NB_TIME_NONE) {
                nb__local_text(at, when, sizeof(when));
                nb__local_text(at + worst, by, sizeof(by));
                snprintf(example, sizeof(example), ": a decision on %s is due by %s, %lld hours "
                         "later", when, by, (long long)(worst / 3600000));
            }
            nb__report(ctx, *mark, NB_ERR_POLICY_VALUE, false,
                       "rule '%s': the escalation rung at %lld hours can come before the "
                       "respond-by (%s%s). Count it from the respond-by ('from: respond_by'), "
                       "make it at least %lld hours, or, if it is meant to come before the "
                       "deadline, mark it 'early: true'",
                       r->info.id, hours, resp, example,
                       (long long)((worst + 3599999) / 3600000));
        }
    }
}

/* A tier's default in working days needs the calendar, as a rule's does. */
static void nb__check_tiers(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    for (int t = 0; t < NB_TIER__COUNT; t++)
        if (pol->tiers[t].respond.kind == NB__RESPOND_WORKING_DAYS && pol->n_holidays == 0)
            nb__report(ctx, pol->tiers[t].mark, NB_ERR_POLICY_REFERENCE, false,
                       "tier '%s' counts working days but the policy has no calendar of bank "
                       "holidays",
                       nb__tier_names[t]);
}

/* The checks of this file, in the order their messages come (a load returns the first
 * error). @returns false when out of memory (ctx->nomem is set). */
bool nb__check_deadlines(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    nb__check_tiers(ctx);
    nb__check_modifier_tiers(ctx);
    nb__worst_t *worst = calloc(1, sizeof(*worst));
    if (!worst || !nb__policy_workdays(pol, &worst->wd)) {
        free(worst);
        ctx->nomem = true;
        return false;
    }
    nb__check_rungs(ctx, worst);
    free(worst->wd.bits);
    free(worst);
    return true;
}
