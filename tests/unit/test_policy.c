/*
 * Unit tests: the policy loader (errors with positions, layering), the calendar, and every
 * feature of the engine with exact values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "notbrought/ledger.h"
#include "notbrought/policy.h"
#include "policy/internal.h"

#define DAY NB_MS_PER_DAY

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

/* ---- helpers ----------------------------------------------------------------------------- */

static const char nb__head[] =
    "policy: {name: t, version: '1', owner: tests, effective_from: 2025-01-01}\n"
    "calendar:\n"
    "  name: test\n"
    "  years: {from: 2025, to: 2025}\n"
    "  holidays:\n"
    "    - {date: 2025-04-18, name: Good Friday}\n"
    "    - {date: 2025-04-21, name: Easter Monday}\n"
    "roles:\n"
    "  - {id: hv, title: Health visitor, route: 'queue:hv'}\n"
    "  - {id: lead, title: Team leader, route: 'queue:lead'}\n"
    "  - {id: sw, title: Social worker, route: 'queue:sw'}\n";

static nb_policy_t *nb__load(const char *body, char *errstr, size_t size, nb_err_t *err)
{
    char *text = malloc(strlen(nb__head) + strlen(body) + 1);
    strcpy(text, nb__head);
    strcat(text, body);
    nb_policy_source_t src = {"p.yaml", text, strlen(text)};
    nb_policy_t *pol = NULL;
    *err = nb_policy_load_buffers(&src, 1, NULL, NULL, &pol, errstr, size);
    free(text);
    return pol;
}

static nb_policy_t *nb__ok(const char *body)
{
    char errstr[512];
    nb_err_t err;
    nb_policy_t *pol = nb__load(body, errstr, sizeof(errstr), &err);
    if (err)
        fail_msg("load failed: %s", errstr);
    return pol;
}

static void nb__fails(const char *body, nb_err_t want, const char *msg)
{
    char errstr[512];
    nb_err_t err;
    nb_policy_t *pol = nb__load(body, errstr, sizeof(errstr), &err);
    assert_null(pol);
    if (err != want || strcmp(errstr, msg) != 0)
        fail_msg("got %s \"%s\", want %s \"%s\"", nb_err_name(err), errstr, nb_err_name(want), msg);
}

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

static void kid_ev(kid_t *k, const char *id, nb_agency_t ag, const char *type, const char *at,
                   nb_status_t st, int version, bool mandated, nb_contact_mode_t mode)
{
    nb_appointment_event_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.appointment_id, sizeof(e.appointment_id), "%s", id);
    snprintf(e.event_id, sizeof(e.event_id), "%s-%d", id, version);
    snprintf(e.appointment_type, sizeof(e.appointment_type), "%s", type);
    e.source.agency = ag;
    e.subject_kind = ag == NB_AGENCY_MIDWIFERY ? NB_SUBJECT_UNBORN : NB_SUBJECT_CHILD;
    e.contact_mode = mode;
    e.mandated_contact = mandated;
    e.scheduled_start = T(at);
    e.recorded_at = e.scheduled_start;
    e.status = st;
    e.version = version;
    e.date_of_birth = NB_DATE_NONE;
    e.expected_delivery_date = NB_DATE_NONE;
    assert_int_equal(nb_ledger_apply(k->led, &e, NULL), NB_ERR_OK);
}

static void kid_wnb(kid_t *k, const char *id, nb_agency_t ag, const char *at)
{
    kid_ev(k, id, ag, "immunisation", at, NB_STATUS_WAS_NOT_BROUGHT, 1, false,
           NB_CONTACT_FACE_TO_FACE);
}

static void kid_fact(kid_t *k, const char *id, nb_fact_kind_t kind, const char *start,
                     const char *end)
{
    nb_context_fact_t f;
    memset(&f, 0, sizeof(f));
    snprintf(f.event_id, sizeof(f.event_id), "%s", id);
    f.kind = kind;
    f.start_date = D(start);
    f.end_date = end ? D(end) : NB_DATE_NONE;
    f.version = 1;
    assert_int_equal(nb_ledger_apply_fact(k->led, &f, NULL), NB_ERR_OK);
}

static const nb_policy_decision_t *kid_eval(kid_t *k, const nb_policy_t *pol, const char *now,
                                            size_t *n)
{
    nb_policy_subject_t s = {"child-key-1", NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    assert_int_equal(nb_policy_evaluate(pol, k->led, &s, T(now), k->res), NB_ERR_OK);
    return nb_policy_result_decisions(k->res, n);
}

static const nb_policy_decision_t *nb__find(const nb_policy_decision_t *d, size_t n,
                                            const char *rule)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].rule->id, rule) == 0)
            return &d[i];
    return NULL;
}

/* ---- calendar ---------------------------------------------------------------------------- */

static nb_policy_t *nb__default(void)
{
    const char *src = getenv("NB_SOURCE_DIR") ? getenv("NB_SOURCE_DIR") : NB_SOURCE_DIR;
    char base[1024], overlay[1024];
    snprintf(base, sizeof(base), "%s/config/policy/wnb-wales-base.yaml", src);
    snprintf(overlay, sizeof(overlay), "%s/config/policy/cardiff-and-vale.yaml", src);
    const char *files[] = {base, overlay};
    nb_policy_t *pol = NULL;
    char errstr[512];
    if (nb_policy_load(files, 2, NULL, NULL, &pol, errstr, sizeof(errstr)))
        fail_msg("default policy: %s", errstr);
    return pol;
}

static void test_shipped_calendar_matches_rule(void **state)
{
    (void)state;
    nb_policy_t *pol = nb__default();
    const nb_policy_info_t *in = nb_policy_info(pol);
    assert_int_equal(in->calendar_from, 2024);
    assert_int_equal(in->calendar_to, 2030);
    size_t total = 0;
    for (int y = 2024; y <= 2030; y++) {
        nb__holiday_t h[16];
        size_t n = nb__policy_ew_holidays(y, h, 16);
        assert_int_equal(n, 8);
        total += n;
        for (size_t i = 0; i < n; i++) {
            const char *name = nb_policy_holiday(pol, h[i].day);
            assert_non_null(name);
            assert_string_equal(name, h[i].name);
        }
    }
    assert_int_equal(total, 56);
    /* Dates published at gov.uk/bank-holidays. */
    static const char *const known[] = {"2024-03-29", "2024-04-01", "2024-05-06", "2024-05-27",
                                        "2024-08-26", "2025-04-18", "2025-04-21", "2025-05-05",
                                        "2025-05-26", "2025-08-25", "2025-12-25", "2025-12-26",
                                        "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25",
                                        "2026-08-31", "2026-12-28", "2027-03-26", "2027-03-29",
                                        "2027-12-27", "2027-12-28", "2028-01-03"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!nb_policy_holiday(pol, D(known[i])))
            fail_msg("%s is not a holiday", known[i]);
    assert_null(nb_policy_holiday(pol, D("2026-12-26"))); /* a Saturday: substituted */
    assert_false(nb_policy_is_working_day(pol, D("2025-04-18")));
    assert_false(nb_policy_is_working_day(pol, D("2025-04-19")));
    assert_true(nb_policy_is_working_day(pol, D("2025-04-22")));
    assert_int_equal(nb__policy_easter(2025), D("2025-04-20"));
    assert_int_equal(nb__policy_easter(2038), D("2038-04-25"));
    nb_policy_destroy(pol);
}

static void test_london_time_and_working_days(void **state)
{
    (void)state;
    assert_true(nb_policy_london_offset(T("2025-03-30T00:59Z")) == 0);
    assert_true(nb_policy_london_offset(T("2025-03-30T01:00Z")) == 3600000);
    assert_true(nb_policy_london_offset(T("2025-10-26T00:59Z")) == 3600000);
    assert_true(nb_policy_london_offset(T("2025-10-26T01:00Z")) == 0);
    nb_policy_t *pol = nb__default();
    /* Thursday before Easter + 5 working days: Tue 22 .. Mon 28 April, 17:00 BST. */
    assert_true(nb_policy_add_working_days(pol, T("2025-04-17T10:00Z"), 5) ==
                T("2025-04-28T16:00Z"));
    /* n = 0: today's close of business if still to come, else the next working day's. */
    assert_true(nb_policy_add_working_days(pol, T("2025-03-10T12:00Z"), 0) ==
                T("2025-03-10T17:00Z"));
    assert_true(nb_policy_add_working_days(pol, T("2025-03-10T18:00Z"), 0) ==
                T("2025-03-11T17:00Z"));
    assert_true(nb_policy_add_working_days(pol, T("2025-03-08T12:00Z"), 0) ==
                T("2025-03-10T17:00Z"));
    /* Christmas 2026: Fri 25 and Mon 28 (substitute) are holidays. */
    assert_true(nb_policy_add_working_days(pol, T("2026-12-24T12:00Z"), 1) ==
                T("2026-12-29T17:00Z"));
    nb_policy_destroy(pol);
}

/* ---- the shipped policy ------------------------------------------------------------------ */

static void test_default_policy_metadata(void **state)
{
    (void)state;
    nb_policy_t *pol = nb__default();
    const nb_policy_info_t *in = nb_policy_info(pol);
    assert_string_equal(in->name, "wnb-cardiff-and-vale");
    assert_string_equal(in->version, "2025.1-cav.1");
    assert_int_equal(in->effective_from, D("2025-04-01"));
    assert_int_equal(strlen(in->hash), 64);
    assert_int_equal(in->n_files, 3); /* base, the included calendar, the overlay */
    assert_int_equal(nb_policy_rule_count(pol), 13);
    assert_int_equal(nb_policy_role_count(pol), 9);
    assert_int_equal(in->retention_days, 366);
    assert_true(nb_policy_horizon(pol, T("2025-03-10T00:00Z")) == T("2024-03-09T00:00Z"));
    const nb_policy_rule_info_t *r = nb_policy_rule_find(pol, "hv_missed_under1");
    assert_non_null(r);
    assert_non_null(strstr(r->file, "cardiff-and-vale.yaml")); /* overridden by the overlay */
    assert_true(nb_policy_rule_find(pol, "gp_two_wnb_trial")->shadow);
    assert_true(nb_policy_rule_find(pol, "booking_overdue")->absence);
    assert_int_equal(nb_policy_rule_find(pol, "repeated_patient_cancellations")->digest,
                     NB_POLICY_DIGEST_WEEKLY);
    assert_int_equal(nb_policy_rule_find(pol, "repeated_patient_cancellations")->cooldown_days,
                     90);
    assert_null(nb_policy_rule_find(pol, "nope"));
    nb_buf_t out = {0};
    assert_int_equal(nb_policy_explain(pol, &out), NB_ERR_OK);
    assert_non_null(strstr((char *)out.data, "No antenatal booking by 10+0 weeks of pregnancy"));
    assert_non_null(strstr((char *)out.data, "Defined by the local overlay"));
    assert_int_equal(strlen((char *)out.data), out.len);
    nb_buf_free(&out);
    nb_policy_destroy(pol);
}

static void test_same_files_same_hash(void **state)
{
    (void)state;
    nb_policy_t *a = nb__default(), *b = nb__default();
    assert_string_equal(nb_policy_info(a)->hash, nb_policy_info(b)->hash);
    nb_policy_destroy(a);
    nb_policy_destroy(b);
}

/* ---- loader errors ----------------------------------------------------------------------- */

#define RULE_HEAD "rules:\n  - id: r1\n    title: R\n    source: S\n"
#define RULE_OK                                                                                    \
    "    match: {status: was_not_brought}\n"                                                       \
    "    count: {at_least: 1, within_days: 28}\n"                                                  \
    "    action: {tier: routine, to: [hv], do: x}\n"

static void test_load_errors(void **state)
{
    (void)state;
    nb__fails(RULE_HEAD "    match: {status: was_not_brought}\n"
                        "    count: {at_least: 1, within_days: 28, per_day: 3}\n"
                        "    action: {tier: routine, to: [hv], do: x}\n",
              NB_ERR_POLICY_UNKNOWN_KEY,
              "p.yaml:17:43: unknown key 'per_day' in count (known keys: at_least, within_days, "
              "consecutive, distinct_agencies)");
    nb__fails(RULE_HEAD "    match: {status: was_not_brought}\n"
                        "    count: {at_least: '1', within_days: 28}\n"
                        "    action: {tier: routine, to: [hv], do: x}\n",
              NB_ERR_POLICY_TYPE, "p.yaml:17:23: 'at_least' must be a whole number, not '1'");
    nb__fails(RULE_HEAD "    match: {status: was_not_brought}\n"
                        "    count: {at_least: 1, within_days: -1}\n"
                        "    action: {tier: routine, to: [hv], do: x}\n",
              NB_ERR_POLICY_VALUE, "p.yaml:17:39: 'within_days' must not be negative (got -1)");
    nb__fails(RULE_HEAD "    match: {status: was_not_brough}\n" "    count: {at_least: 1, within_days: 28}\n"
                        "    action: {tier: routine, to: [hv], do: x}\n",
              NB_ERR_POLICY_VALUE,
              "p.yaml:16:21: unknown status 'was_not_brough' (expected one of: booked, attended, "
              "was_not_brought, no_access_visit, cancelled_by_patient, cancelled_by_provider, "
              "rescheduled, entered_in_error)");
    nb__fails(RULE_HEAD "    match: {status: was_not_brought}\n"
                        "    count: {at_least: 1, within_days: 28}\n"
                        "    action: {tier: routine, to: [hv, nurse], do: x}\n",
              NB_ERR_POLICY_REFERENCE, "p.yaml:18:38: unknown role 'nurse' (defined roles: hv, lead, sw)");
    nb__fails(RULE_HEAD RULE_OK "  - id: r1\n    title: R\n    source: S\n" RULE_OK,
              NB_ERR_POLICY_DUPLICATE, "p.yaml:19:5: rule 'r1' is defined twice (first at line 13)");
    nb__fails(RULE_HEAD "    match: {status: was_not_brought}\n"
                        "    count: {at_least: 1}\n"
                        "    action: {tier: routine, to: [hv], do: x}\n",
              NB_ERR_POLICY_VALUE, "p.yaml:13:5: rule 'r1': 'at_least' needs a window, 'within_days'");
    nb__fails(RULE_HEAD "    match: {status: was_not_brought}\n"
                        "    count: {at_least: 1, within_days: 28}\n",
              NB_ERR_POLICY_VALUE, "p.yaml:13:5: rule is missing the required key 'action'");
    nb__fails("ladders:\n"
              "  - {id: a, rungs: [{after_hours: 1, to: [hv]}], then: b}\n"
              "  - {id: b, rungs: [{after_hours: 1, to: [hv]}], then: c}\n"
              "  - {id: c, rungs: [{after_hours: 1, to: [hv]}], then: a}\n" RULE_HEAD RULE_OK,
              NB_ERR_POLICY_CYCLE,
              "p.yaml:13:56: escalation ladders form a cycle: a -> b -> c -> a");
    nb__fails("rules: {r1: x}\n", NB_ERR_POLICY_TYPE, "p.yaml:12:8: 'rules' must be a list, not a mapping");
    nb__fails("rules: [\n", NB_ERR_POLICY_SYNTAX,
              "p.yaml:13:1: did not find expected node content while parsing a flow node");
    nb__fails(RULE_HEAD RULE_OK "---\nrules: []\n", NB_ERR_POLICY_SYNTAX,
              "p.yaml:20:1: a policy file holds one YAML document; this is a second one");
    nb__fails("calendar: {name: again}\n" RULE_HEAD RULE_OK, NB_ERR_POLICY_DUPLICATE,
              "p.yaml:12:1: key 'calendar' appears twice in the policy file");
    {
        static const char inc[] = "policy: {name: t, version: '1', owner: o, effective_from: "
                                  "2025-01-01}\ncalendar: {include: x.yaml}\n";
        nb_policy_source_t s1 = {"i.yaml", inc, sizeof(inc) - 1};
        nb_policy_t *p1 = NULL;
        char e1[256];
        assert_int_equal(nb_policy_load_buffers(&s1, 1, NULL, NULL, &p1, e1, sizeof(e1)),
                         NB_ERR_POLICY_VALUE);
        assert_string_equal(e1, "i.yaml:2:21: 'include' needs a policy loaded from files; give "
                                "the calendar inline");
    }
    /* Respond in working days needs a calendar: here it is present, so this loads. */
    nb_policy_destroy(nb__ok(RULE_HEAD "    match: {status: was_not_brought}\n"
                                       "    count: {at_least: 1, within_days: 28}\n"
                                       "    action: {tier: routine, to: [hv], do: x, "
                                       "respond_within: {working_days: 2}}\n"));
    /* Recursive aliases cannot hang or crash the loader. */
    char errstr[256];
    nb_policy_source_t src = {"alias.yaml", "a: &x [*x, *x]\n", 15};
    nb_policy_t *pol = NULL;
    assert_int_not_equal(nb_policy_load_buffers(&src, 1, NULL, NULL, &pol, errstr, sizeof(errstr)),
                         NB_ERR_OK);
    assert_null(pol);
}

static int nb__count_diags(void)
{
    return 0;
}

static void nb__diag_count(void *opaque, const nb_policy_diag_t *d)
{
    int *n = opaque;
    if (!d->warning)
        (*n)++;
}

static void test_every_error_is_reported(void **state)
{
    (void)state;
    (void)nb__count_diags;
    const char *text = "policy: {name: t, version: '1', owner: o, effective_from: 2025-13-01}\n"
                       "roles: [{id: hv, title: H, route: r, colour: red}]\n"
                       "rules:\n"
                       "  - id: r1\n    title: R\n    source: S\n"
                       "    match: {status: nope}\n"
                       "    count: {at_least: 0, within_days: 28}\n"
                       "    action: {tier: severe, to: [hv], do: x}\n";
    nb_policy_source_t src = {"m.yaml", text, strlen(text)};
    nb_policy_t *pol = NULL;
    char errstr[256];
    int n = 0;
    nb_err_t err = nb_policy_load_buffers(&src, 1, nb__diag_count, &n, &pol, errstr,
                                          sizeof(errstr));
    assert_null(pol);
    assert_int_equal(err, NB_ERR_POLICY_TYPE);
    assert_string_equal(errstr, "m.yaml:1:59: 'effective_from' must be a date (YYYY-MM-DD), not "
                                "'2025-13-01'");
    assert_int_equal(n, 5); /* date, unknown key, status, at_least 0, tier */
}

static void test_overlays(void **state)
{
    (void)state;
    static const char base[] =
        "policy: {name: base, version: '1', owner: o, effective_from: 2025-01-01}\n"
        "roles:\n  - {id: hv, title: H, route: 'queue:hv'}\n  - {id: lead, title: L, route: l}\n"
        "rules:\n"
        "  - {id: a, title: A, source: S, match: {status: was_not_brought},\n"
        "     count: {at_least: 1, within_days: 28}, action: {tier: routine, to: [hv], do: x}}\n"
        "  - {id: b, title: B, source: S, match: {status: no_access_visit},\n"
        "     count: {at_least: 1, within_days: 28}, action: {tier: routine, to: [lead], do: x}}\n";
    static const char overlay[] =
        "policy: {extends: base, name: local, version: '1-local'}\n"
        "roles:\n  - {id: hv, override: true, title: Local HV, route: 'queue:local-hv'}\n"
        "rules:\n"
        "  - {id: a, override: true, title: A2, source: S, match: {status: was_not_brought},\n"
        "     count: {at_least: 2, within_days: 28}, action: {tier: priority, to: [hv], do: y}}\n"
        "  - {id: c, title: C, source: S, match: {status: cancelled_by_patient},\n"
        "     count: {at_least: 1, within_days: 28}, action: {tier: curiosity, to: [hv], do: z}}\n"
        "delete: {rules: [b], roles: [lead]}\n";
    nb_policy_source_t srcs[2] = {{"base.yaml", base, strlen(base)},
                                  {"local.yaml", overlay, strlen(overlay)}};
    nb_policy_t *pol = NULL;
    char errstr[512];
    assert_int_equal(nb_policy_load_buffers(srcs, 2, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    assert_string_equal(nb_policy_info(pol)->name, "local");
    assert_int_equal(nb_policy_rule_count(pol), 2);
    assert_string_equal(nb_policy_rule(pol, 0)->title, "A2");
    assert_int_equal(nb_policy_rule(pol, 0)->tier, NB_TIER_PRIORITY);
    assert_string_equal(nb_policy_rule(pol, 1)->id, "c");
    assert_int_equal(nb_policy_role_count(pol), 1);
    assert_string_equal(nb_policy_role(pol, 0)->route, "queue:local-hv");
    nb_policy_destroy(pol);

    /* Deleting a role a rule still uses: an unknown role where it is used. */
    static const char bad_delete[] = "delete: {roles: [hv]}\n";
    nb_policy_source_t s2[2] = {{"base.yaml", base, strlen(base)},
                                {"del.yaml", bad_delete, strlen(bad_delete)}};
    assert_int_equal(nb_policy_load_buffers(s2, 2, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_REFERENCE);
    assert_string_equal(errstr, "base.yaml:7:74: unknown role 'hv' (defined roles: lead)");
    static const char bad_extends[] = "policy: {extends: other}\n";
    nb_policy_source_t s3[2] = {{"base.yaml", base, strlen(base)},
                                {"x.yaml", bad_extends, strlen(bad_extends)}};
    assert_int_equal(nb_policy_load_buffers(s3, 2, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_REFERENCE);
    assert_string_equal(errstr,
                        "x.yaml:1:9: this overlay extends 'other' but the base policy is 'base'");
    static const char no_such[] = "delete: {rules: [zzz]}\n";
    nb_policy_source_t s4[2] = {{"base.yaml", base, strlen(base)},
                                {"y.yaml", no_such, strlen(no_such)}};
    assert_int_equal(nb_policy_load_buffers(s4, 2, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_REFERENCE);
    assert_string_equal(errstr, "y.yaml:1:18: cannot delete rule 'zzz': no earlier file defines it");
}

/* ---- the engine -------------------------------------------------------------------------- */

static void test_count_window_boundaries(void **state)
{
    (void)state;
    nb_policy_t *pol = nb__ok(RULE_HEAD "    match: {status: was_not_brought}\n"
                                        "    count: {at_least: 2, within_days: 10}\n"
                                        "    action: {tier: routine, to: [hv], do: x}\n");
    kid_t k;
    size_t n;
    kid_new(&k, D("2020-01-01"), NB_DATE_NONE);
    kid_wnb(&k, "a", NB_AGENCY_GP, "2025-03-01T10:00Z");
    kid_wnb(&k, "b", NB_AGENCY_GP, "2025-03-05T10:00Z");
    kid_wnb(&k, "future", NB_AGENCY_GP, "2025-03-20T10:00Z");
    /* Exactly 10 days after the first: still inside the window. */
    const nb_policy_decision_t *d = kid_eval(&k, pol, "2025-03-11T10:00Z", &n);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].counts[0].count, 2);
    assert_int_equal(d[0].counts[0].window_days, 10);
    assert_int_equal(d[0].n_evidence, 2);
    /* One minute later the first has left it. */
    kid_eval(&k, pol, "2025-03-11T10:01Z", &n);
    assert_int_equal(n, 0);
    kid_free(&k);
    nb_policy_destroy(pol);
}

static void test_consecutive_and_agencies(void **state)
{
    (void)state;
    nb_policy_t *pol = nb__ok(
        RULE_HEAD "    match: {agency: health_visiting, status: no_access_visit}\n"
                  "    count: {consecutive: 2}\n"
                  "    action: {tier: routine, to: [hv], do: x}\n"
                  "  - id: r2\n    title: R2\n    source: S\n"
                  "    match: [{status: was_not_brought, agency: gp}, {status: no_access_visit}]\n"
                  "    count: {at_least: 2, within_days: 365, distinct_agencies: 2}\n"
                  "    action: {tier: routine, to: [hv], do: x}\n");
    kid_t k;
    size_t n;
    kid_new(&k, D("2022-01-01"), NB_DATE_NONE);
    kid_ev(&k, "h1", NB_AGENCY_HEALTH_VISITING, "visit", "2025-01-01T10:00Z",
           NB_STATUS_NO_ACCESS_VISIT, 1, false, NB_CONTACT_HOME_VISIT);
    kid_ev(&k, "h2", NB_AGENCY_HEALTH_VISITING, "visit", "2025-01-08T10:00Z",
           NB_STATUS_BOOKED, 1, false, NB_CONTACT_HOME_VISIT); /* not an outcome: skipped */
    kid_ev(&k, "h3", NB_AGENCY_HEALTH_VISITING, "visit", "2025-01-15T10:00Z",
           NB_STATUS_NO_ACCESS_VISIT, 1, false, NB_CONTACT_HOME_VISIT);
    const nb_policy_decision_t *d = kid_eval(&k, pol, "2025-02-01T00:00Z", &n);
    assert_int_equal(n, 1); /* r2 needs two agencies */
    assert_string_equal(d[0].rule->id, "r1");
    assert_int_equal(d[0].counts[0].count, 2);
    kid_wnb(&k, "g1", NB_AGENCY_GP, "2025-01-20T10:00Z");
    d = kid_eval(&k, pol, "2025-02-01T00:00Z", &n);
    assert_int_equal(n, 2);
    assert_int_equal(d[1].counts[0].count, 3);
    assert_int_equal(d[1].counts[0].agencies, 2);
    /* An attended visit breaks the run. */
    kid_ev(&k, "h2", NB_AGENCY_HEALTH_VISITING, "visit", "2025-01-08T10:00Z",
           NB_STATUS_ATTENDED, 2, false, NB_CONTACT_HOME_VISIT);
    kid_ev(&k, "h3", NB_AGENCY_HEALTH_VISITING, "visit", "2025-01-15T10:00Z",
           NB_STATUS_ATTENDED, 2, false, NB_CONTACT_HOME_VISIT);
    kid_ev(&k, "h4", NB_AGENCY_HEALTH_VISITING, "visit", "2025-01-22T10:00Z",
           NB_STATUS_NO_ACCESS_VISIT, 1, false, NB_CONTACT_HOME_VISIT);
    d = kid_eval(&k, pol, "2025-02-01T00:00Z", &n);
    assert_null(nb__find(d, n, "r1"));
    kid_free(&k);
    nb_policy_destroy(pol);
}

static void test_subject_predicates(void **state)
{
    (void)state;
    nb_policy_t *pol = nb__ok(
        RULE_HEAD "    match: {status: was_not_brought}\n"
                  "    subject: {age_months: {min: 12, max: 59}, facts: {none: [looked_after]}}\n"
                  "    count: {at_least: 1, within_days: 28}\n"
                  "    action: {tier: routine, to: [hv], do: x}\n"
                  "  - id: plan\n    title: P\n    source: S\n"
                  "    match: {status: was_not_brought}\n"
                  "    subject: {facts: {any: [child_protection_plan], ended_within_days: 30},\n"
                  "              self_managing: as_dna}\n"
                  "    count: {at_least: 1, within_days: 28}\n"
                  "    action: {tier: urgent, to: [sw], do: x}\n");
    kid_t k;
    size_t n;
    /* 11 months old: too young for r1. */
    kid_new(&k, D("2024-04-01"), NB_DATE_NONE);
    kid_wnb(&k, "a", NB_AGENCY_GP, "2025-03-01T10:00Z");
    kid_eval(&k, pol, "2025-03-10T10:00Z", &n);
    assert_int_equal(n, 0);
    /* 12 months on 2025-04-01. */
    kid_wnb(&k, "b", NB_AGENCY_GP, "2025-03-25T10:00Z");
    const nb_policy_decision_t *d = kid_eval(&k, pol, "2025-04-01T10:00Z", &n);
    assert_int_equal(n, 1);
    /* Looked after: excluded. */
    kid_fact(&k, "lac", NB_FACT_LOOKED_AFTER, "2025-01-01", NULL);
    kid_eval(&k, pol, "2025-04-01T10:00Z", &n);
    assert_int_equal(n, 0);
    /* A plan that ended 30 days ago still applies; 31 days ago it does not. */
    kid_fact(&k, "cpp", NB_FACT_CHILD_PROTECTION_PLAN, "2024-06-01", "2025-03-02");
    d = kid_eval(&k, pol, "2025-04-01T10:00Z", &n);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].rule->id, "plan");
    assert_int_equal(d[0].n_context, 1);
    assert_int_equal(d[0].context[0]->kind, NB_FACT_CHILD_PROTECTION_PLAN);
    kid_eval(&k, pol, "2025-04-02T10:00Z", &n);
    assert_int_equal(n, 0);
    kid_free(&k);

    /* Self-managing 16-17 year olds: excluded by default, as_dna where the rule says so. */
    kid_new(&k, D("2008-06-01"), NB_DATE_NONE);
    kid_fact(&k, "cpp", NB_FACT_CHILD_PROTECTION_PLAN, "2024-06-01", NULL);
    kid_wnb(&k, "a", NB_AGENCY_GP, "2025-03-01T10:00Z");
    nb_policy_subject_t s = {"k", NB_DATE_NONE, NB_DATE_NONE, true, NB_TIME_NONE};
    assert_int_equal(nb_policy_evaluate(pol, k.led, &s, T("2025-03-10T10:00Z"), k.res),
                     NB_ERR_OK);
    d = nb_policy_result_decisions(k.res, &n);
    assert_int_equal(n, 1);
    assert_true(d[0].as_dna);
    s.child_key = "";
    assert_int_equal(nb_policy_evaluate(pol, k.led, &s, T("2025-03-10T10:00Z"), k.res),
                     NB_ERR_INVALID_ARG);
    kid_free(&k);
    nb_policy_destroy(pol);
}

static void test_gestation(void **state)
{
    (void)state;
    nb_policy_t *pol = nb__ok(
        RULE_HEAD "    match: {type: antenatal_booking, status: attended,\n"
                  "            gestation_weeks: {min: '20+1'}}\n"
                  "    count: {at_least: 1, within_days: 300}\n"
                  "    action: {tier: priority, to: [hv], do: x}\n"
                  "  - id: overdue\n    title: O\n    source: S\n    kind: absence\n"
                  "    subject: {kind: unborn, gestation_weeks: {max: 20}}\n"
                  "    expect: {contact: {type: antenatal_booking}, by_gestation: '10+0'}\n"
                  "    action: {tier: routine, to: [hv], do: x}\n");
    kid_t k;
    size_t n;
    /* EDD 2025-06-01: 20+0 is 2025-01-12, 20+1 is 2025-01-13; 10+0 is 2024-11-03. */
    kid_new(&k, NB_DATE_NONE, D("2025-06-01"));
    const nb_policy_decision_t *d = kid_eval(&k, pol, "2024-11-03T23:59Z", &n);
    assert_int_equal(n, 0);
    d = kid_eval(&k, pol, "2024-11-04T00:00Z", &n);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].rule->id, "overdue");
    assert_true(d[0].deadline == T("2024-11-04T00:00Z"));
    d = kid_eval(&k, pol, "2025-01-13T00:00Z", &n); /* 20+1: past the subject band */
    assert_int_equal(n, 0);
    kid_ev(&k, "b", NB_AGENCY_MIDWIFERY, "antenatal_booking", "2025-01-12T10:00Z",
           NB_STATUS_ATTENDED, 1, true, NB_CONTACT_FACE_TO_FACE);
    kid_eval(&k, pol, "2025-01-14T00:00Z", &n);
    assert_int_equal(n, 0); /* booked at 20+0: not late */
    kid_ev(&k, "b", NB_AGENCY_MIDWIFERY, "antenatal_booking", "2025-01-13T10:00Z",
           NB_STATUS_ATTENDED, 2, true, NB_CONTACT_FACE_TO_FACE);
    d = kid_eval(&k, pol, "2025-01-14T00:00Z", &n);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].rule->id, "r1");
    kid_free(&k);
    nb_policy_destroy(pol);
}

static void test_modifiers_respond_and_ladder(void **state)
{
    (void)state;
    nb_policy_t *pol = nb__ok(
        "tiers: {priority: {respond_within: {working_days: 1}},\n"
        "        urgent: {respond_within: {hours: 4}}}\n"
        "ladders:\n"
        "  - {id: l1, rungs: [{after_hours: 24, from: respond_by, to: [lead], tier: priority}],\n"
        "     then: l2}\n"
        "  - {id: l2, rungs: [{after_hours: 24, to: [sw], tier: urgent}]}\n" RULE_HEAD
        "    match: {status: was_not_brought}\n"
        "    count: {at_least: 1, within_days: 28}\n"
        "    action: {tier: routine, to: [hv], do: x, respond_within: {working_days: 2},\n"
        "             escalation: l1}\n"
        "modifiers:\n"
        "  - {id: baby, title: B, source: S, subject: {age_months: {max: 11}}, raise: 1}\n"
        "  - {id: plan, title: P, source: S, subject: {facts: {any: [child_protection_plan]}},\n"
        "     tier: urgent, respond_within: {same_day: true}, add_to: [sw, hv]}\n"
        "  - {id: more, title: M, source: S, rules: [r1], subject: {age_months: {max: 11}}, "
        "raise: 3}\n");
    kid_t k;
    size_t n;
    kid_new(&k, D("2023-01-01"), NB_DATE_NONE);
    kid_wnb(&k, "a", NB_AGENCY_GP, "2025-04-16T10:00Z");
    const nb_policy_decision_t *d = kid_eval(&k, pol, "2025-04-17T09:00Z", &n);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].tier, NB_TIER_ROUTINE);
    assert_int_equal(d[0].n_modifiers, 0);
    /* Thursday before Easter: 2 working days is Wednesday 23 April, 17:00 BST. */
    assert_true(d[0].respond_by == T("2025-04-23T16:00Z"));
    assert_int_equal(d[0].n_rungs, 2);
    /* The ladder counts from the respond-by, and l2 continues from l1's last rung. */
    assert_true(d[0].rungs[0].due == T("2025-04-24T16:00Z"));
    assert_true(d[0].rungs[1].due == T("2025-04-25T16:00Z"));
    assert_true(d[0].rungs[0].after_ms == d[0].rungs[0].due - T("2025-04-17T09:00Z"));
    assert_false(d[0].rungs[0].early);
    assert_int_equal(d[0].rungs[0].tier, NB_TIER_PRIORITY);
    assert_int_equal(d[0].rungs[1].tier, NB_TIER_URGENT);
    assert_string_equal(d[0].rungs[1].roles[0]->id, "sw");
    kid_fact(&k, "cpp", NB_FACT_CHILD_PROTECTION_PLAN, "2025-01-01", NULL);
    d = kid_eval(&k, pol, "2025-04-17T09:00Z", &n);
    assert_int_equal(d[0].tier, NB_TIER_URGENT);
    assert_true(d[0].respond_by == T("2025-04-17T22:59:59.999Z")); /* end of the day, BST */
    assert_int_equal(d[0].n_recipients, 2);                        /* hv once, then sw */
    assert_string_equal(d[0].recipients[1]->id, "sw");
    assert_int_equal(d[0].n_modifiers, 1);
    kid_free(&k);
    /* A baby: raised one step, then three more, clamped at urgent. */
    kid_new(&k, D("2024-12-01"), NB_DATE_NONE);
    kid_wnb(&k, "a", NB_AGENCY_GP, "2025-04-16T10:00Z");
    d = kid_eval(&k, pol, "2025-04-17T09:00Z", &n);
    assert_int_equal(d[0].tier, NB_TIER_URGENT);
    assert_int_equal(d[0].base_tier, NB_TIER_ROUTINE);
    assert_int_equal(d[0].n_modifiers, 2);
    assert_string_equal(d[0].modifiers[0], "baby");
    assert_string_equal(d[0].modifiers[1], "more");
    /* Raised to urgent: the urgent tier's 4 hours, sooner than the rule's 2 working days. */
    assert_true(d[0].respond_by == T("2025-04-17T13:00Z"));
    assert_true(d[0].rungs[0].due == T("2025-04-18T13:00Z"));
    kid_free(&k);
    nb_policy_destroy(pol);
}

static void test_ids_suppression_and_withdrawal(void **state)
{
    (void)state;
    nb_policy_t *pol = nb__ok(RULE_HEAD "    match: {status: was_not_brought}\n"
                                        "    count: {at_least: 2, within_days: 365}\n"
                                        "    action: {tier: routine, to: [hv], do: x, "
                                        "cooldown_days: 30}\n"
                                        "  - id: shadowed\n    title: S\n    source: S\n"
                                        "    mode: shadow\n"
                                        "    match: {status: was_not_brought}\n"
                                        "    count: {at_least: 1, within_days: 365}\n"
                                        "    action: {tier: routine, to: [hv], do: x}\n");
    kid_t k1, k2;
    size_t n;
    kid_new(&k1, D("2020-01-01"), NB_DATE_NONE);
    kid_new(&k2, D("2020-01-01"), NB_DATE_NONE);
    /* The same events in another order give the same ids. */
    kid_wnb(&k1, "a", NB_AGENCY_GP, "2025-01-01T10:00Z");
    kid_wnb(&k1, "b", NB_AGENCY_HEALTH_VISITING, "2025-02-01T10:00Z");
    kid_wnb(&k2, "b", NB_AGENCY_HEALTH_VISITING, "2025-02-01T10:00Z");
    kid_wnb(&k2, "a", NB_AGENCY_GP, "2025-01-01T10:00Z");
    const nb_policy_decision_t *d1 = kid_eval(&k1, pol, "2025-03-01T00:00Z", &n);
    assert_int_equal(n, 2);
    const nb_policy_decision_t *d2 = kid_eval(&k2, pol, "2025-03-01T00:00Z", &n);
    assert_string_equal(d1[0].id, d2[0].id);
    assert_int_equal(strlen(d1[0].id), 32);
    /* The id is SHA-256 over a tag, the child key, the rule id and the evidence fingerprint
     * (docs/policy.md), computed here apart from the policy module; and ids never change
     * between releases (notifications already published keep theirs): both pinned. */
    {
        static const char tag[] = "notbrought.decision.v1";
        const char *key = "child-key-1", *rule = d1[0].rule->id;
        unsigned char msg[256], md[SHA256_DIGEST_LENGTH];
        size_t m = 0;
        memcpy(msg + m, tag, sizeof(tag));
        m += sizeof(tag);
        memcpy(msg + m, key, strlen(key) + 1);
        m += strlen(key) + 1;
        memcpy(msg + m, rule, strlen(rule) + 1);
        m += strlen(rule) + 1;
        for (int i = 0; i < 8; i++)
            msg[m++] = (unsigned char)(d1[0].fingerprint >> (8 * i));
        SHA256(msg, m, md);
        char hex[NB_LEDGER_ID_HEX + 1];
        for (int i = 0; i < NB_LEDGER_ID_BYTES; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        assert_string_equal(d1[0].id, hex);
        assert_true(d1[0].fingerprint == 13940148597572068962ULL);
        assert_string_equal(d1[0].id, "6fb22d8c89e9fc02f97834599213d9c9");
    }
    assert_int_equal(d1[0].state, NB_POLICY_NEW);
    assert_true(d1[1].shadow);
    /* Another child: another id. */
    nb_policy_subject_t other = {"child-key-2", NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    assert_int_equal(nb_policy_evaluate(pol, k2.led, &other, T("2025-03-01T00:00Z"), k2.res),
                     NB_ERR_OK);
    d2 = nb_policy_result_decisions(k2.res, &n);
    assert_string_not_equal(d1[0].id, d2[0].id);

    /* Raise it; re-evaluation later gives the same id, state raised, from the raise time. */
    d1 = kid_eval(&k1, pol, "2025-03-01T00:00Z", &n);
    nb_ledger_raised_t r;
    nb_policy_decision_to_raised(&d1[0], &r);
    char raised_id[NB_LEDGER_ID_HEX + 1];
    snprintf(raised_id, sizeof(raised_id), "%s", d1[0].id);
    assert_int_equal(nb_ledger_add_raised(k1.led, &r), NB_ERR_OK);
    d1 = kid_eval(&k1, pol, "2025-03-05T00:00Z", &n);
    assert_int_equal(d1[0].state, NB_POLICY_RAISED);
    assert_true(d1[0].decided_at == T("2025-03-01T00:00Z"));
    /* A late but older event changes the evidence: suppressed within the cool-down... */
    kid_wnb(&k1, "c", NB_AGENCY_GP, "2024-12-01T10:00Z");
    d1 = kid_eval(&k1, pol, "2025-03-05T00:00Z", &n);
    assert_int_equal(d1[0].state, NB_POLICY_SUPPRESSED);
    assert_string_equal(d1[0].related, raised_id);
    /* ...and a repeat after it (the concern persists). */
    d1 = kid_eval(&k1, pol, "2025-04-01T00:00Z", &n);
    assert_int_equal(d1[0].state, NB_POLICY_NEW);
    /* Newer evidence within the cool-down: new, following the raised one. */
    kid_wnb(&k1, "d", NB_AGENCY_GP, "2025-03-04T10:00Z");
    d1 = kid_eval(&k1, pol, "2025-03-05T00:00Z", &n);
    assert_int_equal(d1[0].state, NB_POLICY_NEW);
    assert_string_equal(d1[0].related, raised_id);
    size_t nr;
    const nb_policy_raised_status_t *rs = nb_policy_result_raised(k1.res, &nr);
    assert_int_equal(nr, 1);
    assert_int_equal(rs[0].support, NB_POLICY_SUPPORTED);
    /* b corrected to attended, c and d entered in error: at the raise time only "a" was
     * missed, so the raised notification is withdrawn. */
    kid_ev(&k1, "b", NB_AGENCY_HEALTH_VISITING, "immunisation", "2025-02-01T10:00Z",
           NB_STATUS_ATTENDED, 2, false, NB_CONTACT_FACE_TO_FACE);
    kid_ev(&k1, "c", NB_AGENCY_GP, "immunisation", "2024-12-01T10:00Z",
           NB_STATUS_ENTERED_IN_ERROR, 2, false, NB_CONTACT_FACE_TO_FACE);
    kid_ev(&k1, "d", NB_AGENCY_GP, "immunisation", "2025-03-04T10:00Z",
           NB_STATUS_ENTERED_IN_ERROR, 2, false, NB_CONTACT_FACE_TO_FACE);
    d1 = kid_eval(&k1, pol, "2025-03-06T00:00Z", &n);
    assert_null(nb__find(d1, n, "r1"));
    rs = nb_policy_result_raised(k1.res, &nr);
    assert_int_equal(rs[0].support, NB_POLICY_WITHDRAWN);
    assert_string_equal(rs[0].id, raised_id);
    assert_string_equal(rs[0].rule->id, "r1");
    kid_free(&k2);

    /* A window that has moved on: expired, not withdrawn. */
    kid_new(&k2, D("2020-01-01"), NB_DATE_NONE);
    kid_wnb(&k2, "a", NB_AGENCY_GP, "2025-01-01T10:00Z");
    kid_wnb(&k2, "b", NB_AGENCY_GP, "2025-02-01T10:00Z");
    d2 = kid_eval(&k2, pol, "2025-03-01T00:00Z", &n);
    nb_policy_decision_to_raised(&d2[0], &r);
    assert_int_equal(nb_ledger_add_raised(k2.led, &r), NB_ERR_OK);
    kid_eval(&k2, pol, "2026-01-15T00:00Z", &n);
    rs = nb_policy_result_raised(k2.res, &nr);
    assert_int_equal(rs[0].support, NB_POLICY_EXPIRED);
    /* The rule is gone from a new policy. */
    nb_policy_t *pol2 = nb__ok("rules:\n  - id: other\n    title: O\n    source: S\n" RULE_OK);
    kid_eval(&k2, pol2, "2025-03-02T00:00Z", &n);
    rs = nb_policy_result_raised(k2.res, &nr);
    assert_int_equal(rs[0].support, NB_POLICY_RULE_REMOVED);
    assert_null(rs[0].rule);
    nb_policy_destroy(pol2);
    kid_free(&k1);
    kid_free(&k2);
    nb_policy_destroy(pol);
}

static void test_absence_after_missed_and_resolved(void **state)
{
    (void)state;
    nb_policy_t *pol = nb__ok(RULE_HEAD "    kind: absence\n"
                                        "    match: {agency: health_visiting, status: was_not_brought}\n"
                                        "    expect: {contact: {agency: health_visiting}, "
                                        "within_working_days: 2, lookback_days: 30}\n"
                                        "    action: {tier: priority, to: [lead], do: x}\n"
                                        "  - id: nbv\n    title: N\n    source: S\n"
                                        "    kind: absence\n"
                                        "    expect: {contact: {type: new_birth_visit}, by_age_days: 14}\n"
                                        "    action: {tier: priority, to: [hv], do: x}\n");
    kid_t k;
    size_t n;
    kid_new(&k, D("2025-03-01"), NB_DATE_NONE);
    /* Day 14 is 2025-03-15: late from the 16th. */
    kid_eval(&k, pol, "2025-03-15T23:59Z", &n);
    assert_int_equal(n, 0);
    const nb_policy_decision_t *d = kid_eval(&k, pol, "2025-03-16T00:00Z", &n);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].rule->id, "nbv");
    char id1[NB_LEDGER_ID_HEX + 1];
    snprintf(id1, sizeof(id1), "%s", d[0].id);
    nb_ledger_raised_t r;
    nb_policy_decision_to_raised(&d[0], &r);
    assert_int_equal(nb_ledger_add_raised(k.led, &r), NB_ERR_OK);
    /* The same deadline later: the same id. */
    d = kid_eval(&k, pol, "2025-03-20T00:00Z", &n);
    assert_string_equal(d[0].id, id1);
    assert_int_equal(d[0].state, NB_POLICY_RAISED);
    /* A WNB on Thursday 17 April: two working days skip Good Friday and Easter Monday. */
    kid_ev(&k, "h1", NB_AGENCY_HEALTH_VISITING, "new_birth_visit", "2025-04-17T10:00Z",
           NB_STATUS_WAS_NOT_BROUGHT, 1, true, NB_CONTACT_HOME_VISIT);
    d = kid_eval(&k, pol, "2025-04-23T15:59Z", &n);
    assert_null(nb__find(d, n, "r1"));
    d = kid_eval(&k, pol, "2025-04-23T16:01Z", &n);
    const nb_policy_decision_t *x = nb__find(d, n, "r1");
    assert_non_null(x);
    assert_true(x->deadline == T("2025-04-23T16:00Z"));
    assert_int_equal(x->n_evidence, 1);
    /* The visit happens: both absences close; the raised new-birth one is resolved. */
    kid_ev(&k, "h2", NB_AGENCY_HEALTH_VISITING, "new_birth_visit", "2025-04-24T10:00Z",
           NB_STATUS_ATTENDED, 1, true, NB_CONTACT_HOME_VISIT);
    kid_eval(&k, pol, "2025-04-25T10:00Z", &n);
    assert_int_equal(n, 0);
    size_t nr;
    const nb_policy_raised_status_t *rs = nb_policy_result_raised(k.res, &nr);
    assert_int_equal(nr, 1);
    assert_int_equal(rs[0].support, NB_POLICY_RESOLVED);
    kid_free(&k);
    nb_policy_destroy(pol);
}

static void test_fuzzish_mutations_never_crash(void **state)
{
    (void)state;
    const char *src = getenv("NB_SOURCE_DIR") ? getenv("NB_SOURCE_DIR") : NB_SOURCE_DIR;
    char path[1024];
    snprintf(path, sizeof(path), "%s/config/policy/wnb-wales-base.yaml", src);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *text = malloc(1 << 16);
    size_t len = fread(text, 1, (1 << 16) - 1, fp);
    fclose(fp);
    char *copy = malloc(len + 1);
    uint64_t s = 12345;
    static const char bytes[] = ":-[]{}&*!|>'\"#\n ,?0a9";
    for (int i = 0; i < 300; i++) {
        memcpy(copy, text, len);
        for (int m = 0; m < 3; m++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            copy[(s >> 33) % len] = bytes[(s >> 20) % (sizeof(bytes) - 1)];
        }
        nb_policy_source_t srcs = {"m.yaml", copy, len};
        nb_policy_t *pol = NULL;
        char errstr[256];
        nb_err_t err = nb_policy_load_buffers(&srcs, 1, NULL, NULL, &pol, errstr, sizeof(errstr));
        /* The include is not available from memory, so it can never load. */
        assert_int_not_equal(err, NB_ERR_OK);
        assert_null(pol);
        assert_true(strlen(errstr) > 0);
    }
    free(copy);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_calendar_matches_rule),
        cmocka_unit_test(test_london_time_and_working_days),
        cmocka_unit_test(test_default_policy_metadata),
        cmocka_unit_test(test_same_files_same_hash),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_every_error_is_reported),
        cmocka_unit_test(test_overlays),
        cmocka_unit_test(test_count_window_boundaries),
        cmocka_unit_test(test_consecutive_and_agencies),
        cmocka_unit_test(test_subject_predicates),
        cmocka_unit_test(test_gestation),
        cmocka_unit_test(test_modifiers_respond_and_ladder),
        cmocka_unit_test(test_ids_suppression_and_withdrawal),
        cmocka_unit_test(test_absence_after_missed_and_resolved),
        cmocka_unit_test(test_fuzzish_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
