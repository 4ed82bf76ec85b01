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
    /* Every value a decoder can hand over formats without overflow (found by fuzz.codec). */
    nb_format_time(INT64_MIN + 1, buf, sizeof(buf));
    assert_string_equal(buf, "-9223372036854775807 ms");
    nb_format_time(INT64_MAX, buf, sizeof(buf));
    assert_string_equal(buf, "9223372036854775807 ms");
    nb_format_time(-62167219200000LL, buf, sizeof(buf));
    assert_string_equal(buf, "0000-01-01T00:00:00.000Z");
    nb_format_time(253402300799999LL, buf, sizeof(buf));
    assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
    nb_format_date(INT32_MAX, buf, sizeof(buf));
    assert_string_equal(buf, "day 2147483647");
    nb_format_date(INT32_MIN + 1, buf, sizeof(buf));
    assert_string_equal(buf, "day -2147483647");
    nb_civil_from_days(INT32_MAX, &y, &m, &d);
    assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
    nb_civil_from_days(INT32_MIN, &y, &m, &d);
    assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
    assert_int_equal(nb_day_of(INT64_MAX), INT32_MAX);
    assert_int_equal(nb_day_of(INT64_MIN + 1), INT32_MIN + 1);
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

/* Regression (issue 18): every ten-digit run of one digit passes Modulus 11 (0000000000 too),
 * and none is ever issued; systems send them as "unknown". Published sample numbers (PDS
 * sandbox 9000000009..33, UK Core, BaRS, nw-gmsa, open-inhealthcare, uk-fci; see
 * shared/realdata/SOURCES.md) stay valid: where a rule disagrees with a real sample, the sample
 * wins. */
static void test_nhs_placeholders_refused_samples_accepted(void **state)
{
    (void)state;
    for (char d = '0'; d <= '9'; d++) {
        char n[NB_NHS_LEN + 1];
        memset(n, d, NB_NHS_LEN);
        n[NB_NHS_LEN] = '\0';
        assert_int_equal(nb_nhs_check_digit(n), d - '0'); /* why the check alone lets them by */
        assert_int_equal(nb_nhs_validate(n), NB_ERR_NHS_PLACEHOLDER);
    }
    static const char *const samples[] = {
        "9000000009", "9000000017", "9000000025", "9000000033", "9990500002", "9912003888",
        "9476719931", "9449305552", "9449307555", "9434765919", "9990000018", "9990000026",
        "9990000034", "9990000042", "9990000050", "9990000069", "9990000077", "9990000085",
        "9990000093"};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        assert_int_equal(nb_nhs_validate(samples[i]), NB_ERR_OK);
    assert_int_equal(nb_nhs_validate("9912003890"), NB_ERR_NHS_CHECK_DIGIT); /* UK Core baby */
}

static void check_text(const char *s, nb_text_class_t cls, nb_text_fault_t want)
{
    nb_text_fault_t got = nb_text_check(s, strlen(s), cls);
    if (got != want)
        fail_msg("class %d: got fault %d, want %d for a %zu-byte text", (int)cls, (int)got,
                 (int)want, strlen(s));
}

/* Regression (issue 18): text is UTF-8 (RFC 3629, nothing overlong, no surrogates, nothing
 * above U+10FFFF) without control or bidirectional override characters. */
static void test_text_check(void **state)
{
    (void)state;
    static const nb_text_class_t all[] = {NB_TEXT_ID, NB_TEXT_NAME, NB_TEXT_FREE};
    for (size_t c = 0; c < 3; c++) {
        nb_text_class_t k = all[c];
        check_text("", k, NB_TEXT_OK);
        check_text("immunisation 8-week", k, NB_TEXT_OK);
        /* y-circumflex, o-acute, euro, emoji */
        check_text("Llywelyn ap Gruffydd \xc5\xb7 \xc3\xb3 \xe2\x82\xac \xf0\x9f\x98\x80", k,
                   NB_TEXT_OK);
        check_text("\xef\xbf\xbd", k, NB_TEXT_OK);            /* U+FFFD is a character */
        check_text("\xf4\x8f\xbf\xbf", k, NB_TEXT_OK);        /* U+10FFFF, the last */
        check_text("caf\xe9", k, NB_TEXT_NOT_UTF8);           /* Latin-1 e-acute */
        check_text("\xc0\xaf", k, NB_TEXT_NOT_UTF8);          /* overlong '/' */
        check_text("\xc1\xbf", k, NB_TEXT_NOT_UTF8);          /* overlong */
        check_text("\xe0\x80\xaf", k, NB_TEXT_NOT_UTF8);      /* overlong, 3 bytes */
        check_text("\xf0\x80\x80\xaf", k, NB_TEXT_NOT_UTF8);  /* overlong, 4 bytes */
        check_text("\xed\xa0\x80", k, NB_TEXT_NOT_UTF8);      /* surrogate U+D800 */
        check_text("\xed\xbf\xbf", k, NB_TEXT_NOT_UTF8);      /* surrogate U+DFFF */
        check_text("\xf4\x90\x80\x80", k, NB_TEXT_NOT_UTF8);  /* U+110000 */
        check_text("\xf5\x80\x80\x80", k, NB_TEXT_NOT_UTF8);
        check_text("\xe2\x82", k, NB_TEXT_NOT_UTF8);          /* truncated */
        check_text("\x80", k, NB_TEXT_NOT_UTF8);              /* lone continuation */
        check_text("\xff", k, NB_TEXT_NOT_UTF8);
        check_text("a\x1b[2Jb", k, NB_TEXT_CONTROL);          /* ANSI clear screen */
        check_text("\x07", k, NB_TEXT_CONTROL);
        check_text("\x7f", k, NB_TEXT_CONTROL);               /* DEL */
        check_text("\xc2\x85", k, NB_TEXT_CONTROL);           /* C1 NEL */
        check_text("\xc2\x9b" "31m", k, NB_TEXT_CONTROL);     /* C1 CSI */
        check_text("\xe2\x80\xae" "txt.exe", k, NB_TEXT_BIDI); /* U+202E RLO */
        check_text("\xe2\x80\xaa", k, NB_TEXT_BIDI);          /* U+202A LRE */
        check_text("\xe2\x81\xa6", k, NB_TEXT_BIDI);          /* U+2066 LRI */
        check_text("\xe2\x81\xa9", k, NB_TEXT_BIDI);          /* U+2069 PDI */
    }
    /* A NUL inside the given length is a control character. */
    assert_int_equal(nb_text_check("a\0b", 3, NB_TEXT_FREE), NB_TEXT_CONTROL);
    /* Line breaks: free text only. */
    check_text("seen\nrebooked\r\n\tok", NB_TEXT_FREE, NB_TEXT_OK);
    check_text("a\xe2\x80\xa8" "b", NB_TEXT_FREE, NB_TEXT_OK); /* U+2028 */
    check_text("immunisation\nchild is safe", NB_TEXT_NAME, NB_TEXT_CONTROL);
    check_text("a\tb", NB_TEXT_ID, NB_TEXT_CONTROL);
    check_text("a\xe2\x80\xa9" "b", NB_TEXT_NAME, NB_TEXT_CONTROL); /* U+2029 */
    /* Invisible marks: names in right-to-left scripts may need them, identifiers never. */
    check_text("\xd8\xb9\xd9\x84\xd9\x8a\xe2\x80\x8f", NB_TEXT_NAME, NB_TEXT_OK); /* RLM */
    check_text("\xe2\x80\x8f", NB_TEXT_FREE, NB_TEXT_OK);
    check_text("gp-1\xe2\x80\x8f", NB_TEXT_ID, NB_TEXT_INVISIBLE);
    check_text("gp-1\xe2\x80\x8b", NB_TEXT_ID, NB_TEXT_INVISIBLE); /* ZWSP */
    check_text("\xef\xbb\xbfgp-1", NB_TEXT_ID, NB_TEXT_INVISIBLE); /* BOM */
    check_text("\xd8\x9c", NB_TEXT_ID, NB_TEXT_INVISIBLE);          /* U+061C ALM */
    assert_string_equal(nb_text_fault_str(NB_TEXT_NOT_UTF8), "is not valid UTF-8");
}

static void check_escape(const char *in, const char *want)
{
    char out[NB_TEXT_ESCAPED_MAX(64)];
    assert_string_equal(nb_text_escape(out, sizeof(out), in), want);
}

/* Regression (issue 18): what people read shows control and bidirectional characters as
 * visible escapes, so a field cannot forge a line, move the cursor or reorder the text. */
static void test_text_escape(void **state)
{
    (void)state;
    check_escape("immunisation", "immunisation");
    check_escape("Llywelyn \xc5\xb7 \xe2\x82\xac", "Llywelyn \xc5\xb7 \xe2\x82\xac");
    check_escape("x\n  Why:        child is safe", "x\\n  Why:        child is safe");
    check_escape("\x1b[2J\x1b[31mOK", "\\x1b[2J\\x1b[31mOK");
    check_escape("a\tb\rc\\d", "a\\tb\\rc\\\\d");
    check_escape("\x7f\x01", "\\x7f\\x01");
    check_escape("caf\xe9", "caf\\xe9");
    check_escape("\xc0\xaf", "\\xc0\\xaf");
    check_escape("\xed\xa0\x80", "\\xed\\xa0\\x80");
    check_escape("\xc2\x85", "\\u0085");
    check_escape("abc\xe2\x80\xae" "fdp.exe", "abc\\u202efdp.exe");
    check_escape("\xe2\x81\xa6\xe2\x80\x8f\xe2\x80\xa8\xef\xbb\xbf",
                 "\\u2066\\u200f\\u2028\\ufeff");
    /* The worst case fits NB_TEXT_ESCAPED_MAX, and a short buffer cuts between characters. */
    char big[NB_TEXT_ESCAPED_MAX(8)];
    nb_text_escape(big, sizeof(big), "\xff\xff\xff\xff\xff\xff\xff\xff");
    assert_string_equal(big, "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff");
    char small[8];
    assert_string_equal(nb_text_escape(small, sizeof(small), "ab\x1b" "cdef"), "ab\\x1bc");
    assert_string_equal(nb_text_escape(small, sizeof(small), "abcde\xe2\x82\xac"), "abcde");
    assert_string_equal(nb_text_escape(small, sizeof(small), NULL), "");
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
        cmocka_unit_test(test_nhs_placeholders_refused_samples_accepted),
        cmocka_unit_test(test_text_check),
        cmocka_unit_test(test_text_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
