/*
 * notbrought - policy: overlapping rules ('overlaps') and who a raised notification reached.
 *
 * Rules of one overlap group are about the same thing for the child (a missed health visiting
 * contact, say: the miss itself, the new birth visit not done by day 14, the baby not seen 5
 * working days later). A nurse gets one thing to act on: a new decision of a group rule leaves
 * out every recipient that an open notification of another rule of the group already reached
 * (or that a decision of higher precedence in the same evaluation reaches), names that
 * notification, and is suppressed when nobody is left. Pure, as eval.c.
 */
#include <string.h>

#include "policy/internal.h"

static void nb__add(const nb_policy_role_t *role, const nb_policy_role_t **out, size_t *n,
                    size_t max)
{
    if (!role)
        return;
    for (size_t i = 0; i < *n; i++)
        if (out[i] == role)
            return;
    if (*n < max)
        out[(*n)++] = role;
}

size_t nb__raised_recipients(const nb__ev_t *ev, size_t ri, const nb_ledger_raised_t *x,
                             const nb_policy_role_t **out, size_t max)
{
    const nb_policy_t *pol = ev->pol;
    const nb__rule_t *r = &pol->rules[ri];
    size_t n = 0;
    for (size_t k = 0; k < r->to.n; k++)
        nb__add(r->to.roles[k], out, &n, max);
    for (size_t m = 0; m < pol->n_modifiers; m++) {
        const nb__modifier_t *mod = &pol->modifiers[m];
        if (!(mod->rule_mask >> ri & 1) || !mod->add_to.n ||
            !nb__spred(ev, &mod->subject, NULL, NULL, NULL))
            continue;
        for (size_t k = 0; k < mod->add_to.n; k++)
            nb__add(mod->add_to.roles[k], out, &n, max);
    }
    /* The rungs it reached: of its tier's ladder when the modifiers moved it to a tier that
     * has one (as nb__decide() chose), else of the rule's. */
    const nb__flat_t *flat = r->flat;
    size_t n_flat = r->n_rungs;
    if (x->tier < NB_TIER__COUNT && x->tier != r->info.tier && pol->tiers[x->tier].n_rungs) {
        flat = pol->tiers[x->tier].flat;
        n_flat = pol->tiers[x->tier].n_rungs;
    }
    for (size_t g = 0; g < n_flat && g < x->level; g++)
        for (size_t k = 0; flat[g].to && k < flat[g].to->n; k++)
            nb__add(flat[g].to->roles[k], out, &n, max);
    return n;
}

/* A role some notification of the group reached, and which one. */
typedef struct nb__told_s {
    const nb_policy_role_t *role;
    size_t rule;     /* the rule index of the notification that reached it */
    const char *id;  /* that notification's id (hex) */
} nb__told_t;

#define NB__TOLD_MAX (NB_LEDGER_MAX_RAISED + NB_POLICY_MAX_DECISIONS) * NB_NOTIF_MAX_RECIPIENTS

typedef struct nb__group_s {
    size_t n;
    nb__told_t told[NB__TOLD_MAX];
} nb__group_t;

static void nb__tell(nb__group_t *g, const nb_policy_role_t *role, size_t ri, const char *id)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->told[i].role == role && g->told[i].rule == ri)
            return;
    if (g->n < NB__TOLD_MAX)
        g->told[g->n++] = (nb__told_t){role, ri, id};
}

/* The rule index of a decision (decisions point at their rule's info). */
static size_t nb__rule_index(const nb_policy_t *pol, const nb_policy_rule_info_t *info)
{
    return (size_t)((const nb__rule_t *)(const void *)info - pol->rules);
}

/* One decision of a group, in the group's precedence order. A decision in several groups is
 * met once per group: what one group left out stays left out. */
static void nb__cover(const nb__ev_t *ev, nb__group_t *g, nb_policy_decision_t *d, size_t ri)
{
    /* Raised already, or held back by its own cool-down: its notification is among the
     * raised ones, which cover while the group's time runs. */
    if (d->state != NB_POLICY_NEW)
        return;
    size_t keep = 0;
    for (size_t i = 0; i < d->n_recipients; i++) {
        const nb__told_t *by = NULL;
        for (size_t k = 0; k < g->n && !by; k++)
            if (g->told[k].role == d->recipients[i] && g->told[k].rule != ri)
                by = &g->told[k];
        if (!by) {
            d->recipients[keep++] = d->recipients[i];
            continue;
        }
        if (!d->covered_by_rule) {
            nb_str_copy(d->covered_by, sizeof(d->covered_by), by->id);
            d->covered_by_rule = &ev->pol->rules[by->rule].info;
        }
        if (d->n_covered < NB_NOTIF_MAX_RECIPIENTS)
            d->covered[d->n_covered++] = d->recipients[i];
    }
    d->n_recipients = keep;
    if (keep == 0 && d->n_covered) {
        d->state = NB_POLICY_SUPPRESSED;
        nb_str_copy(d->related, sizeof(d->related), d->covered_by);
        return;
    }
    for (size_t i = 0; i < d->n_recipients; i++)
        nb__tell(g, d->recipients[i], ri, d->id);
}

/* The place of a rule in a group's precedence, or -1. */
static int nb__pos(const nb__overlap_t *o, size_t ri)
{
    for (size_t k = 0; k < o->n_rules; k++)
        if (o->idx[k] == (int16_t)ri)
            return (int)k;
    return -1;
}

/* Who a raised notification of the group actually reached: its rule's recipients, less those
 * that an earlier notification of another rule of the group (raised before it, or at the same
 * time with precedence, within that one's time) had already told: the roles nb__cover() left
 * out when it was raised. Rebuilt from the raised list, so that a withdrawal goes to those who
 * got the notification, not to everyone its rule names. */
static void nb__reduce_raised(const nb_policy_t *pol, const nb__overlap_t *o, size_t gi,
                              nb_policy_result_t *res)
{
    for (size_t i = 0; i < res->n_raised; i++) {
        nb_policy_raised_status_t *s = &res->raised[i];
        if (!s->rule)
            continue;
        size_t ri = nb__rule_index(pol, s->rule);
        if (!(pol->overlap_of[ri] >> gi & 1))
            continue;
        int pos = nb__pos(o, ri);
        for (size_t j = 0; j < res->n_raised; j++) {
            const nb_policy_raised_status_t *y = &res->raised[j];
            if (j == i || !y->rule)
                continue;
            size_t yi = nb__rule_index(pol, y->rule);
            if (yi == ri || !(pol->overlap_of[yi] >> gi & 1))
                continue;
            int64_t ty = y->raised->raised_at, ts = s->raised->raised_at;
            if (ty > ts || (ty == ts && nb__pos(o, yi) >= pos))
                continue;
            int32_t days = o->within_days != NB__UNSET ? o->within_days : y->rule->cooldown_days;
            if (ts - ty >= (int64_t)days * NB_MS_PER_DAY)
                continue;
            size_t keep = 0;
            for (size_t k = 0; k < s->n_recipients; k++) {
                bool told = false;
                for (size_t m = 0; m < y->n_recipients && !told; m++)
                    told = y->recipients[m] == s->recipients[k];
                if (!told)
                    s->recipients[keep++] = s->recipients[k];
            }
            s->n_recipients = keep;
        }
    }
}

void nb__overlaps(const nb__ev_t *ev, nb_policy_result_t *res)
{
    const nb_policy_t *pol = ev->pol;
    if (!pol->n_overlaps)
        return;
    static _Thread_local nb__group_t g;
    for (size_t gi = 0; gi < pol->n_overlaps; gi++) {
        const nb__overlap_t *o = &pol->overlaps[gi];
        g.n = 0;
        nb__reduce_raised(pol, o, gi, res);
        /* Open notifications of the group: still supported by their rule (or standing), and
         * raised within the group's time (or their rule's cool-down). */
        for (size_t i = 0; i < res->n_raised; i++) {
            const nb_policy_raised_status_t *s = &res->raised[i];
            if (!s->rule || (s->support != NB_POLICY_SUPPORTED && s->support != NB_POLICY_EXPIRED))
                continue;
            size_t ri = nb__rule_index(pol, s->rule);
            if (!(pol->overlap_of[ri] >> gi & 1))
                continue;
            int32_t days = o->within_days != NB__UNSET ? o->within_days : s->rule->cooldown_days;
            if (ev->now - s->raised->raised_at >= (int64_t)days * NB_MS_PER_DAY)
                continue;
            for (size_t k = 0; k < s->n_recipients; k++)
                nb__tell(&g, s->recipients[k], ri, s->id);
        }
        /* This evaluation's decisions, the rule of higher precedence first. */
        for (size_t pos = 0; pos < o->n_rules; pos++) {
            if (o->idx[pos] < 0)
                continue;
            for (size_t i = 0; i < res->n_decisions; i++) {
                nb_policy_decision_t *d = &res->decisions[i];
                if (!d->shadow && nb__rule_index(pol, d->rule) == (size_t)o->idx[pos])
                    nb__cover(ev, &g, d, (size_t)o->idx[pos]);
            }
        }
    }
}
