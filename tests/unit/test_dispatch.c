/*
 * unit.dispatch: what `notbrought dispatch` sends, decided without I/O (notbrought/dispatch.h):
 * routes, kinds, the webhook body and the email carry no personal data, the signature and its
 * check, the meaning of answers, the backoff, and the tracker's commit points.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "notbrought/dispatch.h"

#define T0 1796000000000LL /* December 2026 */
#define NHS "9434765919"

/* A notification with a child's details in every field that holds them, and three routes. */
static nb_notification_t *notif(nb_notification_kind_t kind)
{
    static nb_notification_t n;
    memset(&n, 0, sizeof(n));
    snprintf(n.notification_id, sizeof(n.notification_id), "3f2a9c1d7e6b5a40-e1");
    snprintf(n.reference, sizeof(n.reference), "WNB-3F2A-9C1D");
    n.kind = kind;
    snprintf(n.nhs_number, sizeof(n.nhs_number), NHS);
    snprintf(n.pregnant_person_nhs, sizeof(n.pregnant_person_nhs), "9434765870");
    n.date_of_birth = 20513; /* 2026-03-01 */
    snprintf(n.child_key, sizeof(n.child_key), "%064d", 7);
    snprintf(n.rule_id, sizeof(n.rule_id), "hv_missed_under1");
    snprintf(n.rule_text, sizeof(n.rule_text), "A baby under 1 missed a mandated contact");
    snprintf(n.action, sizeof(n.action), "See the baby within 3 working days");
    n.tier = NB_TIER_URGENT;
    n.respond_by = T0 + 3600000;
    n.created_at = T0;
    n.escalation_level = 1;
    n.n_recipients = 4;
    snprintf(n.recipients[0].route, sizeof(n.recipients[0].route), "queue:hv-duty");
    snprintf(n.recipients[1].route, sizeof(n.recipients[1].route), "webhook:hv-pager");
    snprintf(n.recipients[2].route, sizeof(n.recipients[2].route), "email:hv-team");
    snprintf(n.recipients[3].route, sizeof(n.recipients[3].route), "webhook:hv-pager");
    n.n_evidence = 1;
    snprintf(n.evidence[0].appointment_id, sizeof(n.evidence[0].appointment_id), "APPT-778");
    return &n;
}

static void test_route_parse(void **state)
{
    (void)state;
    nb_dispatch_target_t t;
    assert_true(nb_dispatch_route_parse("webhook:hv-pager", &t));
    assert_int_equal(t.channel, NB_DISPATCH_WEBHOOK);
    assert_string_equal(t.endpoint, "hv-pager");
    assert_true(nb_dispatch_route_parse("email:team.lead_1", &t));
    assert_int_equal(t.channel, NB_DISPATCH_EMAIL);
    assert_string_equal(t.endpoint, "team.lead_1");
    assert_false(nb_dispatch_route_parse("queue:hv-duty", &t));
    assert_false(nb_dispatch_route_parse("webhook:", &t));
    assert_false(nb_dispatch_route_parse("webhook:a b", &t));
    assert_false(nb_dispatch_route_parse("email:x/y", &t));
    assert_false(nb_dispatch_route_parse("Webhook:x", &t));
}

static void test_targets_kinds_and_duplicates(void **state)
{
    (void)state;
    nb_dispatch_target_t t[8];
    /* Two roles routed to one webhook get one delivery; the queue gets none. */
    assert_int_equal(nb_dispatch_targets(notif(NB_NOTIFICATION_NEW), false, t, 8), 2);
    assert_string_equal(t[0].endpoint, "hv-pager");
    assert_int_equal(t[1].channel, NB_DISPATCH_EMAIL);
    assert_int_equal(nb_dispatch_targets(notif(NB_NOTIFICATION_ESCALATED), false, t, 8), 2);
    assert_int_equal(nb_dispatch_targets(notif(NB_NOTIFICATION_WITHDRAWN), false, t, 8), 2);
    assert_int_equal(nb_dispatch_targets(notif(NB_NOTIFICATION_REMINDER), false, t, 8), 2);
    assert_int_equal(nb_dispatch_targets(notif(NB_NOTIFICATION_DIGEST), false, t, 8), 0);
    assert_int_equal(nb_dispatch_targets(notif(NB_NOTIFICATION_DIGEST), true, t, 8), 2);
    assert_int_equal(nb_dispatch_targets(notif(NB_NOTIFICATION_NEW), false, t, 1), 1);
}

static void test_webhook_body_has_no_personal_data(void **state)
{
    (void)state;
    size_t len = 0;
    char *body =
        nb_dispatch_webhook_body(notif(NB_NOTIFICATION_ESCALATED), "https://inbox.example/",
                                 NB_NOTIFY_ZONE_EUROPE_LONDON, &len);
    assert_non_null(body);
    assert_int_equal(len, strlen(body));
    assert_null(strstr(body, NHS));
    assert_null(strstr(body, "9434765870"));
    assert_null(strstr(body, "2026-03-01")); /* the date of birth */
    assert_null(strstr(body, "APPT-778"));   /* evidence */
    assert_null(strstr(body, "0000000007")); /* the child key */
    json_error_t jerr;
    json_t *o = json_loads(body, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "reference")), "WNB-3F2A-9C1D");
    assert_string_equal(json_string_value(json_object_get(o, "notification_id")),
                        "3f2a9c1d7e6b5a40-e1");
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "escalated");
    assert_string_equal(json_string_value(json_object_get(o, "tier")), "urgent");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "rule"), "id")),
                        "hv_missed_under1");
    assert_string_equal(json_string_value(json_object_get(o, "link")),
                        "https://inbox.example/n/3f2a9c1d7e6b5a40-e1");
    assert_string_equal(json_string_value(json_object_get(o, "respond_by")),
                        "2026-11-30T01:53:20.000Z");
    /* November: GMT. */
    assert_non_null(strstr(json_string_value(json_object_get(o, "respond_by_local")), "GMT"));
    assert_int_equal(json_integer_value(json_object_get(o, "escalation_level")), 1);
    assert_true(json_is_null(json_object_get(o, "supersedes")));
    json_decref(o);
    free(body);
}

static void test_email_text(void **state)
{
    (void)state;
    nb_buf_t b = {0};
    const char *to[] = {"hv-team@example.nhs.uk", "lead@example.nhs.uk"};
    assert_int_equal(nb_dispatch_email(notif(NB_NOTIFICATION_NEW), "https://inbox.example",
                                       NB_NOTIFY_ZONE_EUROPE_LONDON, "nb@example.nhs.uk", to, 2, T0,
                                       &b),
                     NB_ERR_OK);
    assert_int_equal(nb_buf_append(&b, "", 1), NB_ERR_OK);
    const char *m = (const char *)b.data;
    assert_non_null(strstr(m, "Subject: [notbrought] URGENT new: WNB-3F2A-9C1D\r\n"));
    assert_non_null(strstr(m, "To: <hv-team@example.nhs.uk>, <lead@example.nhs.uk>\r\n"));
    assert_non_null(strstr(m, "Message-ID: <3f2a9c1d7e6b5a40-e1@notbrought>\r\n"));
    assert_non_null(strstr(m, "Date: Mon, 30 Nov 2026 00:53:20 +0000\r\n"));
    assert_non_null(strstr(m, "https://inbox.example/n/3f2a9c1d7e6b5a40-e1\r\n"));
    assert_non_null(strstr(m, "Respond by:   Monday 30 November 2026 at 01:53 GMT"));
    assert_null(strstr(m, NHS));
    assert_null(strstr(m, "APPT-778"));
    /* Every line ends CRLF: no bare LF. */
    for (const char *p = m; (p = strchr(p, '\n')); p++)
        assert_int_equal(p[-1], '\r');
    nb_buf_free(&b);
    /* A withdrawn one says it is off the list and asks for no respond-by. */
    assert_int_equal(nb_dispatch_email(notif(NB_NOTIFICATION_WITHDRAWN), "https://i",
                                       NB_NOTIFY_ZONE_UTC, "nb@x.org", to, 1, T0, &b),
                     NB_ERR_OK);
    assert_int_equal(nb_buf_append(&b, "", 1), NB_ERR_OK);
    assert_non_null(strstr((const char *)b.data, "withdrawn"));
    assert_null(strstr((const char *)b.data, "Respond by"));
    nb_buf_free(&b);
    /* A header injection through an address is refused. */
    const char *evil[] = {"a@b.org\r\nBcc: x@y.org"};
    assert_int_equal(nb_dispatch_email(notif(NB_NOTIFICATION_NEW), "https://i", NB_NOTIFY_ZONE_UTC,
                                       "nb@x.org", evil, 1, T0, &b),
                     NB_ERR_INVALID_ARG);
    nb_buf_free(&b);
}

static void test_signature(void **state)
{
    (void)state;
    const char *secret = "whsec-test-0123456789", *body = "{\"a\":1}";
    char sig[NB_DISPATCH_SIG_MAX];
    nb_dispatch_sign(secret, strlen(secret), 1765000000, body, strlen(body), sig);
    /* Computed independently (Python's hmac module). */
    assert_string_equal(sig, "t=1765000000,v1=155b3f6bda80a9e10867167759aee5394ee36eb7129d82b33d"
                             "8aa70afcbe9a6f");
    assert_int_equal(
        nb_dispatch_verify(secret, strlen(secret), sig, body, strlen(body), 1765000100, 300),
        NB_ERR_OK);
    /* A changed body, another secret, an old or future timestamp, a malformed header. */
    assert_int_equal(
        nb_dispatch_verify(secret, strlen(secret), sig, "{\"a\":2}", 7, 1765000100, 300),
        NB_ERR_INVALID_ARG);
    assert_int_equal(nb_dispatch_verify("other", 5, sig, body, strlen(body), 1765000100, 300),
                     NB_ERR_INVALID_ARG);
    assert_int_equal(
        nb_dispatch_verify(secret, strlen(secret), sig, body, strlen(body), 1765000301, 300),
        NB_ERR_TIMEOUT);
    assert_int_equal(
        nb_dispatch_verify(secret, strlen(secret), sig, body, strlen(body), 1764999000, 300),
        NB_ERR_TIMEOUT);
    assert_int_equal(
        nb_dispatch_verify(secret, strlen(secret), "v1=00", body, strlen(body), 1765000100, 300),
        NB_ERR_INVALID_ARG);
    /* While a secret is rotated, a second v1 may be the one that matches. */
    char two[200];
    snprintf(two, sizeof(two), "t=1765000000,v1=%064d,%s", 0, strchr(sig, ',') + 1);
    assert_int_equal(
        nb_dispatch_verify(secret, strlen(secret), two, body, strlen(body), 1765000000, 300),
        NB_ERR_OK);
}

static void test_verdicts(void **state)
{
    (void)state;
    assert_int_equal(nb_dispatch_http_verdict(200), NB_DISPATCH_DELIVERED);
    assert_int_equal(nb_dispatch_http_verdict(204), NB_DISPATCH_DELIVERED);
    assert_int_equal(nb_dispatch_http_verdict(400), NB_DISPATCH_REFUSED);
    assert_int_equal(nb_dispatch_http_verdict(401), NB_DISPATCH_REFUSED);
    assert_int_equal(nb_dispatch_http_verdict(404), NB_DISPATCH_REFUSED);
    assert_int_equal(nb_dispatch_http_verdict(408), NB_DISPATCH_RETRY);
    assert_int_equal(nb_dispatch_http_verdict(429), NB_DISPATCH_RETRY);
    assert_int_equal(nb_dispatch_http_verdict(500), NB_DISPATCH_RETRY);
    assert_int_equal(nb_dispatch_http_verdict(503), NB_DISPATCH_RETRY);
    assert_int_equal(nb_dispatch_http_verdict(302), NB_DISPATCH_RETRY);
    assert_int_equal(nb_dispatch_http_verdict(0), NB_DISPATCH_RETRY);
    assert_int_equal(nb_dispatch_smtp_verdict(true, 250), NB_DISPATCH_DELIVERED);
    assert_int_equal(nb_dispatch_smtp_verdict(false, 550), NB_DISPATCH_REFUSED);
    assert_int_equal(nb_dispatch_smtp_verdict(false, 451), NB_DISPATCH_RETRY);
    assert_int_equal(nb_dispatch_smtp_verdict(false, 0), NB_DISPATCH_RETRY);
    assert_string_equal(nb_dispatch_verdict_name(NB_DISPATCH_REFUSED), "refused");
}

static void test_backoff(void **state)
{
    (void)state;
    nb_dispatch_backoff_t b = {1000, 10000, 60000};
    assert_int_equal(nb_dispatch_backoff_delay(&b, 1), 1000);
    assert_int_equal(nb_dispatch_backoff_delay(&b, 2), 2000);
    assert_int_equal(nb_dispatch_backoff_delay(&b, 4), 8000);
    assert_int_equal(nb_dispatch_backoff_delay(&b, 5), 10000);
    assert_int_equal(nb_dispatch_backoff_delay(&b, 500), 10000); /* no overflow */
    assert_int_equal(nb_dispatch_next_attempt(&b, 1, T0, T0 + 100), T0 + 1100);
    assert_int_equal(nb_dispatch_next_attempt(&b, 6, T0, T0 + 50000), T0 + 60000);
    assert_int_equal(nb_dispatch_next_attempt(&b, 7, T0, T0 + 50001), -1);
}

static void test_tracker_commits_only_finished_prefix(void **state)
{
    (void)state;
    nb_dispatch_tracker_t *t = nb_dispatch_tracker_new();
    assert_non_null(t);
    assert_int_equal(nb_dispatch_tracker_add(t, 0, 10, T0), NB_ERR_OK);
    assert_int_equal(nb_dispatch_tracker_add(t, 0, 11, T0 + 5), NB_ERR_OK);
    assert_int_equal(nb_dispatch_tracker_add(t, 0, 12, T0 + 9), NB_ERR_OK);
    assert_int_equal(nb_dispatch_tracker_add(t, 3, 7, T0 + 2), NB_ERR_OK);
    assert_int_equal(nb_dispatch_tracker_add(t, 0, 12, T0), NB_ERR_INVALID_ARG);
    assert_int_equal(nb_dispatch_tracker_open(t), 4);
    assert_int_equal(nb_dispatch_tracker_oldest(t), T0);
    /* 11 is finished but 10 is not: nothing of partition 0 may be committed. */
    assert_true(nb_dispatch_tracker_done(t, 0, 11));
    assert_int_equal(nb_dispatch_tracker_take(t, 0), -1);
    assert_true(nb_dispatch_tracker_done(t, 0, 10));
    assert_int_equal(nb_dispatch_tracker_take(t, 0), 12);
    assert_int_equal(nb_dispatch_tracker_take(t, 0), -1);
    assert_int_equal(nb_dispatch_tracker_oldest(t), T0 + 2);
    assert_false(nb_dispatch_tracker_done(t, 0, 10)); /* already taken */
    int32_t parts[4];
    assert_int_equal(nb_dispatch_tracker_partitions(t, parts, 4), 2);
    nb_dispatch_tracker_drop(t, 3);
    assert_int_equal(nb_dispatch_tracker_take(t, 3), -1);
    assert_true(nb_dispatch_tracker_done(t, 0, 12));
    assert_int_equal(nb_dispatch_tracker_take(t, 0), 13);
    assert_int_equal(nb_dispatch_tracker_open(t), 0);
    assert_int_equal(nb_dispatch_tracker_oldest(t), -1);
    nb_dispatch_tracker_destroy(t);
    nb_dispatch_tracker_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_parse),
        cmocka_unit_test(test_targets_kinds_and_duplicates),
        cmocka_unit_test(test_webhook_body_has_no_personal_data),
        cmocka_unit_test(test_email_text),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_tracker_commits_only_finished_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
