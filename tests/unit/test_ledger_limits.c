/*
 * Unit tests: what a child's ledger says when one of its limits is reached (issue 18). The
 * daemon dead-letters the event with this sentence; it used to say "a configured limit was
 * reached" for limits that are fixed in the code, so nobody could tell which one or change it.
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

#define DAY NB_MS_PER_DAY
#define T0 (20000LL * DAY) /* 2024-10-04 */

static nb_appointment_event_t make_event(int i)
{
    nb_appointment_event_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.appointment_id, sizeof(e.appointment_id), "gp-%d", i);
    snprintf(e.event_id, sizeof(e.event_id), "gp-%d-v1", i);
    snprintf(e.appointment_type, sizeof(e.appointment_type), "immunisation");
    snprintf(e.source.organisation_code, sizeof(e.source.organisation_code), "W91001");
    e.source.agency = NB_AGENCY_GP;
    e.subject_kind = NB_SUBJECT_CHILD;
    e.contact_mode = NB_CONTACT_FACE_TO_FACE;
    e.scheduled_start = T0 + (int64_t)i * 3600000;
    e.recorded_at = e.scheduled_start + 60000;
    e.status = NB_STATUS_ATTENDED;
    e.version = 1;
    e.date_of_birth = NB_DATE_NONE;
    e.expected_delivery_date = NB_DATE_NONE;
    return e;
}

static nb_context_fact_t make_fact(int i)
{
    nb_context_fact_t f;
    memset(&f, 0, sizeof(f));
    snprintf(f.event_id, sizeof(f.event_id), "fact-%d", i);
    snprintf(f.source_system, sizeof(f.source_system), "WCCIS");
    f.kind = NB_FACT_CHILD_IN_NEED;
    f.start_date = 20000 + i;
    f.end_date = NB_DATE_NONE;
    f.status = NB_FACT_STATUS_CURRENT;
    f.version = 1;
    f.recorded_at = (int64_t)f.start_date * DAY;
    return f;
}

static void assert_says(const char *s, const char *part)
{
    if (!strstr(s, part))
        fail_msg("'%s' does not say '%s'", s, part);
}

static void test_appointment_limit_named(void **state)
{
    (void)state;
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    nb_ledger_t *led = nb_ledger_new(dict);
    for (int i = 0; i < NB_LEDGER_MAX_APPTS; i++) {
        nb_appointment_event_t e = make_event(i);
        assert_int_equal(nb_ledger_apply(led, &e, NULL), NB_ERR_OK);
    }
    nb_appointment_event_t e = make_event(NB_LEDGER_MAX_APPTS);
    assert_int_equal(nb_ledger_apply(led, &e, NULL), NB_ERR_LIMIT);
    const char *why = nb_ledger_limit_str(led);
    assert_says(why, "4096 appointments");
    assert_says(why, "fixed");
    assert_null(strstr(why, "configured"));
    nb_ledger_destroy(led);
    nb_ledger_dict_destroy(dict);
}

static void test_fact_limit_named(void **state)
{
    (void)state;
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    nb_ledger_t *led = nb_ledger_new(dict);
    for (int i = 0; i < NB_LEDGER_MAX_FACTS; i++) {
        nb_context_fact_t f = make_fact(i);
        assert_int_equal(nb_ledger_apply_fact(led, &f, NULL), NB_ERR_OK);
    }
    nb_context_fact_t f = make_fact(NB_LEDGER_MAX_FACTS);
    assert_int_equal(nb_ledger_apply_fact(led, &f, NULL), NB_ERR_LIMIT);
    const char *why = nb_ledger_limit_str(led);
    assert_says(why, "64 context facts");
    assert_says(why, "fixed");
    /* A merge that would go past it says the same. */
    nb_ledger_t *other = nb_ledger_new(dict);
    assert_int_equal(nb_ledger_apply_fact(other, &f, NULL), NB_ERR_OK);
    assert_int_equal(nb_ledger_merge(led, other), NB_ERR_LIMIT);
    assert_says(nb_ledger_limit_str(led), "64 context facts");
    nb_ledger_destroy(other);
    nb_ledger_destroy(led);
    nb_ledger_dict_destroy(dict);
}

static void test_no_limit_reached(void **state)
{
    (void)state;
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    nb_ledger_t *led = nb_ledger_new(dict);
    assert_string_equal(nb_ledger_limit_str(led), nb_err_str(NB_ERR_LIMIT));
    assert_null(strstr(nb_err_str(NB_ERR_LIMIT), "configured"));
    nb_ledger_destroy(led);
    nb_ledger_dict_destroy(dict);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appointment_limit_named),
        cmocka_unit_test(test_fact_limit_named),
        cmocka_unit_test(test_no_limit_reached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
