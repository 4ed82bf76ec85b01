/*
 * Unit tests of issue 20, items 2 and 3, in the policy module: escalation never before the
 * deadline the recipients were given (rungs from the respond-by, explicit early alerts, the
 * worst-case check over the calendar), tiers with their own response times (a modifier that
 * raises the tier takes the new tier's), the life stage a rule applies to (antenatal rules and
 * born children), the declared vocabulary of appointment types, and why a rule did not fire.
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
#include "policy/internal.h"

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

/* ---- loading, with every message kept ---------------------------------------------------- */

typedef struct diags_s {
    int errors, warnings;
    char text[8192];
    size_t len;
} diags_t;

static void keep(void *opaque, const nb_policy_diag_t *d)
{
    diags_t *k = opaque;
    int n = snprintf(k->text + k->len, sizeof(k->text) - k->len, "%s:%d:%d: %s: %s\n", d->file,
                     d->line, d->column, d->warning ? "warning" : "error", d->message);
    if (n > 0 && (size_t)n < sizeof(k->text) - k->len)
        k->len += (size_t)n;
    if (d->warning)
        k->warnings++;
    else
        k->errors++;
}

/* A calendar for 2025 with its Easter and Christmas bank holidays, and three roles. */
static const char head[] =
    "policy: {name: t, version: '1', owner: tests, effective_from: 2025-01-01}\n"
    "calendar:\n"
    "  name: test\n"
    "  years: {from: 2025, to: 2025}\n"
    "  holidays:\n"
    "    - {date: 2025-04-18, name: Good Friday}\n"
    "    - {date: 2025-04-21, name: Easter Monday}\n"
    "    - {date: 2025-12-25, name: Christmas Day}\n"
    "    - {date: 2025-12-26, name: Boxing Day}\n"
    "roles:\n"
    "  - {id: hv, title: Health visitor, route: 'queue:hv'}\n"
    "  - {id: lead, title: Team leader, route: 'queue:lead'}\n"
    "  - {id: nurse, title: Named nurse, route: 'queue:nurse'}\n";
/* head is 13 lines: the body starts on line 14. */

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

static nb_policy_t *load_ok(const char *body, diags_t *k)
{
    nb_err_t err;
    nb_policy_t *pol = load(body, k, &err);
    if (err || !pol)
        fail_msg("load failed (%s):\n%s", nb_err_name(err), k->text);
    return pol;
}

/* The policy is refused and one of its messages contains want. */
static void refused(const char *body, nb_err_t want_err, const char *want)
{
    diags_t k;
    nb_err_t err;
    nb_policy_t *pol = load(body, &k, &err);
    if (pol || err != want_err || !strstr(k.text, want)) {
        nb_policy_destroy(pol);
        fail_msg("got %s:\n%s\nwanted %s with: %s", nb_err_name(err), k.text,
                 nb_err_name(want_err), want);
    }
}

/* A rule firing on any WNB, with the given action tail (respond_within, escalation...). */
#define RULE(action)                                                                               \
    "rules:\n"                                                                                     \
    "  - id: r1\n"                                                                                 \
    "    title: R\n"                                                                               \
    "    source: S\n"                                                                              \
    "    match: {status: was_not_brought}\n"                                                       \
    "    count: {at_least: 1, within_days: 28}\n"                                                  \
    "    action: {tier: priority, to: [hv], do: x" action "}\n"

/* ---- children ---------------------------------------------------------------------------- */

typedef struct kid_s {
    nb_ledger_dict_t *dict;
    nb_ledger_t *led;
    nb_policy_result_t *res;
} kid_t;

static void kid_new(kid_t *k, int32_t dob, int32_t edd)
{
    k->dict = nb_ledger_dict_new();
    k->led = nb_ledger_new(k->dict);
    k->res = nb_policy_result_new();
    nb_ledger_set_dates(k->led, dob, edd);
}

static void kid_free(kid_t *k)
{
    nb_ledger_destroy(k->led);
    nb_ledger_dict_destroy(k->dict);
    nb_policy_result_destroy(k->res);
}

static void kid_ev(kid_t *k, const char *id, nb_agency_t ag, const char *type, int64_t at,
                   nb_status_t st, bool mandated)
{
    nb_appointment_event_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.appointment_id, sizeof(e.appointment_id), "%s", id);
    snprintf(e.event_id, sizeof(e.event_id), "%s-1", id);
    snprintf(e.appointment_type, sizeof(e.appointment_type), "%s", type);
    e.source.agency = ag;
    e.subject_kind = ag == NB_AGENCY_MIDWIFERY ? NB_SUBJECT_UNBORN : NB_SUBJECT_CHILD;
    e.contact_mode = st == NB_STATUS_NO_ACCESS_VISIT ? NB_CONTACT_HOME_VISIT
                                                     : NB_CONTACT_FACE_TO_FACE;
    e.mandated_contact = mandated;
    e.scheduled_start = at;
    e.recorded_at = at;
    e.status = st;
    e.version = 1;
    e.date_of_birth = NB_DATE_NONE;
    e.expected_delivery_date = NB_DATE_NONE;
    assert_int_equal(nb_ledger_apply(k->led, &e, NULL), NB_ERR_OK);
}

static const nb_policy_decision_t *kid_eval(kid_t *k, const nb_policy_t *pol, int64_t now,
                                            const char *rule)
{
    nb_policy_subject_t s = {"child-key-1", NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    size_t n;
    assert_int_equal(nb_policy_evaluate(pol, k->led, &s, now, k->res), NB_ERR_OK);
    const nb_policy_decision_t *d = nb_policy_result_decisions(k->res, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].rule->id, rule) == 0)
            return &d[i];
    return NULL;
}

static nb_policy_t *shipped(diags_t *k)
{
    const char *src = getenv("NB_SOURCE_DIR") ? getenv("NB_SOURCE_DIR") : NB_SOURCE_DIR;
    char base[1024], overlay[1024];
    snprintf(base, sizeof(base), "%s/config/policy/wnb-wales-base.yaml", src);
    snprintf(overlay, sizeof(overlay), "%s/config/policy/cardiff-and-vale.yaml", src);
    const char *files[] = {base, overlay};
    nb_policy_t *pol = NULL;
    char errstr[1024];
    memset(k, 0, sizeof(*k));
    if (nb_policy_load(files, 2, keep, k, &pol, errstr, sizeof(errstr)))
        fail_msg("shipped policy: %s\n%s", errstr, k->text);
    return pol;
}

/* ---- 1a: no escalation before the respond-by, unless an explicit early alert ------------- */

/* The case: 5 working days to respond, the named nurse after 24 hours. */
static void test_rung_before_respond_by_is_refused(void **state)
{
    (void)state;
    refused("ladders:\n"
            "  - {id: l, rungs: [{after_hours: 24, to: [nurse]}]}\n" RULE(
                ", respond_within: {working_days: 5}, escalation: l"),
            NB_ERR_POLICY_VALUE,
            "p.yaml:15:21: error: rule 'r1': the escalation rung at 24 hours can come before the "
            "respond-by (5 working days: a decision on Friday 11 April 2025 at 00:00 is due by "
            "Tuesday 22 April 2025 at 17:00, 281 hours later). Count it from the respond-by "
            "('from: respond_by'), make it at least 281 hours, or, if it is meant to come before "
            "the deadline, mark it 'early: true'");
    /* Over a weekend only: 2 working days from a Friday is Tuesday at close of business. */
    refused("ladders:\n"
            "  - {id: l, rungs: [{after_hours: 72, to: [nurse]}]}\n" RULE(
                ", respond_within: {working_days: 2}, escalation: l"),
            NB_ERR_POLICY_VALUE, "rule 'r1': the escalation rung at 72 hours can come before");
    /* Hours: no example needed. */
    refused(RULE(", respond_within: {hours: 8}, escalation: [{after_hours: 4, to: [lead]}]"),
            NB_ERR_POLICY_VALUE,
            "the escalation rung at 4 hours can come before the respond-by (8 hours). Count it");
    /* At the respond-by itself is not before it. */
    diags_t k;
    nb_policy_destroy(
        load_ok(RULE(", respond_within: {hours: 8}, escalation: [{after_hours: 8, to: [lead]}]"),
                &k));
    /* A continuation counts from the end of the ladder before: 4 + 4 hours is fine for 8. */
    nb_policy_destroy(load_ok("ladders:\n"
                              "  - {id: a, rungs: [{after_hours: 4, early: true, to: [lead]}], "
                              "then: b}\n"
                              "  - {id: b, rungs: [{after_hours: 4, to: [nurse]}]}\n" RULE(
                                  ", respond_within: {hours: 8}, escalation: a"),
                              &k));
    /* A modifier's longer response time counts too. */
    refused(RULE(", respond_within: {hours: 8}, escalation: [{after_hours: 10, to: [lead]}]")
            "modifiers:\n"
            "  - {id: slow, title: M, source: S, subject: {age_months: {min: 12}},\n"
            "     respond_within: {working_days: 1}}\n",
            NB_ERR_POLICY_VALUE,
            "the escalation rung at 10 hours can come before the respond-by (1 working day: a "
            "decision on Thursday 17 April 2025 at 00:00 is due by Tuesday 22 April 2025 at "
            "17:00");
}

static void test_early_alerts_and_rungs_from_the_respond_by(void **state)
{
    (void)state;
    diags_t k;
    nb_policy_t *pol = load_ok(
        "ladders:\n"
        "  - id: l\n"
        "    rungs:\n"
        "      - {after_hours: 4, early: true, to: [lead]}\n"
        "      - {after_hours: 24, from: respond_by, to: [nurse], tier: urgent}\n"
        "      - {after_hours: 48, from: respond_by, to: [nurse, lead], tier: urgent}\n" RULE(
            ", respond_within: {working_days: 5}, escalation: l"),
        &k);
    assert_int_equal(k.warnings, 0);
    kid_t kid;
    kid_new(&kid, D("2020-01-01"), NB_DATE_NONE);
    kid_ev(&kid, "a", NB_AGENCY_GP, "immunisation", T("2025-04-16T09:00Z"),
           NB_STATUS_WAS_NOT_BROUGHT, false);
    /* Decided on Thursday before Easter: 5 working days is Monday 28 April, 17:00 BST. */
    const nb_policy_decision_t *d = kid_eval(&kid, pol, T("2025-04-17T09:00Z"), "r1");
    assert_non_null(d);
    assert_true(d->respond_by == T("2025-04-28T16:00Z"));
    assert_int_equal(d->n_rungs, 3);
    assert_true(d->rungs[0].early);
    assert_true(d->rungs[0].due == T("2025-04-17T13:00Z")); /* an early alert: 4 hours on */
    assert_false(d->rungs[1].early);
    assert_true(d->rungs[1].due == T("2025-04-29T16:00Z")); /* a day after the respond-by */
    assert_true(d->rungs[2].due == T("2025-04-30T16:00Z"));
    assert_true(d->rungs[2].after_ms == d->rungs[2].due - T("2025-04-17T09:00Z"));
    kid_free(&kid);
    nb_policy_destroy(pol);

    refused(RULE(", respond_within: {hours: 8},\n"
                 "             escalation: [{after_hours: 1, early: true, from: respond_by, "
                 "to: [lead]}]"),
            NB_ERR_POLICY_VALUE,
            "an early alert counts from the notification: it cannot also say 'from: respond_by'");
    refused(RULE(", respond_within: {hours: 8},\n"
                 "             escalation: [{after_hours: 9, to: [lead]},\n"
                 "                          {after_hours: 10, early: true, to: [nurse]}]"),
            NB_ERR_POLICY_VALUE,
            "rule 'r1': the early alert at 10 hours comes after a rung that is not early");
    refused(RULE(", respond_within: {hours: 8},\n"
                 "             escalation: [{after_hours: 30, from: respond_by, to: [lead]},\n"
                 "                          {after_hours: 40, to: [nurse]}]"),
            NB_ERR_POLICY_VALUE, "count them all from one (early alerts apart)");
    refused(RULE(", escalation: [{after_hours: 30, from: respond_by, to: [lead]}]"),
            NB_ERR_POLICY_VALUE,
            "the escalation rung at 30 hours counts from the respond-by, but the rule has no "
            "response time");
    refused("ladders:\n  - {id: l, rungs: [{after_hours: 4, from: deadline, to: [lead]}]}\n" RULE(
                ", escalation: l"),
            NB_ERR_POLICY_VALUE,
            "unknown 'from' 'deadline' (expected one of: notification, respond_by)");
}

/* The loader refuses a rung that could come before the respond-by; the engine holds the line at
 * run time too (white box: a rung moved after loading is kept at the respond-by). */
static void test_engine_never_escalates_before_the_respond_by(void **state)
{
    (void)state;
    diags_t k;
    nb_policy_t *pol = load_ok(RULE(", respond_within: {working_days: 5},\n"
                                    "             escalation: [{after_hours: 400, to: [lead]},\n"
                                    "                          {after_hours: 401, to: [nurse]}]"),
                               &k);
    pol->rules[0].flat[0].after_ms = 1 * HOUR;
    pol->rules[0].flat[1].after_ms = 2 * HOUR;
    kid_t kid;
    kid_new(&kid, D("2020-01-01"), NB_DATE_NONE);
    kid_ev(&kid, "a", NB_AGENCY_GP, "immunisation", T("2025-12-22T09:00Z"),
           NB_STATUS_WAS_NOT_BROUGHT, false);
    const nb_policy_decision_t *d = kid_eval(&kid, pol, T("2025-12-23T09:00Z"), "r1");
    assert_non_null(d);
    assert_true(d->respond_by == T("2026-01-01T17:00Z")); /* Wed, Fri, Mon, Tue, Thu 1 Jan */
    assert_true(d->rungs[0].due == d->respond_by);
    assert_true(d->rungs[1].due == d->respond_by);
    kid_free(&kid);
    nb_policy_destroy(pol);
}

/* The worst case of a response time, computed in linear time, is the one a scan of every day
 * with the engine's own respond-by finds (midnight and close of business of every day). */
static void test_worst_case_matches_a_full_scan(void **state)
{
    (void)state;
    diags_t k;
    nb_policy_t *pol = shipped(&k);
    static const nb__respond_t cases[] = {
        {NB__RESPOND_WORKING_DAYS, 0}, {NB__RESPOND_WORKING_DAYS, 1},
        {NB__RESPOND_WORKING_DAYS, 2}, {NB__RESPOND_WORKING_DAYS, 3},
        {NB__RESPOND_WORKING_DAYS, 5}, {NB__RESPOND_WORKING_DAYS, 13},
        {NB__RESPOND_WORKING_DAYS, 60}, {NB__RESPOND_SAME_DAY, 0},
        {NB__RESPOND_HOURS, 7}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        nb__workdays_t wd;
        assert_true(nb__policy_workdays(pol, &wd));
        int64_t at, worst = nb__policy_respond_worst(pol, &cases[c], &wd, &at), scan = 0;
        int64_t at2, worst2 = nb__policy_respond_worst(pol, &cases[c], NULL, &at2);
        free(wd.bits);
        assert_true(worst2 == worst && at2 == at);
        for (int32_t day = D("2024-01-01"); day <= D("2030-12-31"); day++) {
            int64_t t[2] = {nb__policy_local_to_utc(day, 0),
                            nb__policy_local_to_utc(day, 17 * 60)};
            for (int i = 0; i < 2; i++) {
                int64_t by = nb__policy_respond_by(pol, &cases[c], t[i]);
                if (by - t[i] > scan)
                    scan = by - t[i];
            }
        }
        if (cases[c].kind == NB__RESPOND_HOURS)
            scan = 7 * HOUR;
        else
            assert_true(nb__policy_respond_by(pol, &cases[c], at) - at == worst);
        if (worst != scan)
            fail_msg("response %d/%d: worst %lld, a full scan finds %lld", (int)cases[c].kind,
                     (int)cases[c].n, (long long)worst, (long long)scan);
    }
    nb_policy_destroy(pol);
}

/* The shipped protocol over a year of decision times: every rung that is not an early alert is
 * due at or after the respond-by (before the fix: 24 hours after a 5-working-day notification). */
static void test_shipped_rungs_never_before_the_respond_by(void **state)
{
    (void)state;
    diags_t k;
    nb_policy_t *pol = shipped(&k);
    kid_t kid;
    size_t checked = 0, early = 0;
    for (int64_t now = T("2025-01-05T00:00Z"); now < T("2026-01-05T00:00Z"); now += 7 * HOUR) {
        /* A child under 5 with WNBs at two agencies, a baby's missed HV contact, a child on a
         * plan, and a pregnancy's missed antenatal appointment, all a day before now. */
        static const struct {
            int32_t dob_days_before, edd_days_after;
        } who[] = {{900, 0}, {100, 0}, {0, 100}};
        for (size_t w = 0; w < sizeof(who) / sizeof(who[0]); w++) {
            int32_t today = nb_day_of(now);
            kid_new(&kid, who[w].dob_days_before ? today - who[w].dob_days_before : NB_DATE_NONE,
                    who[w].edd_days_after ? today + who[w].edd_days_after : NB_DATE_NONE);
            if (who[w].edd_days_after) {
                kid_ev(&kid, "m", NB_AGENCY_MIDWIFERY, "antenatal_28w", now - 24 * HOUR,
                       NB_STATUS_WAS_NOT_BROUGHT, false);
            } else {
                kid_ev(&kid, "g", NB_AGENCY_GP, "immunisation", now - 30 * HOUR,
                       NB_STATUS_WAS_NOT_BROUGHT, false);
                kid_ev(&kid, "h", NB_AGENCY_HEALTH_VISITING, "1_year_review", now - 24 * HOUR,
                       NB_STATUS_NO_ACCESS_VISIT, true);
            }
            nb_policy_subject_t s = {"k", NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
            size_t n;
            assert_int_equal(nb_policy_evaluate(pol, kid.led, &s, now, kid.res), NB_ERR_OK);
            const nb_policy_decision_t *d = nb_policy_result_decisions(kid.res, &n);
            for (size_t i = 0; i < n; i++) {
                for (size_t r = 0; r < d[i].n_rungs; r++) {
                    checked++;
                    if (d[i].rungs[r].early) {
                        /* Only an urgent decision has early alerts: the urgent ladder, which
                         * a decision raised to urgent (a baby under 1) follows too. */
                        if (d[i].tier != NB_TIER_URGENT)
                            early++;
                        continue;
                    }
                    if (d[i].respond_by != NB_TIME_NONE && d[i].rungs[r].due < d[i].respond_by)
                        fail_msg("%s: rung %zu due before the respond-by", d[i].rule->id, r);
                }
            }
            kid_free(&kid);
        }
    }
    assert_true(checked > 1000);
    assert_int_equal(early, 0); /* early alerts belong to urgent decisions only */
    nb_policy_destroy(pol);
}

/* ---- 1b: tiers have their own response times --------------------------------------------- */

static void test_modifier_raising_the_tier_needs_a_deadline(void **state)
{
    (void)state;
    /* The case: "babies under 1 one tier higher" kept the lower tier's 5 working days. */
    refused(RULE(", respond_within: {working_days: 5}")
            "modifiers:\n"
            "  - {id: under1_higher, title: M, source: S, subject: {age_months: {max: 11}}, "
            "raise: 1}\n",
            NB_ERR_POLICY_VALUE,
            "p.yaml:22:5: error: modifier 'under1_higher' changes rule 'r1' from priority to "
            "urgent, but no response time fits urgent: the notification would keep priority (5 "
            "working days). Give the modifier 'respond_within', or the tier a default (tiers: "
            "{urgent: {respond_within: ...}})");
    /* Its own response time fits. */
    diags_t k;
    nb_policy_destroy(
        load_ok(RULE(", respond_within: {working_days: 5}")
                "modifiers:\n"
                "  - {id: m, title: M, source: S, subject: {age_months: {max: 11}}, raise: 1,\n"
                "     respond_within: {hours: 4}}\n",
                &k));
    /* A modifier that raises the tier only where it already is urgent changes nothing. */
    nb_policy_destroy(load_ok("rules:\n"
                              "  - {id: r1, title: R, source: S, match: {status: "
                              "was_not_brought},\n"
                              "     count: {at_least: 1, within_days: 28},\n"
                              "     action: {tier: urgent, to: [hv], do: x}}\n"
                              "modifiers:\n"
                              "  - {id: m, title: M, source: S, subject: {age_months: {max: 11}}, "
                              "tier: urgent}\n",
                              &k));
    /* A tier's default in working days needs the calendar. */
    static const char no_cal[] =
        "policy: {name: t, version: '1', owner: o, effective_from: 2025-01-01}\n"
        "tiers: {routine: {respond_within: {working_days: 5}}}\n"
        "roles: [{id: hv, title: H, route: 'queue:hv'}]\n"
        "rules:\n"
        "  - {id: r1, title: R, source: S, match: {status: was_not_brought},\n"
        "     count: {at_least: 1, within_days: 28}, action: {tier: routine, to: [hv], do: x}}\n";
    nb_policy_source_t src = {"c.yaml", no_cal, strlen(no_cal)};
    nb_policy_t *pol = NULL;
    char errstr[512];
    assert_int_equal(nb_policy_load_buffers(&src, 1, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_REFERENCE);
    assert_string_equal(errstr, "c.yaml:2:18: tier 'routine' counts working days but the policy "
                                "has no calendar of bank holidays");
    refused("tiers: {severe: {respond_within: {hours: 1}}}\n" RULE(""),
            NB_ERR_POLICY_UNKNOWN_KEY,
            "unknown key 'severe' in tiers (known keys: curiosity, routine, priority, urgent)");
    refused("tiers: {urgent: {}}\n" RULE(""), NB_ERR_POLICY_VALUE,
            "tier is missing the required key 'respond_within'");
}

static void test_tier_response_times(void **state)
{
    (void)state;
    diags_t k;
    nb_policy_t *pol = load_ok(
        "tiers:\n"
        "  urgent: {respond_within: {same_day: true}}\n"
        "  priority: {respond_within: {working_days: 2}}\n"
        "rules:\n"
        "  - {id: own, title: R, source: S, match: {status: was_not_brought},\n"
        "     count: {at_least: 1, within_days: 28},\n"
        "     action: {tier: priority, to: [hv], do: x, respond_within: {working_days: 5}}}\n"
        "  - {id: tier_default, title: R, source: S, match: {status: was_not_brought},\n"
        "     count: {at_least: 1, within_days: 28}, action: {tier: priority, to: [hv], do: x}}\n"
        "  - {id: soon, title: R, source: S, match: {status: was_not_brought},\n"
        "     count: {at_least: 1, within_days: 28},\n"
        "     action: {tier: priority, to: [hv], do: x, respond_within: {hours: 2}}}\n"
        "  - {id: curious, title: R, source: S, match: {status: was_not_brought},\n"
        "     count: {at_least: 1, within_days: 28}, action: {tier: curiosity, to: [hv], do: "
        "x}}\n"
        "modifiers:\n"
        "  - {id: baby, title: M, source: S, rules: [own, tier_default, soon],\n"
        "     subject: {age_months: {max: 11}}, raise: 1}\n",
        &k);
    kid_t kid;
    /* Not raised: the rule's own, else its tier's default; curiosity has none. */
    kid_new(&kid, D("2020-01-01"), NB_DATE_NONE);
    kid_ev(&kid, "a", NB_AGENCY_GP, "immunisation", T("2025-03-09T09:00Z"),
           NB_STATUS_WAS_NOT_BROUGHT, false);
    int64_t now = T("2025-03-10T09:00Z"); /* a Monday, GMT */
    assert_true(kid_eval(&kid, pol, now, "own")->respond_by == T("2025-03-17T17:00Z"));
    assert_true(kid_eval(&kid, pol, now, "tier_default")->respond_by == T("2025-03-12T17:00Z"));
    assert_true(kid_eval(&kid, pol, now, "soon")->respond_by == T("2025-03-10T11:00Z"));
    assert_true(kid_eval(&kid, pol, now, "curious")->respond_by == NB_TIME_NONE);
    kid_free(&kid);
    /* A baby: raised to urgent, the same day, unless the rule's own is sooner. */
    kid_new(&kid, D("2024-12-01"), NB_DATE_NONE);
    kid_ev(&kid, "a", NB_AGENCY_GP, "immunisation", T("2025-03-09T09:00Z"),
           NB_STATUS_WAS_NOT_BROUGHT, false);
    const nb_policy_decision_t *d = kid_eval(&kid, pol, now, "own");
    assert_int_equal(d->tier, NB_TIER_URGENT);
    assert_true(d->respond_by == T("2025-03-10T23:59:59.999Z"));
    assert_true(kid_eval(&kid, pol, now, "tier_default")->respond_by ==
                T("2025-03-10T23:59:59.999Z"));
    assert_true(kid_eval(&kid, pol, now, "soon")->respond_by == T("2025-03-10T11:00Z"));
    kid_free(&kid);
    nb_buf_t out = {0};
    assert_int_equal(nb_policy_explain(pol, &out), NB_ERR_OK);
    assert_non_null(strstr((char *)out.data, "  urgent: respond the same day.\n"
                                             "  priority: respond within 2 working days.\n"));
    assert_non_null(strstr((char *)out.data, "to respond within 2 working days (the tier's "
                                             "default)"));
    nb_buf_free(&out);
    nb_policy_destroy(pol);
}

/* A policy written before tiers had defaults loads and behaves as it did. */
static void test_old_policies_still_load(void **state)
{
    (void)state;
    diags_t k;
    nb_policy_t *pol = load_ok(RULE(", respond_within: {working_days: 2},\n"
                                    "             escalation: [{after_hours: 200, to: [lead]}]")
                               "modifiers:\n"
                               "  - {id: plan, title: P, source: S, subject: {facts: {any: "
                               "[child_protection_plan]}},\n"
                               "     tier: urgent, respond_within: {same_day: true}}\n",
                               &k);
    assert_int_equal(k.warnings, 0);
    kid_t kid;
    kid_new(&kid, D("2020-01-01"), NB_DATE_NONE);
    kid_ev(&kid, "a", NB_AGENCY_GP, "immunisation", T("2025-03-09T09:00Z"),
           NB_STATUS_WAS_NOT_BROUGHT, false);
    const nb_policy_decision_t *d = kid_eval(&kid, pol, T("2025-03-10T09:00Z"), "r1");
    assert_true(d->respond_by == T("2025-03-12T17:00Z"));
    assert_true(d->rungs[0].due == T("2025-03-10T09:00Z") + 200 * HOUR);
    kid_free(&kid);
    nb_policy_destroy(pol);
}

/* ---- 2: the life stage a rule applies to ------------------------------------------------- */

static void test_rule_implying_a_life_stage_it_does_not_state(void **state)
{
    (void)state;
    diags_t k;
    static const char *const implied[] = {
        /* antenatal appointments by subject kind */
        "    match: {agency: midwifery, subject_kind: unborn, status: was_not_brought}\n"
        "    count: {at_least: 3, within_days: 280}\n",
        /* a gestation on the day of the appointment */
        "    match: {status: attended, gestation_weeks: {min: '20+1'}}\n"
        "    count: {at_least: 1, within_days: 300}\n",
        /* a type the vocabulary says is antenatal */
        "    match: {type: antenatal_16w, status: was_not_brought}\n"
        "    count: {at_least: 1, within_days: 28}\n",
        /* a deadline by gestation */
        "    kind: absence\n"
        "    expect: {contact: {type: antenatal_booking}, by_gestation: '10+0'}\n"};
    for (size_t i = 0; i < sizeof(implied) / sizeof(implied[0]); i++) {
        char body[2048];
        snprintf(body, sizeof(body),
                 "types: {unborn: [antenatal_booking, antenatal_16w], child: [new_birth_visit]}\n"
                 "rules:\n  - id: ante\n    title: R\n    source: S\n%s"
                 "    action: {tier: priority, to: [hv], do: 'Consider a pre-birth assessment'}\n",
                 implied[i]);
        nb_policy_t *pol = load_ok(body, &k);
        assert_int_equal(k.warnings, 1);
        assert_string_equal(
            k.text, "p.yaml:16:5: warning: rule 'ante' looks at appointments of unborn children "
                    "(antenatal) but does not say which life stage it applies to, so it also "
                    "fires after the birth, for the baby; say 'subject: {kind: unborn}' (or "
                    "kind: [unborn, child] if it is meant for both)\n");
        nb_policy_destroy(pol);
        /* Stated: no warning. */
        static const char *const stated[] = {"    subject: {kind: unborn}\n",
                                             "    subject: {kind: [unborn, child]}\n",
                                             "    subject: {gestation_weeks: {max: 42}}\n"};
        for (size_t s = 0; s < sizeof(stated) / sizeof(stated[0]); s++) {
            char b2[2600];
            snprintf(b2, sizeof(b2), "%s%s", body, stated[s]);
            pol = load_ok(b2, &k);
            assert_int_equal(k.warnings, 0);
            nb_policy_destroy(pol);
        }
    }
    /* A born child's contact without a stage: "also applies during a pregnancy". */
    nb_policy_t *pol = load_ok("types: {child: [new_birth_visit]}\n"
                               "rules:\n  - id: nbv\n    title: R\n    source: S\n"
                               "    match: {type: new_birth_visit, status: was_not_brought}\n"
                               "    count: {at_least: 1, within_days: 28}\n"
                               "    action: {tier: priority, to: [hv], do: x}\n",
                               &k);
    assert_int_equal(k.warnings, 1);
    assert_non_null(strstr(k.text, "rule 'nbv' looks at appointments of born children (child) "
                                   "but does not say which life stage it applies to, so it also "
                                   "applies during a pregnancy; say 'subject: {kind: child}'"));
    nb_policy_destroy(pol);
    /* Nothing implied (any status, any agency): nothing to say. */
    pol = load_ok(RULE(""), &k);
    assert_int_equal(k.warnings, 0);
    nb_policy_destroy(pol);
}

/* The case: antenatal_wnb_repeated went to a 2-month-old asking for "a pre-birth
 * assessment". With subject.kind: unborn it fires in the pregnancy and never after the birth. */
static void test_antenatal_rules_do_not_fire_for_a_born_child(void **state)
{
    (void)state;
    diags_t k;
    nb_policy_t *pol = shipped(&k);
    kid_t kid;
    kid_new(&kid, NB_DATE_NONE, D("2025-06-01"));
    kid_ev(&kid, "m1", NB_AGENCY_MIDWIFERY, "antenatal_25w", T("2025-03-10T10:00Z"),
           NB_STATUS_WAS_NOT_BROUGHT, false);
    kid_ev(&kid, "m2", NB_AGENCY_MIDWIFERY, "antenatal_28w", T("2025-03-31T10:00Z"),
           NB_STATUS_WAS_NOT_BROUGHT, false);
    kid_ev(&kid, "m3", NB_AGENCY_MIDWIFERY, "antenatal_31w", T("2025-04-21T10:00Z"),
           NB_STATUS_WAS_NOT_BROUGHT, false);
    assert_non_null(kid_eval(&kid, pol, T("2025-04-22T10:00Z"), "antenatal_wnb_repeated"));
    assert_non_null(kid_eval(&kid, pol, T("2025-04-22T10:00Z"), "antenatal_wnb"));
    /* Born on 30 May; two months later the history is the baby's. */
    nb_ledger_set_dates(kid.led, D("2025-05-30"), D("2025-06-01"));
    assert_null(kid_eval(&kid, pol, T("2025-07-30T10:00Z"), "antenatal_wnb_repeated"));
    assert_null(kid_eval(&kid, pol, T("2025-05-31T10:00Z"), "antenatal_wnb"));
    assert_null(kid_eval(&kid, pol, T("2025-05-31T10:00Z"), "late_booking"));
    char why[512];
    nb_policy_subject_t s = {"k", NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    assert_int_equal(nb_policy_why_not(pol, kid.led, &s, T("2025-07-30T10:00Z"),
                                       "antenatal_wnb_repeated", kid.res, why, sizeof(why)),
                     NB_ERR_OK);
    assert_string_equal(why, "the rule applies to unborn subjects only; this is a born child "
                             "aged 2 months");
    kid_free(&kid);
    nb_policy_destroy(pol);
}

/* ---- 3: the vocabulary of appointment types ---------------------------------------------- */

static void test_types_outside_the_vocabulary(void **state)
{
    (void)state;
    static const char types[] = "types:\n"
                                "  child: [dental, new_birth_visit]\n"
                                "  any: [immunisation]\n";
    /* The case: 'dentl' silently never matched. */
    refused("types:\n  child: [dental, new_birth_visit]\n  any: [immunisation]\n"
            "rules:\n  - id: r1\n    title: R\n    source: S\n"
            "    match: {type: [immunisation, dentl], status: was_not_brought}\n"
            "    subject: {kind: child}\n"
            "    count: {at_least: 1, within_days: 28}\n"
            "    action: {tier: priority, to: [hv], do: x}\n",
            NB_ERR_POLICY_REFERENCE,
            "p.yaml:21:34: error: rule 'r1': unknown appointment type 'dentl' (not in the "
            "policy's 'types', so it would never match); did you mean 'dental'?");
    refused("types: {child: [dental]}\n"
            "rules:\n  - id: r1\n    title: R\n    source: S\n    kind: absence\n"
            "    subject: {kind: child}\n"
            "    expect: {contact: {type: orthodontics}, by_age_days: 100}\n"
            "    action: {tier: priority, to: [hv], do: x}\n",
            NB_ERR_POLICY_REFERENCE,
            "unknown appointment type 'orthodontics' (not in the policy's 'types', so it would "
            "never match); declare it there if it is right");
    refused("types: {child: [dental], any: [dental]}\n" RULE(""), NB_ERR_POLICY_DUPLICATE,
            "p.yaml:14:32: error: appointment type 'dental' is already declared at p.yaml:14:17");
    refused("types: {adult: [x]}\n" RULE(""), NB_ERR_POLICY_UNKNOWN_KEY,
            "unknown key 'adult' in types (known keys: unborn, child, any)");
    /* Declared: fine, and the explanation lists them by stage. */
    diags_t k;
    char body[1024];
    snprintf(body, sizeof(body),
             "%srules:\n  - id: r1\n    title: R\n    source: S\n"
             "    match: {type: [immunisation, dental], status: was_not_brought}\n"
             "    count: {at_least: 1, within_days: 28}\n"
             "    action: {tier: priority, to: [hv], do: x}\n",
             types);
    nb_policy_t *pol = load_ok(body, &k);
    assert_int_equal(k.warnings, 0);
    nb_buf_t out = {0};
    assert_int_equal(nb_policy_explain(pol, &out), NB_ERR_OK);
    assert_non_null(strstr((char *)out.data, "APPOINTMENT TYPES (the vocabulary rules may name)\n"
                                             "  Born child: dental, new_birth_visit.\n"
                                             "  Either: immunisation.\n"));
    nb_buf_free(&out);
    nb_policy_destroy(pol);
    /* No vocabulary: loads, with one warning when a rule names a type (none otherwise). */
    pol = load_ok("rules:\n  - id: r1\n    title: R\n    source: S\n"
                  "    match: {type: dentl, status: was_not_brought}\n"
                  "    count: {at_least: 1, within_days: 28}\n"
                  "    action: {tier: priority, to: [hv], do: x}\n",
                  &k);
    assert_int_equal(k.warnings, 1);
    assert_string_equal(k.text, "p.yaml:0:0: warning: the policy declares no vocabulary of "
                                "appointment types ('types'), so a misspelt type in a rule would "
                                "silently never match; declare the types the source systems "
                                "send\n");
    nb_policy_destroy(pol);
    pol = load_ok(RULE(""), &k);
    assert_int_equal(k.warnings, 0);
    nb_policy_destroy(pol);
    /* An overlay adds types; it cannot declare one again. */
    static const char base[] =
        "policy: {name: b, version: '1', owner: o, effective_from: 2025-01-01}\n"
        "types: {child: [dental]}\n"
        "roles: [{id: hv, title: H, route: 'queue:hv'}]\n"
        "rules:\n"
        "  - {id: r1, title: R, source: S, match: {status: was_not_brought, type: dental},\n"
        "     subject: {kind: child},\n"
        "     count: {at_least: 1, within_days: 28}, action: {tier: routine, to: [hv], do: x}}\n";
    static const char local[] =
        "types: {child: [orthoptics]}\n"
        "rules:\n"
        "  - {id: r2, title: R, source: S, match: {status: was_not_brought, type: orthoptics},\n"
        "     subject: {kind: child},\n"
        "     count: {at_least: 1, within_days: 28}, action: {tier: routine, to: [hv], do: x}}\n";
    static const char again[] = "types: {any: [dental]}\n";
    nb_policy_source_t srcs[2] = {{"b.yaml", base, strlen(base)}, {"l.yaml", local, strlen(local)}};
    char errstr[512];
    pol = NULL;
    assert_int_equal(nb_policy_load_buffers(srcs, 2, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    nb_policy_destroy(pol);
    srcs[1].name = "a.yaml";
    srcs[1].data = again;
    srcs[1].len = strlen(again);
    pol = NULL;
    assert_int_equal(nb_policy_load_buffers(srcs, 2, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_DUPLICATE);
    assert_string_equal(
        errstr, "a.yaml:1:15: appointment type 'dental' is already declared at b.yaml:2:17");
}

/* The shipped protocol passes the strict check: no warnings at all. */
static void test_shipped_policy_is_strictly_clean(void **state)
{
    (void)state;
    diags_t k;
    nb_policy_t *pol = shipped(&k);
    if (k.warnings || k.errors)
        fail_msg("%s", k.text);
    assert_true(pol->vocab_declared);
    assert_true(pol->tiers[NB_TIER_URGENT].respond.kind == NB__RESPOND_SAME_DAY);
    nb_policy_destroy(pol);
}

/* ---- 4: why a rule did not fire ---------------------------------------------------------- */

static void test_why_a_rule_did_not_fire(void **state)
{
    (void)state;
    diags_t k;
    nb_policy_t *pol = shipped(&k);
    kid_t kid;
    char why[512];
    nb_policy_subject_t s = {"k", NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
#define WHY(rule, now, want)                                                                       \
    do {                                                                                           \
        assert_int_equal(nb_policy_why_not(pol, kid.led, &s, T(now), rule, kid.res, why,          \
                                           sizeof(why)),                                           \
                         NB_ERR_OK);                                                               \
        assert_string_equal(why, want);                                                            \
    } while (0)
    kid_new(&kid, D("2022-06-01"), NB_DATE_NONE);
    kid_ev(&kid, "g1", NB_AGENCY_GP, "immunisation", T("2024-11-04T10:00Z"),
           NB_STATUS_WAS_NOT_BROUGHT, false);
    kid_ev(&kid, "g2", NB_AGENCY_GP, "immunisation", T("2025-02-10T10:00Z"),
           NB_STATUS_WAS_NOT_BROUGHT, false);
    WHY("under5_multiagency", "2025-03-10T12:00Z",
        "2 matching appointments in the 365 days from 2024-03-10T12:00:00.000Z to "
        "2025-03-10T12:00:00.000Z, from 1 agency; needs 2 agencies");
    WHY("under5_multiagency", "2025-11-10T12:00Z",
        "1 matching appointment in the 365 days from 2024-11-10T12:00:00.000Z to "
        "2025-11-10T12:00:00.000Z; needs at least 2 (1 more before the window)");
    WHY("wnb_child_on_plan", "2025-03-10T12:00Z",
        "no fact child_protection_plan or unborn_child_protection_plan applies today (or ended "
        "within the days allowed)");
    WHY("hv_missed_under1", "2025-03-10T12:00Z",
        "the rule applies to children aged up to 11 months; this is a born child aged 33 months");
    WHY("booking_overdue", "2025-03-10T12:00Z",
        "the rule applies to unborn subjects only; this is a born child aged 33 months");
    kid_free(&kid);
    kid_new(&kid, D("2025-02-01"), NB_DATE_NONE);
    WHY("new_birth_visit_overdue", "2025-02-15T12:00Z",
        "the deadline has not passed: late from 2025-02-16T00:00:00.000Z");
    kid_ev(&kid, "h1", NB_AGENCY_HEALTH_VISITING, "new_birth_visit", T("2025-02-13T10:00Z"),
           NB_STATUS_ATTENDED, true);
    WHY("new_birth_visit_overdue", "2025-02-20T12:00Z",
        "the expected contact was recorded (deadline 2025-02-16T00:00:00.000Z)");
    WHY("hv_not_seen_after_missed", "2025-02-20T12:00Z",
        "no appointment that starts the clock ('match') in the 60 days looked back");
    kid_ev(&kid, "h2", NB_AGENCY_HEALTH_VISITING, "6_8_week_review", T("2025-03-20T10:00Z"),
           NB_STATUS_NO_ACCESS_VISIT, true);
    WHY("hv_not_seen_after_missed", "2025-03-21T12:00Z",
        "the deadline, 5 working days after the latest appointment that starts the clock, is "
        "2025-03-27T17:00:00.000Z: not passed yet");
    WHY("hv_missed_under1", "2025-03-21T12:00Z", "the rule fires");
    WHY("no_access_twice", "2025-03-21T12:00Z",
        "the latest outcomes of appointments of this kind: 1 in a row match; needs 2 in a row");
#undef WHY
    assert_int_equal(nb_policy_why_not(pol, kid.led, &s, T("2025-03-21T12:00Z"), "nope",
                                       kid.res, why, sizeof(why)),
                     NB_ERR_INVALID_ARG);
    kid_free(&kid);
    nb_policy_destroy(pol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rung_before_respond_by_is_refused),
        cmocka_unit_test(test_early_alerts_and_rungs_from_the_respond_by),
        cmocka_unit_test(test_engine_never_escalates_before_the_respond_by),
        cmocka_unit_test(test_worst_case_matches_a_full_scan),
        cmocka_unit_test(test_shipped_rungs_never_before_the_respond_by),
        cmocka_unit_test(test_modifier_raising_the_tier_needs_a_deadline),
        cmocka_unit_test(test_tier_response_times),
        cmocka_unit_test(test_old_policies_still_load),
        cmocka_unit_test(test_rule_implying_a_life_stage_it_does_not_state),
        cmocka_unit_test(test_antenatal_rules_do_not_fire_for_a_born_child),
        cmocka_unit_test(test_types_outside_the_vocabulary),
        cmocka_unit_test(test_shipped_policy_is_strictly_clean),
        cmocka_unit_test(test_why_a_rule_did_not_fire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
