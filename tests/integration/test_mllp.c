/*
 * integration.mllp: the MLLP adapter (notbrought/ingest.h) on the embedded broker, with a
 * small mapper written here (a made-up use of SIU: SCH-1 is the appointment id; a ZZZ segment
 * means "refuse"; ADT is ignored). The real mapper (the feed module) plugs in the same way.
 *
 * - AA only after Kafka's acknowledgement: with the broker down a message is answered AR after
 *   ingest.delivery_timeout_ms and nothing is dead-lettered; with the broker back its resend
 *   is answered AA and its record is in the topic;
 * - a refusal is answered AE with the reason, and its raw message is on the dead-letter topic
 *   with the reason and the source in the headers;
 * - pipelined messages of mixed outcomes get their ACKs in the order they were sent;
 * - a batch (FHS/BHS ... BTS/FTS) in one frame: each message handled as if it came alone, one
 *   answer (BHS, an ACK per message in order, BTS); a batch that does not hold together is
 *   refused whole (AE, a dead letter, nothing published); an empty batch is answered at once;
 * - a frame past ingest.max_message_bytes is answered AR and the connection closed;
 * - TLS: a client with a certificate the CA signed is served; one without is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"
#include "notbrought/hl7.h"
#include "notbrought/ingest.h"

#define IT_TOPIC "gp.appointments"
#define IT_MAX_MESSAGE 65536

typedef struct it_s {
    nb_broker_t *broker;
    nb_config_t *conf;
    nb_ingest_t *in;
    nb_metrics_t *metrics;
    pthread_t thread;
    char dir[64]; /* certificates */
    nb_hl7_msg_t *hl7;
    bool joined; /* the server's thread has returned */
    int saved_stderr; /* the logs go to log_path while the tests run */
    char log_path[96];
} it_t;

static it_t it;

/* ---- the mapper ---------------------------------------------------------------------------- */

static void it_copy(char *dst, size_t size, nb_hl7_value_t v)
{
    size_t n = v.len < size - 1 ? v.len : size - 1;
    memcpy(dst, v.p, n);
    dst[n] = '\0';
}

NB_NODISCARD static nb_err_t it_map(void *opaque, const char *source, const char *msg, size_t len,
                                    int64_t now_ms, nb_ingest_result_t *out)
{
    nb_hl7_msg_t *hl7 = opaque;
    char errstr[256], type[8], id[48];
    size_t seg;
    (void)source;
    if (nb_hl7_msg_parse(hl7, msg, len, errstr, sizeof(errstr)) != NB_ERR_OK) {
        nb_ingest_result_refuse(out, NB_HL7_AR, NB_ERR_HL7_SYNTAX, "unreadable", errstr);
        return NB_ERR_OK;
    }
    it_copy(type, sizeof(type), nb_hl7_get(hl7, 0, 9, 1, 1, 0));
    if (strcmp(type, "ADT") == 0) {
        out->outcome = NB_INGEST_IGNORE;
        snprintf(out->text, sizeof(out->text), "ADT carries no appointment here");
        return NB_ERR_OK;
    }
    if (nb_hl7_segment_find(hl7, "ZZZ", 0, &seg)) {
        nb_ingest_result_refuse(out, NB_HL7_AE, NB_ERR_FIELD_EMPTY, "unmapped_status",
                                "ZZZ-1: the attendance code is not in the mapping");
        return NB_ERR_OK;
    }
    if (!nb_hl7_segment_find(hl7, "SCH", 0, &seg)) {
        nb_ingest_result_refuse(out, NB_HL7_AE, NB_ERR_MISSING_IDENTIFIER, "no_sch",
                                "SCH: segment missing");
        return NB_ERR_OK;
    }
    it_copy(id, sizeof(id), nb_hl7_get(hl7, seg, 1, 1, 1, 0));
    out->outcome = NB_INGEST_PUBLISH;
    out->n_records = 1;
    nb_record_t *rec = &out->records[0];
    rec->type = NB_RECORD_APPOINTMENT;
    nb_appointment_event_t *a = &rec->u.appt;
    snprintf(a->event_id, sizeof(a->event_id), "pas-%s", id);
    a->source.agency = NB_AGENCY_GP;
    snprintf(a->source.system, sizeof(a->source.system), "Test PAS");
    snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "W97001");
    a->subject_kind = NB_SUBJECT_CHILD;
    snprintf(a->nhs_number, sizeof(a->nhs_number), "9434765919");
    a->date_of_birth = NB_DATE_NONE;
    a->expected_delivery_date = NB_DATE_NONE;
    snprintf(a->appointment_id, sizeof(a->appointment_id), "%s", id);
    snprintf(a->appointment_type, sizeof(a->appointment_type), "gp_routine");
    a->contact_mode = NB_CONTACT_FACE_TO_FACE;
    a->scheduled_start = now_ms + 86400000LL;
    a->status = NB_STATUS_BOOKED;
    a->recorded_at = now_ms;
    a->version = 1;
    return NB_ERR_OK;
}

/* ---- a small MLLP client -------------------------------------------------------------------- */

typedef struct it_client_s {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char buf[1 << 16];
    size_t len;
} it_client_t;

static int it_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    /* Reads wait at most 20 s: a test that gets no answer fails rather than hangs. */
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static it_client_t *it_client(size_t listener)
{
    it_client_t *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->fd = it_connect(nb_ingest_port(it.in, listener));
    return c;
}

/* A TLS client trusting the test CA, with the client certificate when @p with_cert. @returns
 * NULL when the handshake fails. */
static it_client_t *it_client_tls(size_t listener, bool with_cert)
{
    char path[128];
    it_client_t *c = it_client(listener);
    c->ctx = SSL_CTX_new(TLS_client_method());
    snprintf(path, sizeof(path), "%s/ca.pem", it.dir);
    assert_int_equal(SSL_CTX_load_verify_locations(c->ctx, path, NULL), 1);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (with_cert) {
        snprintf(path, sizeof(path), "%s/client.pem", it.dir);
        assert_int_equal(SSL_CTX_use_certificate_file(c->ctx, path, SSL_FILETYPE_PEM), 1);
        snprintf(path, sizeof(path), "%s/client.key", it.dir);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(c->ctx, path, SSL_FILETYPE_PEM), 1);
    }
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_connect(c->ssl) != 1) {
        ERR_clear_error();
        return c; /* the caller looks at whether anything can be read */
    }
    return c;
}

static void it_close(it_client_t *c)
{
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    close(c->fd);
    free(c);
}

static void it_send_raw(it_client_t *c, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        long w = c->ssl ? SSL_write(c->ssl, s, (int)n) : (long)write(c->fd, s, n);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

static void it_send(it_client_t *c, const char *msg)
{
    nb_buf_t b = {0};
    nb_hl7_mllp_wrap(&b, msg, strlen(msg));
    it_send_raw(c, b.data, b.len);
    nb_buf_free(&b);
}

/* The next ACK (between VT and FS) into @p out. @returns false at the end of the connection
 * (or after 20 s without one). */
static bool it_read_ack(it_client_t *c, char *out, size_t size)
{
    for (;;) {
        nb_hl7_mllp_t f;
        if (nb_hl7_mllp_find(c->buf, c->len, sizeof(c->buf), &f) == NB_HL7_MLLP_FRAME) {
            snprintf(out, size, "%.*s", (int)f.msg_len, f.msg);
            memmove(c->buf, c->buf + f.consumed, c->len - f.consumed);
            c->len -= f.consumed;
            return true;
        }
        if (c->len == sizeof(c->buf))
            return false;
        long n = c->ssl ? SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len))
                        : (long)read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (n <= 0)
            return false;
        c->len += (size_t)n;
    }
}

/* MSA-1 and MSA-2 of an ACK; MSA-3 into @p text when given. */
static void it_msa(const char *ack, char code[4], char *ctl, size_t ctl_size, char *text,
                   size_t text_size)
{
    char errstr[128];
    size_t seg;
    assert_int_equal(nb_hl7_msg_parse(it.hl7, ack, strlen(ack), errstr, sizeof(errstr)), NB_ERR_OK);
    assert_true(nb_hl7_segment_find(it.hl7, "MSA", 0, &seg));
    it_copy(code, 4, nb_hl7_get(it.hl7, seg, 1, 1, 1, 0));
    it_copy(ctl, ctl_size, nb_hl7_get(it.hl7, seg, 2, 1, 1, 0));
    if (text)
        it_copy(text, text_size, nb_hl7_get(it.hl7, seg, 3, 1, 1, 0));
}

static void it_msg(char *out, size_t size, const char *type, const char *ctl, const char *extra)
{
    snprintf(out, size,
             "MSH|^~\\&|PAS|RVF|NB|NB|20261201120000||%s|%s|P|2.5\rSCH|APPT-%s\r"
             "PID|||1234^^^RVF^MR~9434765919^^^NHS^NH||TESTCHILD^ALPHA||20231001\r%s",
             type, ctl, ctl, extra);
}

/* ---- what Kafka holds ----------------------------------------------------------------------- */

typedef struct it_find_s {
    const char *key;    /* a record with this key (topics of records) */
    const char *needle; /* or a value holding this (dead letters) */
    int found;
    char header[4][256]; /* dead letters: nb.error.message, nb.refusal.code, nb.source.name,
                            nb.hl7.ack_code */
} it_find_t;

static bool it_contains(const void *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp((const char *)hay + i, needle, n) == 0)
            return true;
    return false;
}

static int it_find_cb(void *opaque, const char *topic, const char *key, const void *value,
                      size_t len, int64_t ts, const nb_record_meta_t *meta)
{
    it_find_t *f = opaque;
    static const char *const names[4] = {"nb.error.message", "nb.refusal.code", "nb.source.name",
                                         "nb.hl7.ack_code"};
    (void)topic;
    (void)ts;
    if (f->key && strcmp(key, f->key) == 0)
        f->found++;
    if (f->needle && it_contains(value, len, f->needle)) {
        f->found++;
        for (size_t i = 0; meta && i < meta->n_headers; i++)
            for (int k = 0; k < 4; k++)
                if (strcmp(meta->headers[i].name, names[k]) == 0)
                    snprintf(f->header[k], sizeof(f->header[k]), "%.*s", (int)meta->headers[i].len,
                             (const char *)meta->headers[i].value);
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

/* ---- the tests ------------------------------------------------------------------------------ */

static void test_aa_only_after_kafka_acknowledged(void **state)
{
    char msg[512], ack[2048], code[4], ctl[64];
    (void)state;
    rd_kafka_mock_cluster_t *mc = nb_broker_mock(it.broker);
    it_client_t *c = it_client(0);
    /* The broker down: Kafka cannot acknowledge, and the answer is AR, never AA. */
    assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    it_msg(msg, sizeof(msg), "SIU^S12", "down-1", "");
    int64_t t0 = nb_it_now_ms();
    it_send(c, msg);
    assert_true(it_read_ack(c, ack, sizeof(ack)));
    it_msa(ack, code, ctl, sizeof(ctl), NULL, 0);
    assert_string_equal(code, "AR");
    assert_string_equal(ctl, "down-1");
    assert_true(nb_it_now_ms() - t0 >= it.conf->ingest_delivery_timeout_ms - 100);
    assert_int_equal(rd_kafka_mock_broker_set_up(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    /* Not dead-lettered: the sender keeps it and resends. */
    it_find_t dl = {.needle = "down-1"};
    assert_int_equal(it_count(it.conf->dead_letter_topic, &dl), 0);
    /* The broker back: the sender resends while it gets AR (the producer reconnects after
     * its back-off), and gets AA; the record is in the topic. */
    int64_t deadline = nb_it_now_ms() + 60000;
    do {
        it_send(c, msg);
        assert_true(it_read_ack(c, ack, sizeof(ack)));
        it_msa(ack, code, ctl, sizeof(ctl), NULL, 0);
        assert_string_equal(ctl, "down-1");
    } while (strcmp(code, "AR") == 0 && nb_it_now_ms() < deadline);
    assert_string_equal(code, "AA");
    it_find_t f = {.key = "APPT-down-1"};
    assert_true(it_count(IT_TOPIC, &f) >= 1);
    it_close(c);
}

static void test_aa_means_the_record_is_in_the_topic(void **state)
{
    char msg[512], ack[2048], code[4], ctl[64];
    (void)state;
    it_client_t *c = it_client(0);
    it_msg(msg, sizeof(msg), "SIU^S12", "in-1", "");
    it_send(c, msg);
    assert_true(it_read_ack(c, ack, sizeof(ack)));
    it_msa(ack, code, ctl, sizeof(ctl), NULL, 0);
    assert_string_equal(code, "AA");
    /* Read back at once, without waiting: acks=all means it is there when AA is. */
    it_find_t f = {.key = "APPT-in-1"};
    assert_int_equal(it_count(IT_TOPIC, &f), 1);
    nb_ingest_stats_t st;
    nb_ingest_stats(it.in, &st);
    assert_true(st.acks[NB_HL7_AA] >= 1);
    it_close(c);
}

static void test_refused_gets_ae_and_a_dead_letter_with_the_reason(void **state)
{
    char msg[512], ack[2048], code[4], ctl[64], text[256];
    (void)state;
    it_client_t *c = it_client(0);
    it_msg(msg, sizeof(msg), "SIU^S15", "refuse-1", "ZZZ|X\r");
    it_send(c, msg);
    assert_true(it_read_ack(c, ack, sizeof(ack)));
    it_msa(ack, code, ctl, sizeof(ctl), text, sizeof(text));
    assert_string_equal(code, "AE");
    assert_string_equal(ctl, "refuse-1");
    assert_string_equal(text, "ZZZ-1: the attendance code is not in the mapping");
    assert_non_null(strstr(ack, "\rERR|"));
    it_find_t dl = {.needle = "refuse-1"};
    assert_int_equal(it_count(it.conf->dead_letter_topic, &dl), 1);
    assert_string_equal(dl.header[0], "ZZZ-1: the attendance code is not in the mapping");
    assert_string_equal(dl.header[1], "unmapped_status");
    assert_string_equal(dl.header[2], "pas");
    assert_string_equal(dl.header[3], "AE");
    /* Nothing of it went to the appointments topic. */
    it_find_t f = {.key = "APPT-refuse-1"};
    assert_int_equal(it_count(IT_TOPIC, &f), 0);
    it_close(c);
}

static void test_ignored_gets_aa_with_a_note(void **state)
{
    char msg[512], ack[2048], code[4], ctl[64], text[256];
    (void)state;
    it_client_t *c = it_client(0);
    it_msg(msg, sizeof(msg), "ADT^A08", "adt-1", "");
    it_send(c, msg);
    assert_true(it_read_ack(c, ack, sizeof(ack)));
    it_msa(ack, code, ctl, sizeof(ctl), text, sizeof(text));
    assert_string_equal(code, "AA");
    assert_string_equal(text, "ADT carries no appointment here");
    it_close(c);
}

static void test_pipelined_messages_get_acks_in_order(void **state)
{
    enum { N = 30 };
    char msg[512], ack[2048], code[4], ctl[64], want[32];
    nb_buf_t all = {0};
    (void)state;
    it_client_t *c = it_client(0);
    /* Mixed outcomes, so that answers are decided out of order: records, dead letters, and
     * ignored messages answered at once. All in one write. */
    for (int i = 0; i < N; i++) {
        snprintf(want, sizeof(want), "pipe-%d", i);
        it_msg(msg, sizeof(msg), i % 5 == 4 ? "ADT^A08" : "SIU^S12", want,
               i % 3 == 1 ? "ZZZ|X\r" : "");
        nb_hl7_mllp_wrap(&all, msg, strlen(msg));
    }
    it_send_raw(c, all.data, all.len);
    nb_buf_free(&all);
    for (int i = 0; i < N; i++) {
        assert_true(it_read_ack(c, ack, sizeof(ack)));
        it_msa(ack, code, ctl, sizeof(ctl), NULL, 0);
        snprintf(want, sizeof(want), "pipe-%d", i);
        assert_string_equal(ctl, want);
        assert_string_equal(code, i % 5 == 4 ? "AA" : i % 3 == 1 ? "AE" : "AA");
    }
    it_close(c);
}

/* The ACKs inside a batch answer (BHS, MSH.. MSA.., BTS), as separate strings: @returns how
 * many, at most max. */
static size_t it_batch_acks(const char *answer, char acks[][512], size_t max)
{
    size_t n = 0;
    const char *p = strstr(answer, "\rMSH|");
    while (p && n < max) {
        p++;
        const char *next = strstr(p, "\rMSH|");
        const char *end = next ? next : strstr(p, "\rBTS|");
        assert_non_null(end);
        snprintf(acks[n++], 512, "%.*s\r", (int)(end - p), p);
        p = next;
    }
    return n;
}

static void test_a_batch_gets_one_batch_answer(void **state)
{
    char msg[512], ack[4096], acks[8][512], code[4], ctl[64], text[256];
    nb_buf_t b = {0};
    (void)state;
    it_client_t *c = it_client(0);
    /* A file with one batch of four messages (records, a refusal, an ignored ADT), LF segment
     * ends on the headers as some engines write, then a plain message on the same connection. */
    const char *head = "FHS|^~\\&|PAS|RVF|NB|NB|20261201120000\n"
                       "BHS|^~\\&|PAS|RVF|NB|NB|20261201120000||||BATCH-7\n";
    nb_buf_add(&b, head, strlen(head));
    const char *types[4] = {"SIU^S12", "SIU^S15", "ADT^A08", "SIU^S12"};
    for (int i = 0; i < 4; i++) {
        char id[32];
        snprintf(id, sizeof(id), "batch-%d", i);
        it_msg(msg, sizeof(msg), types[i], id, i == 1 ? "ZZZ|X\r" : "");
        nb_buf_add(&b, msg, strlen(msg));
    }
    nb_buf_add(&b, "BTS|4\rFTS|1\r", 12);
    nb_buf_t frames = {0};
    nb_hl7_mllp_wrap(&frames, (const char *)b.data, b.len);
    it_msg(msg, sizeof(msg), "SIU^S12", "after-batch", "");
    nb_hl7_mllp_wrap(&frames, msg, strlen(msg));
    it_send_raw(c, frames.data, frames.len);
    nb_buf_free(&frames);
    nb_buf_free(&b);

    assert_true(it_read_ack(c, ack, sizeof(ack)));
    /* Our BHS: the sender's applications swapped, its BHS-11 in BHS-12; the count in BTS-1. */
    assert_int_equal(strncmp(ack, "BHS|^~\\&|NB|NB|PAS|RVF|", 23), 0);
    const char *eol = strchr(ack, '\r');
    assert_non_null(eol);
    assert_true(eol - ack > 8 && strncmp(eol - 8, "|BATCH-7", 8) == 0);
    size_t alen = strlen(ack);
    assert_true(alen > 7 && strcmp(ack + alen - 7, "BTS|4\r\r") != 0);
    assert_non_null(strstr(ack, "\rBTS|4\r"));
    assert_int_equal(it_batch_acks(ack, acks, 8), 4);
    const char *want[4] = {"AA", "AE", "AA", "AA"};
    for (int i = 0; i < 4; i++) {
        char id[32];
        snprintf(id, sizeof(id), "batch-%d", i);
        it_msa(acks[i], code, ctl, sizeof(ctl), text, sizeof(text));
        assert_string_equal(code, want[i]);
        assert_string_equal(ctl, id);
    }
    /* The plain message after it: its own ACK, in order. */
    assert_true(it_read_ack(c, ack, sizeof(ack)));
    it_msa(ack, code, ctl, sizeof(ctl), NULL, 0);
    assert_string_equal(code, "AA");
    assert_string_equal(ctl, "after-batch");
    /* What Kafka holds: the two appointments; the refused one as a dead letter only. */
    it_find_t f0 = {.key = "APPT-batch-0"}, f3 = {.key = "APPT-batch-3"},
              f1 = {.key = "APPT-batch-1"}, dl = {.needle = "batch-1"};
    assert_int_equal(it_count(IT_TOPIC, &f0), 1);
    assert_int_equal(it_count(IT_TOPIC, &f3), 1);
    assert_int_equal(it_count(IT_TOPIC, &f1), 0);
    assert_int_equal(it_count(it.conf->dead_letter_topic, &dl), 1);
    it_close(c);
}

static void test_a_batch_that_does_not_hold_together_is_refused_whole(void **state)
{
    char msg[512], ack[4096], code[4], ctl[64], text[256];
    nb_buf_t b = {0};
    (void)state;
    it_client_t *c = it_client(0);
    /* BTS says 3; there are 2. Nothing of it is published: the sender fixes and resends it. */
    nb_buf_add(&b, "BHS|^~\\&|PAS|RVF|NB|NB\r", 23);
    it_msg(msg, sizeof(msg), "SIU^S12", "broken-0", "");
    nb_buf_add(&b, msg, strlen(msg));
    it_msg(msg, sizeof(msg), "SIU^S12", "broken-1", "");
    nb_buf_add(&b, msg, strlen(msg));
    nb_buf_add(&b, "BTS|3\r", 6);
    nb_buf_t frame = {0};
    nb_hl7_mllp_wrap(&frame, (const char *)b.data, b.len);
    it_send_raw(c, frame.data, frame.len);
    nb_buf_free(&frame);
    nb_buf_free(&b);
    assert_true(it_read_ack(c, ack, sizeof(ack)));
    it_msa(ack, code, ctl, sizeof(ctl), text, sizeof(text));
    assert_string_equal(code, "AE");
    assert_non_null(strstr(text, "the batch does not hold together"));
    it_find_t f0 = {.key = "APPT-broken-0"}, dl = {.needle = "broken-1"};
    assert_int_equal(it_count(IT_TOPIC, &f0), 0);
    assert_int_equal(it_count(it.conf->dead_letter_topic, &dl), 1);
    assert_string_equal(dl.header[1], "hl7_batch");

    /* An empty batch: BHS and BTS, nothing else. */
    nb_buf_t empty = {0};
    const char *empty_batch = "BHS|^~\\&|PAS|RVF|NB|NB|||||E-1\rBTS|0\r";
    nb_hl7_mllp_wrap(&empty, empty_batch, strlen(empty_batch));
    it_send_raw(c, empty.data, empty.len);
    nb_buf_free(&empty);
    assert_true(it_read_ack(c, ack, sizeof(ack)));
    assert_int_equal(strncmp(ack, "BHS|^~\\&|NB|NB|PAS|RVF|", 23), 0);
    assert_null(strstr(ack, "MSH|"));
    assert_non_null(strstr(ack, "|E-1\rBTS|0\r"));
    it_close(c);
}

static void test_oversized_frame_is_refused_and_the_connection_closed(void **state)
{
    char msg[512], ack[2048], code[4], ctl[64], text[256];
    (void)state;
    it_client_t *c = it_client(0);
    it_msg(msg, sizeof(msg), "SIU^S12", "big-1", "NTE|1||");
    nb_buf_t big = {0};
    uint8_t vt = NB_HL7_MLLP_START;
    nb_buf_add(&big, &vt, 1);
    nb_buf_add(&big, msg, strlen(msg));
    while (big.len < 3 * IT_MAX_MESSAGE)
        nb_buf_add(&big, "xxxxxxxxxxxxxxxx", 16);
    /* The server may close before it has read all of it: a failed write is fine here. */
    size_t off = 0;
    while (off < big.len) {
        ssize_t w = send(c->fd, big.data + off, big.len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    nb_buf_free(&big);
    assert_true(it_read_ack(c, ack, sizeof(ack)));
    it_msa(ack, code, ctl, sizeof(ctl), text, sizeof(text));
    assert_string_equal(code, "AR");
    assert_string_equal(ctl, "big-1");
    assert_non_null(strstr(text, "larger than"));
    assert_false(it_read_ack(c, ack, sizeof(ack))); /* closed */
    nb_ingest_stats_t st;
    nb_ingest_stats(it.in, &st);
    assert_true(st.too_large >= 1);
    it_close(c);
}

static void test_tls_with_a_client_certificate_is_served(void **state)
{
    char msg[512], ack[2048], code[4], ctl[64];
    (void)state;
    it_client_t *c = it_client_tls(1, true);
    it_msg(msg, sizeof(msg), "SIU^S12", "tls-1", "");
    it_send(c, msg);
    assert_true(it_read_ack(c, ack, sizeof(ack)));
    it_msa(ack, code, ctl, sizeof(ctl), NULL, 0);
    assert_string_equal(code, "AA");
    assert_string_equal(ctl, "tls-1");
    it_close(c);
}

static void test_tls_without_a_client_certificate_is_refused(void **state)
{
    char ack[2048];
    (void)state;
    nb_ingest_stats_t before, after;
    nb_ingest_stats(it.in, &before);
    it_client_t *c = it_client_tls(1, false);
    /* TLS 1.3 finishes the client's side before the server has refused: the refusal shows
     * as the end of the connection, with no ACK whatever is sent. */
    char msg[512];
    it_msg(msg, sizeof(msg), "SIU^S12", "tls-nocert", "");
    nb_buf_t b = {0};
    nb_hl7_mllp_wrap(&b, msg, strlen(msg));
    if (c->ssl)
        (void)SSL_write(c->ssl, b.data, (int)b.len);
    nb_buf_free(&b);
    assert_false(it_read_ack(c, ack, sizeof(ack)));
    /* OpenSSL sends its alert before the server counts the refusal: wait for the count. */
    int64_t deadline = nb_it_now_ms() + 10000;
    do {
        nb_it_sleep_ms(10);
        nb_ingest_stats(it.in, &after);
    } while (after.refused_connections == before.refused_connections && nb_it_now_ms() < deadline);
    assert_int_equal(after.refused_connections, before.refused_connections + 1);
    assert_int_equal(after.acks[NB_HL7_AA], before.acks[NB_HL7_AA]);
    it_close(c);
}

/* ---- third-party messages (--realdata DIR) ----------------------------------------------- */

static const char *realdata_dir;

/* Every *.hl7 file under @p dir (relative paths appended to @p out). */
static void it_collect(const char *dir, const char *rel, char ***out, size_t *n)
{
    char path[2048], sub[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    DIR *d = opendir(path);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        struct stat sb;
        snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, sub);
        if (stat(path, &sb) != 0)
            continue;
        size_t len = strlen(sub);
        if (S_ISDIR(sb.st_mode)) {
            it_collect(dir, sub, out, n);
        } else if (len > 4 && strcmp(sub + len - 4, ".hl7") == 0) {
            *out = realloc(*out, (*n + 1) * sizeof(**out));
            (*out)[(*n)++] = strdup(sub);
        }
    }
    closedir(d);
}

/* Each message of each sample, sent over MLLP: answered (AA, or AE with its dead letter),
 * never AR, with an ACK that parses and carries the message's control id in MSA-2. */
static void test_realdata_messages_are_answered(void **state)
{
    char **files = NULL, path[1024], errstr[256], ack[4096], code[4], ctl[200], want[200];
    size_t n = 0, messages = 0;
    (void)state;
    it_collect(realdata_dir, "", &files, &n);
    assert_true(n > 0);
    nb_hl7_msg_t *orig = nb_hl7_msg_new(NULL);
    it_client_t *c = it_client(0);
    for (size_t i = 0; i < n; i++) {
        char *data = NULL;
        size_t len = 0;
        const char *why;
        snprintf(path, sizeof(path), "%s/%s", realdata_dir, files[i]);
        assert_int_equal(nb_file_read(path, 0, 16u << 20, &data, &len, &why), NB_FILE_OK);
        nb_hl7_batch_t b;
        nb_hl7_batch_init(&b, data, len);
        const char *msg;
        size_t msg_len;
        for (nb_err_t err; (err = nb_hl7_batch_next(&b, &msg, &msg_len, errstr, sizeof(errstr))) !=
                           NB_ERR_NOT_FOUND;) {
            if (err)
                continue; /* the parser's tests say which samples do not hold together */
            assert_int_equal(nb_hl7_msg_parse(orig, msg, msg_len, errstr, sizeof(errstr)),
                             NB_ERR_OK);
            it_copy(want, sizeof(want), nb_hl7_get(orig, 0, 10, 1, 1, 0));
            nb_buf_t frame = {0};
            nb_hl7_mllp_wrap(&frame, msg, msg_len);
            it_send_raw(c, frame.data, frame.len);
            nb_buf_free(&frame);
            assert_true(it_read_ack(c, ack, sizeof(ack)));
            it_msa(ack, code, ctl, sizeof(ctl), NULL, 0);
            printf("realdata %s %s: control id %s\n", code, files[i], ctl);
            assert_true(strcmp(code, "AA") == 0 || strcmp(code, "AE") == 0);
            assert_string_equal(ctl, want);
            messages++;
        }
        free(data);
        free(files[i]);
    }
    free(files);
    assert_true(messages >= n);
    it_close(c);
    nb_hl7_msg_destroy(orig);
}

static void *it_run(void *arg);

/* A second server with one connection at most and a short idle timeout: a second
 * connection is closed at once, the first once it has been idle; a sender that pipelines past
 * ingest.max_buffered_bytes waits and is answered all the same. */
static void test_connection_limits(void **state)
{
    char errstr[1024], ack[2048], code[4], ctl[64], msg[512], buf[16];
    (void)state;
    nb_config_t *conf = nb_config_new();
    free(conf->bootstrap_servers);
    conf->bootstrap_servers = strdup(it.conf->bootstrap_servers);
    conf->ingest_max_connections = 1;
    conf->ingest_idle_timeout_ms = 1000;
    conf->ingest_max_message_bytes = 1024;
    conf->ingest_max_buffered_bytes = 2048;
    conf->n_mllp = 1;
    nb_mllp_conf_t *l = &conf->mllp[0];
    l->name = strdup("limits");
    l->bind = strdup("127.0.0.1");
    l->mapping = strdup("");
    l->topic = strdup(IT_TOPIC);
    l->tls_cert = strdup("");
    l->tls_key = strdup("");
    l->tls_ca = strdup("");
    nb_hl7_msg_t *hl7 = nb_hl7_msg_new(NULL); /* this server's mapper's own */
    nb_ingest_mapper_t mapper = {it_map, hl7, NULL};
    nb_ingest_t *in = nb_ingest_new(conf, &mapper, NULL, errstr, sizeof(errstr));
    assert_non_null(in);
    nb_ingest_t *shared = it.in;
    it.in = in; /* it_client() connects to it.in's port */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, it_run, in), 0);
    it_client_t *a = it_client(0);
    /* Pipelined: 40 messages of ~150 bytes each, past max_buffered_bytes, all answered. */
    nb_buf_t all = {0};
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof(id), "lim-%d", i);
        it_msg(msg, sizeof(msg), "SIU^S12", id, "");
        nb_hl7_mllp_wrap(&all, msg, strlen(msg));
    }
    it_send_raw(a, all.data, all.len);
    nb_buf_free(&all);
    for (int i = 0; i < 40; i++) {
        char want[16];
        snprintf(want, sizeof(want), "lim-%d", i);
        assert_true(it_read_ack(a, ack, sizeof(ack)));
        it_msa(ack, code, ctl, sizeof(ctl), NULL, 0);
        assert_string_equal(code, "AA");
        assert_string_equal(ctl, want);
    }
    /* A second connection while the first is open: closed at once. */
    it_client_t *b = it_client(0);
    assert_int_equal(read(b->fd, buf, sizeof(buf)), 0);
    /* The first, idle for a second: closed (read returns 0 well before its 20 s). */
    int64_t t0 = nb_it_now_ms();
    assert_int_equal(read(a->fd, buf, sizeof(buf)), 0);
    assert_true(nb_it_now_ms() - t0 < 15000);
    nb_ingest_stats_t st;
    nb_ingest_stats(in, &st);
    assert_int_equal(st.refused_connections, 1);
    nb_ingest_stop(in);
    pthread_join(t, NULL);
    it.in = shared;
    it_close(a);
    it_close(b);
    nb_ingest_destroy(in);
    nb_config_destroy(conf);
    nb_hl7_msg_destroy(hl7);
}

/* Last: stopping answers what was read (AR here: the broker is down and stays down past the
 * delivery timeout), writes the ACK, closes, and nb_ingest_run() returns. */
static void test_stop_answers_what_is_in_flight(void **state)
{
    char msg[512], ack[2048], code[4], ctl[64];
    (void)state;
    rd_kafka_mock_cluster_t *mc = nb_broker_mock(it.broker);
    it_client_t *c = it_client(0);
    assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    it_msg(msg, sizeof(msg), "SIU^S12", "stop-1", "");
    nb_ingest_stats_t st;
    nb_ingest_stats(it.in, &st);
    uint64_t before = st.received;
    it_send(c, msg);
    /* Stop once the message has been read, not before. */
    int64_t deadline = nb_it_now_ms() + 10000;
    while (st.received == before && nb_it_now_ms() < deadline) {
        nb_it_sleep_ms(5);
        nb_ingest_stats(it.in, &st);
    }
    assert_int_equal(st.received, before + 1);
    nb_ingest_stop(it.in);
    assert_true(it_read_ack(c, ack, sizeof(ack)));
    it_msa(ack, code, ctl, sizeof(ctl), NULL, 0);
    assert_string_equal(code, "AR");
    assert_string_equal(ctl, "stop-1");
    assert_false(it_read_ack(c, ack, sizeof(ack))); /* closed */
    pthread_join(it.thread, NULL);
    it.joined = true;
    assert_int_equal(rd_kafka_mock_broker_set_up(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    it_close(c);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static void *it_run(void *arg)
{
    nb_err_t err = nb_ingest_run(arg, NULL);
    assert_int_equal(err, NB_ERR_OK);
    return NULL;
}

/* A throwaway CA, and a server and a client certificate it signed. */
static void it_certs(void)
{
    char cmd[2048];
    snprintf(it.dir, sizeof(it.dir), "/tmp/nb-mllp-XXXXXX");
    assert_non_null(mkdtemp(it.dir));
    snprintf(cmd, sizeof(cmd),
             "cd %s && K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
             "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=nb-test-ca && "
             "for n in server client; do "
             "openssl req $K -keyout $n.key -out $n.csr -subj /CN=nb-test-$n && "
             "openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out $n.pem -days 2 || exit 1; done",
             it.dir);
    strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
    assert_int_equal(system(cmd), 0);
}

static int it_setup(void **state)
{
    char errstr[1024], path[128];
    (void)state;
    it_certs();
    /* The logs, to look for personal data in them at the end (and shown then). */
    snprintf(it.log_path, sizeof(it.log_path), "%s/stderr.log", it.dir);
    int log_fd = open(it.log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(log_fd >= 0);
    fflush(stderr);
    it.saved_stderr = dup(2);
    assert_true(dup2(log_fd, 2) >= 0);
    close(log_fd);
    it.broker = nb_broker_new(1, errstr, sizeof(errstr));
    assert_non_null(it.broker);
    it.conf = nb_config_new();
    free(it.conf->bootstrap_servers);
    it.conf->bootstrap_servers = strdup(nb_broker_bootstraps(it.broker));
    nb_log_set_level(NB_LOG_INFO); /* into the file, checked for personal data, shown at the end */
    nb_broker_create_topics(it.broker, it.conf, 1);
    it.conf->ingest_delivery_timeout_ms = 3000;
    /* Reconnect soon after the broker comes back (librdkafka's back-off reaches 10 s). */
    it.conf->kafka_props[it.conf->n_kafka_props].key = strdup("reconnect.backoff.max.ms");
    it.conf->kafka_props[it.conf->n_kafka_props++].value = strdup("500");
    it.conf->ingest_max_message_bytes = IT_MAX_MESSAGE;
    it.conf->n_mllp = 2;
    for (int i = 0; i < 2; i++) {
        nb_mllp_conf_t *l = &it.conf->mllp[i];
        l->name = strdup(i ? "pas-tls" : "pas");
        l->bind = strdup("127.0.0.1");
        l->port = 0;
        l->mapping = strdup("");
        l->topic = strdup(IT_TOPIC);
        snprintf(path, sizeof(path), "%s/server.pem", it.dir);
        l->tls_cert = strdup(i ? path : "");
        snprintf(path, sizeof(path), "%s/server.key", it.dir);
        l->tls_key = strdup(i ? path : "");
        snprintf(path, sizeof(path), "%s/ca.pem", it.dir);
        l->tls_ca = strdup(i ? path : "");
        l->tls_require_client_cert = i == 1;
    }
    it.hl7 = nb_hl7_msg_new(NULL);
    nb_hl7_msg_t *mapper_hl7 = nb_hl7_msg_new(NULL);
    static nb_ingest_mapper_t mappers[2];
    mappers[0] = mappers[1] = (nb_ingest_mapper_t){it_map, mapper_hl7, NULL};
    it.metrics = nb_metrics_new();
    it.in = nb_ingest_new(it.conf, mappers, it.metrics, errstr, sizeof(errstr));
    if (!it.in)
        fail_msg("nb_ingest_new: %s", errstr);
    assert_int_equal(pthread_create(&it.thread, NULL, it_run, it.in), 0);
    *state = mapper_hl7;
    return 0;
}

static int it_teardown(void **state)
{
    char cmd[256];
    nb_ingest_stop(it.in);
    if (!it.joined)
        pthread_join(it.thread, NULL);
    /* The metrics name the source and count by code. */
    char *text = nb_metrics_render(it.metrics, NULL);
    assert_non_null(strstr(text, "notbrought_mllp_acks_total{source=\"pas\",code=\"AE\"}"));
    assert_non_null(strstr(text, "notbrought_mllp_last_message_timestamp_seconds{source=\"pas\"}"));
    free(text);
    nb_ingest_destroy(it.in);
    nb_metrics_destroy(it.metrics);
    /* No personal data in the logs: the messages' NHS number, name, date of birth and local
     * identifier never appear; the sources, control ids and reasons do. */
    fflush(stderr);
    dup2(it.saved_stderr, 2);
    close(it.saved_stderr);
    size_t log_len = 0;
    char *log = NULL;
    const char *why;
    assert_int_equal(nb_file_read(it.log_path, 0, 64u << 20, &log, &log_len, &why), NB_FILE_OK);
    fwrite(log, 1, log_len, stderr);
    static const char *const personal[] = {"9434765919", "TESTCHILD", "20231001", "1234^"};
    for (size_t i = 0; i < sizeof(personal) / sizeof(personal[0]); i++)
        if (strstr(log, personal[i]))
            fail_msg("the logs hold personal data (%s)", personal[i]);
    if (!realdata_dir)
        assert_non_null(strstr(log, "pas: message refuse-1 from"));
    free(log);
    nb_hl7_msg_destroy(*state);
    nb_hl7_msg_destroy(it.hl7);
    nb_config_destroy(it.conf);
    nb_broker_destroy(it.broker);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", it.dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--realdata") == 0) {
        struct stat sb;
        realdata_dir = argv[2];
        if (stat(realdata_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            printf("no third-party samples at %s: skipped\n", realdata_dir);
            return 77;
        }
        const struct CMUnitTest realdata[] = {
            cmocka_unit_test(test_realdata_messages_are_answered),
        };
        return cmocka_run_group_tests(realdata, it_setup, it_teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aa_means_the_record_is_in_the_topic),
        cmocka_unit_test(test_aa_only_after_kafka_acknowledged),
        cmocka_unit_test(test_refused_gets_ae_and_a_dead_letter_with_the_reason),
        cmocka_unit_test(test_ignored_gets_aa_with_a_note),
        cmocka_unit_test(test_pipelined_messages_get_acks_in_order),
        cmocka_unit_test(test_a_batch_gets_one_batch_answer),
        cmocka_unit_test(test_a_batch_that_does_not_hold_together_is_refused_whole),
        cmocka_unit_test(test_oversized_frame_is_refused_and_the_connection_closed),
        cmocka_unit_test(test_tls_with_a_client_certificate_is_served),
        cmocka_unit_test(test_tls_without_a_client_certificate_is_refused),
        cmocka_unit_test(test_connection_limits),
        cmocka_unit_test(test_stop_answers_what_is_in_flight),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
