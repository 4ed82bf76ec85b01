/*
 * Integration tests: several instances on the embedded broker (librdkafka's mock cluster).
 *
 * - The identity table's digest (issue 25): two instances of one group that read the same
 *   identity.links topic export the same digest, in their statistics, their metrics and their
 *   health answers; an instance that reads another links topic exports another; a link read
 *   later changes the digest on both alike.
 * - State written by a newer release (rolling upgrades, docs/architecture.md "Formats and
 *   rolling upgrades"): a child's changelog value in a newer format version is not read,
 *   never replaced by a fresh state, and the records for that child go to the dead letters
 *   saying why.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "notbrought/cli.h"
#include "notbrought/codec.h"
#include "notbrought/recfile.h"
#include "notbrought/stream.h"

#include "common.h"

#define CHILDREN 60
#define LINKS_B "identity.links.b"
#define CHANGELOG "notbrought.changelog"
#define DEAD_LETTERS "notbrought.dead-letters"

static int64_t sample_now;
static char sample_path[64];

/* The sample in four record files: links known early (identity.links), links known late
 * (twice: for identity.links and for another links topic), and every event (topic
 * "events"). */
typedef struct files_s {
    FILE *early, *late, *late_b, *events;
    int64_t split;
} files_t;

static int write_cb(void *opaque, const char *topic, const char *key, const void *value, size_t len,
                    int64_t ts)
{
    files_t *f = opaque;
    if (strcmp(topic, "identity.links") == 0) {
        if (ts < f->split)
            return nb_recfile_write(f->early, topic, key, value, len, ts);
        int rc = nb_recfile_write(f->late, topic, key, value, len, ts);
        return rc ? rc : nb_recfile_write(f->late_b, LINKS_B, key, value, len, ts);
    }
    return nb_recfile_write(f->events, "events", key, value, len, ts);
}

static void sample_file(char *out, size_t size, const char *part)
{
    snprintf(out, size, "%s.%s", sample_path, part);
}

static FILE *open_part(const char *part)
{
    char path[96];
    sample_file(path, sizeof(path), part);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    return fp;
}

static void make_sample(int64_t now)
{
    char errstr[512];
    nb_registry_t *reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(reg, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_codec_t *codec = nb_codec_new(reg, errstr, sizeof(errstr));
    assert_non_null(codec);
    nb_sample_opts_t opts;
    nb_sample_opts_default(&opts, now);
    opts.children = CHILDREN;
    opts.seed = 25;
    opts.missed_share = 0.3;
    opts.malformed = 0;
    files_t f = {open_part("early"), open_part("late"), open_part("lateb"), open_part("events"),
                 now - 25 * NB_MS_PER_DAY};
    assert_int_equal(nb_sample_generate(&opts, codec, write_cb, &f, errstr, sizeof(errstr)), 0);
    fclose(f.early);
    fclose(f.late);
    fclose(f.late_b);
    fclose(f.events);
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
}

static nb_config_t *make_conf(const char *bootstrap, const char *instance)
{
    nb_it_conf_opts_t o = {NULL, false, true, sample_now, 86400000};
    return nb_it_conf(bootstrap, instance, &o);
}

/* Produces a part of the sample; @returns the records produced. */
static long produce(const char *bootstrap, const char *part)
{
    char errstr[512], path[96];
    long n = 0;
    nb_config_t *c = make_conf(bootstrap, "producer");
    sample_file(path, sizeof(path), part);
    assert_int_equal(nb_stream_produce_file(c, path, &n, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_config_destroy(c);
    return n;
}

static nb_broker_t *setup_broker(void)
{
    char errstr[256];
    nb_broker_t *b = nb_broker_new(3, errstr, sizeof(errstr));
    if (!b)
        fail_msg("nb_broker_new: %s", errstr);
    nb_config_t *c = make_conf(nb_broker_bootstraps(b), "setup");
    nb_broker_create_topics(b, c, 1);
    free(c->links_topic);
    c->links_topic = strdup(LINKS_B);
    nb_broker_create_topics(b, c, 1);
    nb_config_destroy(c);
    return b;
}

/* Waits until the daemon has worked out the digest of a table of @p links links. */
static void await_digest(nb_it_daemon_t *d, uint64_t links, nb_stream_stats_t *out)
{
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until; nb_it_sleep_ms(50)) {
        nb_stream_stats(d->st, out);
        if (out->identity_digest[0] && out->identity_digest_links == links)
            return;
    }
    fail_msg("%s: no digest of %llu links within 60 s (links read %llu, digest of %llu)",
             d->conf->instance_id, (unsigned long long)links, (unsigned long long)out->links,
             (unsigned long long)out->identity_digest_links);
}

/* What the daemon's registry exports: the digest series and the health answer's object. */
static void check_exported(nb_it_daemon_t *d, const nb_stream_stats_t *s)
{
    char want[160];
    char *txt = nb_metrics_render(d->m, NULL);
    assert_non_null(txt);
    snprintf(want, sizeof(want), "\nnotbrought_identity_table_digest_info{digest=\"%.16s\"} 1\n",
             s->identity_digest);
    if (!strstr(txt, want))
        fail_msg("%s: metrics lack %s", d->conf->instance_id, want + 1);
    snprintf(want, sizeof(want), "\nnotbrought_identity_table_digest_links %llu\n",
             (unsigned long long)s->identity_digest_links);
    assert_non_null(strstr(txt, want));
    free(txt);
    nb_health_t h;
    nb_metrics_health(d->m, nb_it_now_ms(), 60000, &h);
    assert_memory_equal(h.identity_digest, s->identity_digest, NB_METRICS_DIGEST_HEX);
    assert_int_equal(h.identity_links, s->identity_digest_links);
}

static void test_identity_digest_same_on_every_instance(void **state)
{
    (void)state;
    nb_broker_t *b = setup_broker();
    const char *bs = nb_broker_bootstraps(b);
    long early = produce(bs, "early");
    long late_b = produce(bs, "lateb");
    assert_true(early > 0 && late_b > 0);

    /* Two instances of one group, and one of another group on the other links topic. */
    nb_it_daemon_t a, c, other;
    nb_it_daemon_start(&a, make_conf(bs, "nb-a"), true);
    nb_it_daemon_start(&c, make_conf(bs, "nb-c"), true);
    nb_config_t *oc = make_conf(bs, "nb-other");
    free(oc->group_id);
    oc->group_id = strdup("notbrought-other");
    free(oc->links_topic);
    oc->links_topic = strdup(LINKS_B);
    nb_it_daemon_start(&other, oc, true);

    nb_stream_stats_t sa, sc, so;
    await_digest(&a, (uint64_t)early, &sa);
    await_digest(&c, (uint64_t)early, &sc);
    await_digest(&other, (uint64_t)late_b, &so);
    assert_int_equal(strlen(sa.identity_digest), 64);
    assert_string_equal(sa.identity_digest, sc.identity_digest);
    assert_string_not_equal(sa.identity_digest, so.identity_digest);
    check_exported(&a, &sa);
    check_exported(&c, &sc);
    check_exported(&other, &so);
    print_message("digest of %ld links: %.16s; of the other topic's %ld: %.16s (%lld us)\n", early,
                  sa.identity_digest, late_b, so.identity_digest,
                  (long long)sa.identity_digest_cost_us);

    /* Links that come while they run change the digest on both alike. */
    long late = produce(bs, "late");
    assert_true(late > 0);
    char before[65];
    memcpy(before, sa.identity_digest, sizeof(before));
    await_digest(&a, (uint64_t)(early + late), &sa);
    await_digest(&c, (uint64_t)(early + late), &sc);
    assert_string_equal(sa.identity_digest, sc.identity_digest);
    assert_string_not_equal(sa.identity_digest, before);
    check_exported(&a, &sa);
    check_exported(&c, &sc);

    nb_it_daemon_stop(&a);
    nb_it_daemon_stop(&c);
    nb_it_daemon_stop(&other);
    nb_broker_destroy(b);
}

/* ---- state a newer release wrote ------------------------------------------------------------ */

#define MAX_KEYS 512

/* The last value of each key of the changelog (keys of children only: kind 1 or 6). */
typedef struct keys_s {
    char key[MAX_KEYS][65];
    int32_t partition[MAX_KEYS];
    uint8_t *value[MAX_KEYS];
    size_t len[MAX_KEYS];
    size_t n;
} keys_t;

static void keys_free(keys_t *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->value[i]);
    k->n = 0;
}

static int changelog_cb(void *opaque, const char *topic, const char *key, const void *value,
                        size_t len, int64_t ts, const nb_record_meta_t *meta)
{
    keys_t *k = opaque;
    (void)topic;
    (void)ts;
    if (!key || strlen(key) != 64)
        return 0;
    size_t i = 0;
    while (i < k->n && strcmp(k->key[i], key) != 0)
        i++;
    if (i == k->n) {
        assert_true(k->n < MAX_KEYS);
        memcpy(k->key[i], key, 65);
        k->value[i] = NULL;
        k->n++;
    }
    free(k->value[i]);
    k->value[i] = len ? malloc(len) : NULL;
    if (len)
        memcpy(k->value[i], value, len);
    k->len[i] = len;
    k->partition[i] = meta ? meta->partition : -1;
    return 0;
}

static void read_changelog(const char *bs, keys_t *k)
{
    char errstr[512];
    nb_config_t *c = make_conf(bs, "reader");
    keys_free(k);
    assert_int_equal(nb_stream_consume_meta(c, CHANGELOG, 0, 1500, true, changelog_cb, k, errstr,
                                            sizeof(errstr)),
                     NB_ERR_OK);
    nb_config_destroy(c);
}

static bool is_child(const uint8_t *v, size_t len)
{
    return v && len > 5 && memcmp(v, "NBS\1", 4) == 0 && (v[4] == 1 || v[4] == 6);
}

/* Writes every child's state again as a newer release would: format version 2 (the rest as it
 * was). @returns how many. */
static size_t rewrite_as_newer(const char *bs, keys_t *k)
{
    char errstr[512];
    size_t n = 0;
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", bs, errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    assert_non_null(rk);
    for (size_t i = 0; i < k->n; i++) {
        if (!is_child(k->value[i], k->len[i]))
            continue;
        assert_true(k->partition[i] >= 0);
        k->value[i][3] = 2;
        assert_int_equal(
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(CHANGELOG),
                              RD_KAFKA_V_PARTITION(k->partition[i]), RD_KAFKA_V_KEY(k->key[i], 64),
                              RD_KAFKA_V_VALUE(k->value[i], k->len[i]),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
            RD_KAFKA_RESP_ERR_NO_ERROR);
        n++;
    }
    assert_int_equal(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
    return n;
}

typedef struct letters_s {
    size_t newer; /* dead letters that say the state is of a newer format */
    size_t other;
} letters_t;

static int letters_cb(void *opaque, const char *topic, const char *key, const void *value,
                      size_t len, int64_t ts, const nb_record_meta_t *meta)
{
    letters_t *l = opaque;
    const char *code = "", *msg = "";
    char cbuf[64] = "", mbuf[512] = "";
    (void)topic;
    (void)key;
    (void)value;
    (void)len;
    (void)ts;
    for (size_t i = 0; meta && i < meta->n_headers; i++) {
        char *dst = strcmp(meta->headers[i].name, "nb.error.code") == 0      ? cbuf
                    : strcmp(meta->headers[i].name, "nb.error.message") == 0 ? mbuf
                                                                             : NULL;
        size_t size = dst == cbuf ? sizeof(cbuf) : sizeof(mbuf);
        if (!dst)
            continue;
        size_t n = meta->headers[i].len < size - 1 ? meta->headers[i].len : size - 1;
        memcpy(dst, meta->headers[i].value, n);
        dst[n] = '\0';
    }
    code = cbuf;
    msg = mbuf;
    if (strcmp(code, "ledger_corrupt") == 0 &&
        strstr(msg, "state format version 2 is newer than this release reads (up to 1)") &&
        strstr(msg, "kept unchanged"))
        l->newer++;
    else
        l->other++;
    return 0;
}

static letters_t read_letters(const char *bs)
{
    char errstr[512];
    letters_t l = {0, 0};
    nb_config_t *c = make_conf(bs, "reader");
    assert_int_equal(nb_stream_consume_meta(c, DEAD_LETTERS, 0, 1500, true, letters_cb, &l, errstr,
                                            sizeof(errstr)),
                     NB_ERR_OK);
    nb_config_destroy(c);
    return l;
}

/* Waits until the daemon has consumed nothing new for 1.5 s and has no open batch left
 * uncommitted (its commits stopped changing too); fails after 90 s. */
static void await_idle(nb_it_daemon_t *d)
{
    nb_stream_stats_t s;
    uint64_t last = UINT64_MAX;
    int64_t since = nb_it_now_ms();
    for (int64_t until = nb_it_now_ms() + 90000; nb_it_now_ms() < until; nb_it_sleep_ms(100)) {
        nb_stream_stats(d->st, &s);
        uint64_t work = s.records_in - s.watermark_reports + s.commits;
        if (work != last || !s.ready) {
            last = work;
            since = nb_it_now_ms();
        } else if (nb_it_now_ms() - since >= 1500) {
            return;
        }
    }
    fail_msg("%s did not go idle within 90 s", d->conf->instance_id);
}

static void test_newer_state_is_kept_and_its_records_dead_lettered(void **state)
{
    (void)state;
    nb_broker_t *b = setup_broker();
    const char *bs = nb_broker_bootstraps(b);
    assert_true(produce(bs, "early") > 0);
    assert_true(produce(bs, "late") > 0);
    nb_it_daemon_t d;
    nb_it_daemon_start(&d, make_conf(bs, "nb-old"), false);
    assert_true(produce(bs, "events") > 0);
    await_idle(&d);
    nb_it_daemon_stop(&d);
    letters_t l0 = read_letters(bs);
    assert_int_equal(l0.newer, 0);

    /* A newer release wrote every child's state; this release starts on it, and the events
     * come (again). */
    keys_t *k = calloc(1, sizeof(*k));
    assert_non_null(k);
    read_changelog(bs, k);
    size_t rewritten = rewrite_as_newer(bs, k);
    assert_true(rewritten >= 10);
    nb_it_daemon_start(&d, make_conf(bs, "nb-old"), false);
    assert_true(produce(bs, "events") > 0);
    await_idle(&d);
    nb_stream_stats_t s;
    nb_stream_stats(d.st, &s);
    nb_it_daemon_stop(&d);

    /* Every child's state is still the newer release's, byte for byte. */
    keys_t *after = calloc(1, sizeof(*after));
    assert_non_null(after);
    read_changelog(bs, after);
    size_t kept = 0;
    for (size_t i = 0; i < k->n; i++) {
        if (!k->value[i] || k->len[i] < 5 || memcmp(k->value[i], "NBS\2", 4) != 0)
            continue;
        size_t j = 0;
        while (j < after->n && strcmp(after->key[j], k->key[i]) != 0)
            j++;
        assert_true(j < after->n);
        if (after->len[j] != k->len[i] || memcmp(after->value[j], k->value[i], k->len[i]) != 0)
            fail_msg("the state of child %.12s was replaced", k->key[i]);
        kept++;
    }
    assert_int_equal(kept, rewritten);
    /* ... and the records for them wait in the dead letters, saying why. */
    letters_t l1 = read_letters(bs);
    print_message("%zu states of a newer format kept; %zu dead letters say so, %zu others\n", kept,
                  l1.newer, l1.other);
    assert_true(l1.newer > 0);
    assert_true(s.dead_letters >= l1.newer);
    keys_free(k);
    keys_free(after);
    free(k);
    free(after);
    nb_broker_destroy(b);
}

static int group_setup(void **state)
{
    (void)state;
    sample_now = nb_it_now_ms();
    snprintf(sample_path, sizeof(sample_path), "/tmp/nb-it-inst-%d", (int)getpid());
    make_sample(sample_now);
    return 0;
}

static int group_teardown(void **state)
{
    char path[96];
    (void)state;
    const char *parts[] = {"early", "late", "lateb", "events"};
    for (int i = 0; i < 4; i++) {
        sample_file(path, sizeof(path), parts[i]);
        unlink(path);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_digest_same_on_every_instance),
        cmocka_unit_test(test_newer_state_is_kept_and_its_records_dead_lettered),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
