/*
 * Unit tests of the policy's timers (issue 19): the next absence deadline a quiet child would
 * miss (nb_policy_result_next_due), deadlines judged at the watermark (absence_now), and the
 * support of a raised absence notification judged at its deadline. Over the shipped base policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/ledger.h"
#include "notbrought/policy.h"

#define DAY NB_MS_PER_DAY
#define HOUR (3600 * 1000LL)
#define NBV "new_birth_visit_overdue"
#define HV "hv_not_seen_after_missed"

static nb_policy_t *pol;

static int64_t T(const char *s)
{
    int64_t ms;
    assert_true(nb_parse_time(s, &ms));
    return ms;
}

typedef struct kid_s {
    nb_ledger_dict_t *dict;
    nb_ledger_t *led;
    nb_policy_result_t *res;
} kid_t;

static void kid_new(kid_t *k, int32_t dob)
{
    k->dict = nb_ledger_dict_new();
    k->led = nb_ledger_new(k->dict);
    k->res = nb_policy_result_new();
    nb_ledger_set_dates(k->led, dob, NB_DATE_NONE);
}

static void kid_free(kid_t *k)
{
    nb_ledger_destroy(k->led);
    nb_ledger_dict_destroy(k->dict);
    nb_policy_result_destroy(k->res);
}

static void kid_ev(kid_t *k, const char *id, const char *type, int64_t at, nb_status_t st,
                   int version, bool mandated)
{
    nb_appointment_event_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.appointment_id, sizeof(e.appointment_id), "%s", id);
    snprintf(e.event_id, sizeof(e.event_id), "%s-%d", id, version);
    snprintf(e.appointment_type, sizeof(e.appointment_type), "%s", type);
    e.source.agency = NB_AGENCY_HEALTH_VISITING;
    e.subject_kind = NB_SUBJECT_CHILD;
    e.contact_mode = NB_CONTACT_HOME_VISIT;
    e.mandated_contact = mandated;
    e.scheduled_start = at;
    e.recorded_at = at;
    e.status = st;
    e.version = version;
    e.date_of_birth = NB_DATE_NONE;
    e.expected_delivery_date = NB_DATE_NONE;
    assert_int_equal(nb_ledger_apply(k->led, &e, NULL), NB_ERR_OK);
}

/* Evaluates at @p now, absence deadlines judged at @p wm; @returns the decision of @p rule
 * (state NEW) or NULL. */
static const nb_policy_decision_t *eval(kid_t *k, int64_t now, int64_t wm, const char *rule)
{
    nb_policy_subject_t s = {"child-key-1", NB_DATE_NONE, NB_DATE_NONE, false, wm};
    assert_int_equal(nb_policy_evaluate(pol, k->led, &s, now, k->res), NB_ERR_OK);
    size_t n;
    const nb_policy_decision_t *d = nb_policy_result_decisions(k->res, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].rule->id, rule) == 0)
            return &d[i];
    return NULL;
}

static nb_policy_support_t support_of(kid_t *k, const char *rule)
{
    size_t n;
    const nb_policy_raised_status_t *rs = nb_policy_result_raised(k->res, &n);
    for (size_t i = 0; i < n; i++)
        if (rs[i].rule && strcmp(rs[i].rule->id, rule) == 0)
            return rs[i].support;
    fail_msg("no raised notification of %s", rule);
    return NB_POLICY_SUPPORTED;
}

/* A baby born on 2 March 2026 whose new birth visit is booked for day 12. @returns the end
 * of day 14, the new birth visit's deadline. */
static int64_t quiet_baby(kid_t *k, int32_t *dob)
{
    *dob = nb_day_of(T("2026-03-02T00:00:00Z"));
    kid_new(k, *dob);
    kid_ev(k, "nbv", "new_birth_visit", (int64_t)(*dob + 12) * DAY + 10 * HOUR,
           NB_STATUS_BOOKED, 1, true);
    return (int64_t)(*dob + 15) * DAY;
}

/* A baby born on 2 March 2026 whose new birth visit was booked for day 12 and never recorded:
 * the timer is the end of day 14, and the rule fires then, not before. */
static void test_quiet_baby_timer_at_day_14(void **state)
{
    (void)state;
    kid_t k;
    int32_t dob;
    int64_t deadline = quiet_baby(&k, &dob);
    assert_null(eval(&k, (int64_t)(dob + 5) * DAY, NB_TIME_NONE, NBV));
    assert_int_equal(nb_policy_result_next_due(k.res), deadline);
    assert_null(eval(&k, deadline - 1, NB_TIME_NONE, NBV));
    assert_int_equal(nb_policy_result_next_due(k.res), deadline);
    const nb_policy_decision_t *d = eval(&k, deadline, NB_TIME_NONE, NBV);
    assert_non_null(d);
    assert_int_equal(d->deadline, deadline);
    /* Recorded as attended on day 12: no timer for it, and nothing fires. */
    kid_ev(&k, "nbv", "new_birth_visit", (int64_t)(dob + 12) * DAY + 10 * HOUR,
           NB_STATUS_ATTENDED, 2, true);
    assert_null(eval(&k, (int64_t)(dob + 5) * DAY, NB_TIME_NONE, NBV));
    assert_true(nb_policy_result_next_due(k.res) == NB_TIME_NONE ||
                nb_policy_result_next_due(k.res) > deadline);
    assert_null(eval(&k, deadline + DAY, NB_TIME_NONE, NBV));
    kid_free(&k);
}

/* Past the deadline by the clock, not by the watermark: nothing yet, and the deadline is still
 * the next timer; once the watermark passes it, it fires. */
static void test_deadline_waits_for_the_watermark(void **state)
{
    (void)state;
    kid_t k;
    int32_t dob;
    int64_t deadline = quiet_baby(&k, &dob);
    int64_t now = deadline + 30 * DAY;
    assert_null(eval(&k, now, deadline - HOUR, NBV));
    assert_int_equal(nb_policy_result_next_due(k.res), deadline);
    assert_non_null(eval(&k, now, deadline, NBV));
    assert_non_null(eval(&k, now, NB_TIME_NONE, NBV));
    /* A watermark later than the clock is the clock. */
    assert_null(eval(&k, deadline - 1, deadline + DAY, NBV));
    kid_free(&k);
}

/* Five working days after a missed mandated contact, by close of business: the timer is just
 * past that time. */
static void test_working_days_timer(void **state)
{
    (void)state;
    kid_t k;
    int32_t dob = nb_day_of(T("2026-01-05T00:00:00Z"));
    int64_t missed = T("2026-03-02T09:00:00Z"); /* a Monday */
    kid_new(&k, dob);
    kid_ev(&k, "review", "6_8_week_review", missed, NB_STATUS_WAS_NOT_BROUGHT, 2, true);
    assert_null(eval(&k, missed + HOUR, NB_TIME_NONE, HV));
    int64_t due = nb_policy_result_next_due(k.res);
    assert_int_equal(due, nb_policy_add_working_days(pol, missed, 5) + 1);
    assert_true(due > T("2026-03-09T00:00:00Z") && due <= T("2026-03-10T00:00:00Z"));
    assert_null(eval(&k, due - 1, NB_TIME_NONE, HV));
    assert_non_null(eval(&k, due, NB_TIME_NONE, HV));
    kid_free(&k);
}

/* A raised absence notification is judged at its deadline: time moving on (the baby grows out
 * of the rule) leaves it standing; a contact recorded with a date after the deadline resolves
 * it; one dated before the deadline (it arrived late) withdraws it. */
static void test_raised_absence_judged_at_its_deadline(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        kid_t k;
        int32_t dob;
        int64_t deadline = quiet_baby(&k, &dob);
        /* Raised late (a backlog held it, or a restart): its deadline is what counts. */
        const nb_policy_decision_t *d = eval(&k, deadline + 10 * DAY, NB_TIME_NONE, NBV);
        assert_non_null(d);
        nb_ledger_raised_t r;
        nb_policy_decision_to_raised(d, &r);
        assert_int_equal(nb_ledger_add_raised(k.led, &r), NB_ERR_OK);
        nb_policy_support_t want;
        int64_t at;
        if (variant == 0) { /* three months old: the rule applies up to 2 months */
            at = (int64_t)(dob + 100) * DAY;
            want = NB_POLICY_EXPIRED;
        } else if (variant == 1) { /* seen on day 20 */
            kid_ev(&k, "nbv", "new_birth_visit", (int64_t)(dob + 20) * DAY + 10 * HOUR,
                   NB_STATUS_ATTENDED, 2, true);
            at = (int64_t)(dob + 21) * DAY;
            want = NB_POLICY_RESOLVED;
        } else { /* seen on day 12 after all, recorded late */
            kid_ev(&k, "nbv", "new_birth_visit", (int64_t)(dob + 12) * DAY + 10 * HOUR,
                   NB_STATUS_ATTENDED, 2, true);
            at = (int64_t)(dob + 30) * DAY;
            want = NB_POLICY_WITHDRAWN;
        }
        assert_null(eval(&k, at, NB_TIME_NONE, NBV));
        assert_int_equal(support_of(&k, NBV), want);
        kid_free(&k);
    }
}

static int setup(void **state)
{
    (void)state;
    char errstr[1024];
    const char *files[] = {NB_SOURCE_DIR "/config/policy/wnb-wales-base.yaml"};
    if (nb_policy_load(files, 1, NULL, NULL, &pol, errstr, sizeof(errstr)))
        fail_msg("policy: %s", errstr);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nb_policy_destroy(pol);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quiet_baby_timer_at_day_14),
        cmocka_unit_test(test_deadline_waits_for_the_watermark),
        cmocka_unit_test(test_working_days_timer),
        cmocka_unit_test(test_raised_absence_judged_at_its_deadline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
