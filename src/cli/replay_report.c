/*
 * notbrought replay --compare: what a policy change does to each decision, as text for the
 * protocol owner (replay_json.c gives the same as JSON). Children are shown masked, as the
 * rest of replay's output; decision ids are not shown: under replay's own pseudonymisation
 * key, which is in the source, they could be traced back to NHS numbers.
 */
#include "cli/replay.h"

#include <string.h>

/* Column headings of the table of changes per rule, in nb__change_kind_t order. */
static const char *const nb__heads[NB__CHANGE__COUNT] = {
    "lost", "gained", "tier", "roles", "respond", "ladder", "escal.", "withdrawn",
};

static void nb__rule_row(FILE *out, const char *name, const size_t *by_kind)
{
    fprintf(out, "%-32s", name);
    for (int k = 0; k < NB__CHANGE__COUNT; k++)
        fprintf(out, " %*zu", (int)strlen(nb__heads[k]), by_kind[k]);
    fputc('\n', out);
}

static void nb__rules_text(FILE *out, const nb__diff_t *d)
{
    fprintf(out, "\nchanges per decision (the same rule on the same evidence for the same child "
                 "under both\npolicies), by rule:\n%-32s", "rule");
    for (int k = 0; k < NB__CHANGE__COUNT; k++)
        fprintf(out, " %s", nb__heads[k]);
    fputc('\n', out);
    for (size_t r = 0; r < d->n_rules; r++)
        if (d->rules[r].changed)
            nb__rule_row(out, d->rules[r].rule, d->rules[r].by_kind);
    nb__rule_row(out, "all rules", d->by_kind);
    fprintf(out, "(lost: raised with the policy only; gained: raised with the compared policy "
                 "only; roles:\nrecipients added or removed; respond: respond-by moved; ladder: "
                 "escalation rungs differ;\nescal.: escalations sent by the end differ; "
                 "withdrawn: withdrawn with one policy only)\n");
    fprintf(out, "notifications: %zu with the policy, %zu with the compared policy,\n%zu the same "
                 "decision in both; %zu decision%s differ%s\n",
            d->in_a, d->in_b, d->in_both, d->n, d->n == 1 ? "" : "s", d->n == 1 ? "s" : "");
}

/* "gp_safeguarding_lead, health_visitor" */
static void nb__roles_text(FILE *out, const nb_policy_role_t *const *roles, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? ", " : "", roles[i]->id);
    if (n == 0)
        fputs("nobody", out);
}

static void nb__rung_text(FILE *out, const nb__rrung_t *g, nb_notify_zone_t zone)
{
    char t[64];
    if (!g) {
        fputs("none", out);
        return;
    }
    nb__roles_text(out, g->roles, g->n_roles);
    fprintf(out, " (%s) %s", nb_tier_name(g->tier),
            nb_notify_format_time(g->due, zone, false, t, sizeof(t)));
}

/* Roles of @p x that @p y does not have, each with @p sign. */
static void nb__roles_minus(FILE *out, char sign, const nb__rnote_t *x, const nb__rnote_t *y)
{
    for (size_t i = 0; i < x->n_recipients; i++) {
        bool found = false;
        for (size_t j = 0; j < y->n_recipients && !found; j++)
            found = strcmp(x->recipients[i]->id, y->recipients[j]->id) == 0;
        if (!found)
            fprintf(out, " %c%s", sign, x->recipients[i]->id);
    }
}

/* The rungs that differ, one a line. */
static void nb__ladder_text(FILE *out, const nb__report_t *rep, const nb__change_t *c)
{
    const nb__notes_t *na = &rep->a->notes, *nb_ = &rep->b->notes;
    size_t n = c->a->n_rungs > c->b->n_rungs ? c->a->n_rungs : c->b->n_rungs;
    const char *lead = "      ladder:";
    for (size_t i = 0; i < n; i++) {
        const nb__rrung_t *x = i < c->a->n_rungs ? &na->rungs[c->a->rung0 + i] : NULL;
        const nb__rrung_t *y = i < c->b->n_rungs ? &nb_->rungs[c->b->rung0 + i] : NULL;
        if (x && y && nb__replay_same_rung(x, y))
            continue;
        fprintf(out, "%s rung %zu", lead, i + 1);
        lead = "             ";
        nb__rrung_t same;
        if (x && y && x->tier == y->tier) {
            /* Only the time moved: say who once. */
            same = *y;
            same.due = x->due;
            if (nb__replay_same_rung(x, &same)) {
                char t[64], u[64];
                fputs(", ", out);
                nb__roles_text(out, x->roles, x->n_roles);
                fprintf(out, " (%s): %s -> %s\n", nb_tier_name(x->tier),
                        nb_notify_format_time(x->due, rep->zone, false, t, sizeof(t)),
                        nb_notify_format_time(y->due, rep->zone, false, u, sizeof(u)));
                continue;
            }
        }
        fputs(": ", out);
        nb__rung_text(out, x, rep->zone);
        fputs(" -> ", out);
        nb__rung_text(out, y, rep->zone);
        fputc('\n', out);
    }
}

/* One side of a decision raised under one policy only. */
static void nb__only_text(FILE *out, const nb__report_t *rep, const nb__rnote_t *n,
                          const char *which)
{
    char t[64];
    fprintf(out, "      raised with the %s only: %s, to ", which, nb_tier_name(n->tier));
    nb__roles_text(out, n->recipients, n->n_recipients);
    fprintf(out, "\n        respond by %s",
            nb_notify_format_time(n->respond_by, rep->zone, true, t, sizeof(t)));
    if (n->escalations)
        fprintf(out, "; escalated %u of %zu", n->escalations, n->n_rungs);
    if (n->withdrawn_at != NB_TIME_NONE)
        fprintf(out, "; withdrawn %s",
                nb_notify_format_time(n->withdrawn_at, rep->zone, false, t, sizeof(t)));
    fputc('\n', out);
}

/* The decision: its rule, when it was raised and on what. */
static void nb__decision_head(FILE *out, const nb__report_t *rep, const nb__change_t *c)
{
    const nb__rnote_t *n = c->a ? c->a : c->b;
    char t[64];
    fprintf(out, "    %s: raised %s", n->rule->id,
            nb_notify_format_time(n->raised_at, rep->zone, false, t, sizeof(t)));
    if (c->a && c->b && c->a->raised_at != c->b->raised_at)
        fprintf(out, " (%s with the compared policy)",
                nb_notify_format_time(c->b->raised_at, rep->zone, false, t, sizeof(t)));
    if (n->n_evidence)
        fprintf(out, " on %zu appointment%s, the latest %s\n", n->n_evidence,
                n->n_evidence == 1 ? "" : "s",
                nb_notify_format_time(n->evidence_latest, rep->zone, false, t, sizeof(t)));
    else
        fprintf(out, ", deadline %s\n",
                nb_notify_format_time(n->deadline, rep->zone, false, t, sizeof(t)));
}

static void nb__decision_text(FILE *out, const nb__report_t *rep, const nb__change_t *c)
{
    char t[64], u[64];
    nb__decision_head(out, rep, c);
    if (!c->b || !c->a) {
        nb__only_text(out, rep, c->a ? c->a : c->b, c->a ? "policy" : "compared policy");
        return;
    }
    if (c->kinds & NB__CHANGE_BIT(NB__CHANGE_TIER))
        fprintf(out, "      tier: %s -> %s\n", nb_tier_name(c->a->tier), nb_tier_name(c->b->tier));
    if (c->kinds & NB__CHANGE_BIT(NB__CHANGE_RECIPIENTS)) {
        fputs("      recipients:", out);
        nb__roles_minus(out, '+', c->b, c->a);
        nb__roles_minus(out, '-', c->a, c->b);
        fputc('\n', out);
    }
    if (c->kinds & NB__CHANGE_BIT(NB__CHANGE_RESPOND_BY))
        fprintf(out, "      respond by: %s -> %s\n",
                nb_notify_format_time(c->a->respond_by, rep->zone, true, t, sizeof(t)),
                nb_notify_format_time(c->b->respond_by, rep->zone, true, u, sizeof(u)));
    if (c->kinds & NB__CHANGE_BIT(NB__CHANGE_LADDER))
        nb__ladder_text(out, rep, c);
    if (c->kinds & NB__CHANGE_BIT(NB__CHANGE_ESCALATIONS))
        fprintf(out, "      escalations sent: %u of %zu -> %u of %zu\n", c->a->escalations,
                c->a->n_rungs, c->b->escalations, c->b->n_rungs);
    if (c->kinds & NB__CHANGE_BIT(NB__CHANGE_WITHDRAWN)) {
        const nb__rnote_t *w = c->a->withdrawn_at != NB_TIME_NONE ? c->a : c->b;
        fprintf(out, "      withdrawn %s with the %s only\n",
                nb_notify_format_time(w->withdrawn_at, rep->zone, false, t, sizeof(t)),
                w == c->a ? "policy" : "compared policy");
    }
}

void nb__report_changes_text(FILE *out, const nb__report_t *rep)
{
    const nb__diff_t *d = rep->diff;
    size_t limit = rep->limit > 0 ? (size_t)rep->limit : 0, listed = 0;
    nb__rules_text(out, d);
    fprintf(out, "\nwhat changes for each child (policy -> compared policy; times %s):\n",
            nb_notify_zone_name(rep->zone));
    for (size_t k = 0; k < d->n;) {
        size_t end = k + 1;
        while (end < d->n && strcmp(d->v[end].key, d->v[k].key) == 0)
            end++;
        if (listed < limit) {
            fprintf(out, "  %s\n", d->v[k].who);
            for (size_t i = k; i < end && i - k < limit; i++)
                nb__decision_text(out, rep, &d->v[i]);
            if (end - k > limit)
                fprintf(out, "    ... and %zu more decision%s\n", end - k - limit,
                        end - k - limit == 1 ? "" : "s");
        }
        listed++;
        k = end;
    }
    if (listed > limit)
        fprintf(out, "  ... and %zu more child%s\n", listed - limit,
                listed - limit == 1 ? "" : "ren");
    fprintf(out, "%zu of %zu children change\n", d->children_changed, d->children_total);
}
