/*
 * notbrought replay: what a policy change does to each decision (see replay.h).
 *
 * Two runs over the same items raise notifications under the same decision ids wherever the
 * two policies make the same decision (same child, rule and evidence: the id is SHA-256 over
 * the child key, the rule id and the evidence fingerprint, none of which a policy's tiers,
 * recipients or response times touch). Both runs' notes are sorted by id, so one merge pairs
 * them; each pair, and each id raised under one policy only, is compared here. Pure.
 */
#include "cli/replay.h"

#include <stdlib.h>
#include <string.h>

static const char *const nb__change_names[NB__CHANGE__COUNT] = {
    "only_policy", "only_compare", "tier",        "recipients",
    "respond_by",  "ladder",       "escalations", "withdrawn",
};

const char *nb__change_name(nb__change_kind_t k)
{
    return k < NB__CHANGE__COUNT ? nb__change_names[k] : "?";
}

/* The same roles, in any order (a decision names each role once). */
static bool nb__same_roles(const nb_policy_role_t *const *x, size_t nx,
                           const nb_policy_role_t *const *y, size_t ny)
{
    if (nx != ny)
        return false;
    for (size_t i = 0; i < nx; i++) {
        bool found = false;
        for (size_t j = 0; j < ny && !found; j++)
            found = strcmp(x[i]->id, y[j]->id) == 0;
        if (!found)
            return false;
    }
    return true;
}

bool nb__replay_same_rung(const nb__rrung_t *x, const nb__rrung_t *y)
{
    return x->due == y->due && x->tier == y->tier &&
           nb__same_roles(x->roles, x->n_roles, y->roles, y->n_roles);
}

static bool nb__same_ladder(const nb__notes_t *na, const nb__rnote_t *a, const nb__notes_t *nb_,
                            const nb__rnote_t *b)
{
    if (a->n_rungs != b->n_rungs)
        return false;
    for (size_t i = 0; i < a->n_rungs; i++)
        if (!nb__replay_same_rung(&na->rungs[a->rung0 + i], &nb_->rungs[b->rung0 + i]))
            return false;
    return true;
}

unsigned nb__replay_note_changes(const nb__notes_t *na, const nb__rnote_t *a,
                                 const nb__notes_t *nb_, const nb__rnote_t *b)
{
    if (!a && !b)
        return 0;
    if (!b)
        return NB__CHANGE_BIT(NB__CHANGE_ONLY_POLICY);
    if (!a)
        return NB__CHANGE_BIT(NB__CHANGE_ONLY_COMPARE);
    unsigned k = 0;
    if (a->tier != b->tier)
        k |= NB__CHANGE_BIT(NB__CHANGE_TIER);
    if (!nb__same_roles(a->recipients, a->n_recipients, b->recipients, b->n_recipients))
        k |= NB__CHANGE_BIT(NB__CHANGE_RECIPIENTS);
    if (a->respond_by != b->respond_by)
        k |= NB__CHANGE_BIT(NB__CHANGE_RESPOND_BY);
    if (!nb__same_ladder(na, a, nb_, b))
        k |= NB__CHANGE_BIT(NB__CHANGE_LADDER);
    if (a->escalations != b->escalations)
        k |= NB__CHANGE_BIT(NB__CHANGE_ESCALATIONS);
    if ((a->withdrawn_at == NB_TIME_NONE) != (b->withdrawn_at == NB_TIME_NONE))
        k |= NB__CHANGE_BIT(NB__CHANGE_WITHDRAWN);
    return k;
}

static const nb__rnote_t *nb__either(const nb__change_t *c)
{
    return c->a ? c->a : c->b;
}

/* By child (those with no history left last), rule, when raised, id. */
static int nb__cmp_change(const void *x, const void *y)
{
    const nb__change_t *p = x, *q = y;
    const nb__rnote_t *m = nb__either(p), *n = nb__either(q);
    int c;
    if (!p->key[0] != !q->key[0])
        return p->key[0] ? -1 : 1;
    if ((c = strcmp(p->key, q->key)) != 0 || (c = strcmp(m->rule->id, n->rule->id)) != 0)
        return c;
    if (m->raised_at != n->raised_at)
        return m->raised_at < n->raised_at ? -1 : 1;
    return memcmp(m->id, n->id, NB_LEDGER_ID_BYTES);
}

/* The rules of a, then those only b has. @returns 0, or -1 when out of memory. */
static int nb__rules(nb__diff_t *d, const nb__outcome_t *a, const nb__outcome_t *b)
{
    size_t na = nb_policy_rule_count(a->pol), nbr = nb_policy_rule_count(b->pol);
    d->rules = calloc(na + nbr + 1, sizeof(*d->rules));
    if (!d->rules)
        return -1;
    for (size_t k = 0; k < na; k++)
        d->rules[d->n_rules++].rule = nb_policy_rule(a->pol, k)->id;
    for (size_t k = 0; k < nbr; k++) {
        const nb_policy_rule_info_t *r = nb_policy_rule(b->pol, k);
        if (!nb_policy_rule_find(a->pol, r->id))
            d->rules[d->n_rules++].rule = r->id;
    }
    return 0;
}

static nb__rule_changes_t *nb__rule_of(nb__diff_t *d, const char *id)
{
    for (size_t k = 0; k < d->n_rules; k++)
        if (strcmp(d->rules[k].rule, id) == 0)
            return &d->rules[k];
    return NULL;
}

/* Records one decision that differs, and counts it. */
static void nb__add(nb__diff_t *d, const nb__outcome_t *oa, const nb__rnote_t *a,
                    const nb__outcome_t *ob, const nb__rnote_t *b, unsigned kinds)
{
    nb__change_t *c = &d->v[d->n++];
    const nb__outcome_t *o = a ? oa : ob;
    const nb__rnote_t *n = a ? a : b;
    c->a = a;
    c->b = b;
    c->kinds = kinds;
    c->key = n->child < o->n_children ? o->keys[n->child] : "";
    c->who = n->child < o->n_children ? o->who[n->child] : "a child with no history left";
    nb__rule_changes_t *rc = nb__rule_of(d, n->rule->id);
    for (int k = 0; k < NB__CHANGE__COUNT; k++) {
        if (!(kinds & NB__CHANGE_BIT(k)))
            continue;
        d->by_kind[k]++;
        if (rc)
            rc->by_kind[k]++;
    }
    if (rc)
        rc->changed++;
}

/* Children in either run: a merge of the two sorted key lists. */
static size_t nb__children_total(const nb__outcome_t *a, const nb__outcome_t *b)
{
    size_t i = 0, j = 0, n = 0;
    while (i < a->n_children || j < b->n_children) {
        int c = i == a->n_children   ? 1
                : j == b->n_children ? -1
                                     : strcmp(a->keys[i], b->keys[j]);
        i += c <= 0;
        j += c >= 0;
        n++;
    }
    return n;
}

int nb__replay_diff(const nb__outcome_t *a, const nb__outcome_t *b, nb__diff_t *d)
{
    const nb__notes_t *na = &a->notes, *nb_ = &b->notes;
    memset(d, 0, sizeof(*d));
    d->v = calloc(na->n + nb_->n + 1, sizeof(*d->v));
    if (!d->v || nb__rules(d, a, b)) {
        nb__replay_diff_free(d);
        return -1;
    }
    d->in_a = na->n;
    d->in_b = nb_->n;
    size_t i = 0, j = 0;
    while (i < na->n || j < nb_->n) {
        int c = i == na->n    ? 1
                : j == nb_->n ? -1
                              : memcmp(na->v[i].id, nb_->v[j].id, NB_LEDGER_ID_BYTES);
        const nb__rnote_t *x = c <= 0 ? &na->v[i++] : NULL;
        const nb__rnote_t *y = c >= 0 ? &nb_->v[j++] : NULL;
        d->in_both += x && y;
        unsigned kinds = nb__replay_note_changes(na, x, nb_, y);
        if (kinds)
            nb__add(d, a, x, b, y, kinds);
    }
    if (d->n)
        qsort(d->v, d->n, sizeof(*d->v), nb__cmp_change);
    for (size_t k = 0; k < d->n; k++)
        if (d->v[k].key[0] && (k == 0 || strcmp(d->v[k].key, d->v[k - 1].key) != 0))
            d->children_changed++;
    d->children_total = nb__children_total(a, b);
    return 0;
}

void nb__replay_diff_free(nb__diff_t *d)
{
    free(d->v);
    free(d->rules);
    memset(d, 0, sizeof(*d));
}
