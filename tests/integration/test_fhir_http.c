/*
 * integration.fhir_http: the FHIR R4 HTTP endpoint (ingest.fhir, notbrought/ingest.h) on the
 * embedded broker, with the feed module's FHIR mapper and the health visiting example mapping
 * (config/mappings/health-visiting.yaml), as `notbrought ingest fhir` wires them:
 *
 * - 201 only after Kafka's acknowledgement: the record is in the topic when the answer comes;
 * - the broker down: 503 after ingest.delivery_timeout_ms, nothing dead-lettered; the broker
 *   back, the resend is answered 201 and the topic holds the same event id;
 * - a refused resource: 422 with the OperationOutcome's path, after its dead letter (the body
 *   as sent, the reason in the headers);
 * - a batch Bundle with one bad entry: 200, a batch-response of 201 and 422; a transaction
 *   with one: 422, nothing published;
 * - XML is answered in XML;
 * - a subscription notification publishes its focus only; a body past the limit is 413;
 * - past ingest.max_connections a connection waits unanswered until a held one closes;
 * - the metrics count the answers by status and the refusals by reason.
 *
 * The resources are made up (NHS numbers from the 999 test range).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"
#include "notbrought/feed.h"
#include "notbrought/fhir.h"
#include "notbrought/ingest.h"

#define IT_TOPIC "hv.contacts"

typedef struct it_s {
    nb_broker_t *broker;
    nb_config_t *conf;
    nb_ingest_t *in;
    nb_metrics_t *metrics;
    pthread_t thread;
    nb_feed_mapping_t *mapping;
    nb_feed_out_t *out;
} it_t;

static it_t it;

/* ---- the mapper, as cmd_ingest.c wires it ---------------------------------------------------- */

NB_NODISCARD static nb_err_t it_map(void *opaque, const char *source, const nb_fhir_resource_t *res,
                                    const char *where, int64_t now_ms, nb_ingest_result_t *r)
{
    (void)opaque;
    (void)source;
    nb_err_t err = nb_feed_fhir(it.mapping, res, where, now_ms, it.out);
    if (err == NB_ERR_INVALID_ARG)
        return err;
    nb_ingest_result_reset(r);
    snprintf(r->issue, sizeof(r->issue), "%s", it.out->issue_code);
    snprintf(r->expression, sizeof(r->expression), "%s", it.out->expression);
    if (it.out->outcome == NB_FEED_REFUSED) {
        nb_ingest_result_refuse(r, NB_HL7_AE, it.out->err, it.out->code, it.out->text);
        return NB_ERR_OK;
    }
    r->outcome = it.out->outcome == NB_FEED_MAPPED ? NB_INGEST_PUBLISH : NB_INGEST_IGNORE;
    r->n_records = it.out->n_records;
    memcpy(r->records, it.out->records, r->n_records * sizeof(r->records[0]));
    return NB_ERR_OK;
}

/* ---- resources and a small HTTP client ------------------------------------------------------- */

/* A home visit no-show with appointment id @p id and the NHS number @p nhs. */
static void it_appt(char *out, size_t size, const char *id, const char *nhs)
{
    snprintf(out, size,
             "{\"resourceType\":\"Appointment\",\"id\":\"%s\","
             "\"meta\":{\"versionId\":\"1\",\"lastUpdated\":\"2026-02-03T11:20:00Z\"},"
             "\"contained\":[{\"resourceType\":\"Patient\",\"id\":\"c\",\"identifier\":[{"
             "\"system\":\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"%s\"}]}],"
             "\"status\":\"noshow\",\"appointmentType\":{\"coding\":[{\"code\":\"NBV\"}]},"
             "\"start\":\"2026-02-03T10:00:00Z\",\"participant\":[{\"actor\":{\"reference\":"
             "\"#c\"},\"status\":\"accepted\"}]}",
             id, nhs);
}

/* The head (status line and headers) of the last answer it_post() read. */
static char it_head[4096];

/* POSTs @p body; the status is returned, the response body copied into @p resp, its head into
 * it_head. */
static int it_post(const char *path, const char *ctype, const char *body, char *resp, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)nb_ingest_fhir_port(it.in, 0));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {30, 0}; /* a test without an answer fails rather than hangs */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     path, ctype, strlen(body));
    assert_int_equal(write(fd, head, (size_t)n), n);
    assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
    static char buf[1 << 16];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    int status = 0;
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &status), 1);
    const char *b = strstr(buf, "\r\n\r\n");
    snprintf(resp, size, "%s", b ? b + 4 : "");
    snprintf(it_head, sizeof(it_head), "%.*s", b ? (int)(b - buf) : 0, buf);
    return status;
}

/* ---- what Kafka holds ------------------------------------------------------------------------ */

typedef struct it_find_s {
    const char *needle;
    int found;
    char refusal[64];
} it_find_t;

static int it_find_cb(void *opaque, const char *topic, const char *key, const void *value,
                      size_t len, int64_t ts, const nb_record_meta_t *meta)
{
    it_find_t *f = opaque;
    size_t n = strlen(f->needle);
    (void)topic;
    (void)key;
    (void)ts;
    for (size_t i = 0; n <= len && i <= len - n; i++) {
        if (memcmp((const char *)value + i, f->needle, n) != 0)
            continue;
        f->found++;
        for (size_t h = 0; meta && h < meta->n_headers; h++)
            if (strcmp(meta->headers[h].name, "nb.refusal.code") == 0)
                snprintf(f->refusal, sizeof(f->refusal), "%.*s", (int)meta->headers[h].len,
                         (const char *)meta->headers[h].value);
        break;
    }
    return 0;
}

static int it_count(const char *topic, it_find_t *f)
{
    char errstr[512];
    f->found = 0;
    assert_int_equal(nb_stream_consume_meta(it.conf, topic, 0, 3000, true, it_find_cb, f, errstr,
                                            sizeof(errstr)),
                     NB_ERR_OK);
    return f->found;
}

/* The event id the mapper gives @p doc (what the topic must hold). */
static void it_event_id(const char *doc, char id[NB_ID_MAX + 1])
{
    char errstr[256];
    nb_fhir_doc_t *d = nb_fhir_doc_new(NULL);
    nb_feed_out_t *out = nb_feed_out_new();
    assert_int_equal(nb_fhir_read(d, doc, strlen(doc), NB_FHIR_JSON, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    assert_int_equal(nb_feed_fhir(it.mapping, nb_fhir_doc_resource(d), NULL, 0, out), NB_ERR_OK);
    snprintf(id, NB_ID_MAX + 1, "%s", out->records[0].u.appt.event_id);
    nb_feed_out_destroy(out);
    nb_fhir_doc_destroy(d);
}

/* ---- the tests ------------------------------------------------------------------------------- */

static void test_201_only_after_kafka_acknowledged(void **state)
{
    char doc[2048], resp[8192], id[NB_ID_MAX + 1];
    (void)state;
    it_appt(doc, sizeof(doc), "hv-1001", "9990010005");
    it_event_id(doc, id);
    assert_int_equal(
        it_post("/fhir/hv/Appointment", "application/fhir+json", doc, resp, sizeof(resp)), 201);
    assert_non_null(strstr(resp, "\"resourceType\":\"OperationOutcome\""));
    it_find_t f = {.needle = id};
    assert_int_equal(it_count(IT_TOPIC, &f), 1);
}

/* A 201 says where the created resource is, as FHIR's create does: Location
 * <base>/<Type>/<id>/_history/<versionId>, the id the event's; a batch-response's (and a
 * transaction-response's) entries carry it as response.location. */
static void test_201_has_location(void **state)
{
    char doc[2048], bundle[5000], resp[16384], id[NB_ID_MAX + 1], want[256];
    (void)state;
    it_appt(doc, sizeof(doc), "hv-loc", "9990010005");
    it_event_id(doc, id);
    assert_int_equal(
        it_post("/fhir/hv/Appointment", "application/fhir+json", doc, resp, sizeof(resp)), 201);
    snprintf(want, sizeof(want), "\r\nLocation: http://localhost/fhir/hv/Appointment/%s/_history/1",
             id);
    if (!strstr(it_head, want))
        fail_msg("no '%s' in:\n%s", want + 2, it_head);
    static const char *const types[] = {"batch", "transaction"};
    for (size_t k = 0; k < 2; k++) {
        snprintf(bundle, sizeof(bundle),
                 "{\"resourceType\":\"Bundle\",\"type\":\"%s\",\"entry\":[{\"resource\":"
                 "{\"resourceType\":\"Patient\",\"id\":\"x\"}},{\"resource\":%s}]}",
                 types[k], doc);
        assert_int_equal(it_post("/fhir/hv", "application/fhir+json", bundle, resp, sizeof(resp)),
                         200);
        snprintf(want, sizeof(want),
                 "{\"response\":{\"status\":\"201 Created\",\"location\":\"http://localhost/fhir/"
                 "hv/Appointment/%s/_history/1\"",
                 id);
        if (!strstr(resp, want))
            fail_msg("%s: no '%s' in %s", types[k], want, resp);
        /* The Patient entry was not created: no location. */
        assert_non_null(strstr(resp, "[{\"response\":{\"status\":\"200 OK\",\"outcome\""));
    }
    /* In XML, response.location comes between status and outcome. */
    static const char xml[] =
        "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"batch\"/><entry><resource>"
        "<Appointment xmlns=\"http://hl7.org/fhir\"><id value=\"hv-loc-xml\"/><meta>"
        "<lastUpdated value=\"2026-02-03T11:20:00Z\"/></meta><contained><Patient><id value=\"c\"/>"
        "<identifier><system value=\"https://fhir.nhs.uk/Id/nhs-number\"/><value "
        "value=\"9990010005\"/></identifier></Patient></contained><status value=\"booked\"/>"
        "<appointmentType><coding><code value=\"SIXWK\"/></coding></appointmentType>"
        "<start value=\"2026-03-03T10:00:00Z\"/><participant><actor><reference value=\"#c\"/>"
        "</actor><status value=\"accepted\"/></participant></Appointment></resource></entry>"
        "</Bundle>";
    assert_int_equal(it_post("/fhir/hv", "application/fhir+xml", xml, resp, sizeof(resp)), 200);
    if (!strstr(resp, "<status value=\"201 Created\"/><location value=\"http://localhost/fhir/hv/"
                      "Appointment/fhir-") ||
        !strstr(resp, "/_history/1\"/><outcome>"))
        fail_msg("XML batch-response without its location: %s", resp);
    /* Refusals and ignores have none. */
    it_appt(doc, sizeof(doc), "hv-loc-bad", "9990010006");
    assert_int_equal(
        it_post("/fhir/hv/Appointment", "application/fhir+json", doc, resp, sizeof(resp)), 422);
    assert_null(strstr(it_head, "Location:"));
}

static void test_broker_down_503_then_201_with_the_same_event_id(void **state)
{
    char doc[2048], resp[8192], id[NB_ID_MAX + 1];
    (void)state;
    rd_kafka_mock_cluster_t *mc = nb_broker_mock(it.broker);
    it_appt(doc, sizeof(doc), "hv-down", "9990010005");
    it_event_id(doc, id);
    assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t t0 = nb_it_now_ms();
    assert_int_equal(
        it_post("/fhir/hv/Appointment", "application/fhir+json", doc, resp, sizeof(resp)), 503);
    assert_true(nb_it_now_ms() - t0 >= it.conf->ingest_delivery_timeout_ms - 100);
    assert_non_null(strstr(resp, "resend"));
    assert_int_equal(rd_kafka_mock_broker_set_up(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    it_find_t dl = {.needle = "hv-down"};
    assert_int_equal(it_count(it.conf->dead_letter_topic, &dl), 0);
    /* The sender resends while it gets 503 (the producer reconnects after its back-off). */
    int64_t deadline = nb_it_now_ms() + 60000;
    int status;
    do
        status = it_post("/fhir/hv/Appointment", "application/fhir+json", doc, resp, sizeof(resp));
    while (status == 503 && nb_it_now_ms() < deadline);
    assert_int_equal(status, 201);
    it_find_t f = {.needle = id};
    assert_true(it_count(IT_TOPIC, &f) >= 1);
}

static void test_refused_gets_422_with_the_path_and_a_dead_letter(void **state)
{
    char doc[2048], resp[8192];
    (void)state;
    it_appt(doc, sizeof(doc), "hv-mod11", "9990010006");
    assert_int_equal(
        it_post("/fhir/hv/Appointment", "application/fhir+json", doc, resp, sizeof(resp)), 422);
    assert_non_null(strstr(
        resp, "\"expression\":[\"Appointment.participant[0].actor.resolve().identifier[0]\"]"));
    assert_non_null(strstr(resp, "Modulus 11"));
    assert_null(strstr(resp, "9990010006"));
    it_find_t dl = {.needle = "hv-mod11"};
    assert_int_equal(it_count(it.conf->dead_letter_topic, &dl), 1);
    assert_string_equal(dl.refusal, "nhs_check_digit");
}

static void test_bundle_with_one_bad_entry(void **state)
{
    char good[2048], bad[2048], doc[5000], resp[16384];
    (void)state;
    it_appt(good, sizeof(good), "hv-b1", "9990010005");
    it_appt(bad, sizeof(bad), "hv-b2", "9990010006");
    snprintf(doc, sizeof(doc),
             "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"resource\":%s},"
             "{\"resource\":%s},{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"x\"}}]}",
             good, bad);
    assert_int_equal(it_post("/fhir/hv", "application/fhir+json", doc, resp, sizeof(resp)), 200);
    const char *a = strstr(resp, "\"201 Created\""), *b = a ? strstr(a, "\"422 ") : NULL,
               *c = b ? strstr(b, "\"200 OK\"") : NULL;
    if (!c)
        fail_msg("batch-response: %s", resp);
    assert_non_null(strstr(resp, "Bundle.entry[1].resource.participant[0]"));
    it_find_t dl = {.needle = "hv-b2"};
    assert_int_equal(it_count(it.conf->dead_letter_topic, &dl), 1);
}

/* A transaction is all or nothing: one bad entry refuses it, and its good entry is not
 * published; without it, a transaction-response. */
static void test_transaction_is_all_or_nothing(void **state)
{
    char good[2048], bad[2048], doc[5000], resp[16384];
    (void)state;
    it_appt(good, sizeof(good), "hv-t1", "9990010005");
    it_appt(bad, sizeof(bad), "hv-t2", "9990010006");
    snprintf(doc, sizeof(doc),
             "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
             "{\"resource\":%s},{\"resource\":%s}]}",
             good, bad);
    assert_int_equal(it_post("/fhir/hv", "application/fhir+json", doc, resp, sizeof(resp)), 422);
    assert_non_null(strstr(resp, "\"expression\":[\"Bundle.entry[1].resource.participant[0]"));
    it_find_t f = {.needle = "hv-t1"};
    assert_int_equal(it_count(IT_TOPIC, &f), 0);
    it_find_t dl = {.needle = "hv-t2"};
    assert_int_equal(it_count(it.conf->dead_letter_topic, &dl), 1);
    snprintf(doc, sizeof(doc),
             "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
             "{\"resource\":%s}]}",
             good);
    assert_int_equal(it_post("/fhir/hv", "application/fhir+json", doc, resp, sizeof(resp)), 200);
    assert_non_null(strstr(resp, "\"type\":\"transaction-response\""));
    assert_int_equal(it_count(IT_TOPIC, &f), 1);
}

static void test_xml_is_answered_in_xml(void **state)
{
    char resp[8192];
    (void)state;
    static const char xml[] =
        "<Appointment xmlns=\"http://hl7.org/fhir\"><id value=\"hv-xml\"/><meta><lastUpdated "
        "value=\"2026-02-03T11:20:00Z\"/></meta><contained><Patient><id value=\"c\"/>"
        "<identifier><system value=\"https://fhir.nhs.uk/Id/nhs-number\"/><value "
        "value=\"9990010005\"/></identifier></Patient></contained><status value=\"booked\"/>"
        "<appointmentType><coding><code value=\"SIXWK\"/></coding></appointmentType>"
        "<start value=\"2026-03-03T10:00:00Z\"/><participant><actor><reference value=\"#c\"/>"
        "</actor><status value=\"accepted\"/></participant></Appointment>";
    assert_int_equal(
        it_post("/fhir/hv/Appointment", "application/fhir+xml", xml, resp, sizeof(resp)), 201);
    assert_non_null(strstr(resp, "<OperationOutcome xmlns=\"http://hl7.org/fhir\">"));
    /* A JSON body under the XML Content-Type is not XML: 400, as structure. */
    assert_int_equal(
        it_post("/fhir/hv/Appointment", "application/fhir+xml", "{}", resp, sizeof(resp)), 400);
}

/* A Subscriptions Backport notification (R4: Parameters first): only the focus is mapped; an
 * Appointment the notification does not name is context. */
static void test_notification_maps_its_focus(void **state)
{
    char focus[2048], other[2048], doc[6000], resp[16384], id[NB_ID_MAX + 1];
    (void)state;
    it_appt(focus, sizeof(focus), "hv-n1", "9990010005");
    it_appt(other, sizeof(other), "hv-n2", "9990010005");
    it_event_id(focus, id);
    snprintf(doc, sizeof(doc),
             "{\"resourceType\":\"Bundle\",\"type\":\"history\",\"entry\":[{\"fullUrl\":"
             "\"urn:uuid:9a1\",\"resource\":{\"resourceType\":\"Parameters\",\"parameter\":["
             "{\"name\":\"subscription\",\"valueReference\":{\"reference\":\"Subscription/s1\"}},"
             "{\"name\":\"type\",\"valueCode\":\"event-notification\"},{\"name\":"
             "\"notification-event\",\"part\":[{\"name\":\"focus\",\"valueReference\":{"
             "\"reference\":\"Appointment/hv-n1\"}}]}]}},{\"fullUrl\":"
             "\"https://x/fhir/Appointment/hv-n1\",\"resource\":%s},{\"fullUrl\":"
             "\"https://x/fhir/Appointment/hv-n2\",\"resource\":%s}]}",
             focus, other);
    assert_int_equal(it_post("/fhir/hv", "application/fhir+json", doc, resp, sizeof(resp)), 200);
    const char *a = strstr(resp, "\"200 OK\""), *b = a ? strstr(a, "\"201 Created\"") : NULL,
               *c = b ? strstr(b, "\"200 OK\"") : NULL;
    if (!c)
        fail_msg("notification response: %s", resp);
    it_find_t f = {.needle = id};
    assert_int_equal(it_count(IT_TOPIC, &f), 1);
    it_find_t g = {.needle = "hv-n2"};
    assert_int_equal(it_count(IT_TOPIC, &g), 0);
}

/* A body above ingest.max_message_bytes: 413, nothing published or dead-lettered. */
static void test_too_large_is_413(void **state)
{
    (void)state;
    size_t n = (size_t)it.conf->ingest_max_message_bytes + 100;
    char *big = malloc(n + 1), resp[4096];
    assert_non_null(big);
    memset(big, ' ', n);
    static const char head[] = "{\"resourceType\":\"Appointment\",\"id\":\"hv-big\"";
    memcpy(big, head, sizeof(head) - 1);
    big[n - 1] = '}';
    big[n] = '\0';
    assert_int_equal(
        it_post("/fhir/hv/Appointment", "application/fhir+json", big, resp, sizeof(resp)), 413);
    assert_non_null(strstr(resp, "too-costly"));
    it_find_t dl = {.needle = "hv-big"};
    assert_int_equal(it_count(it.conf->dead_letter_topic, &dl), 0);
    free(big);
}

/* A connection to the listener, with send and receive timeouts of @p secs. */
static int it_connect(int secs)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)nb_ingest_fhir_port(it.in, 0));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {secs, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Sends all of @p p; @returns the bytes the connection took before it failed. */
static size_t it_send(int fd, const char *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    return off;
}

/* Reads the answer until the connection closes; @returns its status (0: none). */
static int it_read_answer(int fd, char *buf, size_t size)
{
    size_t len = 0;
    int status = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, size - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        status = 0;
    return status;
}

/* A body three times the limit, sent in pieces as a slow client would: the endpoint reads it
 * to the end, throwing it away, and the client receives the 413 and its OperationOutcome. */
static void test_too_large_is_read_then_413(void **state)
{
    (void)state;
    size_t n = (size_t)it.conf->ingest_max_message_bytes * 3;
    char *big = malloc(n), head[256];
    static char resp[8192];
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, "{\"resourceType\":\"Appointment\"", 30);
    int fd = it_connect(30);
    int k = snprintf(head, sizeof(head),
                     "POST /fhir/hv/Appointment HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                     "application/fhir+json\r\nContent-Length: %zu\r\n\r\n",
                     n);
    assert_int_equal(it_send(fd, head, (size_t)k), (size_t)k);
    for (size_t off = 0; off < n; off += 8192)
        assert_int_equal(it_send(fd, big + off, n - off < 8192 ? n - off : 8192),
                         n - off < 8192 ? n - off : 8192);
    assert_int_equal(it_read_answer(fd, resp, sizeof(resp)), 413);
    close(fd);
    assert_non_null(strstr(resp, "\"resourceType\":\"OperationOutcome\""));
    assert_non_null(strstr(resp, "too-costly"));
    free(big);
}

/* "Expect: 100-continue" with a Content-Length past the limit: the 413 comes at once, and
 * the client never sends the body (it would get "100 Continue" first otherwise). */
static void test_too_large_with_expect_is_answered_before_the_body(void **state)
{
    (void)state;
    static char resp[8192];
    char head[256];
    int fd = it_connect(10);
    int k = snprintf(head, sizeof(head),
                     "POST /fhir/hv/Appointment HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                     "application/fhir+json\r\nContent-Length: %lld\r\nExpect: 100-continue\r\n"
                     "\r\n",
                     (long long)it.conf->ingest_max_message_bytes * 10);
    assert_int_equal(it_send(fd, head, (size_t)k), (size_t)k);
    int status = it_read_answer(fd, resp, sizeof(resp));
    close(fd);
    if (status != 413)
        fail_msg("want 413 before the body, got: %.200s", resp);
    assert_non_null(strstr(resp, "too-costly"));
}

/* Past what is read and thrown away (4 x the limit, at least 1 MiB more), the endpoint stops
 * reading: a client sending 64 MiB, announced or chunked, gets no further than the socket
 * buffers take; the listener then serves the next request. */
static void test_too_large_past_the_cap_is_not_read(void **state)
{
    (void)state;
    static char resp[8192];
    size_t total = (size_t)64 << 20, chunk = 65536;
    char *buf = malloc(chunk + 32), head[320];
    assert_non_null(buf);
    for (int chunked = 0; chunked < 2; chunked++) {
        int fd = it_connect(10);
        int k =
            snprintf(head, sizeof(head),
                     "POST /fhir/hv/Appointment HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                     "application/fhir+json\r\n%s\r\n",
                     chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: 67108864\r\n");
        assert_int_equal(it_send(fd, head, (size_t)k), (size_t)k);
        size_t sent = 0;
        while (sent < total) {
            size_t off = chunked ? (size_t)snprintf(buf, 32, "%zx\r\n", chunk) : 0;
            memset(buf + off, ' ', chunk);
            size_t n = off + chunk;
            if (chunked)
                memcpy(buf + n, "\r\n", 2), n += 2;
            size_t w = it_send(fd, buf, n);
            sent += w;
            if (w < n)
                break;
        }
        int status = it_read_answer(fd, resp, sizeof(resp));
        close(fd);
        if (sent >= total / 2)
            fail_msg("%s: the listener read %zu bytes of a body past the cap",
                     chunked ? "chunked" : "announced", sent);
        /* The 413 reaches the client unless its unread bytes made the close a reset. */
        assert_true(status == 413 || status == 0);
    }
    free(buf);
    char doc[2048];
    it_appt(doc, sizeof(doc), "hv-after-big", "9990010005");
    assert_int_equal(
        it_post("/fhir/hv/Appointment", "application/fhir+json", doc, resp, sizeof(resp)), 201);
}

/* Reads one answer from a connection kept alive: the head, then Content-Length bytes of body.
 * @returns its status (0: the connection closed or timed out first). */
static int it_read_one(int fd)
{
    char buf[16384];
    size_t len = 0;
    const char *end = NULL;
    while (!end) {
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0)
            return 0;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    const char *cl = strstr(buf, "\r\nContent-Length: ");
    size_t body = cl && cl < end ? strtoul(cl + 18, NULL, 10) : 0;
    size_t want = (size_t)(end + 4 - buf) + body;
    while (len < want) {
        ssize_t r = read(fd, buf, sizeof(buf) - 1 < want - len ? sizeof(buf) - 1 : want - len);
        if (r <= 0)
            return 0;
        len += (size_t)r;
    }
    int status = 0;
    return sscanf(buf, "HTTP/1.1 %d", &status) == 1 ? status : 0;
}

/* ingest.max_connections bounds each FHIR listener's connections (MHD's connection limit):
 * with as many held open (each proven accepted by an answer, and kept alive), one more is not
 * served; once one of them closes, it is. */
static void test_connection_limit(void **state)
{
    (void)state;
    enum { MAX = 4 };
    assert_int_equal(it.conf->ingest_max_connections, MAX);
    static const char get[] = "GET /fhir/hv/Appointment HTTP/1.1\r\nHost: localhost\r\n\r\n";
    int held[MAX];
    for (int i = 0; i < MAX; i++) {
        held[i] = it_connect(30);
        assert_int_equal(it_send(held[i], get, sizeof(get) - 1), sizeof(get) - 1);
        assert_int_equal(it_read_one(held[i]), 405);
    }
    int extra = it_connect(30);
    assert_int_equal(it_send(extra, get, sizeof(get) - 1), sizeof(get) - 1);
    /* The listener goes on serving the connections it holds; a request on one after the extra
     * connection's is answered while the extra has had nothing, not even a close. */
    for (int i = 0; i < MAX; i++) {
        assert_int_equal(it_send(held[i], get, sizeof(get) - 1), sizeof(get) - 1);
        assert_int_equal(it_read_one(held[i]), 405);
    }
    struct pollfd pfd = {.fd = extra, .events = POLLIN};
    if (poll(&pfd, 1, 0) != 0)
        fail_msg("the connection past ingest.max_connections was answered or closed (revents %d)",
                 pfd.revents);
    /* One held connection closes: the extra one is served. */
    close(held[0]);
    assert_int_equal(it_read_one(extra), 405);
    close(extra);
    for (int i = 1; i < MAX; i++)
        close(held[i]);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static void *it_run(void *arg)
{
    nb_err_t err = nb_ingest_run(arg, NULL);
    assert_int_equal(err, NB_ERR_OK);
    return NULL;
}

static int it_setup(void **state)
{
    char errstr[1024], path[1024];
    (void)state;
    it.broker = nb_broker_new(1, errstr, sizeof(errstr));
    assert_non_null(it.broker);
    it.conf = nb_config_new();
    free(it.conf->bootstrap_servers);
    it.conf->bootstrap_servers = strdup(nb_broker_bootstraps(it.broker));
    nb_broker_create_topics(it.broker, it.conf, 1);
    it.conf->ingest_delivery_timeout_ms = 3000;
    it.conf->ingest_max_message_bytes = 65536;
    it.conf->ingest_max_connections = 4; /* test_connection_limit */
    it.conf->kafka_props[it.conf->n_kafka_props].key = strdup("reconnect.backoff.max.ms");
    it.conf->kafka_props[it.conf->n_kafka_props++].value = strdup("500");
    it.conf->n_fhir = 1;
    nb_mllp_conf_t *l = &it.conf->fhir[0];
    l->name = strdup("hv");
    l->bind = strdup("127.0.0.1");
    l->mapping = strdup("");
    l->topic = strdup(IT_TOPIC);
    l->tls_cert = strdup("");
    l->tls_key = strdup("");
    l->tls_ca = strdup("");
    snprintf(path, sizeof(path), "%s/config/mappings/health-visiting.yaml", NB_SOURCE_DIR);
    if (nb_feed_mapping_load(path, NULL, NULL, &it.mapping, errstr, sizeof(errstr)) != NB_ERR_OK)
        fail_msg("%s", errstr);
    assert_non_null(it.out = nb_feed_out_new());
    static nb_ingest_mapper_t mapper = {NULL, NULL, it_map};
    assert_non_null(it.metrics = nb_metrics_new());
    it.in = nb_ingest_new(it.conf, &mapper, it.metrics, errstr, sizeof(errstr));
    if (!it.in)
        fail_msg("nb_ingest_new: %s", errstr);
    assert_int_equal(pthread_create(&it.thread, NULL, it_run, it.in), 0);
    return 0;
}

static int it_teardown(void **state)
{
    (void)state;
    nb_ingest_stop(it.in);
    pthread_join(it.thread, NULL);
    /* The metrics count answers by source and status, refusals by reason. */
    char *text = nb_metrics_render(it.metrics, NULL);
    static const char *const series[] = {
        "notbrought_fhir_requests_total{source=\"hv\",status=\"201\"}",
        "notbrought_fhir_requests_total{source=\"hv\",status=\"422\"}",
        "notbrought_fhir_requests_total{source=\"hv\",status=\"503\"}",
        "notbrought_fhir_resources_refused_total{source=\"hv\",reason=\"nhs_check_digit\"}",
        "notbrought_fhir_last_request_timestamp_seconds{source=\"hv\"}"};
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++)
        if (!strstr(text, series[i]))
            fail_msg("metrics without %s", series[i]);
    free(text);
    nb_ingest_destroy(it.in);
    nb_metrics_destroy(it.metrics);
    nb_feed_out_destroy(it.out);
    nb_feed_mapping_free(it.mapping);
    nb_config_destroy(it.conf);
    nb_broker_destroy(it.broker);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_201_only_after_kafka_acknowledged),
        cmocka_unit_test(test_201_has_location),
        cmocka_unit_test(test_refused_gets_422_with_the_path_and_a_dead_letter),
        cmocka_unit_test(test_bundle_with_one_bad_entry),
        cmocka_unit_test(test_transaction_is_all_or_nothing),
        cmocka_unit_test(test_xml_is_answered_in_xml),
        cmocka_unit_test(test_notification_maps_its_focus),
        cmocka_unit_test(test_too_large_is_413),
        cmocka_unit_test(test_too_large_is_read_then_413),
        cmocka_unit_test(test_too_large_with_expect_is_answered_before_the_body),
        cmocka_unit_test(test_too_large_past_the_cap_is_not_read),
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_broker_down_503_then_201_with_the_same_event_id),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
