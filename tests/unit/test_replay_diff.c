/*
 * Unit tests of `notbrought replay --compare`'s core (src/cli/replay_notes.c and
 * src/cli/replay_diff.c): the notifications a run raised are kept by decision id and follow
 * their child through merges; two runs pair up by decision id; each kind of change (raised
 * under one policy only, tier, recipients, respond-by, ladder, escalations sent, withdrawn under
 * one only) is found on its own, roles are compared by id across two policies, and the totals
 * per kind, per rule and per child add up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/replay.h"

#define HOUR (3600 * 1000LL)
#define NONE SIZE_MAX

/* Two policies with the same rule and roles, the roles listed in another order (so that the
 * two runs' role pointers differ, as they always do); the second has one more rule. */
static const char pol_a_yaml[] =
    "policy: {name: a, version: '1', owner: tests, effective_from: 2025-01-01}\n"
    "roles:\n"
    "  - {id: hv, title: Health visitor, route: 'queue:hv'}\n"
    "  - {id: lead, title: Team leader, route: 'queue:lead'}\n"
    "  - {id: nurse, title: Named nurse, route: 'queue:nurse'}\n"
    "rules:\n"
    "  - id: any_wnb\n"
    "    title: Any WNB\n"
    "    source: test\n"
    "    match: {status: was_not_brought}\n"
    "    count: {at_least: 1, within_days: 28}\n"
    "    action: {tier: routine, to: [hv], do: See the child.}\n";
static const char pol_b_yaml[] =
    "policy: {name: b, version: '1', owner: tests, effective_from: 2025-01-01}\n"
    "roles:\n"
    "  - {id: nurse, title: Named nurse, route: 'queue:nurse'}\n"
    "  - {id: lead, title: Team leader, route: 'queue:lead'}\n"
    "  - {id: hv, title: Health visitor, route: 'queue:hv'}\n"
    "rules:\n"
    "  - id: any_wnb\n"
    "    title: Any WNB\n"
    "    source: test\n"
    "    match: {status: was_not_brought}\n"
    "    count: {at_least: 1, within_days: 28}\n"
    "    action: {tier: routine, to: [hv], do: See the child.}\n"
    "  - id: two_wnb\n"
    "    title: Two WNB\n"
    "    source: test\n"
    "    match: {status: was_not_brought}\n"
    "    count: {at_least: 2, within_days: 28}\n"
    "    action: {tier: priority, to: [lead], do: Review.}\n";

static nb_policy_t *load(const char *yaml)
{
    nb_policy_source_t src = {"p.yaml", yaml, strlen(yaml)};
    nb_policy_t *pol = NULL;
    char errstr[1024];
    if (nb_policy_load_buffers(&src, 1, NULL, NULL, &pol, errstr, sizeof(errstr)))
        fail_msg("load: %s", errstr);
    return pol;
}

static const nb_policy_role_t *role(const nb_policy_t *pol, const char *id)
{
    for (size_t i = 0; i < nb_policy_role_count(pol); i++)
        if (strcmp(nb_policy_role(pol, i)->id, id) == 0)
            return nb_policy_role(pol, i);
    fail_msg("no role %s", id);
    return NULL;
}

/* A decision of @p rule_id with id byte @p idb: routine, to the health visitor, respond by
 * 17:00 on 7 April 2025, one rung (the team leader a day later). */
static nb_policy_decision_t decision(const nb_policy_t *pol, const char *rule_id, uint8_t idb)
{
    nb_policy_decision_t d;
    memset(&d, 0, sizeof(d));
    d.id_bytes[0] = idb;
    nb_ledger_id_format(d.id_bytes, d.id);
    d.rule = nb_policy_rule_find(pol, rule_id);
    assert_non_null(d.rule);
    d.tier = d.base_tier = NB_TIER_ROUTINE;
    d.decided_at = 1743760800000LL;   /* 2025-04-04T10:00Z */
    d.respond_by = 1744041600000LL;   /* 2025-04-07T16:00Z */
    d.deadline = NB_TIME_NONE;
    d.n_recipients = 1;
    d.recipients[0] = role(pol, "hv");
    d.n_rungs = 1;
    d.rungs[0].due = d.respond_by + 24 * HOUR;
    d.rungs[0].tier = NB_TIER_PRIORITY;
    d.rungs[0].n_roles = 1;
    d.rungs[0].roles[0] = role(pol, "lead");
    return d;
}

typedef struct list_s {
    size_t head, tail;
} list_t;

static void raise_in(nb__notes_t *ns, const nb_policy_decision_t *d, list_t *l)
{
    assert_int_equal(nb__notes_raise(ns, d, d->decided_at, &l->head, &l->tail), 0);
}

/* Notes follow their decision (an escalation, a withdrawal, a raise after the withdrawal) and
 * their child (a merge moves them); the run's end sorts them by id. */
static void test_notes_follow_decision_and_child(void **state)
{
    (void)state;
    nb_policy_t *pol = load(pol_a_yaml);
    nb__notes_t ns;
    memset(&ns, 0, sizeof(ns));
    list_t c0 = {NONE, NONE}, c1 = {NONE, NONE};
    nb_policy_decision_t d3 = decision(pol, "any_wnb", 3), d1 = decision(pol, "any_wnb", 1),
                         d2 = decision(pol, "any_wnb", 2), d4 = decision(pol, "any_wnb", 4);
    d1.n_rungs = 2;
    d1.rungs[1] = d1.rungs[0];
    d1.rungs[1].due += 48 * HOUR;
    raise_in(&ns, &d3, &c1);
    raise_in(&ns, &d1, &c0);
    raise_in(&ns, &d2, &c1);
    nb__notes_escalated(&ns, d2.id, 1);
    nb__notes_withdrawn(&ns, d3.id, d3.decided_at + HOUR);
    nb__notes_withdrawn(&ns, d2.id, d2.decided_at + HOUR);
    d3.tier = NB_TIER_PRIORITY; /* raised again, and now says otherwise */
    raise_in(&ns, &d3, &c1);
    assert_int_equal(ns.n, 3); /* the same decision is one note */
    nb__notes_splice(&ns, &c1.head, &c1.tail, &c0.head, &c0.tail); /* child 1 merges into 0 */
    assert_int_equal(c1.head, NONE);
    raise_in(&ns, &d4, &c1); /* a new history under the old key */
    nb__notes_own(&ns, c0.head, 0);
    nb__notes_own(&ns, c1.head, 1);
    nb__notes_finish(&ns);
    assert_null(ns.by_id);
    assert_int_equal(ns.n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(ns.v[i].id[0], i + 1);
    assert_int_equal(ns.v[0].child, 0);
    assert_int_equal(ns.v[0].n_rungs, 2);
    assert_true(ns.rungs[ns.v[0].rung0 + 1].due == d1.rungs[1].due);
    assert_int_equal(ns.v[1].child, 0); /* moved with the merge */
    assert_int_equal(ns.v[1].escalations, 1);
    assert_true(ns.v[1].withdrawn_at == d2.decided_at + HOUR);
    assert_int_equal(ns.v[2].child, 0);
    assert_int_equal(ns.v[2].times_raised, 2);
    assert_true(ns.v[2].withdrawn_at == NB_TIME_NONE);
    assert_int_equal(ns.v[2].tier, NB_TIER_PRIORITY);
    assert_int_equal(ns.v[3].child, 1);
    assert_string_equal(ns.v[3].recipients[0]->id, "hv");
    nb__notes_free(&ns);
    nb_policy_destroy(pol);
}

/* One note each in two runs, from the same decision but for two policies. */
typedef struct pair_s {
    nb_policy_t *pa, *pb;
    nb__notes_t na, nb;
    nb_policy_decision_t da, db;
} pair_t;

static void pair_begin(pair_t *p)
{
    memset(p, 0, sizeof(*p));
    p->pa = load(pol_a_yaml);
    p->pb = load(pol_b_yaml);
    p->da = decision(p->pa, "any_wnb", 7);
    p->db = decision(p->pb, "any_wnb", 7);
}

/* The changes between the notes of the two decisions as raised (then edited by @p edit). */
static unsigned pair_changes(pair_t *p, void (*edit)(nb__rnote_t *a, nb__rnote_t *b))
{
    list_t la = {NONE, NONE}, lb = {NONE, NONE};
    raise_in(&p->na, &p->da, &la);
    raise_in(&p->nb, &p->db, &lb);
    if (edit)
        edit(&p->na.v[0], &p->nb.v[0]);
    unsigned k = nb__replay_note_changes(&p->na, &p->na.v[0], &p->nb, &p->nb.v[0]);
    nb__notes_free(&p->na);
    nb__notes_free(&p->nb);
    return k;
}

static void pair_end(pair_t *p)
{
    nb_policy_destroy(p->pa);
    nb_policy_destroy(p->pb);
}

static void escalated_more(nb__rnote_t *a, nb__rnote_t *b)
{
    (void)a;
    b->escalations = 1;
}

static void withdrawn_in_a(nb__rnote_t *a, nb__rnote_t *b)
{
    (void)b;
    a->withdrawn_at = a->raised_at + HOUR;
}

static void withdrawn_in_both(nb__rnote_t *a, nb__rnote_t *b)
{
    a->withdrawn_at = a->raised_at + HOUR;
    b->withdrawn_at = b->raised_at + 2 * HOUR;
}

#define BIT(k) NB__CHANGE_BIT(NB__CHANGE_##k)

/* Each kind of change is found, on its own; roles of two policies compare by id. */
static void test_each_kind_of_change(void **state)
{
    (void)state;
    pair_t p;
    pair_begin(&p);
    assert_int_equal(pair_changes(&p, NULL), 0);

    p.db.tier = NB_TIER_PRIORITY;
    assert_int_equal(pair_changes(&p, NULL), BIT(TIER));
    p.db.tier = p.da.tier;

    p.da.n_recipients = 2; /* the same two roles, in another order: no change */
    p.da.recipients[1] = role(p.pa, "nurse");
    p.db.n_recipients = 2;
    p.db.recipients[0] = role(p.pb, "nurse");
    p.db.recipients[1] = role(p.pb, "hv");
    assert_int_equal(pair_changes(&p, NULL), 0);
    p.db.recipients[1] = role(p.pb, "lead"); /* hv removed, lead added */
    assert_int_equal(pair_changes(&p, NULL), BIT(RECIPIENTS));
    p.db.n_recipients = 1; /* nurse removed */
    p.db.recipients[0] = role(p.pb, "hv");
    assert_int_equal(pair_changes(&p, NULL), BIT(RECIPIENTS));
    p.da.n_recipients = 1;

    p.db.respond_by -= 48 * HOUR; /* the rung stays where it was: respond-by only */
    assert_int_equal(pair_changes(&p, NULL), BIT(RESPOND_BY));
    p.db.respond_by = NB_TIME_NONE;
    assert_int_equal(pair_changes(&p, NULL), BIT(RESPOND_BY));
    p.db.respond_by = p.da.respond_by;

    p.db.rungs[0].due += HOUR;
    assert_int_equal(pair_changes(&p, NULL), BIT(LADDER));
    p.db.rungs[0].due = p.da.rungs[0].due;
    p.db.rungs[0].roles[0] = role(p.pb, "nurse");
    assert_int_equal(pair_changes(&p, NULL), BIT(LADDER));
    p.db.rungs[0].roles[0] = role(p.pb, "lead");
    p.db.rungs[0].tier = NB_TIER_URGENT;
    assert_int_equal(pair_changes(&p, NULL), BIT(LADDER));
    p.db.rungs[0].tier = p.da.rungs[0].tier;
    p.db.n_rungs = 2;
    p.db.rungs[1] = p.db.rungs[0];
    assert_int_equal(pair_changes(&p, NULL), BIT(LADDER));
    p.db.n_rungs = 1;

    assert_int_equal(pair_changes(&p, escalated_more), BIT(ESCALATIONS));
    assert_int_equal(pair_changes(&p, withdrawn_in_a), BIT(WITHDRAWN));
    assert_int_equal(pair_changes(&p, withdrawn_in_both), 0);

    /* Several at once; and raised under one policy only. */
    p.db.tier = NB_TIER_PRIORITY;
    p.db.respond_by += HOUR;
    assert_int_equal(pair_changes(&p, NULL), BIT(TIER) | BIT(RESPOND_BY));
    list_t l = {NONE, NONE};
    raise_in(&p.na, &p.da, &l);
    assert_int_equal(nb__replay_note_changes(&p.na, &p.na.v[0], &p.nb, NULL), BIT(ONLY_POLICY));
    assert_int_equal(nb__replay_note_changes(&p.nb, NULL, &p.na, &p.na.v[0]), BIT(ONLY_COMPARE));
    nb__notes_free(&p.na);
    pair_end(&p);
}

/* An outcome of a run with the children @p keys (sorted), each shown as "child KEY". */
static void outcome(nb__outcome_t *o, nb_policy_t *pol, const char *const *keys, size_t n)
{
    memset(o, 0, sizeof(*o));
    o->pol = pol;
    o->n_rules = nb_policy_rule_count(pol);
    o->n_children = n;
    o->keys = calloc(n + 1, sizeof(*o->keys));
    o->who = calloc(n + 1, sizeof(*o->who));
    assert_non_null(o->keys);
    assert_non_null(o->who);
    for (size_t i = 0; i < n; i++) {
        snprintf(o->keys[i], sizeof(o->keys[i]), "%s", keys[i]);
        snprintf(o->who[i], sizeof(o->who[i]), "child %s", keys[i]);
    }
}

/* Raises @p d for child @p child of @p o. */
static void raise_for(nb__outcome_t *o, const nb_policy_decision_t *d, size_t child)
{
    list_t l = {NONE, NONE};
    raise_in(&o->notes, d, &l);
    nb__notes_own(&o->notes, l.head, child);
}

/* Two runs pair by decision id: a decision raised in both with other recipients, one the same
 * in both, one only under the policy, one (of a rule the policy lacks) only under the compared
 * one; ordered by child; totals per kind, per rule, and children. */
static void test_runs_pair_by_decision_id(void **state)
{
    (void)state;
    static const char *const ka[] = {"k1", "k2"}, *const kb[] = {"k2", "k3"};
    nb__outcome_t a, b;
    nb_policy_t *pa = load(pol_a_yaml), *pb = load(pol_b_yaml);
    outcome(&a, pa, ka, 2);
    outcome(&b, pb, kb, 2);
    nb_policy_decision_t d;
    d = decision(pa, "any_wnb", 1);
    raise_for(&a, &d, 0); /* k1: only under the policy */
    d = decision(pa, "any_wnb", 3);
    raise_for(&a, &d, 1); /* k2: the same in both */
    d = decision(pb, "any_wnb", 3);
    raise_for(&b, &d, 0);
    d = decision(pa, "any_wnb", 2);
    raise_for(&a, &d, 1); /* k2: other recipients */
    d = decision(pb, "any_wnb", 2);
    d.recipients[0] = role(pb, "lead");
    raise_for(&b, &d, 0);
    d = decision(pb, "two_wnb", 4);
    raise_for(&b, &d, 1); /* k3: a rule only the compared policy has */
    nb__notes_finish(&a.notes);
    nb__notes_finish(&b.notes);

    nb__diff_t diff;
    assert_int_equal(nb__replay_diff(&a, &b, &diff), 0);
    assert_int_equal(diff.in_a, 3);
    assert_int_equal(diff.in_b, 3);
    assert_int_equal(diff.in_both, 2);
    assert_int_equal(diff.n, 3);
    assert_string_equal(diff.v[0].key, "k1");
    assert_string_equal(diff.v[0].who, "child k1");
    assert_int_equal(diff.v[0].kinds, BIT(ONLY_POLICY));
    assert_null(diff.v[0].b);
    assert_string_equal(diff.v[1].key, "k2");
    assert_int_equal(diff.v[1].kinds, BIT(RECIPIENTS));
    assert_int_equal(diff.v[1].a->id[0], 2);
    assert_int_equal(diff.v[1].b->id[0], 2);
    assert_string_equal(diff.v[2].who, "child k3");
    assert_int_equal(diff.v[2].kinds, BIT(ONLY_COMPARE));
    assert_null(diff.v[2].a);
    assert_int_equal(diff.by_kind[NB__CHANGE_ONLY_POLICY], 1);
    assert_int_equal(diff.by_kind[NB__CHANGE_ONLY_COMPARE], 1);
    assert_int_equal(diff.by_kind[NB__CHANGE_RECIPIENTS], 1);
    assert_int_equal(diff.by_kind[NB__CHANGE_TIER], 0);
    assert_int_equal(diff.n_rules, 2);
    assert_string_equal(diff.rules[0].rule, "any_wnb");
    assert_int_equal(diff.rules[0].changed, 2);
    assert_int_equal(diff.rules[0].by_kind[NB__CHANGE_RECIPIENTS], 1);
    assert_string_equal(diff.rules[1].rule, "two_wnb");
    assert_int_equal(diff.rules[1].changed, 1);
    assert_int_equal(diff.rules[1].by_kind[NB__CHANGE_ONLY_COMPARE], 1);
    assert_int_equal(diff.children_changed, 3);
    assert_int_equal(diff.children_total, 3);
    nb__replay_diff_free(&diff);

    /* A run against itself: every decision pairs, nothing differs. */
    assert_int_equal(nb__replay_diff(&b, &b, &diff), 0);
    assert_int_equal(diff.n, 0);
    assert_int_equal(diff.in_both, 3);
    assert_int_equal(diff.children_changed, 0);
    assert_int_equal(diff.children_total, 2);
    nb__replay_diff_free(&diff);

    nb__replay_outcome_free(&a);
    nb__replay_outcome_free(&b);
    nb_policy_destroy(pa);
    nb_policy_destroy(pb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notes_follow_decision_and_child),
        cmocka_unit_test(test_each_kind_of_change),
        cmocka_unit_test(test_runs_pair_by_decision_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
