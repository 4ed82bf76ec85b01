/*
 * Unit tests: the text a nurse reads (issue 20, item 7). Ages that read right at their
 * boundaries, times in local time across the changes to and from British Summer Time, enum
 * values as words, role titles beside role ids, the source system's appointment id in the
 * evidence, and windows that say what the rule counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/notify.h"

#define HOUR 3600000LL
#define KEY "a3f1000000000000000000000000000000000000000000000000000000000001"

static int32_t day(int y, unsigned m, unsigned d)
{
    return nb_days_from_civil(y, m, d);
}

static void age_is(int32_t dob, int32_t on, const char *want)
{
    char buf[32];
    assert_string_equal(nb_notify_age_text(dob, on, buf, sizeof(buf)), want);
}

static void test_ages(void **state)
{
    (void)state;
    int32_t dob = day(2025, 1, 31);
    age_is(dob, dob, "0 days");
    age_is(dob, dob + 1, "1 day");
    age_is(dob, dob + 16, "16 days"); /* read "0 months" before */
    age_is(dob, dob + 27, "27 days");
    age_is(dob, dob + 28, "4 weeks");
    age_is(dob, dob + 7 * 7, "7 weeks");
    age_is(dob, dob + 7 * 7 + 6, "7 weeks");
    age_is(dob, dob + 90, "12 weeks");
    /* 91 days on but not yet 3 whole months: still weeks. */
    age_is(day(2025, 5, 31), day(2025, 8, 30), "13 weeks");
    age_is(day(2025, 5, 31), day(2025, 8, 31), "3 months");
    age_is(day(2025, 1, 1), day(2025, 4, 1), "12 weeks");
    age_is(day(2025, 1, 1), day(2025, 4, 2), "3 months");
    age_is(day(2025, 1, 15), day(2026, 1, 14), "11 months");
    age_is(day(2025, 1, 15), day(2026, 1, 15), "12 months");
    age_is(day(2025, 1, 15), day(2026, 2, 14), "12 months"); /* read "(1 months)"-style */
    age_is(day(2024, 1, 15), day(2026, 1, 14), "23 months");
    age_is(day(2024, 1, 15), day(2026, 1, 15), "2 years");
    age_is(day(2024, 1, 15), day(2026, 2, 15), "2 years 1 month");
    age_is(day(2023, 10, 15), day(2026, 1, 20), "2 years 3 months");
    age_is(day(2008, 10, 1), day(2026, 1, 20), "17 years 3 months"); /* read "207 months" */
    age_is(day(2025, 1, 1), day(2024, 12, 31), "age not known");
    age_is(NB_DATE_NONE, day(2024, 12, 31), "age not known");
}

static void time_is(const char *utc, bool weekday, const char *want)
{
    int64_t t;
    char buf[64];
    assert_true(nb_parse_time(utc, &t));
    assert_string_equal(nb_notify_format_time(t, NB_NOTIFY_ZONE_EUROPE_LONDON, weekday, buf,
                                              sizeof(buf)),
                        want);
}

static void test_local_times_across_bst(void **state)
{
    (void)state;
    char buf[64];
    /* A 17:00 deadline in summer is 16:00Z; it reads 17:00. */
    time_is("2026-07-06T16:00:00Z", true, "Monday 6 July 2026 at 17:00 BST");
    time_is("2026-12-07T17:00:00Z", true, "Monday 7 December 2026 at 17:00 GMT");
    /* Spring forward: 01:00 GMT becomes 02:00 BST on Sunday 29 March 2026. */
    time_is("2026-03-29T00:59:00Z", false, "29 Mar 2026 00:59 GMT");
    time_is("2026-03-29T01:00:00Z", false, "29 Mar 2026 02:00 BST");
    /* Fall back: 02:00 BST becomes 01:00 GMT on Sunday 25 October 2026. */
    time_is("2026-10-25T00:59:00Z", false, "25 Oct 2026 01:59 BST");
    time_is("2026-10-25T01:00:00Z", false, "25 Oct 2026 01:00 GMT");
    /* The local day, not the UTC day: 23:30Z on 30 June is 00:30 on 1 July. */
    time_is("2026-06-30T23:30:00Z", true, "Wednesday 1 July 2026 at 00:30 BST");
    int64_t t;
    assert_true(nb_parse_time("2026-07-06T16:00:00Z", &t));
    assert_string_equal(nb_notify_format_time(t, NB_NOTIFY_ZONE_UTC, false, buf, sizeof(buf)),
                        "6 Jul 2026 16:00 UTC");
    assert_string_equal(
        nb_notify_format_time(NB_TIME_NONE, NB_NOTIFY_ZONE_UTC, false, buf, sizeof(buf)),
        "not set");
    nb_notify_zone_t z;
    assert_true(nb_notify_zone_parse("Europe/London", &z));
    assert_int_equal(z, NB_NOTIFY_ZONE_EUROPE_LONDON);
    assert_true(nb_notify_zone_parse("UTC", &z));
    assert_int_equal(z, NB_NOTIFY_ZONE_UTC);
    assert_false(nb_notify_zone_parse("Europe/Paris", &z));
    assert_false(nb_notify_zone_parse("", &z));
    assert_string_equal(nb_notify_format_date(day(2025, 3, 14), buf, sizeof(buf)),
                        "14 March 2025");
}

static void test_words(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(nb_notify_status_words(NB_STATUS_WAS_NOT_BROUGHT), "was not brought");
    assert_string_equal(nb_notify_status_words(NB_STATUS_NO_ACCESS_VISIT),
                        "no access at home visit");
    assert_string_equal(nb_notify_agency_words(NB_AGENCY_HEALTH_VISITING), "Health visiting");
    assert_string_equal(nb_notify_fact_words(NB_FACT_CHILD_PROTECTION_PLAN),
                        "Child protection plan");
    assert_string_equal(nb_notify_status_words((nb_status_t)99), "unknown status");
    assert_string_equal(nb_notify_words("new_birth_visit", buf, sizeof(buf)), "new birth visit");
    assert_string_equal(nb_notify_words("6_8_week_review", buf, sizeof(buf)), "6-8 week review");
    assert_string_equal(nb_notify_words("6_8_week_review", buf, 6), "6-8 w");
    assert_string_equal(nb_notify_words("_1_", buf, sizeof(buf)), " 1 ");
    for (int i = 0; i < NB_STATUS__COUNT; i++)
        assert_null(strchr(nb_notify_status_words((nb_status_t)i), '_'));
    for (int i = 0; i < NB_AGENCY__COUNT; i++)
        assert_null(strchr(nb_notify_agency_words((nb_agency_t)i), '_'));
    for (int i = 0; i < NB_FACT__COUNT; i++)
        assert_null(strchr(nb_notify_fact_words((nb_fact_kind_t)i), '_'));
}

/* ---- notifications built from the shipped policy ---------------------------------------- */

typedef struct fx_s {
    nb_policy_t *pol;
    nb_ledger_dict_t *dict;
    nb_ledger_t *led;
    nb_policy_result_t *res;
} fx_t;

static int setup(void **state)
{
    char errstr[512];
    fx_t *f = calloc(1, sizeof(*f));
    const char *files[] = {NB_SOURCE_DIR "/config/policy/wnb-wales-base.yaml"};
    assert_int_equal(nb_policy_load(files, 1, NULL, NULL, &f->pol, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    f->dict = nb_ledger_dict_new();
    f->led = nb_ledger_new(f->dict);
    f->res = nb_policy_result_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    nb_policy_result_destroy(f->res);
    nb_ledger_destroy(f->led);
    nb_ledger_dict_destroy(f->dict);
    nb_policy_destroy(f->pol);
    free(f);
    return 0;
}

static const nb_policy_decision_t *decision(fx_t *f, const char *rule, int64_t now)
{
    nb_policy_subject_t subj = {KEY, NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    assert_int_equal(nb_policy_evaluate(f->pol, f->led, &subj, now, f->res), NB_ERR_OK);
    size_t n;
    const nb_policy_decision_t *d = nb_policy_result_decisions(f->res, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].rule->id, rule) == 0)
            return &d[i];
    fail_msg("rule %s did not fire", rule);
    return NULL;
}

static void test_child_on_plan_reads_right(void **state)
{
    fx_t *f = *state;
    int64_t now;
    assert_true(nb_parse_time("2026-03-10T10:00:00Z", &now));
    nb_context_fact_t cp;
    memset(&cp, 0, sizeof(cp));
    strcpy(cp.event_id, "fact-1");
    cp.kind = NB_FACT_CHILD_PROTECTION_PLAN;
    cp.start_date = day(2026, 1, 5);
    cp.end_date = NB_DATE_NONE;
    cp.status = NB_FACT_STATUS_CURRENT;
    strcpy(cp.source_system, "WCCIS");
    cp.recorded_at = now - 60 * 24 * HOUR;
    cp.version = 1;
    assert_int_equal(nb_ledger_apply_fact(f->led, &cp, NULL), NB_ERR_OK);
    nb_appointment_event_t a;
    memset(&a, 0, sizeof(a));
    strcpy(a.event_id, "EMIS-E-991-v1");
    a.source.agency = NB_AGENCY_GP;
    strcpy(a.source.organisation_code, "W97016");
    a.subject_kind = NB_SUBJECT_CHILD;
    a.date_of_birth = day(2024, 5, 1);
    a.expected_delivery_date = NB_DATE_NONE;
    strcpy(a.appointment_id, "EMIS-APPT-0042731");
    strcpy(a.appointment_type, "immunisation");
    a.scheduled_start = now - 2 * HOUR;
    a.status = NB_STATUS_WAS_NOT_BROUGHT;
    a.recorded_at = now - HOUR;
    a.version = 1;
    assert_int_equal(nb_ledger_apply(f->led, &a, NULL), NB_ERR_OK);

    const nb_policy_decision_t *d = decision(f, "wnb_child_on_plan", now);
    nb_notification_t note;
    nb_notify_child_t child = {KEY, "9434765919", ""};
    nb_notify_build_new(f->pol, d, f->led, &child, now, &note);
    /* The source system's own appointment id, and its organisation, to quote. */
    assert_int_equal(note.n_evidence, 1);
    assert_string_equal(note.evidence[0].appointment_id, "EMIS-APPT-0042731");
    assert_string_equal(note.evidence[0].organisation_code, "W97016");
    assert_memory_equal(note.evidence[0].event_id, "sha256:", 7);
    /* Titles beside the role ids. */
    assert_true(note.n_recipients >= 1);
    for (size_t i = 0; i < note.n_recipients; i++) {
        assert_true(note.recipients[i].title[0] != '\0');
        assert_null(strchr(note.recipients[i].title, '_'));
        assert_null(strchr(note.recipients[i].role, ' '));
    }
    /* What the rule counted, in words. */
    assert_int_equal(note.n_counts, 1);
    assert_string_equal(note.counts[0].counted,
                        "1 appointment recorded as was not brought or no access visit in the "
                        "last 28 days, from 1 agency");
}

static void test_new_birth_visit_says_what_was_missed(void **state)
{
    fx_t *f = *state;
    int64_t now;
    /* Born 1 June 2026; day 14 is 15 June; now is 20 June. */
    assert_true(nb_parse_time("2026-06-20T10:00:00Z", &now));
    nb_appointment_event_t a;
    memset(&a, 0, sizeof(a));
    strcpy(a.event_id, "SYS1-77-v1");
    a.source.agency = NB_AGENCY_HEALTH_VISITING;
    strcpy(a.source.organisation_code, "7A4");
    a.subject_kind = NB_SUBJECT_CHILD;
    a.date_of_birth = day(2026, 6, 1);
    a.expected_delivery_date = NB_DATE_NONE;
    strcpy(a.appointment_id, "SYS1-77");
    strcpy(a.appointment_type, "new_birth_visit");
    a.mandated_contact = true;
    a.contact_mode = NB_CONTACT_HOME_VISIT;
    assert_true(nb_parse_time("2026-06-12T10:00:00Z", &a.scheduled_start));
    a.status = NB_STATUS_BOOKED;
    a.recorded_at = a.scheduled_start - 72 * HOUR;
    a.version = 1;
    assert_int_equal(nb_ledger_apply(f->led, &a, NULL), NB_ERR_OK);
    const nb_policy_decision_t *d = decision(f, "new_birth_visit_overdue", now);
    nb_notification_t note;
    nb_notify_child_t child = {KEY, "9434765919", ""};
    nb_notify_build_new(f->pol, d, f->led, &child, now, &note);
    assert_int_equal(note.n_counts, 1);
    /* Not "window 0 days, 0 agencies". */
    assert_non_null(strstr(note.counts[0].counted, "new birth visit"));
    assert_non_null(strstr(note.counts[0].counted, "by day 14 of life"));
    assert_null(strstr(note.counts[0].counted, "recorded by"));
    assert_memory_equal(note.counts[0].counted, "No ", 3);
    /* The booked visit that did not happen is quotable. */
    assert_int_equal(note.n_evidence, 1);
    assert_string_equal(note.evidence[0].appointment_id, "SYS1-77");
    char age[32];
    assert_string_equal(nb_notify_age_text(note.date_of_birth, nb_day_of(note.created_at), age,
                                           sizeof(age)),
                        "19 days");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ages),
        cmocka_unit_test(test_local_times_across_bst),
        cmocka_unit_test(test_words),
        cmocka_unit_test_setup_teardown(test_child_on_plan_reads_right, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_birth_visit_says_what_was_missed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
