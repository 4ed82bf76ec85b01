/*
 * Unit tests: event (NHS number rules, enums, calendar, the error table).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/event.h"

static void test_nhs_check_digit_known_numbers(void **state)
{
    (void)state;
    /* 943 476 5919: the example NHS Digital publishes; weights 10..2 give 299, 299 mod 11 = 2,
     * 11 - 2 = 9. */
    assert_int_equal(nb_nhs_check_digit("943476591"), 9);
    assert_int_equal(nb_nhs_validate("9434765919"), NB_ERR_OK);
    assert_int_equal(nb_nhs_validate("9434765918"), NB_ERR_NHS_CHECK_DIGIT);
    /* 100000000: sum 10, 10 mod 11 = 10, 11 - 10 = 1. */
    assert_int_equal(nb_nhs_check_digit("100000000"), 1);
    /* 000000000: sum 0 -> 11 - 0 = 11 -> check digit 0. */
    assert_int_equal(nb_nhs_check_digit("000000000"), 0);
    /* 000000006: sum 6 * 2 = 12, 12 mod 11 = 1, 11 - 1 = 10: no valid check digit exists. */
    assert_int_equal(nb_nhs_check_digit("000000006"), -1);
    for (int d = 0; d <= 9; d++) {
        char n[11] = "000000006";
        n[9] = (char)('0' + d);
        n[10] = '\0';
        assert_int_equal(nb_nhs_validate(n), NB_ERR_NHS_CHECK_DIGIT);
    }
}

static void test_nhs_format(void **state)
{
    (void)state;
    assert_int_equal(nb_nhs_validate("943476591"), NB_ERR_NHS_FORMAT);
    assert_int_equal(nb_nhs_validate("94347659190"), NB_ERR_NHS_FORMAT);
    assert_int_equal(nb_nhs_validate("94347659a9"), NB_ERR_NHS_FORMAT);
    assert_int_equal(nb_nhs_validate(""), NB_ERR_NHS_FORMAT);
}

static void test_nhs_normalise(void **state)
{
    char out[NB_NHS_LEN + 1];
    (void)state;
    assert_int_equal(nb_nhs_normalise("943 476 5919", out), NB_ERR_OK);
    assert_string_equal(out, "9434765919");
    assert_int_equal(nb_nhs_normalise("943-476-5919", out), NB_ERR_OK);
    assert_string_equal(out, "9434765919");
    assert_int_equal(nb_nhs_normalise("943 476 591", out), NB_ERR_NHS_FORMAT);
    assert_string_equal(out, "");
    assert_int_equal(nb_nhs_normalise("943 476 59199", out), NB_ERR_NHS_FORMAT);
    assert_int_equal(nb_nhs_normalise("943.476.5919", out), NB_ERR_NHS_FORMAT);
    assert_true(nb_nhs_is_test_range("9990000018"));
    assert_false(nb_nhs_is_test_range("9434765919"));
}

static void test_enum_names_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < NB_STATUS__COUNT; i++) {
        nb_status_t st;
        assert_true(nb_status_parse(nb_status_name((nb_status_t)i), &st));
        assert_int_equal(st, i);
    }
    for (int i = 0; i < NB_AGENCY__COUNT; i++) {
        nb_agency_t a;
        assert_true(nb_agency_parse(nb_agency_name((nb_agency_t)i), &a));
        assert_int_equal(a, i);
    }
    nb_tier_t t;
    assert_true(nb_tier_parse("urgent", &t));
    assert_int_equal(t, NB_TIER_URGENT);
    assert_false(nb_tier_parse("Urgent", &t));
    assert_string_equal(nb_status_name(NB_STATUS_WAS_NOT_BROUGHT), "was_not_brought");
    assert_string_equal(nb_status_name((nb_status_t)99), "?");
    assert_true(nb_status_is_missed(NB_STATUS_NO_ACCESS_VISIT));
    assert_false(nb_status_is_missed(NB_STATUS_CANCELLED_BY_PATIENT));
}

static void test_error_table(void **state)
{
    (void)state;
    assert_string_equal(nb_err_name(NB_ERR_NHS_CHECK_DIGIT), "nhs_check_digit");
    assert_int_equal(nb_err_from_name("avro_negative_length"), NB_ERR_AVRO_NEGATIVE_LENGTH);
    assert_int_equal(nb_err_from_name("no_such_code"), NB_ERR__COUNT);
    assert_string_equal(nb_err_name((nb_err_t)-1), "unknown");
    /* Every code is unique and lower-case, so it can be a header value and a metric label. */
    for (int i = 0; i < NB_ERR__COUNT; i++) {
        const char *n = nb_err_name((nb_err_t)i);
        for (const char *p = n; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
        assert_int_equal(nb_err_from_name(n), i);
    }
}

static void test_calendar(void **state)
{
    int y;
    unsigned m, d;
    char buf[32];
    int32_t days;
    int64_t ms;
    (void)state;
    assert_int_equal(nb_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(nb_days_from_civil(2000, 3, 1), 11017);
    nb_civil_from_days(11016, &y, &m, &d);
    assert_int_equal(y, 2000);
    assert_int_equal(m, 2);
    assert_int_equal(d, 29);
    assert_true(nb_parse_date("2024-02-29", &days));
    nb_format_date(days, buf, sizeof(buf));
    assert_string_equal(buf, "2024-02-29");
    assert_false(nb_parse_date("2023-02-29", &days));
    assert_false(nb_parse_date("2023-13-01", &days));
    assert_true(nb_parse_time("2026-11-01T12:34:56.789Z", &ms));
    nb_format_time(ms, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-01T12:34:56.789Z");
    assert_true(nb_parse_time("2026-11-01", &ms));
    assert_int_equal(ms % NB_MS_PER_DAY, 0);
    assert_false(nb_parse_time("2026-11-01T25:00Z", &ms));
    assert_false(nb_parse_time("2026-11-01T12:00+01:00", &ms));
    assert_int_equal(nb_day_of(-1), -1);
    assert_int_equal(nb_day_of(0), 0);
}

static void test_age_months(void **state)
{
    int32_t dob = nb_days_from_civil(2025, 1, 31);
    (void)state;
    assert_int_equal(nb_age_months(dob, nb_days_from_civil(2025, 2, 28)), 0);
    assert_int_equal(nb_age_months(dob, nb_days_from_civil(2025, 3, 31)), 2);
    assert_int_equal(nb_age_months(dob, nb_days_from_civil(2026, 1, 30)), 11);
    assert_int_equal(nb_age_months(dob, nb_days_from_civil(2026, 1, 31)), 12);
    assert_true(nb_age_months(dob, nb_days_from_civil(2024, 12, 1)) < 0);
}

static void test_strlcpy_field(void **state)
{
    char buf[5];
    (void)state;
    assert_int_equal(nb_strlcpy_field(buf, sizeof(buf), "abcd", 4), NB_ERR_OK);
    assert_string_equal(buf, "abcd");
    assert_int_equal(nb_strlcpy_field(buf, sizeof(buf), "abcde", 5), NB_ERR_FIELD_TOO_LONG);
    assert_string_equal(buf, "");
}

/* nb_str_copy() stands in for snprintf(dst, cap, "%s", src): the same bytes, cut the same way.
 */
static void test_str_copy_as_snprintf(void **state)
{
    const char *srcs[] = {"", "a", "abc", "abcd", "abcde", "abcdefghij"};
    (void)state;
    for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
        for (size_t cap = 1; cap <= 8; cap++) {
            char got[8], want[8];
            memset(got, 'x', sizeof(got));
            nb_str_copy(got, cap, srcs[i]);
            snprintf(want, cap, "%s", srcs[i]);
            assert_string_equal(got, want);
            /* Nothing written past the terminator. */
            for (size_t k = strlen(got) + 1; k < sizeof(got); k++)
                assert_int_equal(got[k], 'x');
        }
    }
    char buf[4] = "zzz";
    nb_str_copy(buf, sizeof(buf), NULL);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nhs_check_digit_known_numbers),
        cmocka_unit_test(test_nhs_format),
        cmocka_unit_test(test_nhs_normalise),
        cmocka_unit_test(test_enum_names_round_trip),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_age_months),
        cmocka_unit_test(test_strlcpy_field),
        cmocka_unit_test(test_str_copy_as_snprintf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
