/*
 * Unit tests of `notbrought chronology`'s formats (src/cli/cmd_chronology_format.c): the
 * records in time order (an event where its source recorded it, ties in reading order); text
 * with a field's line break and escape sequence made visible; CSV per RFC 4180 (quoted,
 * doubled quotes, CRLF, the same number of columns in every row, a formula neutralised) with
 * the NHS number only when asked; HTML escaped, with no script and nothing loaded from
 * elsewhere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/chronology.h"

#define KEY "3f2a9c1b0d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd"
#define NHS "9434765919"
#define T0 1780000000000LL /* 2026-05-28 */

static nb_audit_t nb__received(const char *event_id, int64_t recorded, int64_t at)
{
    nb_audit_t a;
    nb_audit_init(&a, NB_AUDIT_RECEIVED, at);
    strcpy(a.child_key, KEY);
    a.agency = NB_AGENCY_GP;
    strcpy(a.organisation, "W91010");
    a.has_event = true;
    strcpy(a.event.event_id, event_id);
    strcpy(a.event.appointment_id, "gp-1");
    strcpy(a.event.appointment_type, "immunisation");
    strcpy(a.event.status, "was_not_brought");
    a.event.scheduled_start = recorded - 3600000;
    a.event.recorded_at = recorded;
    a.event.version = 2;
    strcpy(a.event.source_system, "EMIS Web");
    a.event.nhs_number_known = true;
    nb_audit_set_id(&a, event_id, KEY, 0);
    return a;
}

static nb_audit_t nb__fired(int64_t at)
{
    nb_audit_t a;
    nb_audit_init(&a, NB_AUDIT_FIRED, at);
    strcpy(a.child_key, KEY);
    strcpy(a.notification_id, "f280035eb258b8da259ab736c6c4cca3");
    strcpy(a.reference, "WNB-YFFD-H9D5");
    strcpy(a.rule_id, "under5_multiagency");
    a.tier = NB_TIER_URGENT;
    a.n_recipients = 1;
    strcpy(a.recipients[0].role, "health_visitor");
    strcpy(a.recipients[0].route, "queue:cav-health-visiting-duty");
    a.respond_by = at + 86400000;
    a.n_evidence = 2;
    strcpy(a.evidence[0], "gp-1-v2");
    strcpy(a.evidence[1], "hv-2-v2");
    nb_audit_set_id(&a, a.notification_id, "fired", at);
    return a;
}

static nb__chron_head_t nb__head(void)
{
    nb__chron_head_t h = {NHS,
                          false,
                          KEY,
                          NULL,
                          "hv.jones",
                          "practice review",
                          T0 + 90000000LL,
                          NB_NOTIFY_ZONE_EUROPE_LONDON,
                          0};
    return h;
}

/* The chronology in @p fmt as a string (free it). */
static char *nb__write(const nb__chron_t *c, nb__chron_format_t fmt, const nb__chron_head_t *h)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    assert_int_equal(nb__chron_write(fp, fmt, c, h), 0);
    fclose(fp);
    /* A copy: GCC's -Wdangling-pointer (at -O3) takes pointers into the memstream's buffer
     * for pointers to the local that received it. */
    char *copy = strdup(text);
    free(text);
    assert_non_null(copy);
    return copy;
}

static void test_time_order(void **state)
{
    (void)state;
    nb__chron_t c = {0};
    /* Read in this order: a decision, then two events its source recorded before it (the
     * second received late), then a reading at the decision's time. */
    nb_audit_t fired = nb__fired(T0 + 5000);
    nb_audit_t late = nb__received("late-v1", T0 + 1000, T0 + 9000);
    nb_audit_t early = nb__received("early-v1", T0, T0 + 2000);
    nb_audit_t read;
    nb_audit_init(&read, NB_AUDIT_CHRONOLOGY_READ, T0 + 5000);
    assert_int_equal(nb__chron_add(&c, &fired), NB_ERR_OK);
    assert_int_equal(nb__chron_add(&c, &late), NB_ERR_OK);
    assert_int_equal(nb__chron_add(&c, &early), NB_ERR_OK);
    assert_int_equal(nb__chron_add(&c, &read), NB_ERR_OK);
    nb__chron_sort(&c);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.e[0].a.event.event_id, "early-v1");
    assert_string_equal(c.e[1].a.event.event_id, "late-v1"); /* by recorded_at, not arrival */
    assert_int_equal(c.e[2].a.kind, NB_AUDIT_FIRED);         /* a tie keeps the reading order */
    assert_int_equal(c.e[3].a.kind, NB_AUDIT_CHRONOLOGY_READ);
    /* The text shows them in that order, each numbered. */
    nb__chron_head_t h = nb__head();
    char *text = nb__write(&c, NB__CHRON_TEXT, &h);
    char *p1 = strstr(text, "early-v1"), *p2 = strstr(text, "late-v1");
    char *p3 = strstr(text, "3. "), *p4 = strstr(text, "Notification raised");
    assert_true(p1 && p2 && p3 && p4 && p1 < p2 && p2 < p3 && p3 < p4);
    assert_non_null(strstr(text, "Rule            under5_multiagency, tier urgent, rung 0"));
    assert_non_null(strstr(text, "Evidence        gp-1-v2, hv-2-v2"));
    free(text);
    nb__chron_free(&c);
}

static void test_text_escapes_and_header(void **state)
{
    (void)state;
    nb__chron_t c = {0};
    nb_audit_t a = nb__received("e1", T0, T0);
    strcpy(a.event.source_system, "Sys\n2. forged line\x1b[2J");
    assert_int_equal(nb__chron_add(&c, &a), NB_ERR_OK);
    nb__chron_head_t h = nb__head();
    char *text = nb__write(&c, NB__CHRON_TEXT, &h);
    assert_non_null(strstr(text, "version 2 from Sys\\n2. forged line\\x1b[2J"));
    assert_null(strstr(text, "\n2. forged"));
    assert_null(strchr(text, '\x1b'));
    assert_non_null(strstr(text, "Child:      NHS 943 476 5919\n"));
    assert_non_null(strstr(text, "Read by:    hv.jones"));
    assert_non_null(strstr(text, "Reason:     practice review\n"));
    free(text);
    /* Found by reference: no number to show, the reference instead. */
    h.nhs_number = NULL;
    h.reference = "WNB-YFFD-H9D5";
    h.unreadable = 2;
    text = nb__write(&c, NB__CHRON_TEXT, &h);
    assert_null(strstr(text, "Child:      NHS"));
    assert_null(strstr(text, "943"));
    assert_non_null(strstr(text, "Found by:   notification WNB-YFFD-H9D5"));
    assert_non_null(strstr(text, "NOT SHOWN:  2 records of this child could not be read"));
    free(text);
    nb__chron_free(&c);
}

/* Splits one CSV record (RFC 4180) starting at @p s into fields; @returns the field count and
 * sets *next past its CRLF. Fields are copied into @p out (up to @p max). */
static size_t nb__csv_fields(const char *s, const char **next, char out[][256], size_t max)
{
    size_t n = 0, k = 0;
    bool q = false;
    for (;; s++) {
        if (q && *s == '"' && s[1] == '"') {
            out[n][k++] = '"';
            s++;
        } else if (*s == '"') {
            q = !q;
        } else if (!q && (*s == ',' || (*s == '\r' && s[1] == '\n') || !*s)) {
            out[n][k] = '\0';
            n++;
            k = 0;
            assert_true(n < max);
            if (*s != ',') {
                *next = *s ? s + 2 : s;
                return n;
            }
        } else {
            assert_true(k < 255);
            out[n][k++] = *s;
        }
    }
}

static void test_csv(void **state)
{
    (void)state;
    static char f[64][256];
    nb__chron_t c = {0};
    nb_audit_t a = nb__received("e1", T0, T0);
    strcpy(a.event.source_system, "Sys, \"quoted\"\nline");
    nb_audit_t b = nb__fired(T0 + 1);
    strcpy(b.reason, "=HYPERLINK(\"http://x\")");
    assert_int_equal(nb__chron_add(&c, &a), NB_ERR_OK);
    assert_int_equal(nb__chron_add(&c, &b), NB_ERR_OK);
    nb__chron_head_t h = nb__head();
    char *csv = nb__write(&c, NB__CHRON_CSV, &h);
    assert_null(strstr(csv, NHS)); /* not asked for */
    const char *p = csv;
    size_t cols = nb__csv_fields(p, &p, f, 64);
    assert_int_equal(strncmp(csv, nb__chron_csv_header, strlen(nb__chron_csv_header)), 0);
    assert_string_equal(f[0], "seq");
    assert_string_equal(f[4], "nhs_number");
    assert_int_equal(nb__csv_fields(p, &p, f, 64), cols);
    assert_string_equal(f[0], "1");
    assert_string_equal(f[1], "2026-05-28T20:26:40.000Z");
    assert_string_equal(f[2], "received");
    assert_string_equal(f[3], KEY);
    assert_string_equal(f[4], "");
    assert_string_equal(f[20], "Sys, \"quoted\"\nline"); /* source_system, round trip */
    assert_int_equal(nb__csv_fields(p, &p, f, 64), cols);
    assert_string_equal(f[2], "fired");
    assert_string_equal(f[22], "health_visitor=queue:cav-health-visiting-duty");
    assert_string_equal(f[24], "gp-1-v2;hv-2-v2");
    assert_string_equal(f[25], "'=HYPERLINK(\"http://x\")"); /* not a formula */
    assert_string_equal(p, "");
    free(csv);
    /* Asked for: in the nhs_number column of every row, nowhere else. */
    h.csv_nhs_number = true;
    csv = nb__write(&c, NB__CHRON_CSV, &h);
    p = csv;
    nb__csv_fields(p, &p, f, 64);
    nb__csv_fields(p, &p, f, 64);
    assert_string_equal(f[4], NHS);
    free(csv);
    nb__chron_free(&c);
}

static void test_html(void **state)
{
    (void)state;
    nb__chron_t c = {0};
    nb_audit_t a = nb__received("e1", T0, T0);
    strcpy(a.event.source_system, "<script>alert('x')</script>");
    nb_audit_t b = nb__fired(T0 + 1);
    strcpy(b.recipients[0].route, "\"><img src=http://evil/x>");
    assert_int_equal(nb__chron_add(&c, &a), NB_ERR_OK);
    assert_int_equal(nb__chron_add(&c, &b), NB_ERR_OK);
    nb__chron_head_t h = nb__head();
    h.reason = "review & <b>learning</b>";
    char *html = nb__write(&c, NB__CHRON_HTML, &h);
    assert_int_equal(strncmp(html, "<!DOCTYPE html>", 15), 0);
    assert_non_null(strstr(html, "<title>Chronology for a practice review</title>"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<link"));
    assert_non_null(strstr(html, "&quot;&gt;&lt;img src=http://evil/x&gt;"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert_non_null(strstr(html, "review &amp; &lt;b&gt;learning&lt;/b&gt;"));
    assert_non_null(strstr(html, "NHS 943 476 5919"));
    assert_non_null(strstr(html, "default-src 'none'"));
    /* Local time: 28 May 2026 is summer time. */
    assert_non_null(strstr(html, "28 May 2026 21:26 BST"));
    assert_non_null(strstr(html, "id=\"r2\" data-kind=\"fired\""));
    free(html);
    nb__chron_free(&c);
}

/* A person's action and its verdict, a delivery and an inbox view: who, what, when, why. */
static void test_actions_deliveries_views(void **state)
{
    (void)state;
    nb__chron_t c = {0};
    nb_audit_t a;
    nb_audit_init(&a, NB_AUDIT_ACTION_REFUSED, T0);
    strcpy(a.child_key, KEY);
    strcpy(a.reference, "WNB-YFFD-H9D5");
    strcpy(a.notification_id, "f280035eb258b8da259ab736c6c4cca3");
    strcpy(a.reason, "already closed");
    a.has_action = true;
    strcpy(a.action.ack_id, "ack-1");
    a.action.intent = NB_ACK_INTENT_CLOSE;
    a.action.acted_at = T0 - 60000;
    strcpy(a.action.owner_user, "hv.jones");
    strcpy(a.action.owner_queue, "queue:cav-health-visiting-duty");
    a.action.close_action = NB_ACK_CONTACTED_FAMILY;
    strcpy(a.action.closed_by, "hv.smith");
    a.action.closed_at = T0 - 120000;
    a.has_actor = true;
    strcpy(a.actor.user_id, "hv.jones");
    strcpy(a.actor.via, "inbox-1");
    assert_int_equal(nb__chron_add(&c, &a), NB_ERR_OK);
    nb_audit_init(&a, NB_AUDIT_DELIVERY_FAILED, T0 + 1000);
    strcpy(a.child_key, KEY);
    a.has_delivery = true;
    strcpy(a.delivery.channel, "webhook");
    strcpy(a.delivery.route, "webhook:cav-duty");
    a.delivery.attempt = 3;
    strcpy(a.reason, "HTTP 503");
    assert_int_equal(nb__chron_add(&c, &a), NB_ERR_OK);
    nb_audit_init(&a, NB_AUDIT_VIEWED, T0 + 2000);
    strcpy(a.child_key, KEY);
    a.has_actor = true;
    strcpy(a.actor.user_id, "hv.smith");
    strcpy(a.subject, "the notification's page");
    assert_int_equal(nb__chron_add(&c, &a), NB_ERR_OK);
    nb__chron_sort(&c);
    nb__chron_head_t h = nb__head();
    char *text = nb__write(&c, NB__CHRON_TEXT, &h);
    assert_non_null(strstr(text, "1. 28 May 2026 21:26 BST  Action refused\n"));
    assert_non_null(strstr(text, "Action          close at 28 May 2026 21:25 BST (ack ack-1)"));
    assert_non_null(strstr(text, "Owner           hv.jones, queue queue:cav-health-visiting-duty"));
    assert_non_null(strstr(text, "Done            contacted_family"));
    assert_non_null(strstr(text, "Closed before   by hv.smith at 28 May 2026 21:24 BST"));
    assert_non_null(strstr(text, "Refused because already closed"));
    assert_non_null(strstr(text, "By              hv.jones, through inbox-1"));
    assert_non_null(strstr(text, "2. 28 May 2026 21:26 BST  Delivery failed"));
    assert_non_null(strstr(text, "Delivery        webhook to webhook:cav-duty, attempt 3"));
    assert_non_null(strstr(text, "Reason          HTTP 503"));
    assert_non_null(strstr(text, "3. 28 May 2026 21:26 BST  Viewed in the inbox"));
    assert_non_null(strstr(text, "Subject         the notification's page"));
    free(text);
    char *csv = nb__write(&c, NB__CHRON_CSV, &h);
    assert_non_null(strstr(csv, ",already closed,close,ack-1,2026-05-28T20:25:40.000Z,hv.jones,"
                                "queue:cav-health-visiting-duty,,,contacted_family,hv.smith,"
                                "2026-05-28T20:24:40.000Z,hv.jones,,inbox-1,,,,,,,"));
    assert_non_null(strstr(csv, ",webhook,webhook:cav-duty,3,"));
    free(csv);
    nb__chron_free(&c);
}

static void test_formats_and_words(void **state)
{
    (void)state;
    nb__chron_format_t f;
    assert_true(nb__chron_format_parse("html", &f) && f == NB__CHRON_HTML);
    assert_true(nb__chron_format_parse("csv", &f) && f == NB__CHRON_CSV);
    assert_false(nb__chron_format_parse("pdf", &f));
    assert_string_equal(nb__chron_format_name(NB__CHRON_TEXT), "text");
    for (int k = 0; k < NB_AUDIT__COUNT; k++)
        assert_true(nb__chron_kind_words((nb_audit_kind_t)k)[0] != '\0');
    assert_string_equal(nb__chron_kind_words(NB_AUDIT__COUNT), "Other");
    /* No record: said so, in every format. */
    nb__chron_t c = {0};
    nb__chron_head_t h = nb__head();
    char *text = nb__write(&c, NB__CHRON_TEXT, &h);
    assert_non_null(strstr(text, "No records about this child"));
    free(text);
    text = nb__write(&c, NB__CHRON_CSV, &h);
    assert_int_equal(strlen(text), strlen(nb__chron_csv_header) + 2);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_order),
        cmocka_unit_test(test_text_escapes_and_header),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_actions_deliveries_views),
        cmocka_unit_test(test_formats_and_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
