/*
 * Unit tests of issue 20, items 2 (rest), 4, 5 and 6 in the policy module: overlapping rules
 * give a nurse one thing to act on ('overlaps'), a notification a modifier moves to another
 * tier follows that tier's ladder ('tiers: {urgent: {escalation: ...}}'), 16-17 year olds are
 * presumed self-managing from the age the policy gives (defaults.self_managing_from_age), and
 * a raised notification knows everyone it reached (modifiers' roles and the rungs reached), so
 * a withdrawal reaches them too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/ledger.h"
#include "notbrought/policy.h"

#define HOUR (3600 * 1000LL)

static int64_t T(const char *s)
{
    int64_t ms = 0;
    if (!nb_parse_time(s, &ms))
        fail_msg("bad time %s", s);
    return ms;
}

static int32_t D(const char *s)
{
    int32_t d = 0;
    if (!nb_parse_date(s, &d))
        fail_msg("bad date %s", s);
    return d;
}

typedef struct diags_s {
    int errors;
    char text[8192];
    size_t len;
} diags_t;

static void keep(void *opaque, const nb_policy_diag_t *d)
{
    diags_t *k = opaque;
    int n = snprintf(k->text + k->len, sizeof(k->text) - k->len, "%s:%d:%d: %s\n", d->file,
                     d->line, d->column, d->message);
    if (n > 0 && (size_t)n < sizeof(k->text) - k->len)
        k->len += (size_t)n;
    if (!d->warning)
        k->errors++;
}

static const char head[] =
    "policy: {name: t, version: '1', owner: tests, effective_from: 2025-01-01}\n"
    "calendar:\n"
    "  name: test\n"
    "  years: {from: 2025, to: 2025}\n"
    "  holidays:\n"
    "    - {date: 2025-12-25, name: Christmas Day}\n"
    "roles:\n"
    "  - {id: hv, title: Health visitor, route: 'queue:hv'}\n"
    "  - {id: lead, title: Team leader, route: 'queue:lead'}\n"
    "  - {id: nurse, title: Named nurse, route: 'queue:nurse'}\n"
    "  - {id: sw, title: Social worker, route: 'queue:sw'}\n";

static nb_policy_t *load(const char *body, diags_t *k, nb_err_t *err)
{
    size_t n = strlen(head) + strlen(body) + 1;
    char *text = malloc(n);
    snprintf(text, n, "%s%s", head, body);
    nb_policy_source_t src = {"p.yaml", text, strlen(text)};
    nb_policy_t *pol = NULL;
    char errstr[1024];
    memset(k, 0, sizeof(*k));
    *err = nb_policy_load_buffers(&src, 1, keep, k, &pol, errstr, sizeof(errstr));
    free(text);
    return pol;
}

static nb_policy_t *load_ok(const char *body)
{
    diags_t k;
    nb_err_t err;
    nb_policy_t *pol = load(body, &k, &err);
    if (err || !pol)
        fail_msg("load failed (%s):\n%s", nb_err_name(err), k.text);
    return pol;
}

static void refused(const char *body, const char *want)
{
    diags_t k;
    nb_err_t err;
    nb_policy_t *pol = load(body, &k, &err);
    if (pol || !err || !strstr(k.text, want)) {
        nb_policy_destroy(pol);
        fail_msg("got %s:\n%s\nwanted a refusal with: %s", nb_err_name(err), k.text, want);
    }
}

/* ---- a child ----------------------------------------------------------------------------- */

typedef struct kid_s {
    nb_ledger_dict_t *dict;
    nb_ledger_t *led;
    nb_policy_result_t *res;
} kid_t;

static void kid_new(kid_t *k, const char *dob)
{
    k->dict = nb_ledger_dict_new();
    k->led = nb_ledger_new(k->dict);
    k->res = nb_policy_result_new();
    nb_ledger_set_dates(k->led, D(dob), NB_DATE_NONE);
}

static void kid_free(kid_t *k)
{
    nb_ledger_destroy(k->led);
    nb_ledger_dict_destroy(k->dict);
    nb_policy_result_destroy(k->res);
}

static void kid_ev_v(kid_t *k, const char *id, const char *at, nb_status_t st, int version)
{
    nb_appointment_event_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.appointment_id, sizeof(e.appointment_id), "%s", id);
    snprintf(e.event_id, sizeof(e.event_id), "%s-%d", id, version);
    snprintf(e.appointment_type, sizeof(e.appointment_type), "consultation");
    e.source.agency = NB_AGENCY_HEALTH_VISITING;
    e.subject_kind = NB_SUBJECT_CHILD;
    e.contact_mode = NB_CONTACT_FACE_TO_FACE;
    e.scheduled_start = T(at);
    e.recorded_at = T(at);
    e.status = st;
    e.version = version;
    e.date_of_birth = NB_DATE_NONE;
    e.expected_delivery_date = NB_DATE_NONE;
    assert_int_equal(nb_ledger_apply(k->led, &e, NULL), NB_ERR_OK);
}

static void kid_ev(kid_t *k, const char *id, const char *at, nb_status_t st)
{
    kid_ev_v(k, id, at, st, 1);
}

static void kid_fact(kid_t *k, nb_fact_kind_t kind, const char *start)
{
    nb_context_fact_t f;
    memset(&f, 0, sizeof(f));
    snprintf(f.event_id, sizeof(f.event_id), "fact-1");
    f.kind = kind;
    f.start_date = D(start);
    f.end_date = NB_DATE_NONE;
    f.status = NB_FACT_STATUS_CURRENT;
    f.recorded_at = T("2025-01-01T00:00Z");
    f.version = 1;
    assert_int_equal(nb_ledger_apply_fact(k->led, &f, NULL), NB_ERR_OK);
}

static void eval(const nb_policy_t *pol, kid_t *k, const char *now)
{
    nb_policy_subject_t s = {"child-key-1", NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    assert_int_equal(nb_policy_evaluate(pol, k->led, &s, T(now), k->res), NB_ERR_OK);
}

static const nb_policy_decision_t *decision(kid_t *k, const char *rule)
{
    size_t n;
    const nb_policy_decision_t *d = nb_policy_result_decisions(k->res, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].rule->id, rule) == 0)
            return &d[i];
    return NULL;
}

/* Records the NEW decisions as raised, as the notify module does. */
static void raise_new(kid_t *k)
{
    size_t n;
    const nb_policy_decision_t *d = nb_policy_result_decisions(k->res, &n);
    nb_ledger_raised_t r[NB_POLICY_MAX_DECISIONS];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (d[i].state == NB_POLICY_NEW && !d[i].shadow)
            nb_policy_decision_to_raised(&d[i], &r[m++]);
    for (size_t i = 0; i < m; i++)
        assert_int_equal(nb_ledger_add_raised(k->led, &r[i]), NB_ERR_OK);
}

static bool has_role(const nb_policy_role_t *const *roles, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(roles[i]->id, id) == 0)
            return true;
    return false;
}

/* Two rules about one missed contact: the miss itself (to the health visitor), and a wider one
 * (to the health visitor and the team leader). */
static const char two_rules[] =
    "rules:\n"
    "  - id: missed\n"
    "    title: Missed contact\n"
    "    source: test\n"
    "    match: {status: was_not_brought}\n"
    "    count: {at_least: 1, within_days: 28}\n"
    "    action: {tier: priority, to: [hv], do: See the child., respond_within: {hours: 24}}\n"
    "  - id: missed_too\n"
    "    title: Missed contact, wider\n"
    "    source: test\n"
    "    match: {status: was_not_brought}\n"
    "    count: {at_least: 1, within_days: 28}\n"
    "    action: {tier: priority, to: [%s], do: Make sure the child is seen., "
    "respond_within: {hours: 24}}\n"
    "%s";

static nb_policy_t *two(const char *to, const char *rest)
{
    char body[4096];
    snprintf(body, sizeof(body), two_rules, to, rest);
    return load_ok(body);
}

/* ---- overlaps ---------------------------------------------------------------------------- */

/* Without a group both notify the health visitor; with one, the second leaves her out and
 * names the first; with nobody left it is suppressed and points at the first. */
static void test_overlap_leaves_out_whoever_was_told(void **state)
{
    (void)state;
    const char *group = "overlaps:\n"
                        "  - {id: one_miss, title: One miss, rules: [missed, missed_too]}\n";
    kid_t k;
    kid_new(&k, "2024-06-01");
    kid_ev(&k, "a1", "2025-03-03T10:00Z", NB_STATUS_WAS_NOT_BROUGHT);

    nb_policy_t *pol = two("hv, lead", "");
    eval(pol, &k, "2025-03-03T12:00Z");
    assert_int_equal(decision(&k, "missed_too")->n_recipients, 2);
    assert_null(decision(&k, "missed_too")->covered_by_rule);
    nb_policy_destroy(pol);

    pol = two("hv, lead", group);
    eval(pol, &k, "2025-03-03T12:00Z");
    const nb_policy_decision_t *a = decision(&k, "missed"), *b = decision(&k, "missed_too");
    assert_int_equal(a->state, NB_POLICY_NEW);
    assert_int_equal(b->state, NB_POLICY_NEW);
    assert_int_equal(b->n_recipients, 1);
    assert_string_equal(b->recipients[0]->id, "lead");
    assert_int_equal(b->n_covered, 1);
    assert_string_equal(b->covered[0]->id, "hv");
    assert_string_equal(b->covered_by_rule->id, "missed");
    assert_string_equal(b->covered_by, a->id);
    nb_policy_destroy(pol);

    pol = two("hv", group);
    eval(pol, &k, "2025-03-03T12:00Z");
    a = decision(&k, "missed");
    b = decision(&k, "missed_too");
    assert_int_equal(b->state, NB_POLICY_SUPPRESSED);
    assert_int_equal(b->n_recipients, 0);
    assert_string_equal(b->related, a->id);
    nb_policy_destroy(pol);
    kid_free(&k);
}

/* The first rule listed takes precedence when both fire together, whatever the rule order. */
static void test_overlap_precedence_is_the_group_order(void **state)
{
    (void)state;
    nb_policy_t *pol = two("hv", "overlaps:\n"
                                 "  - {id: g, title: G, rules: [missed_too, missed]}\n");
    kid_t k;
    kid_new(&k, "2024-06-01");
    kid_ev(&k, "a1", "2025-03-03T10:00Z", NB_STATUS_WAS_NOT_BROUGHT);
    eval(pol, &k, "2025-03-03T12:00Z");
    assert_int_equal(decision(&k, "missed_too")->state, NB_POLICY_NEW);
    assert_int_equal(decision(&k, "missed")->state, NB_POLICY_SUPPRESSED);
    assert_string_equal(decision(&k, "missed")->covered_by_rule->id, "missed_too");
    nb_policy_destroy(pol);
    kid_free(&k);
}

/* An open notification covers while it is raised within the group's time; after it, or once
 * it is withdrawn, the other rule notifies in full. A rule never covers itself. */
static void test_overlap_covers_while_open(void **state)
{
    (void)state;
    nb_policy_t *pol = two("hv", "overlaps:\n"
                                 "  - {id: g, title: G, rules: [missed, missed_too], "
                                 "within_days: 7}\n");
    kid_t k;
    kid_new(&k, "2024-06-01");
    kid_ev(&k, "a1", "2025-03-03T10:00Z", NB_STATUS_WAS_NOT_BROUGHT);
    eval(pol, &k, "2025-03-03T12:00Z");
    raise_new(&k); /* 'missed' raised; 'missed_too' suppressed */
    eval(pol, &k, "2025-03-05T12:00Z");
    assert_int_equal(decision(&k, "missed")->state, NB_POLICY_RAISED);
    assert_int_equal(decision(&k, "missed_too")->state, NB_POLICY_SUPPRESSED);
    /* 8 days on: 'missed' no longer covers. */
    eval(pol, &k, "2025-03-11T12:00Z");
    assert_int_equal(decision(&k, "missed_too")->state, NB_POLICY_NEW);
    assert_int_equal(decision(&k, "missed_too")->n_recipients, 1);
    assert_null(decision(&k, "missed_too")->covered_by_rule);
    /* The contact is corrected to attended: 'missed' is withdrawn and covers nothing. */
    kid_ev_v(&k, "a1", "2025-03-03T10:00Z", NB_STATUS_ATTENDED, 2);
    eval(pol, &k, "2025-03-05T12:00Z");
    assert_null(decision(&k, "missed_too"));
    size_t nr;
    const nb_policy_raised_status_t *rs = nb_policy_result_raised(k.res, &nr);
    assert_int_equal(nr, 1);
    assert_int_equal(rs[0].support, NB_POLICY_WITHDRAWN);
    nb_policy_destroy(pol);
    kid_free(&k);
}

/* A notification raised to fewer recipients because the group had told the others is, later,
 * known to have reached only them: its withdrawal goes to them, not to every role of its rule. */
static void test_withdrawal_reaches_those_it_was_sent_to(void **state)
{
    (void)state;
    nb_policy_t *pol = two("hv, lead", "overlaps:\n"
                                       "  - {id: g, title: G, rules: [missed, missed_too]}\n");
    kid_t k;
    kid_new(&k, "2024-06-01");
    kid_ev(&k, "a1", "2025-03-03T10:00Z", NB_STATUS_WAS_NOT_BROUGHT);
    eval(pol, &k, "2025-03-03T12:00Z");
    raise_new(&k);
    kid_ev_v(&k, "a1", "2025-03-03T10:00Z", NB_STATUS_ATTENDED, 2);
    eval(pol, &k, "2025-03-04T12:00Z");
    size_t nr;
    const nb_policy_raised_status_t *rs = nb_policy_result_raised(k.res, &nr);
    assert_int_equal(nr, 2);
    for (size_t i = 0; i < nr; i++) {
        assert_int_equal(rs[i].support, NB_POLICY_WITHDRAWN);
        assert_int_equal(rs[i].n_recipients, 1);
        assert_string_equal(rs[i].recipients[0]->id,
                            strcmp(rs[i].rule->id, "missed") == 0 ? "hv" : "lead");
    }
    nb_policy_destroy(pol);
    kid_free(&k);
}

/* A rule may be in several groups (a child on a plan's rule beside the health visiting and
 * the antenatal ones); it covers in each. */
static void test_a_rule_in_two_groups(void **state)
{
    (void)state;
    nb_policy_t *pol = two("hv, lead", "  - id: third\n"
                                       "    title: Third\n"
                                       "    source: test\n"
                                       "    match: {status: was_not_brought}\n"
                                       "    count: {at_least: 1, within_days: 28}\n"
                                       "    action: {tier: routine, to: [lead, nurse], do: Look.}\n"
                                       "overlaps:\n"
                                       "  - {id: g, title: G, rules: [missed, missed_too]}\n"
                                       "  - {id: h, title: H, rules: [missed, third]}\n");
    kid_t k;
    kid_new(&k, "2024-06-01");
    kid_ev(&k, "a1", "2025-03-03T10:00Z", NB_STATUS_WAS_NOT_BROUGHT);
    eval(pol, &k, "2025-03-03T12:00Z");
    /* 'missed' (hv) covers hv in both groups; 'third' keeps lead and nurse (hv is not its). */
    assert_int_equal(decision(&k, "missed_too")->n_recipients, 1);
    assert_int_equal(decision(&k, "third")->n_recipients, 2);
    assert_null(decision(&k, "third")->covered_by_rule);
    nb_policy_destroy(pol);
    kid_free(&k);
}

static void test_overlap_refusals(void **state)
{
    (void)state;
    char body[4096];
    snprintf(body, sizeof(body), two_rules, "hv",
             "overlaps:\n  - {id: g, title: G, rules: [missed, missd]}\n");
    refused(body, "overlap 'g' names unknown rule 'missd'");
    snprintf(body, sizeof(body), two_rules, "hv",
             "overlaps:\n  - {id: g, title: G, rules: [missed, missed_too, missed]}\n");
    refused(body, "overlap 'g' names rule 'missed' twice");
    snprintf(body, sizeof(body), two_rules, "hv",
             "overlaps:\n  - {id: g, title: G, rules: [missed]}\n");
    refused(body, "overlap 'g' needs at least two rules");
}

/* ---- a raised tier follows its tier's ladder --------------------------------------------- */

static const char tiered[] =
    "tiers:\n"
    "  urgent: {respond_within: {same_day: true}, escalation: %s}\n"
    "ladders:\n"
    "  - id: fast\n"
    "    title: Fast\n"
    "    rungs:\n"
    "      - {after_hours: 4, %s, to: [nurse], tier: urgent}\n"
    "  - id: slow\n"
    "    title: Slow\n"
    "    rungs:\n"
    "      - {after_hours: 24, from: respond_by, to: [lead], tier: priority}\n"
    "rules:\n"
    "  - id: missed\n"
    "    title: Missed contact\n"
    "    source: test\n"
    "    match: {status: was_not_brought}\n"
    "    count: {at_least: 1, within_days: 28}\n"
    "    action: {tier: routine, to: [hv], do: See the child., respond_within: {working_days: 5},"
    " escalation: slow}\n"
    "modifiers:\n"
    "  - id: on_plan\n"
    "    title: On a plan\n"
    "    source: test\n"
    "    subject: {facts: {any: [child_protection_plan]}}\n"
    "    tier: urgent\n"
    "    add_to: [sw]\n";

static void test_raised_tier_follows_its_ladder(void **state)
{
    (void)state;
    char body[4096];
    snprintf(body, sizeof(body), tiered, "fast", "early: true");
    nb_policy_t *pol = load_ok(body);
    kid_t k;
    kid_new(&k, "2024-06-01");
    kid_ev(&k, "a1", "2025-03-03T10:00Z", NB_STATUS_WAS_NOT_BROUGHT);
    /* Not on a plan: routine, the rule's ladder, a day after the response was due. */
    eval(pol, &k, "2025-03-03T12:00Z");
    const nb_policy_decision_t *d = decision(&k, "missed");
    assert_int_equal(d->tier, NB_TIER_ROUTINE);
    assert_false(d->ladder_of_tier);
    assert_int_equal(d->n_rungs, 1);
    assert_int_equal(d->rungs[0].due, d->respond_by + 24 * HOUR);
    /* On a plan: urgent, same day, and the urgent ladder: the named nurse within 4 hours. */
    kid_fact(&k, NB_FACT_CHILD_PROTECTION_PLAN, "2025-01-01");
    eval(pol, &k, "2025-03-03T12:00Z");
    d = decision(&k, "missed");
    assert_int_equal(d->tier, NB_TIER_URGENT);
    assert_true(d->ladder_of_tier);
    assert_int_equal(d->respond_by, T("2025-03-04T00:00Z") - 1); /* the end of the day */
    assert_int_equal(d->n_rungs, 1);
    assert_int_equal(d->rungs[0].due, T("2025-03-03T16:00Z"));
    assert_string_equal(d->rungs[0].roles[0]->id, "nurse");

    /* Raised and escalated once: it reached the health visitor, the social worker the modifier
     * added, and the nurse of the urgent ladder; a withdrawal tells them all. */
    raise_new(&k);
    size_t nr;
    const nb_ledger_raised_t *r = nb_ledger_raised(k.led, &nr);
    assert_int_equal(nr, 1);
    nb_ledger_raised_t up = r[0];
    up.level = 1;
    assert_int_equal(nb_ledger_add_raised(k.led, &up), NB_ERR_OK);
    eval(pol, &k, "2025-03-03T18:00Z");
    const nb_policy_raised_status_t *rs = nb_policy_result_raised(k.res, &nr);
    assert_int_equal(nr, 1);
    assert_int_equal(rs[0].n_recipients, 3);
    assert_true(has_role(rs[0].recipients, rs[0].n_recipients, "hv"));
    assert_true(has_role(rs[0].recipients, rs[0].n_recipients, "sw"));
    assert_true(has_role(rs[0].recipients, rs[0].n_recipients, "nurse"));
    nb_policy_destroy(pol);
    kid_free(&k);
}

static void test_tier_ladder_refusals(void **state)
{
    (void)state;
    char body[4096];
    snprintf(body, sizeof(body), tiered, "fastest", "early: true");
    refused(body, "tier 'urgent' names unknown escalation ladder 'fastest'");
    /* A rung counting from the notification, not an early alert: it could come before the
     * respond-by of a decision raised to the tier. */
    snprintf(body, sizeof(body), tiered, "fast", "early: false");
    refused(body, "the ladder of tier 'urgent' ('fast') has a rung that counts from the "
                  "notification");
}

/* The ladder a page shows is the daemon's: nb_policy_ladder() gives exactly the rungs, the
 * ownership keys and the tier's ladder of a decision. A baby on a protection plan who missed a
 * health visit (hv_missed_under1, priority) is made urgent by on_plan_urgent, and follows the
 * urgent ladder, not the health visiting one. */
static void test_the_ladder_is_the_decisions(void **state)
{
    (void)state;
    const char *files[] = {NB_SOURCE_DIR "/config/policy/wnb-wales-base.yaml"};
    nb_policy_t *pol = NULL;
    char errstr[1024];
    assert_int_equal(nb_policy_load(files, 1, NULL, NULL, &pol, errstr, sizeof(errstr)), NB_ERR_OK);
    kid_t k;
    kid_new(&k, "2024-12-01");
    kid_fact(&k, NB_FACT_CHILD_PROTECTION_PLAN, "2025-01-15");
    kid_ev(&k, "h1", "2025-02-06T10:00Z", NB_STATUS_NO_ACCESS_VISIT);
    eval(pol, &k, "2025-02-06T14:00Z");
    const nb_policy_decision_t *d = decision(&k, "hv_missed_under1");
    assert_non_null(d);
    assert_int_equal(d->base_tier, NB_TIER_PRIORITY);
    assert_int_equal(d->tier, NB_TIER_URGENT);
    assert_true(d->ladder_of_tier);
    nb_policy_ladder_t l;
    assert_int_equal(nb_policy_ladder(pol, d->rule, d->tier, d->decided_at, d->respond_by, &l),
                     NB_ERR_OK);
    assert_true(l.of_tier);
    assert_int_equal(l.rule_tier, NB_TIER_PRIORITY);
    assert_string_equal(l.id, "urgent");
    assert_non_null(l.title);
    assert_ptr_equal(l.ownership, d->ownership);
    assert_int_equal(l.n_rungs, d->n_rungs);
    assert_int_equal(l.n_rungs, 2);
    for (size_t i = 0; i < l.n_rungs; i++) {
        assert_int_equal(l.rungs[i].due, d->rungs[i].due);
        assert_int_equal(l.rungs[i].after_ms, d->rungs[i].after_ms);
        assert_int_equal(l.rungs[i].tier, d->rungs[i].tier);
        assert_int_equal(l.rungs[i].early, d->rungs[i].early);
        assert_int_equal(l.rungs[i].n_roles, d->rungs[i].n_roles);
        for (size_t r = 0; r < l.rungs[i].n_roles; r++)
            assert_ptr_equal(l.rungs[i].roles[r], d->rungs[i].roles[r]);
    }
    /* The urgent ladder: the named nurse 4 hours after it was raised, the duty team after 8. */
    assert_int_equal(l.rungs[0].due, d->decided_at + 4 * HOUR);
    assert_string_equal(l.rungs[0].roles[0]->id, "named_nurse");
    assert_int_equal(l.rungs[1].due, d->decided_at + 8 * HOUR);
    assert_string_equal(l.rungs[1].roles[0]->id, "safeguarding_team");

    /* At the rule's own tier: its own ladder, the team leader a day after the respond-by, then
     * on to the named nurse and the duty team ('then'). */
    assert_int_equal(nb_policy_ladder(pol, d->rule, d->base_tier, d->decided_at, d->respond_by, &l),
                     NB_ERR_OK);
    assert_false(l.of_tier);
    assert_string_equal(l.id, "hv_team_leader_first");
    assert_int_equal(l.n_rungs, 3);
    assert_int_equal(l.rungs[0].due, d->respond_by + 24 * HOUR);
    assert_string_equal(l.rungs[0].roles[0]->id, "hv_team_leader");
    assert_int_equal(l.rungs[2].tier, NB_TIER_URGENT);

    /* The plan's own rule is urgent already: its own ladder, not the tier's. */
    const nb_policy_decision_t *plan = decision(&k, "wnb_child_on_plan");
    assert_non_null(plan);
    assert_int_equal(
        nb_policy_ladder(pol, plan->rule, plan->tier, plan->decided_at, plan->respond_by, &l),
        NB_ERR_OK);
    assert_false(l.of_tier);
    assert_string_equal(l.id, "urgent");
    assert_int_equal(l.n_rungs, plan->n_rungs);

    /* Not a rule of this policy, not a tier. */
    nb_policy_rule_info_t other = *d->rule;
    assert_int_equal(nb_policy_ladder(pol, &other, d->tier, d->decided_at, d->respond_by, &l),
                     NB_ERR_INVALID_ARG);
    assert_int_equal(l.n_rungs, 0);
    assert_non_null(l.ownership);
    assert_int_equal(
        nb_policy_ladder(pol, d->rule, NB_TIER__COUNT, d->decided_at, d->respond_by, &l),
        NB_ERR_INVALID_ARG);
    nb_policy_destroy(pol);
    kid_free(&k);
}

/* ---- self-managing young people ---------------------------------------------------------- */

static const char cancellations[] =
    "policy: {name: t, version: '1', owner: tests, effective_from: 2025-01-01%s}\n"
    "roles:\n"
    "  - {id: gp, title: GP lead, route: 'queue:gp'}\n"
    "rules:\n"
    "  - id: cancels\n"
    "    title: Cancellations\n"
    "    source: test\n"
    "    match: {status: cancelled_by_patient}\n"
    "    count: {at_least: 2, within_days: 183}\n"
    "    action: {tier: curiosity, to: [gp], do: Be curious.}\n";

static nb_policy_t *with_defaults(const char *defaults)
{
    char text[2048];
    snprintf(text, sizeof(text), cancellations, defaults);
    nb_policy_source_t src = {"p.yaml", text, strlen(text)};
    nb_policy_t *pol = NULL;
    char errstr[1024];
    diags_t k;
    memset(&k, 0, sizeof(k));
    if (nb_policy_load_buffers(&src, 1, keep, &k, &pol, errstr, sizeof(errstr)))
        fail_msg("load: %s\n%s", errstr, k.text);
    return pol;
}

/* A 17-year-old is presumed self-managing (excluded by default) from 16; a policy that does not
 * say presumes it of nobody, and the rule counts the cancellations. A 15-year-old never is. */
static void test_self_managing_presumed_from_the_policy_age(void **state)
{
    (void)state;
    nb_policy_t *by16 = with_defaults(", defaults: {self_managing_from_age: 16}");
    nb_policy_t *by17 = with_defaults(", defaults: {self_managing_from_age: 17}");
    nb_policy_t *never = with_defaults(""); /* a policy that does not say: nobody */
    struct {
        const char *dob;
        bool by16, by17, never;
    } cases[] = {
        {"2008-01-01", false, false, true}, /* 17 */
        {"2009-01-01", false, true, true},  /* 16 */
        {"2010-01-01", true, true, true},   /* 15 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kid_t k;
        kid_new(&k, cases[i].dob);
        kid_ev(&k, "c1", "2025-01-13T10:00Z", NB_STATUS_CANCELLED_BY_PATIENT);
        kid_ev(&k, "c2", "2025-03-03T10:00Z", NB_STATUS_CANCELLED_BY_PATIENT);
        eval(by16, &k, "2025-03-10T12:00Z");
        assert_int_equal(decision(&k, "cancels") != NULL, cases[i].by16);
        eval(by17, &k, "2025-03-10T12:00Z");
        assert_int_equal(decision(&k, "cancels") != NULL, cases[i].by17);
        eval(never, &k, "2025-03-10T12:00Z");
        assert_int_equal(decision(&k, "cancels") != NULL, cases[i].never);
        kid_free(&k);
    }
    nb_policy_destroy(by16);
    nb_policy_destroy(by17);
    nb_policy_destroy(never);
    /* Out of range. */
    char text[2048];
    snprintf(text, sizeof(text), cancellations, ", defaults: {self_managing_from_age: 12}");
    nb_policy_source_t src = {"p.yaml", text, strlen(text)};
    nb_policy_t *pol = NULL;
    char errstr[1024];
    assert_int_not_equal(nb_policy_load_buffers(&src, 1, NULL, NULL, &pol, errstr,
                                                sizeof(errstr)),
                         NB_ERR_OK);
    assert_null(pol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlap_leaves_out_whoever_was_told),
        cmocka_unit_test(test_overlap_precedence_is_the_group_order),
        cmocka_unit_test(test_overlap_covers_while_open),
        cmocka_unit_test(test_withdrawal_reaches_those_it_was_sent_to),
        cmocka_unit_test(test_a_rule_in_two_groups),
        cmocka_unit_test(test_overlap_refusals),
        cmocka_unit_test(test_raised_tier_follows_its_ladder),
        cmocka_unit_test(test_tier_ladder_refusals),
        cmocka_unit_test(test_the_ladder_is_the_decisions),
        cmocka_unit_test(test_self_managing_presumed_from_the_policy_age),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
