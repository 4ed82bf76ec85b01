/*
 * Integration tests: no record stops the stream, readiness tells the truth, dead letters are
 * counted once (issue 18), on the embedded broker (librdkafka's mock cluster).
 *
 * - Records of every size up to the broker's largest, with keys up to the same size, on
 *   every input topic: each is set aside (whole, or as a bounded dead letter with digests)
 *   and the records behind it are handled.
 * - A delivery a broker refuses for the record itself (injected MSG_SIZE_TOO_LARGE): the
 *   batch's records are handled one per transaction until the refused one is found; none is
 *   set aside when the refusal does not come again.
 * - Commits refused for a while (permissions) and every broker down: not ready while no
 *   progress is made, ready again after; nothing skipped, every dead letter counted once.
 *
 * The mock cluster shows aborted records to read_committed readers, so dead letters are
 * compared as distinct (source topic, offset) pairs; the metric, counted at commit, is exact.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <openssl/evp.h>

#include "notbrought/cli.h"
#include "notbrought/ops.h"
#include "notbrought/stream.h"

#include "common.h"

#define API_PRODUCE 0
#define API_ADD_PARTITIONS_TO_TXN 24

#define BIG 1100000 /* the test producer's message.max.bytes: above Kafka's 1048588 */

static int64_t sample_now;

/* ---- records held in memory ---------------------------------------------------------------- */

typedef struct rec_s {
    char topic[64];
    void *key;
    size_t key_len;
    void *value;
    size_t value_len;
    int64_t ts;
    bool poison;    /* expected in the dead letters */
    bool too_large; /* expected as a bounded dead letter */
    int64_t offset; /* as produced */
    int32_t partition;
} rec_t;

typedef struct recs_s {
    rec_t *v;
    size_t n, cap;
} recs_t;

static rec_t *recs_add(recs_t *r, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, int64_t ts)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        r->v = realloc(r->v, r->cap * sizeof(*r->v));
        assert_non_null(r->v);
    }
    rec_t *e = &r->v[r->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->topic, sizeof(e->topic), "%s", topic);
    e->key_len = key_len;
    e->value_len = value_len;
    e->key = key_len ? malloc(key_len) : NULL;
    e->value = value_len ? malloc(value_len) : NULL;
    if (key_len)
        memcpy(e->key, key, key_len);
    if (value_len)
        memcpy(e->value, value, value_len);
    e->ts = ts;
    e->offset = -1;
    return e;
}

static void recs_free(recs_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].key);
        free(r->v[i].value);
    }
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static int sample_cb(void *opaque, const char *topic, const char *key, const void *value,
                     size_t len, int64_t ts)
{
    recs_add(opaque, topic, key, key ? strlen(key) : 0, value, len, ts);
    return 0;
}

/* A realistic sample (valid records, and @p malformed malformed ones) on the default topics. */
static void make_sample(recs_t *out, int children, int malformed)
{
    char errstr[512];
    nb_registry_t *reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(reg, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_codec_t *codec = nb_codec_new(reg, errstr, sizeof(errstr));
    nb_sample_opts_t opts;
    nb_sample_opts_default(&opts, sample_now);
    opts.children = children;
    opts.seed = 18;
    opts.missed_share = 0.3;
    opts.malformed = malformed;
    assert_int_equal(nb_sample_generate(&opts, codec, sample_cb, out, errstr, sizeof(errstr)), 0);
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
}

/* Produces every record (headers: x-test = its index), and notes each one's offset. */
static void produce_recs(const char *bootstrap, recs_t *r, size_t from)
{
    char errstr[512], mmb[32];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    snprintf(mmb, sizeof(mmb), "%d", BIG + 100000);
    assert_int_equal(rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, errstr,
                                       sizeof(errstr)), RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(kc, "message.max.bytes", mmb, errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(kc, "enable.idempotence", "true", errstr,
                                       sizeof(errstr)), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    assert_non_null(rk);
    for (size_t i = from; i < r->n; i++) {
        rec_t *e = &r->v[i];
        char idx[32];
        snprintf(idx, sizeof(idx), "%zu", i);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(e->topic), RD_KAFKA_V_PARTITION(e->partition),
                    RD_KAFKA_V_KEY(e->key, e->key_len), RD_KAFKA_V_VALUE(e->value, e->value_len),
                    RD_KAFKA_V_TIMESTAMP(e->ts), RD_KAFKA_V_HEADER("x-test", idx, -1),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 50);
        if (err)
            fail_msg("produce %zu to %s: %s", i, e->topic, rd_kafka_err2str(err));
    }
    assert_int_equal(rd_kafka_flush(rk, 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

/* ---- the daemon --------------------------------------------------------------------------- */

typedef nb_it_daemon_t instance_t;

static void start_instance(instance_t *in, const char *bootstrap, bool local, int stall_ms)
{
    /* Absence deadlines stay held (tests/integration/test_absence.c tests them). */
    nb_it_conf_opts_t o = {NULL, false, false, sample_now, 86400000};
    nb_config_t *c = nb_it_conf(bootstrap, "nb-hardening", &o);
    c->local_by_child = local;
    if (stall_ms > 0)
        c->stall_timeout_ms = stall_ms;
    nb_it_daemon_start(in, c, true);
}

static void stop_instance(instance_t *in)
{
    nb_it_daemon_stop(in);
}

/* Sum of a metric family's series whose label text contains @p label (NULL: all). */
static double metric(instance_t *in, const char *family, const char *label)
{
    nb_stream_collect_metrics(in->st, in->m);
    size_t len = 0;
    char *text = nb_metrics_render(in->m, &len);
    assert_non_null(text);
    double sum = 0;
    size_t flen = strlen(family);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, family, flen) != 0 || (line[flen] != '{' && line[flen] != ' '))
            continue;
        if (label && !strstr(line, label))
            continue;
        const char *sp = strrchr(line, ' ');
        if (sp)
            sum += strtod(sp + 1, NULL);
    }
    free(text);
    return sum;
}

/* Waits until @p records records have been consumed, then until nothing new comes for 1.5 s
 * and no transaction is open for long (the stats no longer move). */
static void wait_handled(instance_t *in, uint64_t records, int deadline_s)
{
    nb_stream_stats_t snap;
    uint64_t last = (uint64_t)-1, commits = (uint64_t)-1;
    int64_t since = nb_it_now_ms(), deadline = nb_it_now_ms() + deadline_s * 1000LL;
    while (nb_it_now_ms() < deadline) {
        nb_stream_stats(in->st, &snap);
        if (snap.records_in != last || snap.commits != commits) {
            last = snap.records_in;
            commits = snap.commits;
            since = nb_it_now_ms();
        } else if (snap.records_in >= records && snap.ready && nb_it_now_ms() - since >= 1500) {
            return;
        }
        nb_it_sleep_ms(100);
    }
    nb_stream_stats(in->st, &snap);
    fail_msg("not settled within %d s: %llu of %llu records, %llu commits, %llu aborts, ready %d",
             deadline_s, (unsigned long long)snap.records_in, (unsigned long long)records,
             (unsigned long long)snap.commits, (unsigned long long)snap.aborts, (int)snap.ready);
}

/* ---- the dead letters ----------------------------------------------------------------------- */

typedef struct letter_s {
    char topic[64], code[64], bounded[16], sha[65];
    int64_t offset;
    int partition;
    long long value_bytes, key_bytes;
    size_t len, key_len;
    unsigned char head[16]; /* the first bytes of the value */
} letter_t;

typedef struct letters_s {
    letter_t *v;
    size_t n, cap;
} letters_t;

static void hdr(rd_kafka_headers_t *h, const char *name, char *out, size_t size)
{
    const void *v = NULL;
    size_t n = 0;
    out[0] = '\0';
    if (h && rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR && v) {
        if (n >= size)
            n = size - 1;
        memcpy(out, v, n);
        out[n] = '\0';
    }
}

static void read_letters(const char *bootstrap, letters_t *out)
{
    char errstr[512], group[64];
    free(out->v);
    memset(out, 0, sizeof(*out));
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    snprintf(group, sizeof(group), "letters-%lld", (long long)nb_it_now_ms());
    rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(kc, "group.id", group, errstr, sizeof(errstr));
    rd_kafka_conf_set(kc, "enable.partition.eof", "true", errstr, sizeof(errstr));
    rd_kafka_conf_set(kc, "isolation.level", "read_committed", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    assert_non_null(rk);
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "notbrought.dead-letters", NULL);
    assert_int_equal(rd_kafka_metadata(rk, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    int np = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++)
        rd_kafka_topic_partition_list_add(parts, "notbrought.dead-letters", p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int eofs = 0;
    for (int64_t until = nb_it_now_ms() + 30000; nb_it_now_ms() < until && eofs < np;) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 500);
        if (!rkm)
            continue;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(rkm);
            eofs++;
            continue;
        }
        if (!rkm->err) {
            if (out->n == out->cap) {
                out->cap = out->cap ? 2 * out->cap : 64;
                out->v = realloc(out->v, out->cap * sizeof(*out->v));
            }
            letter_t *l = &out->v[out->n++];
            memset(l, 0, sizeof(*l));
            rd_kafka_headers_t *h = NULL;
            rd_kafka_message_headers(rkm, &h);
            char buf[64];
            hdr(h, "nb.source.topic", l->topic, sizeof(l->topic));
            hdr(h, "nb.error.code", l->code, sizeof(l->code));
            hdr(h, "nb.dead_letter.bounded", l->bounded, sizeof(l->bounded));
            hdr(h, "nb.original.value.sha256", l->sha, sizeof(l->sha));
            hdr(h, "nb.source.offset", buf, sizeof(buf));
            l->offset = atoll(buf);
            hdr(h, "nb.source.partition", buf, sizeof(buf));
            l->partition = atoi(buf);
            hdr(h, "nb.original.value.bytes", buf, sizeof(buf));
            l->value_bytes = buf[0] ? atoll(buf) : -1;
            hdr(h, "nb.original.key.bytes", buf, sizeof(buf));
            l->key_bytes = buf[0] ? atoll(buf) : -1;
            l->len = rkm->len;
            l->key_len = rkm->key_len;
            memcpy(l->head, rkm->payload, rkm->len < sizeof(l->head) ? rkm->len : sizeof(l->head));
        }
        rd_kafka_message_destroy(rkm);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static const letter_t *find_letter(const letters_t *l, const char *topic, int partition,
                                   int64_t offset)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].offset == offset && l->v[i].partition == partition &&
            strcmp(l->v[i].topic, topic) == 0)
            return &l->v[i];
    return NULL;
}

/* Distinct (source topic, offset) pairs. */
static size_t distinct_letters(const letters_t *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = l->v[k].offset == l->v[i].offset && l->v[k].partition == l->v[i].partition &&
                   strcmp(l->v[k].topic, l->v[i].topic) == 0;
        n += !seen;
    }
    return n;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    assert_int_equal(EVP_Digest(p ? p : "", n, md, &md_len, EVP_sha256(), NULL), 1);
    for (unsigned int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The offsets the broker gave the records (read back by their x-test header). */
static void learn_offsets(const char *bootstrap, recs_t *r)
{
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(kc, "group.id", "offsets", errstr, sizeof(errstr));
    rd_kafka_conf_set(kc, "enable.partition.eof", "true", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    assert_non_null(rk);
    const char *topics[] = {"gp.appointments", "midwifery.appointments", "hv.contacts",
                            "child.context", "notification.acks", "identity.links"};
    size_t nt = sizeof(topics) / sizeof(topics[0]);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)nt + 1);
    for (size_t i = 0; i < nt; i++)
        rd_kafka_topic_partition_list_add(parts, topics[i], 0)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(parts, topics[0], 1)->offset = RD_KAFKA_OFFSET_BEGINNING;
    nt++;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    size_t eofs = 0;
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until && eofs < nt;) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 500);
        if (!rkm)
            continue;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (!rkm->err) {
            rd_kafka_headers_t *h = NULL;
            char idx[32];
            rd_kafka_message_headers(rkm, &h);
            hdr(h, "x-test", idx, sizeof(idx));
            size_t i = (size_t)atoll(idx);
            if (idx[0] && i < r->n)
                r->v[i].offset = rkm->offset;
        }
        rd_kafka_message_destroy(rkm);
    }
    assert_int_equal(eofs, nt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* The embedded cluster keeps about 5 MB per partition (it drops the oldest records past
 * that): the dead letters get 8 partitions and gp.appointments 2, so that the test's
 * megabyte records all stay readable. */
static nb_broker_t *setup_broker(void)
{
    char errstr[256];
    nb_broker_t *b = nb_broker_new(1, errstr, sizeof(errstr));
    if (!b)
        fail_msg("nb_broker_new: %s", errstr);
    rd_kafka_mock_topic_create(nb_broker_mock(b), "notbrought.dead-letters", 8, 1);
    rd_kafka_mock_topic_create(nb_broker_mock(b), "gp.appointments", 2, 1);
    nb_it_conf_opts_t o = {NULL, false, false, sample_now, 0};
    nb_config_t *c = nb_it_conf(nb_broker_bootstraps(b), "setup", &o);
    nb_broker_create_topics(b, c, 1);
    nb_config_destroy(c);
    return b;
}

/* ---- the tests ------------------------------------------------------------------------------ */

/* Records up to the broker's largest, on every input topic, with keys as large: each is set
 * aside, whole or bounded, and everything behind them is handled. A valid event whose 1 MB key
 * cannot cross the by-child topic is set aside as record_too_large, as the record it was. */
static void test_no_record_stops_the_stream(void **state)
{
    (void)state;
    nb_broker_t *b = setup_broker();
    const char *bs = nb_broker_bootstraps(b);
    recs_t r = {0};
    const char *topics[] = {"gp.appointments", "midwifery.appointments", "hv.contacts",
                            "child.context", "notification.acks"};
    /* Value sizes up to Kafka's default largest record (1048588 bytes with its overhead). */
    const size_t sizes[] = {1000, 999000, 1000200, 1048000};
    unsigned char *junk = malloc(1048576);
    assert_non_null(junk);
    for (size_t i = 0; i < 1048576; i++)
        junk[i] = (unsigned char)(i * 131 + 7);
    junk[0] = 0; /* Confluent magic, then a schema id the registry does not know */
    junk[1] = 0x7f;
    size_t poison = 0;
    for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            char key[32];
            snprintf(key, sizeof(key), "k%zu-%zu", t, s);
            rec_t *e = recs_add(&r, topics[t], key, strlen(key), junk, sizes[s], sample_now);
            e->poison = true;
            e->too_large = sizes[s] > 1000000;
            poison++;
        }
        /* A key as large as the broker takes, with a small value. */
        rec_t *e = recs_add(&r, topics[t], junk + 100, 1000200, junk, 200, sample_now);
        e->poison = e->too_large = true;
        poison++;
    }
    /* The links topic is read outside the transactions: a large record there is refused
     * (logged, counted) and the table goes on. */
    recs_add(&r, "identity.links", "k", 1, junk, 1000200, sample_now);
    size_t big = r.n;
    make_sample(&r, 30, 0);
    /* A valid appointment whose 1 MB key cannot cross the by-child topic. */
    size_t valid = r.n;
    for (size_t i = big; i < r.n && valid == r.n; i++)
        if (strcmp(r.v[i].topic, "gp.appointments") == 0)
            valid = i;
    assert_true(valid < r.n);
    rec_t *kv = recs_add(&r, "gp.appointments", junk + 200, 1000000, r.v[valid].value,
                         r.v[valid].value_len, r.v[valid].ts);
    kv->poison = kv->too_large = true;
    kv->partition = 1;
    poison++;
    free(junk);
    produce_recs(bs, &r, 0);
    learn_offsets(bs, &r);
    uint64_t inputs = 0;
    for (size_t i = 0; i < r.n; i++)
        inputs += strcmp(r.v[i].topic, "identity.links") != 0;

    instance_t in;
    start_instance(&in, bs, false, 0);
    wait_handled(&in, inputs, 180);
    letters_t l = {0};
    read_letters(bs, &l);
    nb_stream_stats_t snap;
    nb_stream_stats(in.st, &snap);
    double counted = metric(&in, "notbrought_dead_letters_total", NULL);
    double links_refused = metric(&in, "notbrought_identity_links_refused_total", NULL);
    print_message("%zu poison records: %zu dead letters (%zu distinct), %.0f counted; %llu "
                  "records in, %llu notifications, %llu commits, %llu aborts\n",
                  poison, l.n, distinct_letters(&l), counted,
                  (unsigned long long)snap.records_in, (unsigned long long)snap.notifications,
                  (unsigned long long)snap.commits, (unsigned long long)snap.aborts);
    stop_instance(&in);
    assert_int_equal(in.result, NB_ERR_OK);

    size_t bounded = 0;
    for (size_t i = 0; i < r.n; i++) {
        const rec_t *e = &r.v[i];
        if (!e->poison)
            continue;
        const letter_t *d = find_letter(&l, e->topic, e->partition, e->offset);
        if (!d) {
            for (size_t k = 0; k < l.n; k++)
                print_message("letter %s %lld %s\n", l.v[k].topic, (long long)l.v[k].offset,
                              l.v[k].code);
        }
        if (!d)
            fail_msg("no dead letter for %s offset %lld (%zu-byte key, %zu-byte value)",
                     e->topic, (long long)e->offset, e->key_len, e->value_len);
        if (strcmp(d->bounded, "true") == 0) {
            char sha[65];
            sha256_hex(e->value, e->value_len, sha);
            assert_string_equal(d->sha, sha);
            assert_int_equal(d->value_bytes, (long long)e->value_len);
            assert_int_equal(d->key_bytes, (long long)e->key_len);
            assert_true(d->len <= 65536 && d->len <= e->value_len);
            assert_true(d->key_len <= 1024);
            assert_memory_equal(d->head, e->value, d->len < 16 ? d->len : 16);
            bounded++;
        } else {
            assert_false(e->too_large);
            assert_int_equal(d->len, e->value_len);
            assert_int_equal(d->key_len, e->key_len);
        }
        if (e == kv)
            assert_string_equal(d->code, "record_too_large");
    }
    /* Every poison record once, nothing else: the valid records were all handled. */
    assert_int_equal(distinct_letters(&l), poison);
    assert_true(bounded >= 16);
    assert_true(snap.notifications > 0);
    /* Counted when committed: the abort that found the 1 MB key counts nothing twice. */
    assert_int_equal((long)counted, (long)poison);
    assert_true(links_refused >= 1);
    free(l.v);
    recs_free(&r);
    nb_broker_destroy(b);
}

/* A broker refuses a delivery for the record itself, once: the batch is handled again one
 * record per transaction, and nothing is set aside since the refusal does not come again. */
static void test_refused_delivery_is_isolated(void **state)
{
    (void)state;
    nb_broker_t *b = setup_broker();
    const char *bs = nb_broker_bootstraps(b);
    recs_t r = {0};
    make_sample(&r, 40, 6);
    produce_recs(bs, &r, 0);
    uint64_t inputs = 0;
    for (size_t i = 0; i < r.n; i++)
        inputs += strcmp(r.v[i].topic, "identity.links") != 0;
    rd_kafka_mock_push_request_errors(nb_broker_mock(b), API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    instance_t in;
    start_instance(&in, bs, false, 0);
    wait_handled(&in, inputs, 180);
    nb_stream_stats_t snap;
    nb_stream_stats(in.st, &snap);
    letters_t l = {0};
    read_letters(bs, &l);
    double counted = metric(&in, "notbrought_dead_letters_total", NULL);
    print_message("%llu records handled alone, %llu aborts, %zu distinct dead letters, %.0f "
                  "counted\n", (unsigned long long)snap.handled_alone,
                  (unsigned long long)snap.aborts, distinct_letters(&l), counted);
    stop_instance(&in);
    assert_int_equal(in.result, NB_ERR_OK);
    assert_true(snap.aborts >= 1);
    assert_true(snap.handled_alone >= 1);
    assert_true(snap.handled_alone < snap.records_in); /* batches as usual after */
    assert_int_equal(distinct_letters(&l), 6);
    assert_int_equal((long)counted, 6);
    for (size_t i = 0; i < l.n; i++)
        assert_string_not_equal(l.v[i].code, "record_too_large");
    free(l.v);
    recs_free(&r);
    nb_broker_destroy(b);
}

/* Commits refused for a while: not ready once no progress is made for stall_timeout_ms, ready
 * again with the next commit; every broker down: not ready until they answer. Nothing
 * skipped, every dead letter counted once. */
static void test_readiness_follows_progress(void **state)
{
    (void)state;
    nb_broker_t *b = setup_broker();
    const char *bs = nb_broker_bootstraps(b);
    rd_kafka_mock_cluster_t *mc = nb_broker_mock(b);
    recs_t r = {0};
    make_sample(&r, 40, 6);
    size_t half = r.n / 2;
    recs_t first = {r.v, half, half};
    produce_recs(bs, &first, 0);
    instance_t in;
    start_instance(&in, bs, true, 700);
    nb_stream_stats_t snap;
    bool ready = false;
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until && !ready; nb_it_sleep_ms(50)) {
        nb_stream_stats(in.st, &snap);
        ready = snap.ready && snap.commits > 0;
    }
    assert_true(ready);

    /* Refused: each attempt's transaction aborts (AddPartitionsToTxn), with backoff. */
    rd_kafka_mock_push_request_errors(
        mc, API_ADD_PARTITIONS_TO_TXN, 6, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    produce_recs(bs, &r, half);
    bool stalled = false;
    for (int64_t until = nb_it_now_ms() + 30000; nb_it_now_ms() < until && !stalled; nb_it_sleep_ms(50)) {
        nb_stream_stats(in.st, &snap);
        stalled = !snap.ready && snap.stalled;
    }
    assert_true(stalled);
    uint64_t inputs = 0;
    for (size_t i = 0; i < r.n; i++)
        inputs += strcmp(r.v[i].topic, "identity.links") != 0;
    wait_handled(&in, inputs, 120);
    nb_stream_stats(in.st, &snap);
    assert_true(snap.ready);
    assert_false(snap.stalled);
    assert_true(snap.aborts >= 2);

    /* Every broker down: not ready; back: ready. */
    rd_kafka_mock_broker_set_down(mc, 1);
    bool down = false;
    for (int64_t until = nb_it_now_ms() + 30000; nb_it_now_ms() < until && !down; nb_it_sleep_ms(50)) {
        nb_stream_stats(in.st, &snap);
        down = !snap.ready;
    }
    assert_true(down);
    rd_kafka_mock_broker_set_up(mc, 1);
    ready = false;
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until && !ready; nb_it_sleep_ms(50)) {
        nb_stream_stats(in.st, &snap);
        ready = snap.ready;
    }
    assert_true(ready);
    letters_t l = {0};
    read_letters(bs, &l);
    double counted = metric(&in, "notbrought_dead_letters_total", NULL);
    print_message("%llu aborts; %zu distinct dead letters, %.0f counted\n",
                  (unsigned long long)snap.aborts, distinct_letters(&l), counted);
    stop_instance(&in);
    assert_int_equal(in.result, NB_ERR_OK);
    assert_int_equal(distinct_letters(&l), 6);
    assert_int_equal((long)counted, 6);
    free(l.v);
    recs_free(&r);
    nb_broker_destroy(b);
}

/* A tombstone on the links topic is not applied, and says so. */
static void test_links_tombstone_is_counted(void **state)
{
    (void)state;
    nb_broker_t *b = setup_broker();
    const char *bs = nb_broker_bootstraps(b);
    recs_t r = {0};
    recs_add(&r, "identity.links", "LOCAL|1234", 10, NULL, 0, sample_now);
    produce_recs(bs, &r, 0);
    instance_t in;
    start_instance(&in, bs, true, 0);
    double n = 0;
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until && n < 1; nb_it_sleep_ms(50))
        n = metric(&in, "notbrought_identity_links_refused_total", "code=\"tombstone\"");
    stop_instance(&in);
    assert_int_equal((long)n, 1);
    recs_free(&r);
    nb_broker_destroy(b);
}

static int group_setup(void **state)
{
    (void)state;
    sample_now = nb_it_now_ms();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_record_stops_the_stream),
        cmocka_unit_test(test_refused_delivery_is_isolated),
        cmocka_unit_test(test_readiness_follows_progress),
        cmocka_unit_test(test_links_tombstone_is_counted),
    };
    const char *filter = getenv("NB_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
