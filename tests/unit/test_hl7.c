/*
 * unit.hl7: the HL7 v2 parser on small messages written here, one feature at a time.
 * unit.hl7.realdata: the same binary run as `test_hl7 --realdata DIR` on every *.hl7 file under
 * DIR (../shared/realdata/hl7v2, messages no one here wrote; read in place, never copied);
 * it exits 77, which ctest shows as skipped, when DIR is absent.
 *
 * Every message here is made up: names, numbers (NHS numbers from the 999 test range) and
 * places.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>

#include "notbrought/hl7.h"
#include "realdata_files.h"

/* A booking as a PAS might send it, CR after each segment. */
#define SIU_SEGMENTS                                                                               \
    "MSH|^~\\&|PAS|RX1|NOTBROUGHT|NB01|20240304101500+0000||SIU^S12^SIU_S12|CTRL0001|P|2.5.1",     \
        "SCH|APT-1^PAS|FIL-1^PAS|||||ROUTINE^Routine|CHECK^8-week check|20|MIN|"                   \
        "^^20^20240310093000||||||||||||||BOOKED",                                                 \
        "PID|1||LOCAL123^^^RX1^MR~9990000018^^^NHS^NH||TESTCHILD^ALPHA||20231001|F",               \
        "PV1|1|O|CLINIC1^^^RX1||||\"\"^\"\"|||||||||||||VISIT9", "RGS|1|A",                        \
        "AIL|1|A|CLINIC1^^^RX1&1.2.3&ISO|||20240310093000|||20|MIN||BOOKED",                       \
        "NTE|1||Bring the red book \\T\\ the card\\.br\\Ring 01234\\F\\5"

static const char *const siu_segments[] = {SIU_SEGMENTS};
#define SIU_NSEG (sizeof(siu_segments) / sizeof(siu_segments[0]))

/* The booking with each segment followed by @p term, the last one by @p last. */
static char *siu_with(const char *term, const char *last)
{
    nb_buf_t b = {0};
    for (size_t i = 0; i < SIU_NSEG; i++) {
        nb_buf_add(&b, siu_segments[i], strlen(siu_segments[i]));
        const char *t = i + 1 < SIU_NSEG ? term : last;
        nb_buf_add(&b, t, strlen(t));
    }
    nb_buf_add(&b, "", 1);
    assert_int_equal(b.err, NB_ERR_OK);
    return (char *)b.data;
}

static void parse_ok(nb_hl7_msg_t *msg, const char *text, size_t len)
{
    char errstr[256] = "";
    nb_err_t err = nb_hl7_msg_parse(msg, text, len, errstr, sizeof(errstr));
    if (err != NB_ERR_OK)
        fail_msg("parse: %s: %s", nb_err_name(err), errstr);
}

/* Parses @p text expecting @p want, with an error text holding each of @p parts (NULL-ended),
 * and never the value SECRET that the bad messages below carry. */
static void parse_fails(const char *text, size_t len, nb_err_t want, ...)
{
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    assert_non_null(msg);
    char errstr[256] = "";
    nb_err_t err = nb_hl7_msg_parse(msg, text, len, errstr, sizeof(errstr));
    if (err != want)
        fail_msg("want %s, got %s (%s)", nb_err_name(want), nb_err_name(err), errstr);
    va_list ap;
    va_start(ap, want);
    for (const char *part; (part = va_arg(ap, const char *)) != NULL;)
        if (!strstr(errstr, part))
            fail_msg("error text '%s' lacks '%s'", errstr, part);
    va_end(ap);
    if (strstr(errstr, "SECRET"))
        fail_msg("error text '%s' quotes the message", errstr);
    nb_hl7_msg_destroy(msg);
}

static void assert_value(nb_hl7_value_t v, const char *want)
{
    if (v.len != strlen(want) || memcmp(v.p, want, v.len) != 0)
        fail_msg("value '%.*s', want '%s'", (int)v.len, v.p, want);
}

/* ---- messages ---------------------------------------------------------------------------- */

/* Segments, fields, repetitions, components and sub-components by HL7's numbers; MSH-1 is the
 * field separator and MSH-2 the encoding characters, neither split. */
static void test_positions(void **state)
{
    (void)state;
    char *text = siu_with("\r", "\r");
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    parse_ok(msg, text, strlen(text));
    assert_int_equal(nb_hl7_segment_count(msg), SIU_NSEG);
    assert_string_equal(nb_hl7_segment_id(msg, 0), "MSH");
    assert_string_equal(nb_hl7_segment_id(msg, 2), "PID");
    assert_string_equal(nb_hl7_segment_id(msg, SIU_NSEG), "");
    assert_value(nb_hl7_get(msg, 0, 1, 0, 0, 0), "|");
    assert_value(nb_hl7_get(msg, 0, 2, 0, 0, 0), "^~\\&");
    assert_value(nb_hl7_get(msg, 0, 2, 1, 1, 1), "^~\\&");
    assert_int_equal(nb_hl7_get(msg, 0, 2, 1, 2, 0).len, 0); /* not split */
    assert_int_equal(nb_hl7_rep_count(msg, 0, 2), 1);
    assert_int_equal(nb_hl7_comp_count(msg, 0, 2, 1), 1);
    assert_value(nb_hl7_get(msg, 0, 3, 0, 0, 0), "PAS");
    assert_value(nb_hl7_get(msg, 0, 9, 1, 1, 0), "SIU");
    assert_value(nb_hl7_get(msg, 0, 9, 1, 2, 0), "S12");
    assert_value(nb_hl7_get(msg, 0, 9, 0, 3, 0), "SIU_S12"); /* rep 0 + comp: first rep */
    assert_value(nb_hl7_get(msg, 0, 10, 0, 0, 0), "CTRL0001");
    assert_value(nb_hl7_get(msg, 0, 12, 0, 0, 0), "2.5.1");
    assert_int_equal(nb_hl7_field_count(msg, 0), 12);
    assert_int_equal(nb_hl7_field_count(msg, 2), 8);
    size_t pid;
    assert_true(nb_hl7_segment_find(msg, "PID", 0, &pid));
    assert_int_equal(pid, 2);
    assert_false(nb_hl7_segment_find(msg, "PID", 3, &pid));
    assert_false(nb_hl7_segment_find(msg, "ZU3", 0, &pid));
    assert_value(nb_hl7_get(msg, pid, 3, 0, 0, 0), "LOCAL123^^^RX1^MR~9990000018^^^NHS^NH");
    assert_int_equal(nb_hl7_rep_count(msg, pid, 3), 2);
    assert_value(nb_hl7_get(msg, pid, 3, 2, 0, 0), "9990000018^^^NHS^NH");
    assert_value(nb_hl7_get(msg, pid, 3, 2, 1, 0), "9990000018");
    assert_value(nb_hl7_get(msg, pid, 3, 2, 5, 0), "NH");
    assert_int_equal(nb_hl7_comp_count(msg, pid, 3, 2), 5);
    assert_int_equal(nb_hl7_get(msg, pid, 3, 2, 6, 0).len, 0);
    assert_int_equal(nb_hl7_get(msg, pid, 3, 3, 0, 0).len, 0);
    assert_value(nb_hl7_get(msg, pid, 5, 1, 2, 0), "ALPHA");
    assert_int_equal(nb_hl7_get(msg, pid, 9, 0, 0, 0).len, 0); /* past the end */
    assert_int_equal(nb_hl7_get(msg, pid, 0, 0, 0, 0).len, 0); /* field 0 is not a field */
    assert_int_equal(nb_hl7_get(msg, 99, 1, 0, 0, 0).len, 0);  /* no such segment */
    size_t ail;
    assert_true(nb_hl7_segment_find(msg, "AIL", 0, &ail));
    assert_value(nb_hl7_get(msg, ail, 3, 1, 4, 0), "RX1&1.2.3&ISO");
    assert_value(nb_hl7_get(msg, ail, 3, 1, 4, 2), "1.2.3");
    assert_value(nb_hl7_get(msg, ail, 3, 0, 0, 1), "CLINIC1"); /* comp 0 + sub: component 1 */
    assert_int_equal(nb_hl7_get(msg, ail, 3, 0, 0, 3).len, 0);
    assert_int_equal(nb_hl7_sub_count(msg, ail, 3, 1, 4), 3);
    assert_value(nb_hl7_segment(msg, 4), "RGS|1|A");
    assert_int_equal(nb_hl7_segment_offset(msg, 1), strlen(siu_segments[0]) + 1);
    assert_int_equal(nb_hl7_msg_delims(msg)->trunc, '\0');
    nb_hl7_msg_destroy(msg);
    free(text);
}

/* The value of every position of a parsed message, as one string: two messages with the same
 * walk hold the same values at the same positions. */
static void walk(const nb_hl7_msg_t *msg, nb_buf_t *out)
{
    for (size_t s = 0; s < nb_hl7_segment_count(msg); s++) {
        nb_buf_add(out, nb_hl7_segment_id(msg, s), 3);
        for (size_t f = 1; f <= nb_hl7_field_count(msg, s); f++) {
            size_t reps = nb_hl7_rep_count(msg, s, f);
            for (size_t r = 1; r <= reps; r++) {
                size_t comps = nb_hl7_comp_count(msg, s, f, r);
                for (size_t c = 1; c <= comps; c++) {
                    size_t subs = nb_hl7_sub_count(msg, s, f, r, c);
                    for (size_t k = 1; k <= subs; k++) {
                        nb_hl7_value_t v = nb_hl7_get(msg, s, f, r, c, k);
                        char pos[64];
                        int n = snprintf(pos, sizeof(pos), "[%zu.%zu.%zu.%zu.%zu]", s, f, r, c, k);
                        nb_buf_add(out, pos, (size_t)n);
                        nb_buf_add(out, v.p, v.len);
                    }
                }
            }
        }
    }
}

/* CR, LF, CRLF, mixed, no last terminator, blank lines and lines of spaces between segments, a
 * byte order mark and blank lines before MSH: the same message each time. */
static void test_segment_terminators(void **state)
{
    (void)state;
    char *ref = siu_with("\r", "\r");
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    parse_ok(msg, ref, strlen(ref));
    nb_buf_t want = {0};
    walk(msg, &want);
    static const char *const forms[][2] = {
        {"\n", "\n"},
        {"\r\n", "\r\n"},
        {"\r", ""},
        {"\n", ""},
        {"\r\n", ""},
        {"\r\r\n\n", "\r\n"},
        {"\n\n  \t\n", "\n \n"},
        {"\n\r", "\r\n\r\n"},
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char *text = siu_with(forms[i][0], forms[i][1]);
        parse_ok(msg, text, strlen(text));
        assert_int_equal(nb_hl7_segment_count(msg), SIU_NSEG);
        nb_buf_t got = {0};
        walk(msg, &got);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
        nb_buf_free(&got);
        free(text);
    }
    /* Mixed within one message, and what comes before MSH. */
    nb_buf_t b = {0};
    nb_buf_add(&b, "\xEF\xBB\xBF\r\n  \n", 8);
    for (size_t i = 0; i < SIU_NSEG; i++) {
        nb_buf_add(&b, siu_segments[i], strlen(siu_segments[i]));
        static const char *const t[] = {"\r", "\n", "\r\n"};
        nb_buf_add(&b, t[i % 3], strlen(t[i % 3]));
    }
    parse_ok(msg, (const char *)b.data, b.len);
    nb_buf_t got = {0};
    walk(msg, &got);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    nb_buf_free(&got);
    nb_buf_free(&b);
    nb_buf_free(&want);
    nb_hl7_msg_destroy(msg);
    free(ref);
}

/* Any legal delimiters, as MSH-1 and MSH-2 declare them, and the v2.7 truncation character. */
static void test_other_delimiters(void **state)
{
    (void)state;
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    static const char odd[] = "MSH#$*!@#PAS#RX1#####ADT$A05#C9#P#2.4\r"
                              "PID#1##L1$$$RX1$MR*9990000026$$$NHS$NH##TEST@X$CHILD\r"
                              "NTE#1##a!F!b!S!c!R!d!T!e!E!f|^~\\&\r";
    parse_ok(msg, odd, strlen(odd));
    const nb_hl7_delims_t *d = nb_hl7_msg_delims(msg);
    assert_int_equal(d->field, '#');
    assert_int_equal(d->comp, '$');
    assert_int_equal(d->rep, '*');
    assert_int_equal(d->esc, '!');
    assert_int_equal(d->sub, '@');
    assert_value(nb_hl7_get(msg, 0, 1, 0, 0, 0), "#");
    assert_value(nb_hl7_get(msg, 0, 2, 0, 0, 0), "$*!@");
    assert_value(nb_hl7_get(msg, 0, 9, 1, 2, 0), "A05");
    assert_value(nb_hl7_get(msg, 1, 3, 2, 1, 0), "9990000026");
    assert_value(nb_hl7_get(msg, 1, 5, 1, 1, 2), "X");
    nb_hl7_value_t v = nb_hl7_get(msg, 2, 3, 1, 1, 1);
    char out[64];
    size_t n;
    assert_int_equal(nb_hl7_unescape(d, v, out, sizeof(out), &n, 0, NULL, NULL, 0), NB_ERR_OK);
    assert_string_equal(out, "a#b$c*d@e!f|^~\\&"); /* the usual delimiters are plain text here */

    static const char trunc[] = "MSH|^~\\&#|PAS|RX1|||||ADT^A05|C10|P|2.7\rNTE|1||50\\P\\ off\r";
    parse_ok(msg, trunc, strlen(trunc));
    d = nb_hl7_msg_delims(msg);
    assert_int_equal(d->trunc, '#');
    assert_value(nb_hl7_get(msg, 0, 2, 0, 0, 0), "^~\\&#");
    assert_value(nb_hl7_get(msg, 0, 3, 0, 0, 0), "PAS");
    assert_int_equal(
        nb_hl7_unescape(d, nb_hl7_get(msg, 1, 3, 1, 1, 1), out, sizeof(out), &n, 0, NULL, NULL, 0),
        NB_ERR_OK);
    assert_string_equal(out, "50# off");
    nb_hl7_msg_destroy(msg);
}

/* Each kind of broken message: refused with the reason and where, never with its content. */
static void test_refused_messages(void **state)
{
    (void)state;
    parse_fails("", 0, NB_ERR_HL7_SYNTAX, "empty", NULL);
    parse_fails("\r\n \r\n", 5, NB_ERR_HL7_SYNTAX, "empty", NULL);
    parse_fails("PID|1||SECRET\r", 14, NB_ERR_HL7_SYNTAX, "byte 0", "MSH", NULL);
    parse_fails(" MSH|^~\\&|A\r", 12, NB_ERR_HL7_SYNTAX, "MSH", NULL);
    parse_fails("\x0bMSH|^~\\&|A\r\x1c\r", 14, NB_ERR_HL7_SYNTAX, "MLLP", NULL);
    parse_fails("FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|A\r", 29, NB_ERR_HL7_SYNTAX, "batch", NULL);
    parse_fails("MSH|^~\r", 7, NB_ERR_HL7_SYNTAX, "too short", NULL);
    parse_fails("MSH|^~\\|SECRET\r", 15, NB_ERR_HL7_SYNTAX, "MSH-2", "fewer", NULL);
    parse_fails("MSH|^~\\&$%|SECRET\r", 18, NB_ERR_HL7_SYNTAX, "MSH-2", "more", NULL);
    parse_fails("MSH|^~\\^|SECRET\r", 16, NB_ERR_HL7_SYNTAX, "MSH-2", "encoding character 4",
                "same", NULL);
    parse_fails("MSH|^~|&|SECRET\r", 16, NB_ERR_HL7_SYNTAX, "MSH-2", NULL);
    parse_fails("MSH|^~A&|SECRET\r", 16, NB_ERR_HL7_SYNTAX, "encoding character 3", "letter", NULL);
    parse_fails("MSH ^~\\& SECRET\r", 16, NB_ERR_HL7_SYNTAX, "MSH-1", NULL);
    parse_fails("MSHA^~\\&ASECRET\r", 16, NB_ERR_HL7_SYNTAX, "MSH-1", NULL);
    parse_fails("MSH|^~\\&|A\rpid|1|SECRET\r", 24, NB_ERR_HL7_SYNTAX, "segment 2", "byte 11",
                "segment id", NULL);
    parse_fails("MSH|^~\\&|A\rPIDX|1|SECRET\r", 25, NB_ERR_HL7_SYNTAX, "segment 2", NULL);
    parse_fails("MSH|^~\\&|A\rPI|1|SECRET\r", 23, NB_ERR_HL7_SYNTAX, "segment 2", NULL);
    parse_fails("MSH|^~\\&|A\r1ID|1|SECRET\r", 24, NB_ERR_HL7_SYNTAX, "segment 2", NULL);
    parse_fails("MSH|^~\\&|A\r PID|1|SECRET\r", 25, NB_ERR_HL7_SYNTAX, "segment 2", NULL);
    parse_fails("MSH|^~\\&|A\rPID|1|SECRET\rMSH|^~\\&|B\r", 35, NB_ERR_HL7_SYNTAX, "segment 3",
                "MSH", "more than one message", NULL);
    parse_fails("MSH|^~\\&|A\rBTS|1\r", 17, NB_ERR_HL7_SYNTAX, "BTS", NULL);
    parse_fails("MSH|^~\\&|A\rPID|1|SEC\0RET\r", 25, NB_ERR_HL7_SYNTAX, "byte 20", "NUL", NULL);
    parse_fails("MSH|^~\\&|A\rPID|1|SECRET\x1c\r", 25, NB_ERR_HL7_SYNTAX, "MLLP", NULL);
    parse_fails("MSH|^~\\&|A\rPID|1|SECRET\x0b", 24, NB_ERR_HL7_SYNTAX, "MLLP", NULL);
    parse_fails("MSH|^~\\&|A\rPID|1|SECRET", 0, NB_ERR_HL7_SYNTAX, "empty", NULL);
    /* A NULL input is an empty one. */
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    char errstr[128];
    assert_int_equal(nb_hl7_msg_parse(msg, NULL, 10, errstr, sizeof(errstr)), NB_ERR_HL7_SYNTAX);
    assert_int_equal(nb_hl7_segment_count(msg), 0);
    nb_hl7_msg_destroy(msg);
}

/* After an error the segments read before it stay: an ACK can still say why. */
static void test_segments_before_an_error_stay(void **state)
{
    (void)state;
    static const char text[] = "MSH|^~\\&|PAS|RX1|NB|NB01|20240304101500||SIU^S12|C77|P|2.4\r"
                               "SCH|1\rpid|1||SECRET\rPV1|1\r";
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    char errstr[256];
    assert_int_equal(nb_hl7_msg_parse(msg, text, strlen(text), errstr, sizeof(errstr)),
                     NB_ERR_HL7_SYNTAX);
    assert_non_null(strstr(errstr, "segment 3"));
    assert_int_equal(nb_hl7_segment_count(msg), 2);
    assert_value(nb_hl7_get(msg, 0, 10, 0, 0, 0), "C77");
    nb_buf_t ack = {0};
    nb_hl7_ack_t a = {NB_HL7_AR, "ACK77", "20240304101501", "segment 3 is not a segment", 100};
    assert_int_equal(nb_hl7_ack_build(msg, &a, &ack, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_true(ack.len > 0);
    nb_buf_free(&ack);
    /* The handle is reused: a good message after a bad one. */
    parse_ok(msg, "MSH|^~\\&|X\rPID|1\r", 17);
    assert_int_equal(nb_hl7_segment_count(msg), 2);
    nb_hl7_msg_destroy(msg);
}

/* Each limit: one more than it allows is NB_ERR_LIMIT naming the limit; exactly it is read. */
static void test_limits(void **state)
{
    (void)state;
    nb_hl7_limits_t lim;
    nb_hl7_limits_default(&lim);
    lim.max_bytes = 64;
    lim.max_segments = 3;
    lim.max_fields = 5;
    nb_hl7_msg_t *msg = nb_hl7_msg_new(&lim);
    assert_non_null(msg);
    char errstr[256];
    char big[65];
    memset(big, 'A', sizeof(big));
    memcpy(big, "MSH|^~\\&|", 9);
    parse_ok(msg, big, 64);
    assert_int_equal(nb_hl7_msg_parse(msg, big, 65, errstr, sizeof(errstr)), NB_ERR_LIMIT);
    assert_non_null(strstr(errstr, "65 bytes"));
    assert_non_null(strstr(errstr, "limit of 64"));
    assert_int_equal(nb_hl7_segment_count(msg), 0);

    parse_ok(msg, "MSH|^~\\&|A\rPID|1\rPV1|1\r", 23);
    assert_int_equal(
        nb_hl7_msg_parse(msg, "MSH|^~\\&|A\rPID|1\rPV1|1\rNTE|1\r", 29, errstr, sizeof(errstr)),
        NB_ERR_LIMIT);
    assert_non_null(strstr(errstr, "more than 3 segments"));
    assert_non_null(strstr(errstr, "segment 4"));

    parse_ok(msg, "MSH|^~\\&|3|4|5\rPID|1|2|3|4|5\r", 29);
    assert_int_equal(nb_hl7_field_count(msg, 0), 5);
    assert_int_equal(nb_hl7_field_count(msg, 1), 5);
    assert_int_equal(
        nb_hl7_msg_parse(msg, "MSH|^~\\&|3|4|5\rPID|1|2|3|4|5|6\r", 31, errstr, sizeof(errstr)),
        NB_ERR_LIMIT);
    assert_non_null(strstr(errstr, "more than 5 fields"));
    assert_non_null(strstr(errstr, "PID"));
    assert_int_equal(nb_hl7_msg_parse(msg, "MSH|^~\\&|3|4|5|6\r", 17, errstr, sizeof(errstr)),
                     NB_ERR_LIMIT);
    assert_non_null(strstr(errstr, "MSH"));
    nb_hl7_msg_destroy(msg);

    /* Limits that make no sense are refused. */
    nb_hl7_limits_t bad = lim;
    bad.max_fields = 0;
    assert_null(nb_hl7_msg_new(&bad));
    bad = lim;
    bad.max_bytes = (size_t)2 << 30;
    assert_null(nb_hl7_msg_new(&bad));
    bad = lim;
    bad.max_segments = 0;
    assert_null(nb_hl7_msg_new(&bad));
    nb_hl7_msg_destroy(NULL);
}

/* The parser tests eight bytes at a time: separators, tabs, UTF-8 bytes, a segment's end and
 * refused bytes at every place in a word and around the end of the input are found where a
 * byte-by-byte reading finds them. Regression test for the word-at-a-time scan. */
static void test_scan_every_offset(void **state)
{
    (void)state;
    static const char *const pieces[] = {"",
                                         "A",
                                         "\t",
                                         "AB",
                                         "\xc3\xa9",
                                         "A\tB",
                                         "ABCDEFG",
                                         "ABCDEFGH",
                                         "AB\tCDEFGHI",
                                         "",
                                         "ABCDEFGHIJKLMNOPQ",
                                         "\xe2\x82\xac\xe2\x82\xac"};
    const size_t np = sizeof(pieces) / sizeof(pieces[0]);
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    assert_non_null(msg);
    for (size_t shift = 0; shift < 8; shift++) {
        for (size_t first = 0; first < np; first++) {
            /* MSH, then a PID whose id is moved by `shift` bytes of MSH-3, then the pieces in
             * turn from `first` on: PID-k is pieces[(first + k - 1) % np]. */
            char text[512];
            size_t len =
                (size_t)snprintf(text, sizeof(text), "MSH|^~\\&|%.*s\rPID", (int)shift, "XXXXXXXX");
            for (size_t k = 0; k < np; k++)
                len += (size_t)snprintf(text + len, sizeof(text) - len, "|%s",
                                        pieces[(first + k) % np]);
            for (int with_cr = 0; with_cr < 2; with_cr++) {
                size_t n = len + (with_cr ? 1 : 0);
                text[len] = '\r';
                parse_ok(msg, text, n);
                assert_int_equal(nb_hl7_segment_count(msg), 2);
                assert_int_equal(nb_hl7_field_count(msg, 1), np);
                for (size_t k = 0; k < np; k++)
                    assert_value(nb_hl7_get(msg, 1, k + 1, 0, 0, 0), pieces[(first + k) % np]);
            }
            /* A NUL at each byte of the PID segment: refused at that byte. */
            size_t pid = 9 + shift + 1;
            for (size_t at = pid; at < len; at++) {
                char keep = text[at], errstr[256], want[32];
                text[at] = '\0';
                assert_int_equal(nb_hl7_msg_parse(msg, text, len, errstr, sizeof(errstr)),
                                 NB_ERR_HL7_SYNTAX);
                snprintf(want, sizeof(want), "byte %zu", at); /* up to PID-1: the id */
                if (at > pid + 3 && !strstr(errstr, want))
                    fail_msg("'%s' lacks '%s'", errstr, want);
                text[at] = keep;
            }
            /* The field limit counts every separator, wherever it falls in a word. */
            for (size_t max = np - 1; max <= np; max++) {
                nb_hl7_limits_t lim;
                nb_hl7_limits_default(&lim);
                lim.max_fields = max;
                nb_hl7_msg_t *small = nb_hl7_msg_new(&lim);
                char errstr[256];
                assert_non_null(small);
                assert_int_equal(nb_hl7_msg_parse(small, text, len, errstr, sizeof(errstr)),
                                 max == np ? NB_ERR_OK : NB_ERR_LIMIT);
                nb_hl7_msg_destroy(small);
            }
        }
    }
    nb_hl7_msg_destroy(msg);
}

/* The HL7 null "" is not the same as an empty field, a field not sent, or a value. */
static void test_null_and_absent(void **state)
{
    (void)state;
    static const char text[] = "MSH|^~\\&|A\rPV1|\"\"||\"x\"|\"\"^^\"\"~\"\"|\"\"\"|\" \"\r";
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    parse_ok(msg, text, strlen(text));
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 1, 1, 0, 0, 0)), NB_HL7_NULL);
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 1, 2, 0, 0, 0)), NB_HL7_ABSENT);
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 1, 3, 0, 0, 0)), NB_HL7_VALUED);
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 1, 4, 0, 0, 0)), NB_HL7_VALUED);
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 1, 4, 1, 1, 0)), NB_HL7_NULL);
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 1, 4, 1, 2, 0)), NB_HL7_ABSENT);
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 1, 4, 1, 3, 0)), NB_HL7_NULL);
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 1, 4, 2, 0, 0)), NB_HL7_NULL);
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 1, 5, 0, 0, 0)), NB_HL7_VALUED);
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 1, 6, 0, 0, 0)), NB_HL7_VALUED);
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 1, 7, 0, 0, 0)), NB_HL7_ABSENT);
    assert_int_equal(nb_hl7_value_kind(nb_hl7_get(msg, 5, 1, 0, 0, 0)), NB_HL7_ABSENT);
    /* An absent value is an empty string, never NULL. */
    nb_hl7_value_t v = nb_hl7_get(msg, 1, 2, 0, 0, 0);
    assert_non_null(v.p);
    assert_int_equal(v.len, 0);
    assert_int_equal(nb_hl7_rep_count(msg, 1, 2), 0);
    assert_int_equal(nb_hl7_comp_count(msg, 1, 2, 1), 0);
    nb_hl7_msg_destroy(msg);
}

/* Splitting any value by hand, as mappings do for things the positions do not name. */
static void test_value_pieces(void **state)
{
    (void)state;
    nb_hl7_value_t v = {"a^^c^", 5};
    assert_int_equal(nb_hl7_value_count(v, '^'), 4);
    assert_value(nb_hl7_value_piece(v, '^', 1), "a");
    assert_int_equal(nb_hl7_value_piece(v, '^', 2).len, 0);
    assert_value(nb_hl7_value_piece(v, '^', 3), "c");
    assert_int_equal(nb_hl7_value_piece(v, '^', 4).len, 0);
    assert_int_equal(nb_hl7_value_piece(v, '^', 5).len, 0);
    assert_int_equal(nb_hl7_value_piece(v, '^', 0).len, 0);
    nb_hl7_value_t e = {"", 0};
    assert_int_equal(nb_hl7_value_count(e, '^'), 0);
    assert_value(nb_hl7_value_piece((nb_hl7_value_t){"abc", 3}, '~', 1), "abc");

    /* The iterator gives the same pieces, in order, and then stops. */
    static const char *const values[] = {"", "a", "^", "a^", "^a", "a^^c^", "^^", "ab^cd^ef"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        nb_hl7_value_t w = {values[i], strlen(values[i])};
        nb_hl7_iter_t it;
        nb_hl7_iter_init(&it, w, '^');
        nb_hl7_value_t piece;
        size_t n = 0;
        while (nb_hl7_iter_next(&it, &piece)) {
            nb_hl7_value_t want = nb_hl7_value_piece(w, '^', ++n);
            assert_int_equal(piece.len, want.len);
            assert_memory_equal(piece.p, want.p, want.len);
            assert_non_null(piece.p);
        }
        assert_int_equal(n, nb_hl7_value_count(w, '^'));
        assert_int_equal(piece.len, 0);
        assert_false(nb_hl7_iter_next(&it, &piece)); /* and stays stopped */
    }
}

/* ---- paths ------------------------------------------------------------------------------- */

static void test_paths(void **state)
{
    (void)state;
    char *text = siu_with("\r", "\r");
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    parse_ok(msg, text, strlen(text));
    static const struct {
        const char *path, *want;
    } good[] = {
        {"MSH-9.2", "S12"},
        {"MSH-10", "CTRL0001"},
        {"SCH-25", "BOOKED"},
        {"PID-3[2].1", "9990000018"},
        {"PID-3", "LOCAL123^^^RX1^MR~9990000018^^^NHS^NH"},
        {"PID-3[2]", "9990000018^^^NHS^NH"},
        {"PID-3.4", "RX1"},
        {"AIL-3.4.2", "1.2.3"},
        {"PID[1]-5.2", "ALPHA"},
        {"PID[2]-5", ""},
        {"ZU3-3", ""},
        {"MSH-1", "|"},
    };
    char errstr[256];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        nb_hl7_path_t p;
        if (nb_hl7_path_parse(good[i].path, &p, errstr, sizeof(errstr)) != NB_ERR_OK)
            fail_msg("%s: %s", good[i].path, errstr);
        assert_value(nb_hl7_path_get(msg, &p), good[i].want);
    }
    static const struct {
        const char *path;
        const char *where;
    } bad[] = {
        {"", "character 1"},           {"pid-3", "character 1"},
        {"PID", "character 4"},        {"PID-", "character 5"},
        {"PID-0", "character 5"},      {"PID-3.", "character 7"},
        {"PID-3.0", "character 7"},    {"PID-3[0]", "character 7"},
        {"PID-3[2", "character 8"},    {"PID-3.1.1.1", "character 10"},
        {"PID-3x", "character 6"},     {"PID[0]-3", "character 5"},
        {"PID-999999", "character 5"}, {"PIDX-3", "character 4"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nb_hl7_path_t p;
        assert_int_equal(nb_hl7_path_parse(bad[i].path, &p, errstr, sizeof(errstr)),
                         NB_ERR_INVALID_ARG);
        if (!strstr(errstr, bad[i].where))
            fail_msg("%s: '%s' lacks '%s'", bad[i].path, errstr, bad[i].where);
    }
    nb_hl7_path_t p;
    assert_int_equal(nb_hl7_path_parse(NULL, &p, errstr, sizeof(errstr)), NB_ERR_INVALID_ARG);
    nb_hl7_msg_destroy(msg);
    free(text);
}

/* ---- escapes ----------------------------------------------------------------------------- */

/* Unescapes @p in with the usual delimiters (and '#' as truncation character when @p trunc). */
NB_NODISCARD static nb_err_t unescape(const char *in, unsigned flags, bool trunc, char *out,
                                      size_t cap, unsigned *notes, char *errstr)
{
    nb_hl7_delims_t d;
    nb_hl7_delims_default(&d);
    if (trunc)
        d.trunc = '#';
    size_t n = 0;
    nb_hl7_value_t v = {in, strlen(in)};
    nb_err_t err = nb_hl7_unescape(&d, v, out, cap, &n, flags, notes, errstr, 256);
    if (err == NB_ERR_OK)
        assert_int_equal(n, strlen(out)); /* (none of the cases below decodes a NUL) */
    return err;
}

static void check_unescape(const char *in, const char *want, unsigned want_notes)
{
    char out[256], errstr[256] = "";
    unsigned notes = 99;
    nb_err_t err = unescape(in, 0, true, out, sizeof(out), &notes, errstr);
    if (err != NB_ERR_OK)
        fail_msg("'%s': %s %s", in, nb_err_name(err), errstr);
    if (strcmp(out, want) != 0 || notes != want_notes)
        fail_msg("'%s' gave '%s' (notes %u), want '%s' (notes %u)", in, out, notes, want,
                 want_notes);
}

/* Each sequence HL7 defines, what becomes of it, and what is kept as written. */
static void test_unescape(void **state)
{
    (void)state;
    check_unescape("", "", 0);
    check_unescape("plain text", "plain text", 0);
    check_unescape("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\P\\g", "a|b^c&d~e\\f#g", 0);
    check_unescape("\\F\\\\F\\", "||", 0);
    check_unescape("line\\X0A\\break \\X0d0A\\crlf \\X4142c3A9\\",
                   "line\nbreak \r\ncrlf AB\xc3\xa9", 0);
    check_unescape("one\\.br\\two\\.sp\\three\\.sp 2\\four\\.sp+1\\five",
                   "one\ntwo\nthree\nfour\nfive", 0);
    check_unescape("\\.in +4\\a\\.ti -2\\b\\.sk 3\\c\\.ce\\d\\.fi\\e\\.nf\\f", "abcdef",
                   NB_HL7_NOTE_FORMAT);
    check_unescape("\\H\\bold\\N\\ plain", "bold plain", NB_HL7_NOTE_FORMAT);
    check_unescape("\\C2842\\abc\\C2D41\\", "abc", NB_HL7_NOTE_CHARSET);
    check_unescape("\\M2442\\x\\M242829\\", "x", NB_HL7_NOTE_CHARSET);
    check_unescape("\\M24428\\", "\\M24428\\", NB_HL7_NOTE_LITERAL);
    /* Kept as written: what is malformed or unknown. */
    check_unescape("C:\\temp\\file.txt", "C:\\temp\\file.txt", NB_HL7_NOTE_LITERAL);
    check_unescape("a\\b", "a\\b", NB_HL7_NOTE_LITERAL);
    check_unescape("end\\", "end\\", NB_HL7_NOTE_LITERAL);
    check_unescape("\\\\", "\\\\", NB_HL7_NOTE_LITERAL);
    check_unescape("\\X\\", "\\X\\", NB_HL7_NOTE_LITERAL);
    check_unescape("\\X4\\", "\\X4\\", NB_HL7_NOTE_LITERAL);
    check_unescape("\\X4G\\", "\\X4G\\", NB_HL7_NOTE_LITERAL);
    check_unescape("\\Zlocal\\", "\\Zlocal\\", NB_HL7_NOTE_LITERAL);
    check_unescape("\\Q\\", "\\Q\\", NB_HL7_NOTE_LITERAL);
    check_unescape("\\.xx\\", "\\.xx\\", NB_HL7_NOTE_LITERAL);
    check_unescape("\\.sp x\\", "\\.sp x\\", NB_HL7_NOTE_LITERAL);
    check_unescape("\\.b\\", "\\.b\\", NB_HL7_NOTE_LITERAL);
    check_unescape("\\C28\\", "\\C28\\", NB_HL7_NOTE_LITERAL);
    check_unescape("\\Fred\\", "\\Fred\\", NB_HL7_NOTE_LITERAL);
    /* A literal's closing escape character may open the next sequence. */
    check_unescape("\\temp\\F\\", "\\temp|", NB_HL7_NOTE_LITERAL);
    check_unescape("\\Z1\\\\T\\\\.br\\x", "\\Z1\\&\nx", NB_HL7_NOTE_LITERAL);
    check_unescape("\\H\\\\Zq\\", "\\Zq\\", NB_HL7_NOTE_LITERAL | NB_HL7_NOTE_FORMAT);

    /* \P\ with no truncation character declared is unknown. */
    char out[64], errstr[256];
    unsigned notes;
    assert_int_equal(unescape("50\\P\\", 0, false, out, sizeof(out), &notes, errstr), NB_ERR_OK);
    assert_string_equal(out, "50\\P\\");
    assert_int_equal(notes, NB_HL7_NOTE_LITERAL);
}

/* Under NB_HL7_UNESCAPE_STRICT, what would be kept as written is refused, with where. */
static void test_unescape_strict(void **state)
{
    (void)state;
    static const char *const refused[] = {"C:\\temp", "a\\b",    "end\\",   "\\\\",
                                          "\\X\\",    "\\X4\\",  "\\X4G\\", "\\Zlocal\\",
                                          "\\Q\\",    "\\.xx\\", "\\C28\\", "\\P\\"};
    char out[64], errstr[256];
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        strcpy(out, "untouched");
        nb_err_t err =
            unescape(refused[i], NB_HL7_UNESCAPE_STRICT, false, out, sizeof(out), NULL, errstr);
        if (err != NB_ERR_HL7_ESCAPE)
            fail_msg("'%s': %s, want hl7_escape", refused[i], nb_err_name(err));
        assert_non_null(strstr(errstr, "byte "));
        assert_string_equal(out, ""); /* nothing half-done is left */
    }
    assert_int_equal(unescape("ok\\F\\\\.br\\\\H\\\\X41\\", NB_HL7_UNESCAPE_STRICT, false, out,
                              sizeof(out), NULL, errstr),
                     NB_ERR_OK);
    assert_string_equal(out, "ok|\nA");
    assert_int_equal(
        unescape("x\\temp\\", NB_HL7_UNESCAPE_STRICT, false, out, sizeof(out), NULL, errstr),
        NB_ERR_HL7_ESCAPE);
    assert_non_null(strstr(errstr, "byte 1"));
}

/* The caller's buffer: cap = length + 1 always fits, one byte less never does. */
static void test_unescape_buffer(void **state)
{
    (void)state;
    static const char *const inputs[] = {"abc",   "\\F\\",  "\\X414243\\", "a\\.br\\b",
                                         "C:\\t", "\\H\\x", "\\Zq\\"};
    char out[64], errstr[256];
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        size_t need;
        assert_int_equal(unescape(inputs[i], 0, false, out, sizeof(out), NULL, errstr), NB_ERR_OK);
        need = strlen(out) + 1;
        assert_int_equal(unescape(inputs[i], 0, false, out, need, NULL, errstr), NB_ERR_OK);
        assert_int_equal(strlen(out) + 1, need);
        assert_int_equal(unescape(inputs[i], 0, false, out, need - 1, NULL, errstr),
                         NB_ERR_FIELD_TOO_LONG);
        assert_true(strlen(inputs[i]) + 1 >= need); /* never longer than the input */
    }
    assert_int_equal(unescape("", 0, false, out, 1, NULL, errstr), NB_ERR_OK);
    assert_int_equal(unescape("", 0, false, out, 0, NULL, errstr), NB_ERR_FIELD_TOO_LONG);
    /* \X00\ is a NUL byte in the output, counted in its length. */
    nb_hl7_delims_t d;
    nb_hl7_delims_default(&d);
    size_t n;
    nb_hl7_value_t v = {"a\\X0042\\", 8};
    assert_int_equal(nb_hl7_unescape(&d, v, out, sizeof(out), &n, 0, NULL, NULL, 0), NB_ERR_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "a\0B", 4);
}

/* Escaping any byte string gives text without a bare delimiter, CR or LF, and unescaping it
 * gives the bytes back: with the usual delimiters, with others, with a truncation character. */
static void test_escape_round_trip(void **state)
{
    (void)state;
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    nb_hl7_delims_t ds[3];
    nb_hl7_delims_default(&ds[0]);
    ds[1] = (nb_hl7_delims_t){'#', '$', '*', '!', '@', '\0'};
    nb_hl7_delims_default(&ds[2]);
    ds[2].trunc = '#';
    for (size_t k = 0; k < 3; k++) {
        const nb_hl7_delims_t *d = &ds[k];
        nb_buf_t b = {0};
        nb_hl7_escape(d, all, sizeof(all), &b);
        assert_int_equal(b.err, NB_ERR_OK);
        /* Between escape characters only codes: no delimiter anywhere, no CR, no LF. */
        for (size_t i = 0; i < b.len; i++) {
            char c = (char)b.data[i];
            assert_true(c != d->field && c != d->comp && c != d->rep && c != d->sub && c != '\r' &&
                        c != '\n' && c != '\0');
            assert_true(!d->trunc || c != d->trunc);
        }
        char out[512];
        size_t n;
        nb_hl7_value_t v = {(const char *)b.data, b.len};
        unsigned notes;
        assert_int_equal(
            nb_hl7_unescape(d, v, out, sizeof(out), &n, NB_HL7_UNESCAPE_STRICT, &notes, NULL, 0),
            NB_ERR_OK);
        assert_int_equal(n, sizeof(all));
        assert_memory_equal(out, all, sizeof(all));
        assert_int_equal(notes, 0);
        nb_buf_free(&b);
    }
    nb_buf_t b = {0};
    nb_hl7_escape(&ds[0], "A|B^C\r\nD", 8, &b);
    assert_int_equal(b.len, strlen("A\\F\\B\\S\\C\\X0D\\\\X0A\\D"));
    assert_memory_equal(b.data, "A\\F\\B\\S\\C\\X0D\\\\X0A\\D", b.len);
    nb_buf_free(&b);
}

/* ---- batches ----------------------------------------------------------------------------- */

/* Splits @p text, expecting the messages (their first segment's MSH-10) and errors in @p want,
 * e.g. "m:A e:hl7_batch m:B". */
static void check_split(const char *text, const char *want)
{
    nb_hl7_batch_t b;
    nb_hl7_batch_init(&b, text, strlen(text));
    char got[512] = "", errstr[256];
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    for (int guard = 0; guard < 100; guard++) {
        const char *m;
        size_t len;
        nb_err_t err = nb_hl7_batch_next(&b, &m, &len, errstr, sizeof(errstr));
        if (err == NB_ERR_NOT_FOUND)
            break;
        char item[64];
        if (err == NB_ERR_OK) {
            parse_ok(msg, m, len);
            nb_hl7_value_t id = nb_hl7_get(msg, 0, 10, 0, 0, 0);
            snprintf(item, sizeof(item), "%sm:%.*s", got[0] ? " " : "", (int)id.len, id.p);
        } else {
            assert_non_null(strstr(errstr, errstr[0] == 't' ? "the input ends" : "byte"));
            snprintf(item, sizeof(item), "%se:%s", got[0] ? " " : "", nb_err_name(err));
        }
        strncat(got, item, sizeof(got) - strlen(got) - 1);
    }
    if (strcmp(got, want) != 0)
        fail_msg("split gave '%s', want '%s'", got, want);
    nb_hl7_msg_destroy(msg);
}

static void test_batches(void **state)
{
    (void)state;
    /* One message, several without headers, a batch, a file of batches; any terminators. */
    check_split("MSH|^~\\&|||||||ADT^A05|A|P|2.4\rPID|1\r", "m:A");
    check_split("MSH|^~\\&|||||||ADT^A05|A|P|2.4\nPID|1\n\nMSH|^~\\&|||||||ADT^A05|B|P|2.4\n"
                "PID|1\nPV1|1\r\nMSH|^~\\&|||||||ADT^A05|C|P|2.4",
                "m:A m:B m:C");
    check_split("BHS|^~\\&|PAS\rMSH|^~\\&|||||||ADT^A05|A\rPID|1\rMSH|^~\\&|||||||ADT^A05|B\r"
                "BTS|2\r",
                "m:A m:B");
    check_split("FHS|^~\\&|PAS\r\nBHS|^~\\&\r\nMSH|^~\\&|||||||ADT^A05|A\r\nBTS|1\r\nBHS|^~\\&\r\n"
                "MSH|^~\\&|||||||ADT^A05|B\r\nMSH|^~\\&|||||||ADT^A05|C\r\nBTS|2|note\r\nFTS|2\r\n",
                "m:A m:B m:C");
    check_split("BHS|^~\\&\rBTS|0\r", "");
    check_split("BHS|^~\\&\rMSH|^~\\&|||||||ADT^A05|A\rBTS|\rFTS\r", "m:A e:hl7_batch");
    check_split("", "");
    check_split("\r\n\r\n", "");
    /* What does not fit is said, and the messages around it are still read. */
    check_split("PID|1|SECRET\rMSH|^~\\&|||||||ADT^A05|A\r", "e:hl7_batch m:A");
    check_split("BHS|^~\\&\rMSH|^~\\&|||||||ADT^A05|A\rBTS|3\rMSH|^~\\&|||||||ADT^A05|B\r",
                "m:A e:hl7_batch m:B");
    check_split("BTS|1\rMSH|^~\\&|||||||ADT^A05|A\r", "e:hl7_batch m:A");
    check_split(
        "BHS|^~\\&\rMSH|^~\\&|||||||ADT^A05|A\rBHS|^~\\&\rMSH|^~\\&|||||||ADT^A05|B\rBTS|1\r",
        "m:A e:hl7_batch m:B");
    check_split("BHS|^~\\&\rMSH|^~\\&|||||||ADT^A05|A\r", "m:A e:hl7_batch");
    check_split("FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|||||||ADT^A05|A\r", "m:A e:hl7_batch e:hl7_batch");
    check_split("FHS|^~\\&\rBHS|^~\\&\rBTS|0\rFTS|2\r", "e:hl7_batch");
    check_split("FHS|^~\\&\rFTS|0\rMSH|^~\\&|||||||ADT^A05|A\r", "e:hl7_batch m:A");
    check_split("FHS|^~\\&\rFTS|0\rFHS|^~\\&\rFTS|0\r", "");
    check_split("FHS|^~\\&\rFHS|^~\\&\rFTS\r", "e:hl7_batch");
    check_split("FTS|1\r", "e:hl7_batch");
    /* A line that only starts like MSH belongs to the message before it (whose parse will
     * refuse it). */
    static const char like[] = "MSH|^~\\&|A\rMSHX|1\rMSH|^~\\&|B\r";
    nb_hl7_batch_t b;
    nb_hl7_batch_init(&b, like, strlen(like));
    const char *m;
    size_t len;
    char errstr[256];
    assert_int_equal(nb_hl7_batch_next(&b, &m, &len, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(len, 18);
    assert_int_equal(nb_hl7_batch_next(&b, &m, &len, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_memory_equal(m, "MSH|^~\\&|B\r", 11);
    assert_int_equal(nb_hl7_batch_next(&b, &m, &len, errstr, sizeof(errstr)), NB_ERR_NOT_FOUND);
    assert_null(m);
    assert_int_equal(b.messages, 2);
}

/* ---- MLLP -------------------------------------------------------------------------------- */

#define VT "\x0b"
#define FS "\x1c"

static void test_mllp_frames(void **state)
{
    (void)state;
    nb_hl7_mllp_t f;
    static const char two[] = VT "MSH|A" FS "\r" VT "MSH|B\rPID|1" FS "\r";
    assert_int_equal(nb_hl7_mllp_find(two, sizeof(two) - 1, 100, &f), NB_HL7_MLLP_FRAME);
    assert_int_equal(f.msg_len, 5);
    assert_memory_equal(f.msg, "MSH|A", 5);
    assert_int_equal(f.consumed, 8);
    assert_int_equal(f.garbage, 0);
    assert_false(f.no_cr);
    assert_int_equal(nb_hl7_mllp_find(two + 8, sizeof(two) - 1 - 8, 100, &f), NB_HL7_MLLP_FRAME);
    assert_memory_equal(f.msg, "MSH|B\rPID|1", 11);
    assert_int_equal(f.consumed, sizeof(two) - 1 - 8);

    /* Garbage before a frame: blank or not. */
    static const char blank[] = "\r\n " VT "MSH|A" FS "\r";
    assert_int_equal(nb_hl7_mllp_find(blank, sizeof(blank) - 1, 100, &f), NB_HL7_MLLP_FRAME);
    assert_int_equal(f.garbage, 3);
    assert_true(f.garbage_blank);
    assert_int_equal(f.consumed, sizeof(blank) - 1);
    static const char junk[] = "GET / HTTP/1.1\r\n" VT "MSH|A" FS "\r";
    assert_int_equal(nb_hl7_mllp_find(junk, sizeof(junk) - 1, 100, &f), NB_HL7_MLLP_FRAME);
    assert_int_equal(f.garbage, 16);
    assert_false(f.garbage_blank);

    /* Partial: no FS yet, or FS as the last byte; the garbage before it may go. */
    assert_int_equal(nb_hl7_mllp_find("xx" VT "MSH|A", 8, 100, &f), NB_HL7_MLLP_PARTIAL);
    assert_int_equal(f.consumed, 2);
    assert_int_equal(f.garbage, 2);
    assert_null(f.msg);
    assert_int_equal(nb_hl7_mllp_find(VT "MSH|A" FS, 7, 100, &f), NB_HL7_MLLP_PARTIAL);
    assert_int_equal(f.consumed, 0);

    /* Nothing framed at all. */
    assert_int_equal(nb_hl7_mllp_find("MSH|A\r", 6, 100, &f), NB_HL7_MLLP_NONE);
    assert_int_equal(f.consumed, 6);
    assert_int_equal(f.garbage, 6);
    assert_int_equal(nb_hl7_mllp_find("", 0, 100, &f), NB_HL7_MLLP_NONE);
    assert_int_equal(f.consumed, 0);

    /* A frame cut short by the next VT is garbage; the next frame is found. */
    static const char cut[] = VT "MSH|A" VT "MSH|B" FS "\r";
    assert_int_equal(nb_hl7_mllp_find(cut, sizeof(cut) - 1, 100, &f), NB_HL7_MLLP_FRAME);
    assert_true(f.cut);
    assert_int_equal(f.garbage, 6);
    assert_false(f.garbage_blank);
    assert_memory_equal(f.msg, "MSH|B", 5);

    /* FS followed by something else than CR: taken, and said. */
    static const char nocr[] = VT "MSH|A" FS VT "MSH|B" FS "\r";
    assert_int_equal(nb_hl7_mllp_find(nocr, sizeof(nocr) - 1, 100, &f), NB_HL7_MLLP_FRAME);
    assert_true(f.no_cr);
    assert_int_equal(f.consumed, 7);
    assert_int_equal(nb_hl7_mllp_find(nocr + 7, sizeof(nocr) - 1 - 7, 100, &f), NB_HL7_MLLP_FRAME);
    assert_false(f.no_cr);

    /* The limit: a message of exactly max bytes is taken, one more is discarded. */
    static const char five[] = VT "12345" FS "\r";
    assert_int_equal(nb_hl7_mllp_find(five, sizeof(five) - 1, 5, &f), NB_HL7_MLLP_FRAME);
    assert_int_equal(nb_hl7_mllp_find(five, sizeof(five) - 1, 4, &f), NB_HL7_MLLP_TOO_LARGE);
    assert_int_equal(f.consumed, 6); /* VT and the 5 bytes seen */
    assert_int_equal(nb_hl7_mllp_find(five + 6, 2, 4, &f), NB_HL7_MLLP_NONE); /* the rest */
    assert_int_equal(f.garbage, 2);
    assert_int_equal(nb_hl7_mllp_find(VT "123456789", 10, 4, &f), NB_HL7_MLLP_TOO_LARGE);
    assert_int_equal(f.consumed, 6);

    nb_buf_t b = {0};
    nb_hl7_mllp_wrap(&b, "MSH|A", 5);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, VT "MSH|A" FS "\r", 8);
    nb_buf_free(&b);
}

/* A stream read a byte at a time, as a slow connection delivers it: the same frames come out,
 * in order, with the garbage between them counted, whatever the split. */
static void test_mllp_stream(void **state)
{
    (void)state;
    static const char stream[] = "noise" VT "MSH|1\rPID|1" FS "\r\r\n" VT "MSH|2" FS "\r" VT
                                 "MSH|3" VT "MSH|4" FS "\r" VT "MSH|5";
    for (size_t step = 1; step <= sizeof(stream); step++) {
        char buf[sizeof(stream)];
        size_t have = 0, fed = 0, garbage = 0;
        char got[128] = "";
        while (fed < sizeof(stream) - 1 || have > 0) {
            size_t n = sizeof(stream) - 1 - fed < step ? sizeof(stream) - 1 - fed : step;
            memcpy(buf + have, stream + fed, n);
            have += n;
            fed += n;
            nb_hl7_mllp_t f;
            nb_hl7_mllp_status_t st;
            while ((st = nb_hl7_mllp_find(buf, have, 64, &f)) == NB_HL7_MLLP_FRAME) {
                strncat(got, f.msg, f.msg_len < 5 ? f.msg_len : 5);
                strcat(got, ";");
                garbage += f.garbage;
                memmove(buf, buf + f.consumed, have - f.consumed);
                have -= f.consumed;
            }
            assert_int_not_equal(st, NB_HL7_MLLP_TOO_LARGE);
            garbage += f.garbage;
            memmove(buf, buf + f.consumed, have - f.consumed);
            have -= f.consumed;
            if (n == 0)
                break;
        }
        assert_string_equal(got, "MSH|1;MSH|2;MSH|4;");
        assert_int_equal(garbage, 5 + 2 + 6); /* "noise", CR LF, the cut frame */
        assert_int_equal(have, 6);            /* the partial last frame is kept */
    }
}

/* ---- DTM --------------------------------------------------------------------------------- */

static void check_dtm(const char *s, nb_hl7_precision_t prec, int y, int mo, int d, int h, int mi,
                      int sec, int ms, bool zone, int zone_min)
{
    nb_hl7_dtm_t t;
    char errstr[256];
    nb_err_t err = nb_hl7_dtm_parse(s, strlen(s), &t, errstr, sizeof(errstr));
    if (err != NB_ERR_OK)
        fail_msg("'%s': %s", s, errstr);
    if (t.precision != prec || t.year != y || t.month != mo || t.day != d || t.hour != h ||
        t.minute != mi || t.second != sec || nb_hl7_dtm_ms(&t) != ms || t.has_zone != zone ||
        t.zone_minutes != zone_min)
        fail_msg("'%s': precision %d %04d-%02d-%02d %02d:%02d:%02d.%03d zone %d %+d", s,
                 (int)t.precision, t.year, t.month, t.day, t.hour, t.minute, t.second,
                 nb_hl7_dtm_ms(&t), t.has_zone, t.zone_minutes);
}

static void test_dtm(void **state)
{
    (void)state;
    check_dtm("2024", NB_HL7_YEAR, 2024, 1, 1, 0, 0, 0, 0, false, 0);
    check_dtm("202403", NB_HL7_MONTH, 2024, 3, 1, 0, 0, 0, 0, false, 0);
    check_dtm("20240304", NB_HL7_DAY, 2024, 3, 4, 0, 0, 0, 0, false, 0);
    check_dtm("2024030410", NB_HL7_HOUR, 2024, 3, 4, 10, 0, 0, 0, false, 0);
    check_dtm("202403041015", NB_HL7_MINUTE, 2024, 3, 4, 10, 15, 0, 0, false, 0);
    check_dtm("20240304101530", NB_HL7_SECOND, 2024, 3, 4, 10, 15, 30, 0, false, 0);
    check_dtm("20240304101530.2", NB_HL7_FRACTION, 2024, 3, 4, 10, 15, 30, 200, false, 0);
    check_dtm("20240304101530.25", NB_HL7_FRACTION, 2024, 3, 4, 10, 15, 30, 250, false, 0);
    check_dtm("20140529080238.241+0100", NB_HL7_FRACTION, 2014, 5, 29, 8, 2, 38, 241, true, 60);
    check_dtm("20240304101530.2416", NB_HL7_FRACTION, 2024, 3, 4, 10, 15, 30, 241, false, 0);
    check_dtm("198808181126+0215", NB_HL7_MINUTE, 1988, 8, 18, 11, 26, 0, 0, true, 135);
    check_dtm("2024-0500", NB_HL7_YEAR, 2024, 1, 1, 0, 0, 0, 0, true, -300);
    check_dtm("20240304-0000", NB_HL7_DAY, 2024, 3, 4, 0, 0, 0, 0, true, 0);
    check_dtm("20240304+1400", NB_HL7_DAY, 2024, 3, 4, 0, 0, 0, 0, true, 840);
    check_dtm("200803061000 ", NB_HL7_MINUTE, 2008, 3, 6, 10, 0, 0, 0, false, 0);
    check_dtm("  20080306", NB_HL7_DAY, 2008, 3, 6, 0, 0, 0, 0, false, 0);
    check_dtm("20240229", NB_HL7_DAY, 2024, 2, 29, 0, 0, 0, 0, false, 0);
    check_dtm("20000229", NB_HL7_DAY, 2000, 2, 29, 0, 0, 0, 0, false, 0);
    check_dtm("20241231235959", NB_HL7_SECOND, 2024, 12, 31, 23, 59, 59, 0, false, 0);

    static const struct {
        const char *s, *why;
    } bad[] = {
        {"", "character 1: it is empty"},
        {"   ", "empty"},
        {"24", "year"},
        {"2024X", "character 5"},
        {"20241", "1 digit"},
        {"20241301", "character 5: month is out of range"},
        {"20240001", "month"},
        {"20240230", "character 7: the day is past the end of its month"},
        {"20230229", "past the end"},
        {"19000229", "past the end"},
        {"20240431", "past the end"},
        {"20240100", "day is out of range"},
        {"2024010124", "hour"},
        {"202401012360", "minute"},
        {"20240101235960", "second"},
        {"202401012359.5", "without the seconds"},
        {"20240101235959.", "1 to 4 digits"},
        {"20240101235959.12345", "1 to 4 digits"},
        {"20240101+01", "4 digits"},
        {"20240101+1500", "14 hours"},
        {"20240101+1401", "14 hours"},
        {"20240101+0160", "14 hours"},
        {"20240101Z", "goes on"},
        {"20240101 10", "goes on"},
        {"20240101+0100x", "goes on"},
        {"2024^Y", "goes on"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nb_hl7_dtm_t t;
        char errstr[256];
        nb_err_t err = nb_hl7_dtm_parse(bad[i].s, strlen(bad[i].s), &t, errstr, sizeof(errstr));
        if (err != NB_ERR_HL7_TIMESTAMP || !strstr(errstr, bad[i].why))
            fail_msg("'%s': %s '%s', want '%s'", bad[i].s, nb_err_name(err), errstr, bad[i].why);
        assert_int_equal(t.year, 0); /* nothing half-read is left */
    }
}

/* ---- ACK --------------------------------------------------------------------------------- */

static char *ack_of(const char *text, const nb_hl7_ack_t *a, nb_err_t want)
{
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    char errstr[256];
    nb_err_t err = nb_hl7_msg_parse(msg, text, strlen(text), errstr, sizeof(errstr));
    (void)err; /* a message refused after its MSH is still acknowledged */
    nb_buf_t b = {0};
    err = nb_hl7_ack_build(msg, a, &b, errstr, sizeof(errstr));
    if (err != want)
        fail_msg("ack: %s (%s), want %s", nb_err_name(err), errstr, nb_err_name(want));
    nb_buf_add(&b, "", 1);
    nb_hl7_msg_destroy(msg);
    if (want != NB_ERR_OK) {
        assert_int_equal(b.len, 1); /* nothing written */
        nb_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

static void test_ack(void **state)
{
    (void)state;
    char *text = siu_with("\r", "\r");
    nb_hl7_ack_t aa = {NB_HL7_AA, "ACK0001", "20240304101501", NULL, 0};
    char *ack = ack_of(text, &aa, NB_ERR_OK);
    assert_string_equal(ack, "MSH|^~\\&|NOTBROUGHT|NB01|PAS|RX1|20240304101501||ACK^S12^ACK|"
                             "ACK0001|P|2.5.1\rMSA|AA|CTRL0001\r");
    free(ack);

    /* AE before v2.5: the reason in MSA-3, the code in ERR-1; delimiters in it escaped. */
    static const char v24[] = "MSH|^~\\&|PAS|RX1|NB|NB01|20240304101500||ADT^A05|C9|P|2.4\r";
    nb_hl7_ack_t ae = {NB_HL7_AE, "A|1", "20240304101501+0000", "PID-3 has no ^NHS^ number\r\n",
                       101};
    ack = ack_of(v24, &ae, NB_ERR_OK);
    assert_string_equal(ack, "MSH|^~\\&|NB|NB01|PAS|RX1|20240304101501+0000||ACK^A05^ACK|A\\F\\1|P|"
                             "2.4\rMSA|AE|C9|PID-3 has no \\S\\NHS\\S\\ number\\X0D\\\\X0A\\\r"
                             "ERR|^^^101&Required field missing&HL70357\r");
    free(ack);

    /* From v2.5 the reason is in ERR-8 too, and from v2.7 only there; read back by the parser,
     * it is the reason given, whatever it holds. */
    static const char *const versions[] = {"2.5", "2.6", "2.7", "2.8", "2.7.1", "2.10"};
    static const char reason[] = "cannot map SCH-25 \"\" & ~ | \\ ^ (code 7)";
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        char m[256];
        snprintf(m, sizeof(m), "MSH|^~\\&|PAS|RX1|NB|NB01|20240304||SIU^S26^SIU_S12| 38762|T|%s\r",
                 versions[i]);
        nb_hl7_ack_t ar = {NB_HL7_AR, "N1", "20240304", reason, 0};
        ack = ack_of(m, &ar, NB_ERR_OK);
        nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
        parse_ok(msg, ack, strlen(ack));
        assert_int_equal(nb_hl7_segment_count(msg), 3);
        assert_value(nb_hl7_get(msg, 0, 3, 0, 0, 0), "NB");
        assert_value(nb_hl7_get(msg, 0, 5, 0, 0, 0), "PAS");
        assert_value(nb_hl7_get(msg, 0, 9, 0, 0, 0), "ACK^S26^ACK");
        assert_value(nb_hl7_get(msg, 0, 11, 0, 0, 0), "T");
        assert_value(nb_hl7_get(msg, 0, 12, 0, 0, 0), versions[i]);
        assert_value(nb_hl7_get(msg, 1, 1, 0, 0, 0), "AR");
        assert_value(nb_hl7_get(msg, 1, 2, 0, 0, 0), " 38762"); /* as sent, space and all */
        bool v27 = strcmp(versions[i], "2.7") == 0 || strcmp(versions[i], "2.8") == 0 ||
                   strcmp(versions[i], "2.7.1") == 0 || strcmp(versions[i], "2.10") == 0;
        assert_int_equal(nb_hl7_field_count(msg, 1), v27 ? 2 : 3);
        assert_string_equal(nb_hl7_segment_id(msg, 2), "ERR");
        assert_value(nb_hl7_get(msg, 2, 3, 1, 1, 0), "207");
        assert_value(nb_hl7_get(msg, 2, 3, 1, 3, 0), "HL70357");
        assert_value(nb_hl7_get(msg, 2, 4, 0, 0, 0), "E");
        char out[256];
        size_t n;
        assert_int_equal(nb_hl7_unescape(nb_hl7_msg_delims(msg), nb_hl7_get(msg, 2, 8, 0, 0, 0),
                                         out, sizeof(out), &n, NB_HL7_UNESCAPE_STRICT, NULL, NULL,
                                         0),
                         NB_ERR_OK);
        assert_string_equal(out, reason);
        nb_hl7_msg_destroy(msg);
        free(ack);
    }

    /* Before v2.3.1 MSH-9 has no third component; no trigger, no second either. The message's
     * own delimiters are used. */
    nb_hl7_ack_t aa2 = {NB_HL7_AA, "K", "2024", NULL, 0};
    ack = ack_of("MSH|^~\\&|A|B|C|D|2024||SIU^S14|X|P|2.3\r", &aa2, NB_ERR_OK);
    assert_string_equal(ack, "MSH|^~\\&|C|D|A|B|2024||ACK^S14|K|P|2.3\rMSA|AA|X\r");
    free(ack);
    ack = ack_of("MSH|^~\\&|A|B|C|D|2024||ACK|X\r", &aa2, NB_ERR_OK);
    assert_string_equal(ack, "MSH|^~\\&|C|D|A|B|2024||ACK|K||\rMSA|AA|X\r");
    free(ack);
    ack = ack_of("MSH#$*!@#A#B#C$1#D#2024##SIU$S12#X#P#2.5\rPID#x\r", &aa2, NB_ERR_OK);
    assert_string_equal(ack, "MSH#$*!@#C$1#D#A#B#2024##ACK$S12$ACK#K#P#2.5\rMSA#AA#X\r");
    free(ack);

    /* What the caller gets wrong is refused, and nothing is written. */
    nb_hl7_ack_t bad = aa;
    bad.control_id = "";
    free(ack_of(text, &bad, NB_ERR_INVALID_ARG));
    bad = aa;
    bad.timestamp = "yesterday";
    free(ack_of(text, &bad, NB_ERR_INVALID_ARG));
    bad = aa;
    bad.code = NB_HL7_AE;
    free(ack_of(text, &bad, NB_ERR_INVALID_ARG)); /* no reason */
    bad.reason = "x";
    bad.error_code = 999;
    free(ack_of(text, &bad, NB_ERR_INVALID_ARG));
    bad.error_code = 0;
    free(ack_of("PID|1\r", &bad, NB_ERR_INVALID_ARG)); /* no MSH: nothing to acknowledge */
    bad.code = (nb_hl7_ack_code_t)7;
    free(ack_of(text, &bad, NB_ERR_INVALID_ARG));
    free(text);
}

/* ---- any input --------------------------------------------------------------------------- */

/* Parses exactly @p len bytes from a copy of their own, so that ASan sees any read past them;
 * what parses is walked and acknowledged. @returns whether it parsed. */
static bool parse_any(nb_hl7_msg_t *msg, const char *bytes, size_t len)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, bytes, len);
    char errstr[256] = "";
    nb_err_t err = nb_hl7_msg_parse(msg, copy, len, errstr, sizeof(errstr));
    if (err == NB_ERR_OK) {
        nb_buf_t b = {0};
        walk(msg, &b);
        nb_hl7_ack_t a = {NB_HL7_AE, "K1", "2024", "refused", 0};
        assert_int_equal(nb_hl7_ack_build(msg, &a, &b, errstr, sizeof(errstr)), NB_ERR_OK);
        nb_buf_free(&b);
    } else {
        assert_true(errstr[0] != '\0'); /* always a reason */
    }
    free(copy);
    return err == NB_ERR_OK;
}

/* Every prefix of a message, and the message with each byte replaced by each delimiter, CR,
 * LF, NUL, the MLLP bytes and a few others, parses or is refused with a reason. (Under ASan and
 * UBSan; tests/fuzz/fuzz_hl7.c goes much further.) */
static void test_any_input(void **state)
{
    (void)state;
    char *text = siu_with("\r", "");
    size_t len = strlen(text), ok = 0, refused = 0;
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    for (size_t cut = 0; cut <= len; cut++) {
        if (parse_any(msg, text, cut))
            ok++;
        else
            refused++;
    }
    static const char subst[] = "|^~\\&\r\n\0\x0b\x1c\"# Za";
    for (size_t at = 0; at < len; at++) {
        for (size_t k = 0; k < sizeof(subst) - 1; k++) {
            char keep = text[at];
            text[at] = subst[k];
            if (parse_any(msg, text, len))
                ok++;
            else
                refused++;
            text[at] = keep;
        }
    }
    assert_true(ok > 0 && refused > 0);
    nb_hl7_msg_destroy(msg);
    free(text);
}

/* Segment @p seg put back together from its fields, repetitions, components and
 * sub-components: the same bytes as the segment when the index is exact. */
static void rebuild(const nb_hl7_msg_t *msg, size_t seg, nb_buf_t *out)
{
    const nb_hl7_delims_t *d = nb_hl7_msg_delims(msg);
    bool msh = seg == 0;
    nb_buf_add(out, nb_hl7_segment_id(msg, seg), 3);
    for (size_t f = 1; f <= nb_hl7_field_count(msg, seg); f++) {
        if (msh && f <= 2) {
            nb_hl7_value_t v = nb_hl7_get(msg, seg, f, 0, 0, 0);
            nb_buf_add(out, v.p, v.len);
            continue;
        }
        nb_buf_add(out, &d->field, 1);
        for (size_t r = 1; r <= nb_hl7_rep_count(msg, seg, f); r++) {
            if (r > 1)
                nb_buf_add(out, &d->rep, 1);
            for (size_t c = 1; c <= nb_hl7_comp_count(msg, seg, f, r); c++) {
                if (c > 1)
                    nb_buf_add(out, &d->comp, 1);
                for (size_t k = 1; k <= nb_hl7_sub_count(msg, seg, f, r, c); k++) {
                    if (k > 1)
                        nb_buf_add(out, &d->sub, 1);
                    nb_hl7_value_t v = nb_hl7_get(msg, seg, f, r, c, k);
                    nb_buf_add(out, v.p, v.len);
                }
            }
        }
    }
}

/* Appends "seg.field.rep.comp.sub=value;" for a value the walk visits. */
static bool visit_value(void *opaque, const nb_hl7_pos_t *pos, nb_hl7_value_t v)
{
    nb_buf_t *out = opaque;
    char head[80];
    int n = snprintf(head, sizeof(head), "%zu.%zu.%zu.%zu.%zu=", pos->seg, pos->field, pos->rep,
                     pos->comp, pos->sub);
    nb_buf_add(out, head, (size_t)n);
    nb_buf_add(out, v.p, v.len);
    nb_buf_add(out, ";", 1);
    return true;
}

static bool stop_at_third(void *opaque, const nb_hl7_pos_t *pos, nb_hl7_value_t v)
{
    (void)pos;
    (void)v;
    return ++*(size_t *)opaque < 3;
}

/* The same non-empty values, fetched by their numbers. */
static void values_by_position(const nb_hl7_msg_t *msg, nb_buf_t *out)
{
    for (size_t s = 0; s < nb_hl7_segment_count(msg); s++)
        for (size_t f = 1; f <= nb_hl7_field_count(msg, s); f++)
            for (size_t r = 1; r <= nb_hl7_rep_count(msg, s, f); r++)
                for (size_t c = 1; c <= nb_hl7_comp_count(msg, s, f, r); c++)
                    for (size_t k = 1; k <= nb_hl7_sub_count(msg, s, f, r, c); k++) {
                        nb_hl7_value_t v = nb_hl7_get(msg, s, f, r, c, k);
                        nb_hl7_pos_t pos = {s, f, r, c, k};
                        if (v.len)
                            visit_value(out, &pos, v);
                    }
}

/* One pass over the bytes visits what fetching every position finds, with the same numbers. */
static void test_walk(void **state)
{
    (void)state;
    char *text = siu_with("\n", "");
    static const char extra[] = "MSH|^~\\&|A||~|^|&|~^&|a~~b^^c&&d|\rRGS\rPID||||~~^^&&|x\r";
    static const char odd[] = "MSH#$*!@#A$B*C@D##X\rPID#1\r";
    const char *const texts[] = {text, extra, odd};
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    for (size_t i = 0; i < 3; i++) {
        parse_ok(msg, texts[i], strlen(texts[i]));
        nb_buf_t a = {0}, b = {0};
        size_t n = nb_hl7_walk(msg, visit_value, &a);
        values_by_position(msg, &b);
        assert_true(n > 0);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        nb_buf_free(&a);
        nb_buf_free(&b);
    }
    size_t seen = 0;
    assert_int_equal(nb_hl7_walk(msg, stop_at_third, &seen), 3);
    assert_int_equal(seen, 3);
    nb_hl7_msg_destroy(msg);
    free(text);
}

static void test_rebuild(void **state)
{
    (void)state;
    char *text = siu_with("\r\n", "");
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    parse_ok(msg, text, strlen(text));
    static const char extra[] = "MSH|^~\\&|A||~|^|&|~^&|\r\rPID||||~~^^&&|";
    for (int round = 0; round < 2; round++) {
        for (size_t s = 0; s < nb_hl7_segment_count(msg); s++) {
            nb_buf_t b = {0};
            rebuild(msg, s, &b);
            nb_hl7_value_t v = nb_hl7_segment(msg, s);
            assert_int_equal(b.len, v.len);
            assert_memory_equal(b.data, v.p, v.len);
            nb_buf_free(&b);
        }
        parse_ok(msg, extra, strlen(extra));
    }
    nb_hl7_msg_destroy(msg);
    free(text);
}

/* ---- third-party samples ----------------------------------------------------------------- */

static const char *realdata_dir;

/* Samples a parser must refuse, with the code of the refusal: none yet (every one parses). A
 * sample listed here that parses fails the test too, so the list stays true. */
static const struct {
    const char *file;
    nb_err_t err;
} realdata_refused[] = {{NULL, NB_ERR_OK}};

typedef struct sample_s {
    size_t messages, segments, fields, values, escaped, literal;
    char type[64], version[16];
} sample_t;

/* Checks one parsed sample message: what the adapter will need is there, and the whole of it
 * can be walked and put back together. @returns NULL or what is wrong. */
static const char *check_sample(const nb_hl7_msg_t *msg, sample_t *sm)
{
    nb_hl7_value_t type = nb_hl7_get(msg, 0, 9, 1, 1, 0), id = nb_hl7_get(msg, 0, 10, 0, 0, 0);
    nb_hl7_value_t when = nb_hl7_get(msg, 0, 7, 1, 1, 0), full = nb_hl7_get(msg, 0, 9, 0, 0, 0);
    nb_hl7_value_t ver = nb_hl7_get(msg, 0, 12, 1, 1, 0);
    if (nb_hl7_value_kind(type) != NB_HL7_VALUED)
        return "MSH-9 (message type) is empty";
    if (nb_hl7_value_kind(id) != NB_HL7_VALUED)
        return "MSH-10 (message control id) is empty";
    nb_hl7_dtm_t t;
    char errstr[256];
    if (nb_hl7_dtm_parse(when.p, when.len, &t, errstr, sizeof(errstr)) != NB_ERR_OK)
        return "MSH-7 is not an HL7 date/time";
    snprintf(sm->type, sizeof(sm->type), "%.*s", (int)full.len, full.p);
    snprintf(sm->version, sizeof(sm->version), "%.*s", (int)ver.len, ver.p);
    const nb_hl7_delims_t *d = nb_hl7_msg_delims(msg);
    for (size_t s = 0; s < nb_hl7_segment_count(msg); s++) {
        nb_buf_t b = {0};
        rebuild(msg, s, &b);
        nb_hl7_value_t v = nb_hl7_segment(msg, s);
        bool same = b.len == v.len && memcmp(b.data, v.p, v.len) == 0;
        nb_buf_free(&b);
        if (!same)
            return "a segment put back together from its parts differs from it";
        sm->segments++;
        sm->fields += nb_hl7_field_count(msg, s);
        for (size_t f = s == 0 ? 3 : 1; f <= nb_hl7_field_count(msg, s); f++)
            for (size_t r = 1; r <= nb_hl7_rep_count(msg, s, f); r++)
                for (size_t c = 1; c <= nb_hl7_comp_count(msg, s, f, r); c++)
                    for (size_t k = 1; k <= nb_hl7_sub_count(msg, s, f, r, c); k++) {
                        nb_hl7_value_t x = nb_hl7_get(msg, s, f, r, c, k);
                        char out[8192];
                        size_t n;
                        unsigned notes;
                        if (nb_hl7_unescape(d, x, out, sizeof(out), &n, 0, &notes, errstr,
                                            sizeof(errstr)) != NB_ERR_OK)
                            return "a value cannot be unescaped";
                        sm->values++;
                        sm->escaped += memchr(x.p, d->esc, x.len) != NULL;
                        sm->literal += (notes & NB_HL7_NOTE_LITERAL) != 0;
                    }
    }
    return NULL;
}

/* Reads one sample file. @returns NULL when every message in it parsed and checked, or the
 * refusal or fault; *err is the code of a refusal. */
static const char *read_sample(const char *path, sample_t *sm, nb_err_t *err, char *errstr,
                               size_t errstr_size)
{
    char *buf;
    size_t len;
    const char *why;
    *err = NB_ERR_OK;
    if (nb_file_read(path, 0, (size_t)4 << 20, &buf, &len, &why) != NB_FILE_OK)
        return why;
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    nb_hl7_batch_t b;
    nb_hl7_batch_init(&b, buf, len);
    const char *fault = NULL;
    const char *m;
    size_t mlen;
    while (!fault && (*err = nb_hl7_batch_next(&b, &m, &mlen, errstr, errstr_size)) == NB_ERR_OK) {
        sm->messages++;
        *err = nb_hl7_msg_parse(msg, m, mlen, errstr, errstr_size);
        if (*err)
            fault = errstr;
        else
            fault = check_sample(msg, sm);
    }
    if (*err == NB_ERR_NOT_FOUND)
        *err = NB_ERR_OK;
    else if (*err && !fault)
        fault = errstr;
    if (!fault && sm->messages == 0)
        fault = "no message in the file";
    nb_hl7_msg_destroy(msg);
    free(buf);
    return fault;
}

/* What the samples are known to hold (realdata/SOURCES.md, "Quirks an adapter must
 * handle"), read back through the parser: where a sample and the parser disagree, the sample
 * wins. Each check is one position: 'v' its unescaped value is want, 's' it holds want, 'n' it
 * is the HL7 null, 'a' it is absent, 'r' the field has want repetitions, 'f' the path's
 * segment has want fields, 't' it is a DTM of precision want ("5" for minutes). */
static const struct {
    const char *file, *path;
    char op;
    const char *want;
} realdata_quirks[] = {
    {"microsoft-fhir-converter/SIU_12.hl7", "PV1-14", 's', "(inc.A&E-this Hosp)"},
    {"microsoft-fhir-converter/SIU_12.hl7", "MSH-9", 'v', "ADT^A60^ADT_A60"},
    {"microsoft-fhir-converter/SIU-S26-01.hl7", "SCH-25", 'v', "Noshow"},
    {"microsoft-fhir-converter/SIU-S26-01.hl7", "PID-3[1].4.2", 'v', "2.16.1"},
    {"mieweb-webchart/extracted/outbound-SIU_S14.hl7", "NTE-3", 's', "mc\n4/27lc"},
    {"mieweb-webchart/extracted/outbound-SIU_S15.hl7", "SCH-6.1", 'v', "NOSHOW"},
    {"mieweb-webchart/extracted/outbound-SIU_S15.hl7", "SCH-25", 'v', "CANCELED"},
    {"mieweb-webchart/extracted/outbound-SIU_S15.hl7", "PID-1", 'f', "78"}, /* NK1 glued on */
    {"hapi-hl7v2/extracted/NewPipeParserTest-testNestedRepeatingGroups-SIU_S14.hl7", "MSH-10", 'v',
     " 38762"},
    {"hapi-hl7v2/extracted/NewPipeParserTest-testNestedRepeatingGroups-SIU_S14.hl7", "RGS[4]-1",
     'v', "4"},
    {"corepoint-via-node-hl7-complete/siu-example.hl7", "SCH-11.4", 't', "5"},
    {"corepoint-via-node-hl7-complete/siu-example.hl7", "SCH-25", 'v', "ARRIVED"},
    {"renalware-uk-nhs/extracted/BLT_TIE-SIU_S26.hl7", "SCH-25", 'v', "Cancelled"},
    {"renalware-uk-nhs/extracted/BLT_TIE-SIU_S26.hl7", "PV1-4", 'n', ""},
    {"renalware-uk-nhs/extracted/examples-04-MEDWAY-RAJ12-ADT_A38.hl7", "PID-2.1", 'a', ""},
    {"renalware-uk-nhs/extracted/examples-04-MEDWAY-RAJ12-ADT_A38.hl7", "PID-2.2", 'v', "NSTS03"},
    {"renalware-uk-nhs/extracted/examples-04-MEDWAY-RAJ12-ADT_A38.hl7", "ZU3-3", 'v', "4"},
    {"renalware-uk-nhs/extracted/examples-14-CSCLRC-RAJ32-ADT_A05.hl7", "PID-32", 'r', "3"},
    {"renalware-uk-nhs/extracted/examples-14-CSCLRC-RAJ32-ADT_A05.hl7", "PID-32[3]", 'n', ""},
    {"uk-open-inhealthcare/extracted/README-ADT_A28_ADT_A05.hl7", "PID-3[2].1", 'v', "9990500002"},
    {"uk-open-inhealthcare/extracted/README-ADT_A28_ADT_A05.hl7", "PID-3[2].5", 'v', "NH"},
    {"uk-open-inhealthcare/extracted/README-ADT_A28_ADT_A05.hl7", "MSH-7", 't', "7"},
};

/* @returns NULL when quirk @p i holds, or what does not. */
static const char *check_quirk(size_t i, char *errstr, size_t errstr_size)
{
    char path[8192], *buf;
    size_t len;
    const char *why;
    snprintf(path, sizeof(path), "%s/%s", realdata_dir, realdata_quirks[i].file);
    if (nb_file_read(path, 0, (size_t)4 << 20, &buf, &len, &why) != NB_FILE_OK)
        return why;
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    nb_hl7_path_t p;
    const char *bad = NULL, *want = realdata_quirks[i].want;
    char out[4096];
    size_t n;
    nb_hl7_dtm_t t;
    if (nb_hl7_msg_parse(msg, buf, len, errstr, errstr_size) ||
        nb_hl7_path_parse(realdata_quirks[i].path, &p, errstr, errstr_size))
        bad = errstr;
    nb_hl7_value_t v = bad ? nb_hl7_get(msg, 0, 0, 0, 0, 0) : nb_hl7_path_get(msg, &p);
    if (!bad && nb_hl7_unescape(nb_hl7_msg_delims(msg), v, out, sizeof(out), &n, 0, NULL, errstr,
                                errstr_size))
        bad = errstr;
    size_t seg = 0;
    switch (bad ? 0 : realdata_quirks[i].op) {
    case 'v':
        bad = strcmp(out, want) ? "another value" : NULL;
        break;
    case 's':
        bad = strstr(out, want) ? NULL : "a value without it";
        break;
    case 'n':
        bad = nb_hl7_value_kind(v) == NB_HL7_NULL ? NULL : "not the HL7 null";
        break;
    case 'a':
        bad = nb_hl7_value_kind(v) == NB_HL7_ABSENT ? NULL : "a value";
        break;
    case 'r':
        nb_hl7_segment_find(msg, p.seg, 0, &seg);
        bad = nb_hl7_rep_count(msg, seg, p.field) == (size_t)atoi(want) ? NULL : "another count";
        break;
    case 'f':
        nb_hl7_segment_find(msg, p.seg, 0, &seg);
        bad = nb_hl7_field_count(msg, seg) == (size_t)atoi(want) ? NULL : "another count";
        break;
    case 't':
        bad = nb_hl7_dtm_parse(v.p, v.len, &t, errstr, errstr_size) ? errstr
              : (int)t.precision != atoi(want)                      ? "another precision"
                                                                    : NULL;
        break;
    default:
        break;
    }
    nb_hl7_msg_destroy(msg);
    free(buf);
    return bad;
}

static void test_realdata(void **state)
{
    (void)state;
    char **files = NULL;
    size_t n = 0, failed = 0, refused = 0;
    nb_test_collect(realdata_dir, "", (const char *const[]){".hl7", NULL}, true, &files, &n);
    qsort(files, n, sizeof(*files), nb_test_by_name);
    for (size_t i = 0; i < n; i++) {
        char path[8192], errstr[256] = "";
        snprintf(path, sizeof(path), "%s/%s", realdata_dir, files[i]);
        sample_t sm;
        memset(&sm, 0, sizeof(sm));
        nb_err_t err;
        const char *fault = read_sample(path, &sm, &err, errstr, sizeof(errstr));
        nb_err_t want = NB_ERR_OK;
        for (size_t k = 0; realdata_refused[k].file; k++)
            if (strcmp(realdata_refused[k].file, files[i]) == 0)
                want = realdata_refused[k].err;
        if (!fault) {
            printf("realdata ok      %s: %s v%s, %zu message(s), %zu segments, %zu fields, "
                   "%zu values, %zu escaped (%zu kept as written)\n",
                   files[i], sm.type, sm.version, sm.messages, sm.segments, sm.fields, sm.values,
                   sm.escaped, sm.literal);
        } else {
            printf("realdata %-7s %s: %s%s%s\n", err ? "refused" : "FAULT", files[i],
                   err ? nb_err_name(err) : "", err ? ": " : "", fault);
            refused += err != NB_ERR_OK;
        }
        if ((fault ? err : NB_ERR_OK) != want || (fault && !err)) {
            printf("realdata   ^ expected %s\n", want ? nb_err_name(want) : "to parse");
            failed++;
        }
        free(files[i]);
    }
    free(files);
    for (size_t i = 0; i < sizeof(realdata_quirks) / sizeof(realdata_quirks[0]); i++) {
        char errstr[256];
        const char *bad = check_quirk(i, errstr, sizeof(errstr));
        char want[64];
        size_t k = 0;
        for (const char *c = realdata_quirks[i].want; *c && k + 3 < sizeof(want); c++)
            k += (size_t)snprintf(want + k, sizeof(want) - k, *c == '\n' ? "\\n" : "%c", *c);
        want[k] = '\0';
        printf("realdata %-7s %s %s %c '%s'%s%s\n", bad ? "WRONG" : "holds",
               realdata_quirks[i].file, realdata_quirks[i].path, realdata_quirks[i].op, want,
               bad ? ": " : "", bad ? bad : "");
        failed += bad != NULL;
    }
    printf("realdata: %zu files, %zu refused, %zu not as expected\n", n, refused, failed);
    assert_true(n > 0);
    assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--realdata") == 0) {
        struct stat st;
        if (stat(argv[2], &st) != 0 || !S_ISDIR(st.st_mode)) {
            printf("unit.hl7.realdata SKIPPED: %s is not a directory (the third-party samples "
                   "of ../shared/realdata are not in this checkout)\n",
                   argv[2]);
            return 77; /* ctest: SKIP_RETURN_CODE */
        }
        realdata_dir = argv[2];
        const struct CMUnitTest rt[] = {cmocka_unit_test(test_realdata)};
        return cmocka_run_group_tests_name("hl7.realdata", rt, NULL, NULL);
    }
    if (argc != 1) {
        fprintf(stderr, "usage: test_hl7 [--realdata DIR]\n");
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_segment_terminators),
        cmocka_unit_test(test_other_delimiters),
        cmocka_unit_test(test_refused_messages),
        cmocka_unit_test(test_segments_before_an_error_stay),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_scan_every_offset),
        cmocka_unit_test(test_null_and_absent),
        cmocka_unit_test(test_value_pieces),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_unescape_strict),
        cmocka_unit_test(test_unescape_buffer),
        cmocka_unit_test(test_escape_round_trip),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_mllp_frames),
        cmocka_unit_test(test_mllp_stream),
        cmocka_unit_test(test_dtm),
        cmocka_unit_test(test_ack),
        cmocka_unit_test(test_rebuild),
        cmocka_unit_test(test_walk),
        cmocka_unit_test(test_any_input),
    };
    return cmocka_run_group_tests_name("hl7", tests, NULL, NULL);
}
