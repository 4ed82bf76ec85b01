/*
 * Unit tests: ops - the metrics registry and its Prometheus text exposition, librdkafka
 * statistics into metrics (real documents under tests/data/), health judgement, the HTTP
 * server (/metrics, /healthz, /readyz over a real socket on loopback), the configuration's
 * secrets (the SASL password file; secrets refused in the YAML) and the checked-in
 * configuration reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "notbrought/ops.h"
#include "ops/metrics_internal.h"

/* ---- a small registry ---------------------------------------------------------------------- */

enum { T_REQS, T_ERRS, T_TEMP, T_LAT, T_INFO, T_READY, T_HEART, T__N };

static const double t_buckets[] = {0.1, 0.5, 1};

static const nb_metric_def_t t_defs[T__N] = {
    [T_REQS] = {"t_requests_total", NB_METRIC_COUNTER, NULL, "Requests.", NULL, 0},
    [T_ERRS] = {"t_errors_total", NB_METRIC_COUNTER, "code", "Errors by code.", NULL, 0},
    [T_TEMP] = {"t_temperature", NB_METRIC_GAUGE, NULL, "A gauge\nwith \\ in help.", NULL, 0},
    [T_LAT] = {"t_latency_seconds", NB_METRIC_HISTOGRAM, NULL, "Latency.", t_buckets, 3},
    [T_INFO] = {"t_info", NB_METRIC_GAUGE, "name,version", "Info.", NULL, 0},
    [T_READY] = {"notbrought_ready", NB_METRIC_GAUGE, NULL, "Ready.", NULL, 0},
    [T_HEART] = {"notbrought_last_loop_timestamp_seconds", NB_METRIC_GAUGE, NULL, "Beat.", NULL,
                 0},
};

/* The first T_READY families only: the exact-text tests do not want the health ones. */
static nb_metrics_t *t_small(void)
{
    nb_metrics_t *m = nb_metrics_new_from(t_defs, T_READY);
    assert_non_null(m);
    return m;
}

static void test_render_empty_registry_exact(void **state)
{
    (void)state;
    nb_metrics_t *m = t_small();
    char *txt = nb_metrics_render(m, NULL);
    assert_string_equal(txt, "# HELP t_requests_total Requests.\n"
                             "# TYPE t_requests_total counter\n"
                             "t_requests_total 0\n"
                             "# HELP t_errors_total Errors by code.\n"
                             "# TYPE t_errors_total counter\n"
                             "# HELP t_temperature A gauge\\nwith \\\\ in help.\n"
                             "# TYPE t_temperature gauge\n"
                             "# HELP t_latency_seconds Latency.\n"
                             "# TYPE t_latency_seconds histogram\n"
                             "t_latency_seconds_bucket{le=\"0.1\"} 0\n"
                             "t_latency_seconds_bucket{le=\"0.5\"} 0\n"
                             "t_latency_seconds_bucket{le=\"1\"} 0\n"
                             "t_latency_seconds_bucket{le=\"+Inf\"} 0\n"
                             "t_latency_seconds_sum 0\n"
                             "t_latency_seconds_count 0\n"
                             "# HELP t_info Info.\n"
                             "# TYPE t_info gauge\n");
    free(txt);
    nb_metrics_destroy(m);
}

static void test_render_small_registry_exact(void **state)
{
    (void)state;
    nb_metrics_t *m = t_small();
    nb_metrics_add(m, T_REQS, NULL, 3);
    nb_metrics_add(m, T_REQS, NULL, 2);
    nb_metrics_add(m, T_ERRS, "decode", 1);
    nb_metrics_add(m, T_ERRS, "nhs_check_digit", 2);
    nb_metrics_add(m, T_ERRS, "decode", 4);
    nb_metrics_set(m, T_TEMP, NULL, -2.5);
    nb_metrics_observe(m, T_LAT, 0.05);
    nb_metrics_observe(m, T_LAT, 0.1); /* on a bound: counted in that bucket (le) */
    nb_metrics_observe(m, T_LAT, 0.7);
    nb_metrics_observe(m, T_LAT, 3);
    nb_metrics_set_info(m, T_INFO, (const char *[]){"wnb-wales-base", "1.2"});
    size_t len = 0;
    char *txt = nb_metrics_render(m, &len);
    const char *want = "# HELP t_requests_total Requests.\n"
                       "# TYPE t_requests_total counter\n"
                       "t_requests_total 5\n"
                       "# HELP t_errors_total Errors by code.\n"
                       "# TYPE t_errors_total counter\n"
                       "t_errors_total{code=\"decode\"} 5\n"
                       "t_errors_total{code=\"nhs_check_digit\"} 2\n"
                       "# HELP t_temperature A gauge\\nwith \\\\ in help.\n"
                       "# TYPE t_temperature gauge\n"
                       "t_temperature -2.5\n"
                       "# HELP t_latency_seconds Latency.\n"
                       "# TYPE t_latency_seconds histogram\n"
                       "t_latency_seconds_bucket{le=\"0.1\"} 2\n"
                       "t_latency_seconds_bucket{le=\"0.5\"} 2\n"
                       "t_latency_seconds_bucket{le=\"1\"} 3\n"
                       "t_latency_seconds_bucket{le=\"+Inf\"} 4\n"
                       "t_latency_seconds_sum 3.85\n"
                       "t_latency_seconds_count 4\n"
                       "# HELP t_info Info.\n"
                       "# TYPE t_info gauge\n"
                       "t_info{name=\"wnb-wales-base\",version=\"1.2\"} 1\n";
    assert_string_equal(txt, want);
    assert_int_equal(len, strlen(want));
    free(txt);
    /* An info family holds one series: a new policy replaces the old one. */
    nb_metrics_set_info(m, T_INFO, (const char *[]){"wnb-wales-base", "1.3"});
    txt = nb_metrics_render(m, NULL);
    assert_non_null(strstr(txt, "t_info{name=\"wnb-wales-base\",version=\"1.3\"} 1\n"));
    assert_null(strstr(txt, "version=\"1.2\""));
    free(txt);
    nb_metrics_destroy(m);
}

static void test_label_values_escaped_and_stripped(void **state)
{
    (void)state;
    nb_metrics_t *m = t_small();
    /* Backslash, quote and newline are escaped; tab, CR, ESC and DEL are dropped. */
    nb_metrics_add(m, T_ERRS, "a\\b\"c\nd\te\rf\x1b[31mg\x7fh", 1);
    nb_metrics_set_v(m, T_INFO, (const char *[]){"x}\"y", NULL}, 7);
    char *txt = nb_metrics_render(m, NULL);
    assert_non_null(strstr(txt, "t_errors_total{code=\"a\\\\b\\\"c\\nd" "ef[31mgh\"} 1\n"));
    assert_non_null(strstr(txt, "t_info{name=\"x}\\\"y\",version=\"\"} 7\n"));
    /* No raw control character reaches the body except the line ends. */
    for (const char *p = txt; *p; p++)
        assert_true(*p == '\n' || ((unsigned char)*p >= 0x20 && *p != 0x7f));
    free(txt);
    nb_metrics_destroy(m);
}

static void test_long_label_values_cut_on_character_boundary(void **state)
{
    (void)state;
    char v[400];
    /* "é" is two bytes; 199 'a' then é puts the cut inside the character. */
    memset(v, 'a', 199);
    strcpy(v + 199, "\xc3\xa9zzzz");
    nb_metrics_t *m = t_small();
    nb_metrics_add(m, T_ERRS, v, 1);
    nb_metrics_add(m, T_ERRS, v, 1); /* the same series, though stored cut */
    char *txt = nb_metrics_render(m, NULL);
    char want[300];
    memset(want, 0, sizeof(want));
    strcpy(want, "t_errors_total{code=\"");
    memset(want + strlen(want), 'a', 199);
    strcat(want, "\"} 2\n");
    assert_non_null(strstr(txt, want));
    free(txt);
    nb_metrics_destroy(m);
}

static void test_histogram_buckets_cumulative(void **state)
{
    (void)state;
    nb_metrics_t *m = t_small();
    for (int i = 0; i < 10; i++)
        nb_metrics_observe(m, T_LAT, 0.01 * i); /* 0 .. 0.09: all in le=0.1 */
    nb_metrics_observe(m, T_LAT, 0.5);
    nb_metrics_observe(m, T_LAT, 1.0000001);
    nb_metrics_observe(m, T_LAT, INFINITY);
    nb_metrics_observe(m, T_LAT, NAN); /* ignored */
    nb_metrics_add(m, T_LAT, NULL, 1); /* not a counter: ignored */
    char *txt = nb_metrics_render(m, NULL);
    assert_non_null(strstr(txt, "t_latency_seconds_bucket{le=\"0.1\"} 10\n"
                                "t_latency_seconds_bucket{le=\"0.5\"} 11\n"
                                "t_latency_seconds_bucket{le=\"1\"} 11\n"
                                "t_latency_seconds_bucket{le=\"+Inf\"} 13\n"
                                "t_latency_seconds_sum +Inf\n"
                                "t_latency_seconds_count 13\n"));
    free(txt);
    nb_metrics_destroy(m);
}

static void test_format_values(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {{0, "0"},         {-0.0, "0"},          {1, "1"},
                 {-3, "-3"},       {0.1, "0.1"},         {1e-05, "1e-05"},
                 {2.5, "2.5"},     {1e20, "1e+20"},      {123456789012.0, "123456789012"},
                 {1.0 / 3, "0.3333333333333333"}, {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},
                 {NAN, "NaN"}};
    char buf[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nb__metrics_format_value(cases[i].v, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
}

static void test_invalid_definitions_rejected(void **state)
{
    (void)state;
    static const double desc[] = {1, 0.5};
    static const nb_metric_def_t bad[][1] = {
        {{"9starts_with_digit", NB_METRIC_COUNTER, NULL, "x", NULL, 0}},
        {{"has-dash", NB_METRIC_COUNTER, NULL, "x", NULL, 0}},
        {{"ok_name", NB_METRIC_COUNTER, "__reserved", "x", NULL, 0}},
        {{"ok_name", NB_METRIC_COUNTER, "a,b,c,d,e", "x", NULL, 0}},
        {{"ok_name", NB_METRIC_COUNTER, "a,,b", "x", NULL, 0}},
        {{"ok_name", NB_METRIC_HISTOGRAM, NULL, "x", desc, 2}},
        {{"ok_name", NB_METRIC_HISTOGRAM, "code", "x", NULL, 0}},
        {{"ok_name", NB_METRIC_COUNTER, NULL, NULL, NULL, 0}},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(nb_metrics_new_from(bad[i], 1));
    nb_metrics_t *m = nb_metrics_new_from(NULL, 0);
    char *txt = nb_metrics_render(m, NULL);
    assert_string_equal(txt, "");
    free(txt);
    nb_metrics_destroy(m);
    nb_metrics_destroy(NULL);
    /* Calls on NULL or unknown ids are no-ops. */
    nb_metrics_add(NULL, 0, NULL, 1);
    m = t_small();
    nb_metrics_add(m, 99, NULL, 1);
    nb_metrics_add(m, -1, NULL, 1);
    nb_metrics_add(m, T_INFO, "one label for two", 1); /* needs set_v */
    txt = nb_metrics_render(m, NULL);
    assert_null(strstr(txt, "one label"));
    free(txt);
    nb_metrics_destroy(m);
}

static void test_series_limit_counts_drops(void **state)
{
    (void)state;
    nb_metrics_t *m = nb_metrics_new();
    assert_non_null(m);
    char code[32];
    for (int i = 0; i < NB_METRICS_MAX_SERIES + 10; i++) {
        snprintf(code, sizeof(code), "code_%d", i);
        nb_metrics_add(m, NB_M_DEAD_LETTERS, code, 1);
    }
    char *txt = nb_metrics_render(m, NULL);
    assert_non_null(strstr(txt, "notbrought_dead_letters_total{code=\"code_255\"} 1\n"));
    assert_null(strstr(txt, "code_256"));
    assert_non_null(strstr(txt, "\nnotbrought_metrics_dropped_total 10\n"));
    free(txt);
    nb_metrics_destroy(m);
}

/* ---- the well-known registry and the stats mirror ------------------------------------------ */

/* Every sample line is name{labels} value with a valid name; every family has HELP and TYPE. */
static void t_check_exposition(const char *txt)
{
    const char *p = txt;
    int families = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (strncmp(p, "# HELP ", 7) == 0) {
            families++;
        } else if (strncmp(p, "# TYPE ", 7) != 0) {
            const char *q = p;
            while (q < nl && (((*q | 32) >= 'a' && (*q | 32) <= 'z') || *q == '_' ||
                              *q == ':' || (q > p && *q >= '0' && *q <= '9')))
                q++;
            assert_true(q > p);
            if (*q == '{') {
                const char *close = strstr(q, "} ");
                assert_true(close && close < nl);
                q = close + 1;
            }
            assert_int_equal(*q, ' ');
            char *end;
            const char *v = q + 1;
            if (strncmp(v, "+Inf", 4) && strncmp(v, "-Inf", 4) && strncmp(v, "NaN", 3)) {
                strtod(v, &end);
                assert_ptr_equal(end, nl);
            }
        }
        p = nl + 1;
    }
    assert_int_equal(families, NB_M__COUNT);
}

static void test_well_known_registry_renders(void **state)
{
    (void)state;
    nb_metrics_t *m = nb_metrics_new();
    assert_non_null(m);
    nb_metrics_update_process(m);
    char *txt = nb_metrics_render(m, NULL);
    t_check_exposition(txt);
    assert_non_null(strstr(txt, "\nnotbrought_build_info{version=\""));
    /* Labelled by topic: no series before the first record. */
    assert_non_null(strstr(txt, "\n# TYPE notbrought_records_consumed_total counter\n"));
    assert_null(strstr(txt, "\nnotbrought_records_consumed_total"));
    /* Nothing restores until the runtime says so. */
    assert_non_null(strstr(txt, "\nnotbrought_restoring_partitions 0\n"));
    assert_non_null(strstr(txt, "\nnotbrought_restore_remaining_records 0\n"));
    assert_non_null(strstr(txt, "\nnotbrought_restore_records_total 0\n"));
    assert_non_null(strstr(txt, "\nnotbrought_kafka_stats_invalid_total 0\n"));
    assert_non_null(strstr(txt, "\nprocess_resident_memory_bytes "));
    assert_non_null(strstr(txt, "\nprocess_cpu_seconds_total "));
    assert_non_null(strstr(txt, "\nprocess_start_time_seconds "));
    assert_non_null(strstr(txt, "\nprocess_open_fds "));
    assert_non_null(strstr(txt, "notbrought_commit_latency_seconds_bucket{le=\"0.001\"} 0\n"));
    assert_non_null(strstr(txt, "notbrought_commit_latency_seconds_bucket{le=\"10\"} 0\n"));
    /* Gauges nobody has set say nothing rather than 0. */
    assert_null(strstr(txt, "\nnotbrought_ready "));
    assert_null(strstr(txt, "\nnotbrought_parked_events "));
    free(txt);
    nb_metrics_destroy(m);
}

static void test_stream_mirror_and_direct_reports(void **state)
{
    (void)state;
    nb_metrics_t *m = nb_metrics_new();
    nb_metrics_totals_t s;
    memset(&s, 0, sizeof(s));
    s.dead_letters = 7;
    s.repartitioned = 100;
    s.parked = 5;
    s.released = 3;
    s.notifications = 4;
    s.commits = 11;
    s.aborts = 1;
    s.restored = 9;
    s.links = 30;
    s.ready = true;
    nb_metrics_set_totals(m, &s);
    char *txt = nb_metrics_render(m, NULL);
    static const char *const want[] = {
        "\nnotbrought_ready 1\n",
        "\nnotbrought_dead_letters_total{code=\"unclassified\"} 7\n",
        "\nnotbrought_repartitioned_total 100\n",
        "\nnotbrought_parked_total 5\n",
        "\nnotbrought_released_total 3\n",
        "\nnotbrought_identity_links_total 30\n",
        "\nnotbrought_notifications_total 4\n",
        "\nnotbrought_restored_states_total 9\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_non_null(strstr(txt, want[i]));
    /* Records consumed are not mirrored: the family is by topic, which only the runtime knows. */
    assert_null(strstr(txt, "\nnotbrought_records_consumed_total"));
    /* Both results of one family, adjacent. */
    assert_non_null(strstr(txt, "\nnotbrought_transactions_total{result=\"commit\"} 11\n"
                                "notbrought_transactions_total{result=\"abort\"} 1\n"));
    free(txt);

    /* The runtime starts reporting dead letters by code: the unclassified rest shrinks to what
     * was not reported by code, and never goes down (it is a counter). */
    nb_metrics_add(m, NB_M_DEAD_LETTERS, "decode_error", 2);
    s.dead_letters = 10;
    nb_metrics_set_totals(m, &s);
    txt = nb_metrics_render(m, NULL);
    assert_non_null(strstr(txt, "notbrought_dead_letters_total{code=\"unclassified\"} 8\n"));
    assert_non_null(strstr(txt, "notbrought_dead_letters_total{code=\"decode_error\"} 2\n"));
    free(txt);

    /* A family the runtime sets itself is not overwritten by the mirror; records consumed
     * come from the runtime only, by topic, as it adds them (once per transaction). */
    nb_metrics_set(m, NB_M_READY, NULL, 0);
    nb_metrics_add(m, NB_M_RECORDS_CONSUMED, "gp.appointments", 1000);
    nb_metrics_add(m, NB_M_RECORDS_CONSUMED, "notbrought.by-child", 80);
    nb_metrics_add(m, NB_M_RECORDS_CONSUMED, "gp.appointments", 20);
    s.ready = true;
    nb_metrics_set_totals(m, &s);
    txt = nb_metrics_render(m, NULL);
    assert_non_null(strstr(txt, "\nnotbrought_ready 0\n"));
#define T_RC "\nnotbrought_records_consumed_total"
    assert_non_null(strstr(txt, T_RC "{topic=\"gp.appointments\"} 1020" T_RC
                                     "{topic=\"notbrought.by-child\"} 80\n# HELP "));
#undef T_RC
    free(txt);

    /* Heartbeat and commit latency: one-line calls. */
    nb_metrics_heartbeat(m, 1700000000123);
    nb_metrics_observe(m, NB_M_COMMIT_LATENCY, 0.004);
    txt = nb_metrics_render(m, NULL);
    assert_non_null(strstr(txt, "\nnotbrought_last_loop_timestamp_seconds 1700000000.123\n"));
    assert_non_null(strstr(txt, "notbrought_commit_latency_seconds_bucket{le=\"0.0025\"} 0\n"
                                "notbrought_commit_latency_seconds_bucket{le=\"0.005\"} 1\n"));
    free(txt);
    nb_metrics_destroy(m);
}

static void test_health_judgement(void **state)
{
    (void)state;
    nb_metrics_t *m = nb_metrics_new_from(t_defs, T__N);
    nb_health_t h;
    /* No heartbeat yet, not ready: alive (the process answers) but not ready. */
    nb_metrics_health(m, 1000000, 30000, &h);
    assert_true(h.live);
    assert_false(h.ready);
    assert_false(h.heartbeat_seen);
    assert_int_equal(h.heartbeat_age_ms, -1);
    assert_non_null(strstr(h.reason, "not ready"));
    /* Ready with no heartbeat source yet. */
    nb_metrics_set(m, T_READY, NULL, 1);
    nb_metrics_health(m, 1000000, 30000, &h);
    assert_true(h.ready);
    assert_string_equal(h.reason, "");
    /* A fresh heartbeat. */
    nb_metrics_heartbeat(m, 1000000 - 200);
    nb_metrics_health(m, 1000000, 30000, &h);
    assert_true(h.live);
    assert_true(h.ready);
    assert_int_equal(h.heartbeat_age_ms, 200);
    /* Exactly at the limit is still live; one ms past it is not, and not ready either. */
    nb_metrics_health(m, 1000000 - 200 + 30000, 30000, &h);
    assert_true(h.live);
    nb_metrics_health(m, 1000000 - 200 + 30001, 30000, &h);
    assert_false(h.live);
    assert_false(h.ready);
    assert_string_equal(h.reason, "main loop stalled");
    nb_metrics_destroy(m);
    nb_metrics_health(NULL, 0, 1, &h);
    assert_false(h.live);
}

/* Updates from another thread while this one renders: the lock keeps the text consistent. */
static void *t_writer(void *arg)
{
    nb_metrics_t *m = arg;
    for (int i = 0; i < 20000; i++) {
        nb_metrics_add(m, NB_M_DEAD_LETTERS, i % 2 ? "a" : "b", 1);
        nb_metrics_observe(m, NB_M_COMMIT_LATENCY, 0.001 * (i % 50));
        nb_metrics_heartbeat(m, i);
    }
    return NULL;
}

static void test_concurrent_updates_and_render(void **state)
{
    (void)state;
    nb_metrics_t *m = nb_metrics_new();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, t_writer, m), 0);
    for (int i = 0; i < 50; i++) {
        char *txt = nb_metrics_render(m, NULL);
        assert_non_null(txt);
        free(txt);
    }
    pthread_join(t, NULL);
    char *txt = nb_metrics_render(m, NULL);
    assert_non_null(strstr(txt, "notbrought_dead_letters_total{code=\"b\"} 10000\n"));
    assert_non_null(strstr(txt, "notbrought_dead_letters_total{code=\"a\"} 10000\n"));
    assert_non_null(strstr(txt, "notbrought_commit_latency_seconds_count 20000\n"));
    free(txt);
    nb_metrics_destroy(m);
}

/* ---- librdkafka statistics ------------------------------------------------------------------ */

/* Real documents from librdkafka 2.0.2 on its mock cluster, taken as the daemon runs: 3 brokers,
 * broker 3 just taken down, a bootstrap address that never answered; a group consumer behind
 * on five partitions and paused on a sixth (offsets committed through the producer's
 * transactions, so librdkafka's consumer_lag is -1 throughout), and the transactional producer
 * inside a transaction. */
#define T_CONSUMER_JSON "tests/data/rdkafka-stats-consumer.json"
#define T_PRODUCER_JSON "tests/data/rdkafka-stats-producer.json"
#define T_B1 "127.0.0.1:34647/1"
#define T_B2 "127.0.0.1:39881/2"
#define T_B3 "127.0.0.1:38507/3"

/* Reads a file of the source tree. @returns a NUL-terminated copy the caller frees. */
static char *t_read_source(const char *rel, size_t *len)
{
    const char *dir = getenv("NB_SOURCE_DIR") ? getenv("NB_SOURCE_DIR") : NB_SOURCE_DIR;
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
    return buf;
}

static json_t *t_load_json(const char *rel)
{
    char *text = t_read_source(rel, NULL);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    free(text);
    assert_non_null(doc);
    return doc;
}

/* Applies a jansson document as librdkafka would hand it over (compact, not NUL-terminated
 * where it matters: the length is passed). */
static bool t_apply(nb_metrics_t *m, const json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(text);
    bool ok = nb_metrics_kafka_stats(m, text, strlen(text));
    free(text);
    return ok;
}

/* The value of one sample line `series value` in a rendering, or NaN when there is none. */
static double t_sample(const char *txt, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = txt; (p = strstr(p, series)); p += n) {
        if ((p == txt || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return NAN;
}

/* The number of sample lines of a family (name followed by '{' or ' '). */
static int t_count(const char *txt, const char *name)
{
    int count = 0;
    size_t n = strlen(name);
    for (const char *p = txt; (p = strstr(p, name)); p += n)
        if ((p == txt || p[-1] == '\n') && (p[n] == '{' || p[n] == ' '))
            count++;
    return count;
}

static char *t_render(nb_metrics_t *m)
{
    char *txt = nb_metrics_render(m, NULL);
    assert_non_null(txt);
    t_check_exposition(txt);
    return txt;
}

#define T_UP(c, b) "notbrought_kafka_broker_up{client=\"" c "\",broker=\"" b "\"}"
#define T_RTT(c, b, q)                                                                             \
    "notbrought_kafka_broker_rtt_seconds{client=\"" c "\",broker=\"" b "\",quantile=\"" q "\"}"
#define T_ERR(c, b, k)                                                                             \
    "notbrought_kafka_broker_errors_total{client=\"" c "\",broker=\"" b "\",kind=\"" k "\"}"
#define T_LAG(t, p) "notbrought_consumer_lag_records{topic=\"" t "\",partition=\"" p "\"}"
#define T_C "notbrought-1-consumer"
#define T_P "notbrought-1-producer"

static void test_kafka_stats_consumer_document(void **state)
{
    (void)state;
    nb_metrics_t *m = nb_metrics_new();
    size_t len;
    char *json = t_read_source(T_CONSUMER_JSON, &len);
    assert_true(nb_metrics_kafka_stats(m, json, len));
    free(json);
    char *txt = t_render(m);
    /* Brokers: broker 3 went down and the consumer has no need of it now (INIT): no series;
     * the coordinator connection counts as a broker. */
    assert_true(isnan(t_sample(txt, T_UP(T_C, T_B3))));
    assert_true(t_sample(txt, T_UP(T_C, T_B2)) == 1);
    assert_true(t_sample(txt, T_UP(T_C, T_B1)) == 1);
    assert_true(t_sample(txt, T_UP(T_C, "GroupCoordinator")) == 1);
    assert_int_equal(t_count(txt, "notbrought_kafka_broker_up"), 3);
    /* The bootstrap address (nodeid -1) is in no family. */
    assert_null(strstr(txt, "127.0.0.1:1/bootstrap"));
    /* Round-trip times, microseconds to seconds, of the one broker with samples. */
    assert_non_null(strstr(txt, "\n" T_RTT(T_C, T_B1, "avg") " 0.003206\n"
                                T_RTT(T_C, T_B1, "p99") " 0.003215\n"));
    assert_int_equal(t_count(txt, "notbrought_kafka_broker_rtt_seconds"), 2);
    /* Errors: the receive error of the broker that went down; the others at 0. */
    assert_true(t_sample(txt, T_ERR(T_C, T_B3, "rx")) == 1);
    assert_true(t_sample(txt, T_ERR(T_C, T_B3, "tx")) == 0);
    assert_true(t_sample(txt, T_ERR(T_C, T_B3, "timeout")) == 0);
    assert_true(t_sample(txt, T_ERR(T_C, "GroupCoordinator", "rx")) == 0);
    assert_int_equal(t_count(txt, "notbrought_kafka_broker_errors_total"), 12);
    /* Lag from the last record read (consumer_lag is -1 throughout); the paused partition
     * has read nothing and has no committed offset: no series; nor has the pseudo-partition
     * -1. */
    assert_true(t_sample(txt, T_LAG("gp.appointments", "0")) == 174);
    assert_true(t_sample(txt, T_LAG("gp.appointments", "1")) == 142);
    assert_true(t_sample(txt, T_LAG("gp.appointments", "2")) == 104);
    assert_true(t_sample(txt, T_LAG("notbrought.by-child", "0")) == 90);
    assert_true(t_sample(txt, T_LAG("notbrought.by-child", "1")) == 52);
    assert_int_equal(t_count(txt, "notbrought_consumer_lag_records"), 5);
    assert_true(t_sample(txt, "notbrought_kafka_rebalances_total{client=\"" T_C "\"}") == 1);
    /* Producer families untouched; nothing invalid. */
    assert_int_equal(t_count(txt, "notbrought_kafka_producer_queue_messages"), 0);
    assert_int_equal(t_count(txt, "notbrought_kafka_transaction_state"), 0);
    assert_true(t_sample(txt, "notbrought_kafka_stats_invalid_total") == 0);
    free(txt);
    nb_metrics_destroy(m);
}

static void test_kafka_stats_producer_document(void **state)
{
    (void)state;
    nb_metrics_t *m = nb_metrics_new();
    json_t *doc = t_load_json(T_PRODUCER_JSON);
    assert_true(t_apply(m, doc));
    char *txt = t_render(m);
    assert_true(t_sample(txt, T_UP(T_P, T_B3)) == 0);
    assert_true(t_sample(txt, T_UP(T_P, T_B2)) == 1);
    assert_true(t_sample(txt, T_UP(T_P, T_B1)) == 1);
    assert_true(t_sample(txt, T_UP(T_P, "TxnCoordinator")) == 1);
    assert_int_equal(t_count(txt, "notbrought_kafka_broker_up"), 4);
    assert_null(strstr(txt, "127.0.0.1:1/bootstrap"));
    assert_true(t_sample(txt, T_RTT(T_P, T_B3, "avg")) == 0.048434);
    assert_true(t_sample(txt, T_RTT(T_P, T_B3, "p99")) == 0.060671);
    assert_true(t_sample(txt, T_RTT(T_P, T_B2, "avg")) == 0.008456);
    assert_true(t_sample(txt, T_RTT(T_P, T_B2, "p99")) == 0.009983);
    assert_true(t_sample(txt, T_RTT(T_P, T_B1, "avg")) == 0.003289);
    assert_true(t_sample(txt, T_RTT(T_P, T_B1, "p99")) == 0.004255);
    /* The transaction coordinator had no request in the interval (rtt cnt 0): no RTT. */
    assert_null(strstr(txt, T_RTT(T_P, "TxnCoordinator", "avg")));
    assert_int_equal(t_count(txt, "notbrought_kafka_broker_rtt_seconds"), 6);
    assert_true(t_sample(txt, T_ERR(T_P, T_B3, "rx")) == 1);
    assert_true(t_sample(txt, T_ERR(T_P, "TxnCoordinator", "timeout")) == 0);
    assert_non_null(strstr(txt, "\nnotbrought_kafka_producer_queue_messages 33\n"));
    assert_non_null(strstr(txt, "\nnotbrought_kafka_transaction_state{state=\"InTransaction\"} 1\n"
                                "# HELP "));
    /* A producer has no assignment: no lag, no rebalances. */
    assert_int_equal(t_count(txt, "notbrought_consumer_lag_records"), 0);
    assert_int_equal(t_count(txt, "notbrought_kafka_rebalances_total"), 0);
    free(txt);

    /* The transaction commits: the new state is the only series; the old one is gone. */
    json_t *eos = json_object_get(doc, "eos");
    json_object_set_new(eos, "txn_state", json_string("BeginCommit"));
    assert_true(t_apply(m, doc));
    txt = t_render(m);
    assert_int_equal(t_count(txt, "notbrought_kafka_transaction_state"), 1);
    assert_true(t_sample(txt, "notbrought_kafka_transaction_state{state=\"BeginCommit\"}") == 1);
    assert_null(strstr(txt, "{state=\"InTransaction\"}"));
    free(txt);
    json_object_set_new(eos, "txn_state", json_string("Ready"));
    json_object_set_new(doc, "msg_cnt", json_integer(0));
    assert_true(t_apply(m, doc));
    txt = t_render(m);
    assert_non_null(strstr(txt, "\nnotbrought_kafka_transaction_state{state=\"Ready\"} 1\n"));
    assert_null(strstr(txt, "{state=\"BeginCommit\"}"));
    assert_non_null(strstr(txt, "\nnotbrought_kafka_producer_queue_messages 0\n"));
    free(txt);
    json_decref(doc);
    nb_metrics_destroy(m);
}

static void test_kafka_stats_counters_never_decrease(void **state)
{
    (void)state;
    nb_metrics_t *m = nb_metrics_new();
    json_t *p = t_load_json(T_PRODUCER_JSON), *c = t_load_json(T_CONSUMER_JSON);
    json_t *b3 = json_object_get(json_object_get(p, "brokers"), T_B3);
    json_t *cgrp = json_object_get(c, "cgrp");
    assert_non_null(b3);
    json_object_set_new(b3, "txerrs", json_integer(7));
    json_object_set_new(b3, "req_timeouts", json_integer(3));
    json_object_set_new(cgrp, "rebalance_cnt", json_integer(5));
    assert_true(t_apply(m, p));
    assert_true(t_apply(m, c));
    /* Lower cumulative counts (never from one librdkafka handle, but whatever comes): the
     * counters stay where they were. */
    json_object_set_new(b3, "txerrs", json_integer(2));
    json_object_set_new(b3, "rxerrs", json_integer(0));
    json_object_set_new(b3, "req_timeouts", json_integer(4));
    json_object_set_new(cgrp, "rebalance_cnt", json_integer(1));
    assert_true(t_apply(m, p));
    assert_true(t_apply(m, c));
    char *txt = t_render(m);
    assert_true(t_sample(txt, T_ERR(T_P, T_B3, "tx")) == 7);
    assert_true(t_sample(txt, T_ERR(T_P, T_B3, "rx")) == 1);
    assert_true(t_sample(txt, T_ERR(T_P, T_B3, "timeout")) == 4); /* this one went up */
    assert_true(t_sample(txt, "notbrought_kafka_rebalances_total{client=\"" T_C "\"}") == 5);
    free(txt);

    /* A broker the client no longer lists: its gauges go, its counters stay. */
    json_object_del(json_object_get(p, "brokers"), T_B3);
    assert_true(t_apply(m, p));
    txt = t_render(m);
    assert_true(isnan(t_sample(txt, T_UP(T_P, T_B3))));
    assert_true(isnan(t_sample(txt, T_RTT(T_P, T_B3, "avg"))));
    assert_true(t_sample(txt, T_ERR(T_P, T_B3, "tx")) == 7);
    /* The consumer's series of the same broker are the consumer's: untouched. */
    assert_true(t_sample(txt, T_ERR(T_C, T_B3, "rx")) == 1);
    assert_true(t_sample(txt, T_UP(T_C, T_B1)) == 1);
    assert_true(t_sample(txt, T_RTT(T_C, T_B1, "avg")) == 0.003206);
    free(txt);
    json_decref(p);
    json_decref(c);
    nb_metrics_destroy(m);
}

static void test_kafka_stats_follow_the_assignment(void **state)
{
    (void)state;
    nb_metrics_t *m = nb_metrics_new();
    json_t *c = t_load_json(T_CONSUMER_JSON), *p = t_load_json(T_PRODUCER_JSON);
    assert_true(t_apply(m, c));
    /* A producer document touches no lag. */
    assert_true(t_apply(m, p));
    char *txt = t_render(m);
    assert_int_equal(t_count(txt, "notbrought_consumer_lag_records"), 5);
    assert_int_equal(t_count(txt, "notbrought_kafka_broker_up"), 7);
    free(txt);
    /* gp.appointments 1 is revoked; notbrought.by-child 0 is reassigned and has read nothing
     * and has no committed offset (both lags -1); notbrought.by-child 2 has read nothing but
     * has a committed offset (consumer_lag 7, stored lag -1); broker 1 is idle (no RTT
     * sample) and broker 2 disconnected and not needed (INIT). */
    json_t *topics = json_object_get(c, "topics"), *brokers = json_object_get(c, "brokers");
    json_t *gp = json_object_get(json_object_get(topics, "gp.appointments"), "partitions");
    json_t *bc = json_object_get(json_object_get(topics, "notbrought.by-child"), "partitions");
    json_object_set_new(json_object_get(gp, "1"), "desired", json_false());
    json_object_set_new(json_object_get(bc, "0"), "consumer_lag_stored", json_integer(-1));
    json_object_set_new(json_object_get(bc, "2"), "consumer_lag", json_integer(7));
    json_object_set_new(json_object_get(json_object_get(brokers, T_B1), "rtt"), "cnt",
                        json_integer(0));
    json_object_set_new(json_object_get(brokers, T_B2), "state", json_string("INIT"));
    assert_true(t_apply(m, c));
    txt = t_render(m);
    assert_int_equal(t_count(txt, "notbrought_consumer_lag_records"), 4);
    assert_true(isnan(t_sample(txt, T_LAG("gp.appointments", "1"))));
    assert_true(isnan(t_sample(txt, T_LAG("notbrought.by-child", "0"))));
    assert_true(t_sample(txt, T_LAG("notbrought.by-child", "2")) == 7);
    assert_true(t_sample(txt, T_LAG("gp.appointments", "0")) == 174);
    assert_true(isnan(t_sample(txt, T_RTT(T_C, T_B1, "avg"))));
    assert_true(isnan(t_sample(txt, T_RTT(T_C, T_B1, "p99"))));
    assert_true(t_sample(txt, T_UP(T_C, T_B1)) == 1);
    assert_true(isnan(t_sample(txt, T_UP(T_C, T_B2))));
    /* The producer's view of the same brokers is its own. */
    assert_true(t_sample(txt, T_RTT(T_P, T_B1, "avg")) == 0.003289);
    assert_true(t_sample(txt, T_UP(T_P, T_B2)) == 1);
    free(txt);
    /* Everything revoked: no lag left. */
    json_object_clear(topics);
    assert_true(t_apply(m, c));
    txt = t_render(m);
    assert_int_equal(t_count(txt, "notbrought_consumer_lag_records"), 0);
    free(txt);
    json_decref(c);
    json_decref(p);
    nb_metrics_destroy(m);
}

static void test_kafka_stats_garbage_is_harmless(void **state)
{
    (void)state;
    nb_metrics_t *m = nb_metrics_new();
    size_t len;
    char *json = t_read_source(T_PRODUCER_JSON, &len);
    assert_true(nb_metrics_kafka_stats(m, json, len));
    char *before = t_render(m);
    static const char *const bad[] = {
        "",
        "not json",
        "{\"type\":\"producer\",\"client_id\":\"x\"", /* truncated */
        "[1,2,3]",
        "null",
        "{}",
        "{\"type\":\"producer\",\"brokers\":{}}",                  /* no client */
        "{\"type\":\"admin\",\"client_id\":\"x\",\"brokers\":{}}", /* unknown type */
        "{\"type\":7,\"client_id\":\"x\",\"brokers\":{}}",
        "{\"type\":\"consumer\",\"client_id\":\"x\",\"brokers\":[]}",
        "{\"type\":\"consumer\",\"client_id\":\"\",\"name\":\"\",\"brokers\":{}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(nb_metrics_kafka_stats(m, bad[i], strlen(bad[i])));
    assert_false(nb_metrics_kafka_stats(m, NULL, 10));
    /* Half a document. */
    assert_false(nb_metrics_kafka_stats(m, json, len / 2));
    char *after = t_render(m);
    assert_true(t_sample(after, "notbrought_kafka_stats_invalid_total") ==
                (double)(sizeof(bad) / sizeof(bad[0]) + 2));
    /* Nothing else moved. */
    const char *a = strstr(after, "\nnotbrought_kafka_stats_invalid_total ");
    const char *b = strstr(before, "\nnotbrought_kafka_stats_invalid_total ");
    assert_true(a && b && a - after == b - before);
    assert_memory_equal(before, after, (size_t)(b - before));
    assert_string_equal(strchr(a + 1, '\n'), strchr(b + 1, '\n'));
    free(before);
    free(after);

    /* The right shape with wrong types inside: applied where it makes sense, never a crash. */
    static const char *const odd[] = {
        ("{\"type\":\"consumer\",\"client_id\":\"odd\",\"brokers\":{"
         "\"b\":7,"
         "\"c\":{\"nodeid\":\"1\",\"state\":\"UP\"},"
         "\"d\":{\"nodeid\":2,\"state\":9,\"rtt\":\"fast\"},"
         "\"e\":{\"nodeid\":3,\"state\":\"UP\",\"rtt\":{\"cnt\":1,\"avg\":\"x\"},"
         "\"txerrs\":-5,\"rxerrs\":1.5}},"
         "\"topics\":{\"t\":{\"partitions\":[1]},\"u\":7,"
         "\"v\":{\"partitions\":{\"0\":{\"desired\":1,\"consumer_lag\":5},"
         "\"1\":{\"desired\":true,\"consumer_lag\":\"5\"}}}},"
         "\"cgrp\":[]}"),
        ("{\"type\":\"producer\",\"client_id\":\"odd-p\",\"brokers\":{},\"msg_cnt\":-1,"
         "\"eos\":{\"txn_state\":\"\"}}"),
        "{\"type\":\"producer\",\"client_id\":\"odd-p\",\"brokers\":{},\"eos\":\"Ready\"}",
    };
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
        assert_true(nb_metrics_kafka_stats(m, odd[i], strlen(odd[i])));
    char *txt = t_render(m);
    assert_true(t_sample(txt, "notbrought_kafka_broker_up{client=\"odd\",broker=\"e\"}") == 1);
    assert_true(t_sample(txt, "notbrought_kafka_broker_errors_total{client=\"odd\",broker=\"e\","
                              "kind=\"rx\"}") == 1.5);
    assert_true(isnan(t_sample(txt, "notbrought_kafka_broker_errors_total{client=\"odd\","
                                    "broker=\"e\",kind=\"tx\"}")));
    assert_null(strstr(txt, "broker=\"c\""));
    assert_null(strstr(txt, "broker=\"d\""));
    assert_null(strstr(txt, "topic=\"v\""));
    /* The real producer's queue and transaction state stay as they were. */
    assert_non_null(strstr(txt, "\nnotbrought_kafka_producer_queue_messages 33\n"));
    assert_non_null(strstr(txt, "{state=\"InTransaction\"} 1\n"));
    free(txt);

    /* Random damage to a real document: parsed or refused, never a crash (ASan builds). */
    unsigned seed = 12345;
    for (int round = 0; round < 300; round++) {
        char *copy = malloc(len);
        memcpy(copy, json, len);
        for (int k = 0; k < 1 + round % 8; k++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % len] = (char)(seed >> 24);
        }
        nb_metrics_kafka_stats(m, copy, len);
        free(copy);
    }
    txt = t_render(m);
    free(txt);
    free(json);
    /* No registry, or one that is not of the well-known families: nothing happens. */
    assert_false(nb_metrics_kafka_stats(NULL, "{}", 2));
    nb_metrics_t *small = t_small();
    char *s0 = nb_metrics_render(small, NULL);
    json = t_read_source(T_CONSUMER_JSON, &len);
    assert_false(nb_metrics_kafka_stats(small, json, len));
    assert_false(nb_metrics_kafka_stats(small, "garbage", 7));
    free(json);
    char *s1 = nb_metrics_render(small, NULL);
    assert_string_equal(s0, s1);
    free(s0);
    free(s1);
    nb_metrics_destroy(small);
    nb_metrics_destroy(m);
}

/* ---- the HTTP server ----------------------------------------------------------------------- */

typedef struct t_resp_s {
    int status;
    char *head; /* status line and headers */
    char *body;
} t_resp_t;

static void t_resp_free(t_resp_t *r)
{
    free(r->head);
    free(r->body);
}

/* One HTTP/1.0 request over a blocking socket with a 5 s receive timeout. */
static t_resp_t t_http(int port, const char *method, const char *path)
{
    t_resp_t r = {0, NULL, NULL};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    char req[256];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t got = read(fd, buf + len, cap - len - 1);
        assert_true(got >= 0); /* not a timeout */
        if (got == 0)
            break;
        len += (size_t)got;
    }
    buf[len] = '\0';
    close(fd);
    assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &r.status), 1);
    char *sep = strstr(buf, "\r\n\r\n");
    assert_non_null(sep);
    r.body = strdup(sep + 4);
    *sep = '\0';
    r.head = buf;
    return r;
}

typedef struct t_collect_s {
    int calls;
    nb_metrics_totals_t stats;
} t_collect_t;

static void t_collect(void *opaque, nb_metrics_t *m)
{
    t_collect_t *c = opaque;
    c->calls++;
    nb_metrics_set_totals(m, &c->stats);
}

static int64_t t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_http_endpoints(void **state)
{
    (void)state;
    char errstr[256];
    t_collect_t col;
    memset(&col, 0, sizeof(col));
    col.stats.repartitioned = 42;
    nb_metrics_t *m = nb_metrics_new();
    nb_http_conf_t hc = {"127.0.0.1", 0, 2000, t_collect, &col, 0, 0, 0};
    nb_http_t *h = nb_http_new(m, &hc, errstr, sizeof(errstr));
    assert_non_null(h);
    int port = nb_http_port(h);
    assert_true(port > 0 && port < 65536);

    /* /metrics: the exposition content type and the collected counters. */
    t_resp_t r = t_http(port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert_non_null(strstr(r.body, "\nnotbrought_repartitioned_total 42\n"));
    assert_non_null(strstr(r.body, "\nnotbrought_ready 0\n"));
    assert_non_null(strstr(r.body, "\nprocess_resident_memory_bytes "));
    t_check_exposition(r.body);
    assert_true(col.calls >= 1);
    t_resp_free(&r);

    /* Not ready yet: alive, but /readyz says 503 with a reason. */
    r = t_http(port, "GET", "/healthz");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Type: application/json"));
    assert_string_equal(r.body, "{\"status\":\"ok\",\"reason\":\"\",\"heartbeat_age_ms\":null,"
                                "\"identity\":null}\n");
    t_resp_free(&r);
    /* The identity table's digest, once the runtime reports it: in both answers and as an
     * info metric (a prefix of 16 hex digits, lower case), with the links it covers. */
    nb_metrics_set_identity_digest(m, "0123456789ABCDEF0123456789abcdef", 7);
    r = t_http(port, "GET", "/healthz");
    assert_non_null(
        strstr(r.body, ",\"identity\":{\"digest\":\"0123456789abcdef\",\"links\":7}}\n"));
    t_resp_free(&r);
    r = t_http(port, "GET", "/metrics");
    assert_non_null(
        strstr(r.body, "\nnotbrought_identity_table_digest_info{digest=\"0123456789abcdef\"} 1\n"));
    assert_non_null(strstr(r.body, "\nnotbrought_identity_table_digest_links 7\n"));
    t_check_exposition(r.body);
    t_resp_free(&r);
    /* A new digest replaces the old series; one that is not hex changes nothing. */
    nb_metrics_set_identity_digest(m, "fedcba9876543210", 9);
    nb_metrics_set_identity_digest(m, "fedcba98\"}x", 10);
    nb_metrics_set_identity_digest(m, "abc", 11);
    r = t_http(port, "GET", "/metrics");
    assert_null(strstr(r.body, "0123456789abcdef"));
    assert_non_null(
        strstr(r.body, "\nnotbrought_identity_table_digest_info{digest=\"fedcba9876543210\"} 1\n"));
    assert_non_null(strstr(r.body, "\nnotbrought_identity_table_digest_links 9\n"));
    t_resp_free(&r);
    r = t_http(port, "GET", "/readyz");
    assert_non_null(strstr(r.body, "\"identity\":{\"digest\":\"fedcba9876543210\",\"links\":9}"));
    t_resp_free(&r);
    r = t_http(port, "GET", "/readyz");
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"status\":\"not ready\""));
    assert_non_null(strstr(r.body, "partitions not assigned"));
    t_resp_free(&r);

    /* Ready, with a fresh heartbeat. */
    col.stats.ready = true;
    nb_metrics_heartbeat(m, t_now_ms());
    r = t_http(port, "GET", "/readyz");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "{\"status\":\"ready\",\"reason\":\"\",\"heartbeat_age_ms\":"));
    t_resp_free(&r);
    r = t_http(port, "HEAD", "/readyz");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    t_resp_free(&r);

    /* A heartbeat older than the stall limit: neither live nor ready. */
    nb_metrics_heartbeat(m, t_now_ms() - 10000);
    r = t_http(port, "GET", "/healthz");
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"status\":\"stalled\",\"reason\":\"main loop stalled\""));
    t_resp_free(&r);
    r = t_http(port, "GET", "/readyz");
    assert_int_equal(r.status, 503);
    t_resp_free(&r);

    /* Anything else. */
    r = t_http(port, "GET", "/nope");
    assert_int_equal(r.status, 404);
    t_resp_free(&r);
    r = t_http(port, "POST", "/metrics");
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.head, "Allow: GET, HEAD"));
    t_resp_free(&r);

    /* The port is taken while the server runs. */
    nb_http_conf_t same = {"127.0.0.1", port, 0, NULL, NULL, 0, 0, 0};
    assert_null(nb_http_new(m, &same, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "cannot listen on 127.0.0.1"));

    nb_http_destroy(h);
    nb_http_destroy(NULL);
    nb_metrics_destroy(m);
}

static void test_http_bad_bind(void **state)
{
    (void)state;
    char errstr[256];
    nb_metrics_t *m = nb_metrics_new();
    nb_http_conf_t hc = {"localhost", 0, 0, NULL, NULL, 0, 0, 0};
    assert_null(nb_http_new(m, &hc, errstr, sizeof(errstr)));
    assert_string_equal(errstr, "http: 'localhost' is not a numeric IPv4 or IPv6 address");
    hc.bind = "127.0.0.1";
    hc.port = 70000;
    assert_null(nb_http_new(m, &hc, errstr, sizeof(errstr)));
    /* IPv6 loopback works where the kernel has IPv6. */
    hc.bind = "::1";
    hc.port = 0;
    nb_http_t *h = nb_http_new(m, &hc, errstr, sizeof(errstr));
    if (h)
        assert_true(nb_http_port(h) > 0);
    nb_http_destroy(h);
    nb_metrics_destroy(m);
}

/* A connection from @p src that sends half a request line and then nothing, as a slow-headers
 * attack does. The socket has a 100 ms receive timeout for t_closed_within(). */
static int t_slow_conn(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, src, &sin.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    /* The server may already have closed it (the per-IP limit): a failed send is fine. */
    (void)send(fd, "GET /hea", 8, MSG_NOSIGNAL);
    return fd;
}

/* Whether the server closes @p fd (end of file or reset) within @p ms. */
static bool t_closed_within(int fd, int64_t ms)
{
    int64_t end = t_now_ms() + ms;
    char c;
    while (t_now_ms() < end) {
        ssize_t got = recv(fd, &c, 1, 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return true;
    }
    return false;
}

/* The issue: 40 connections that never finished their headers failed every liveness probe for
 * 65 s. One address gets at most max_connections_per_ip connections (the next is closed at
 * once), /healthz from another address still answers, and a connection silent for timeout_s
 * is closed. */
static void test_http_slow_clients_limited(void **state)
{
    (void)state;
    char errstr[256];
    nb_metrics_t *m = nb_metrics_new();
    nb_http_conf_t hc = {"127.0.0.1", 0, 0, NULL, NULL, 4, 2, 60};
    nb_http_t *h = nb_http_new(m, &hc, errstr, sizeof(errstr));
    assert_non_null(h);
    int port = nb_http_port(h);
    int slow[3];
    for (int i = 0; i < 3; i++)
        slow[i] = t_slow_conn("127.0.0.2", port);
    /* The first two are held; the third goes over the per-IP limit and is closed at once. */
    assert_true(t_closed_within(slow[2], 2000));
    assert_false(t_closed_within(slow[0], 300));
    assert_false(t_closed_within(slow[1], 300));
    t_resp_t r = t_http(port, "GET", "/healthz");
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    for (int i = 0; i < 3; i++)
        close(slow[i]);
    nb_http_destroy(h);

    /* A connection silent for timeout_s (1 s) is closed, well within 5 s. */
    nb_http_conf_t quick = {"127.0.0.1", 0, 0, NULL, NULL, 0, 0, 1};
    h = nb_http_new(m, &quick, errstr, sizeof(errstr));
    assert_non_null(h);
    slow[0] = t_slow_conn("127.0.0.2", nb_http_port(h));
    assert_true(t_closed_within(slow[0], 5000));
    close(slow[0]);
    r = t_http(nb_http_port(h), "GET", "/healthz");
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    nb_http_destroy(h);

    /* More per address than in all is refused. */
    nb_http_conf_t wrong = {"127.0.0.1", 0, 0, NULL, NULL, 4, 5, 0};
    assert_null(nb_http_new(m, &wrong, errstr, sizeof(errstr)));
    assert_string_equal(errstr, "http: 5 connections per address exceed the limit of 4");
    nb_metrics_destroy(m);
}

/* The admin port listens on loopback unless configured otherwise; its limits have defaults,
 * ranges and a cross-check, and NB_OPS_HTTP_* variables set them. */
static void test_config_http_defaults(void **state)
{
    (void)state;
    char errstr[1024];
    nb_config_t *c = nb_config_new();
    assert_non_null(c);
    c->hmac_key = strdup("unit-test-hmac-key-0123456789");
    assert_string_equal(c->http_bind, "127.0.0.1");
    assert_int_equal(c->http_max_connections, NB_HTTP_DEFAULT_MAX_CONNECTIONS);
    assert_int_equal(c->http_max_connections_per_ip, NB_HTTP_DEFAULT_MAX_CONNECTIONS_PER_IP);
    assert_int_equal(c->http_timeout_s, NB_HTTP_DEFAULT_TIMEOUT_S);
    assert_true(NB_HTTP_DEFAULT_MAX_CONNECTIONS_PER_IP < NB_HTTP_DEFAULT_MAX_CONNECTIONS);
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_OK);

    char *env[] = {"NB_OPS_HTTP_BIND=0.0.0.0", "NB_OPS_HTTP_MAX_CONNECTIONS=10",
                   "NB_OPS_HTTP_MAX_CONNECTIONS_PER_IP=3", "NB_OPS_HTTP_TIMEOUT_S=5", NULL};
    assert_int_equal(nb_config_apply_env(c, env, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_string_equal(c->http_bind, "0.0.0.0");
    assert_int_equal(c->http_max_connections, 10);
    assert_int_equal(c->http_max_connections_per_ip, 3);
    assert_int_equal(c->http_timeout_s, 5);
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_OK);

    /* 0 would mean "never time out" to libmicrohttpd: out of range. */
    char *zero[] = {"NB_OPS_HTTP_TIMEOUT_S=0", NULL};
    assert_int_equal(nb_config_apply_env(c, zero, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_non_null(strstr(errstr, "must be between 1 and 3600"));

    char *bad[] = {"NB_OPS_HTTP_BIND=localhost", "NB_OPS_HTTP_MAX_CONNECTIONS_PER_IP=11", NULL};
    assert_int_equal(nb_config_apply_env(c, bad, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_string_equal(errstr, "ops.http_bind: expected a numeric IPv4 or IPv6 address such as "
                                "127.0.0.1 or 0.0.0.0\n"
                                "ops.http_max_connections_per_ip: must not exceed "
                                "ops.http_max_connections (10)");
    nb_config_destroy(c);
}

/* ---- secrets: the SASL password from a file, never from the YAML --------------------------- */

/* A scratch directory with files written by t_write(); t_scratch_free() removes it. */
typedef struct t_scratch_s {
    char dir[64];
    char paths[4][128];
    int n;
} t_scratch_t;

static const char *t_write(t_scratch_t *t, const char *name, const char *text)
{
    assert_true(t->n < 4);
    char *path = t->paths[t->n++], buf[sizeof(t->paths[0])];
    /* Through a local buffer: GCC's -Wrestrict cannot tell the path from the directory. */
    snprintf(buf, sizeof(buf), "%s/%s", t->dir, name);
    memcpy(path, buf, sizeof(buf));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void t_scratch_free(t_scratch_t *t)
{
    for (int i = 0; i < t->n; i++)
        unlink(t->paths[i]);
    rmdir(t->dir);
}

static const char *t_prop(const nb_config_t *c, const char *k)
{
    for (size_t i = 0; i < c->n_kafka_props; i++)
        if (strcmp(c->kafka_props[i].key, k) == 0)
            return c->kafka_props[i].value;
    return NULL;
}

static void test_sasl_password_file(void **state)
{
    (void)state;
    char errstr[512], yaml[512];
    t_scratch_t t = {"/tmp/nb-test-ops.XXXXXX", {{0}}, 0};
    assert_non_null(mkdtemp(t.dir));
    const char *pw = t_write(&t, "sasl.password", "s3cret pass word\n");
    snprintf(yaml, sizeof(yaml),
             "kafka:\n  sasl_password_file: %s\n  properties:\n"
             "    security.protocol: SASL_PLAINTEXT\n    sasl.username: notbrought\n",
             pw);
    const char *conf_path = t_write(&t, "nb.yaml", yaml);

    /* From the YAML key: read, the trailing newline gone, inner spaces kept. */
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_load(c, conf_path, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_null(t_prop(c, "sasl.password"));
    char *env0[] = {NULL};
    assert_int_equal(nb_config_apply_env(c, env0, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_string_equal(t_prop(c, "sasl.password"), "s3cret pass word");
    assert_string_equal(t_prop(c, "sasl.username"), "notbrought");
    nb_config_destroy(c);

    /* From NB_KAFKA_SASL_PASSWORD_FILE; a CRLF line end goes too. */
    const char *crlf = t_write(&t, "crlf.password", "other-secret\r\n");
    char var[256];
    snprintf(var, sizeof(var), "NB_KAFKA_SASL_PASSWORD_FILE=%s", crlf);
    char *env1[] = {var, NULL};
    c = nb_config_new();
    assert_int_equal(nb_config_apply_env(c, env1, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_string_equal(t_prop(c, "sasl.password"), "other-secret");
    nb_config_destroy(c);

    /* NB_RDKAFKA_SASL_PASSWORD wins, as NB_HMAC_KEY does over identity.hmac_key_file. */
    char *env2[] = {var, "NB_RDKAFKA_SASL_PASSWORD=from-env", NULL};
    c = nb_config_new();
    assert_int_equal(nb_config_apply_env(c, env2, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_string_equal(t_prop(c, "sasl.password"), "from-env");
    nb_config_destroy(c);

    /* An empty file is an error, not an empty password. */
    const char *empty = t_write(&t, "empty.password", "\n");
    snprintf(var, sizeof(var), "NB_KAFKA_SASL_PASSWORD_FILE=%s", empty);
    c = nb_config_new();
    assert_int_equal(nb_config_apply_env(c, env1, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    char want[512];
    snprintf(want, sizeof(want), "kafka.sasl_password_file: %s: empty", empty);
    assert_string_equal(errstr, want);
    assert_null(t_prop(c, "sasl.password"));
    nb_config_destroy(c);
    t_scratch_free(&t);
}

/* identity.hmac_key_file: the key is the file's text without trailing line ends and spaces
 * (the pseudonyms depend on it, so this never changes); a file longer than 511 bytes is refused
 * rather than cut short, and a directory is named as one. */
static void test_hmac_key_file(void **state)
{
    (void)state;
    char errstr[512], var[256], want[512];
    t_scratch_t t = {"/tmp/nb-test-ops.XXXXXX", {{0}}, 0};
    assert_non_null(mkdtemp(t.dir));
    const char *key = t_write(&t, "hmac.key", "0123456789abcdef 0123456789abcdef \r\n\n");
    snprintf(var, sizeof(var), "NB_IDENTITY_HMAC_KEY_FILE=%s", key);
    char *env[] = {var, NULL};
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_apply_env(c, env, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_string_equal(c->hmac_key, "0123456789abcdef 0123456789abcdef");
    nb_config_destroy(c);

    char big[600];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    const char *longer = t_write(&t, "long.key", big);
    snprintf(var, sizeof(var), "NB_IDENTITY_HMAC_KEY_FILE=%s", longer);
    c = nb_config_new();
    assert_int_equal(nb_config_apply_env(c, env, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    snprintf(want, sizeof(want), "identity.hmac_key_file: %s: longer than 511 bytes", longer);
    assert_string_equal(errstr, want);
    assert_null(c->hmac_key);
    nb_config_destroy(c);

    snprintf(var, sizeof(var), "NB_IDENTITY_HMAC_KEY_FILE=%s", t.dir);
    c = nb_config_new();
    assert_int_equal(nb_config_apply_env(c, env, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    snprintf(want, sizeof(want), "identity.hmac_key_file: %s: not a regular file (a directory)",
             t.dir);
    assert_string_equal(errstr, want);
    nb_config_destroy(c);
    t_scratch_free(&t);
}

/* NB_<SECTION>_<KEY> overrides a YAML value, NB_RDKAFKA_<PROPERTY> a librdkafka property set
 * in the YAML; a bad value names the variable. */
static void test_env_overrides_yaml(void **state)
{
    (void)state;
    char errstr[512];
    t_scratch_t t = {"/tmp/nb-test-ops.XXXXXX", {{0}}, 0};
    assert_non_null(mkdtemp(t.dir));
    const char *path = t_write(&t, "nb.yaml",
                               "kafka:\n  group_id: from-yaml\n  properties:\n"
                               "    linger.ms: 5\n"
                               "topics:\n  partitions: 4\n  notifications: yaml.notifications\n"
                               "processing:\n  commit_interval_ms: 200\n");
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_load(c, path, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(c->partitions, 4);
    assert_int_equal(c->commit_interval_ms, 200);
    assert_string_equal(t_prop(c, "linger.ms"), "5");
    char *env[] = {"NB_TOPICS_PARTITIONS=12", "NB_PROCESSING_COMMIT_INTERVAL_MS=50",
                   "NB_TOPICS_NOTIFICATIONS=env.notifications", "NB_RDKAFKA_LINGER_MS=20",
                   "NB_RDKAFKA_STATISTICS_INTERVAL_MS=1000", "OTHER_TOPICS_PARTITIONS=3",
                   NULL};
    assert_int_equal(nb_config_apply_env(c, env, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(c->partitions, 12);
    assert_int_equal(c->commit_interval_ms, 50);
    assert_string_equal(c->notifications_topic, "env.notifications");
    assert_string_equal(c->group_id, "from-yaml"); /* not overridden: kept */
    assert_string_equal(t_prop(c, "linger.ms"), "20");
    assert_string_equal(t_prop(c, "statistics.interval.ms"), "1000");
    nb_config_destroy(c);

    char *bad[] = {"NB_TOPICS_PARTITIONS=many", NULL};
    c = nb_config_new();
    assert_int_equal(nb_config_apply_env(c, bad, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_non_null(strstr(errstr, "NB_TOPICS_PARTITIONS"));
    assert_int_equal(c->partitions, 6); /* the default stays */
    nb_config_destroy(c);
    t_scratch_free(&t);
}

static void test_sasl_password_file_missing(void **state)
{
    (void)state;
    char errstr[512];
    char *env[] = {"NB_KAFKA_SASL_PASSWORD_FILE=/nonexistent/nb/sasl.password", NULL};
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_apply_env(c, env, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_string_equal(errstr, "kafka.sasl_password_file: /nonexistent/nb/sasl.password: No "
                                "such file or directory");
    assert_null(t_prop(c, "sasl.password"));
    nb_config_destroy(c);
}

static void test_secret_properties_refused_in_yaml(void **state)
{
    (void)state;
    char errstr[1024];
    t_scratch_t t = {"/tmp/nb-test-ops.XXXXXX", {{0}}, 0};
    assert_non_null(mkdtemp(t.dir));
    const char *conf_path = t_write(&t, "nb.yaml",
                                    "kafka:\n  properties:\n    sasl.username: notbrought\n"
                                    "    sasl.password: hunter2-in-the-repo\n"
                                    "    ssl.key.password: key-pass-in-the-repo\n");
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_load(c, conf_path, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    char want[1024];
    snprintf(want, sizeof(want),
             "%s:4:5: kafka.properties: sasl.password is a secret and is not read from the "
             "configuration file: set NB_RDKAFKA_SASL_PASSWORD or kafka.sasl_password_file\n"
             "%s:5:5: kafka.properties: ssl.key.password is a secret and is not read from the "
             "configuration file: set NB_RDKAFKA_SSL_KEY_PASSWORD",
             conf_path, conf_path);
    assert_string_equal(errstr, want);
    /* Neither value is echoed nor kept. */
    assert_null(strstr(errstr, "in-the-repo"));
    assert_null(t_prop(c, "sasl.password"));
    assert_null(t_prop(c, "ssl.key.password"));
    assert_string_equal(t_prop(c, "sasl.username"), "notbrought");
    nb_config_destroy(c);
    t_scratch_free(&t);
}

/* ---- configuration that loses data or loops is refused (issue 18) ------------------------- */

/* The defaults with an HMAC key: valid. */
static nb_config_t *t_conf(void)
{
    nb_config_t *c = nb_config_new();
    assert_non_null(c);
    c->hmac_key = strdup("unit-test-hmac-key-0123456789");
    return c;
}

static void t_set(nb_config_t *c, size_t offset, const char *value)
{
    char **field = (char **)((char *)c + offset);
    free(*field);
    *field = strdup(value);
}

/* The issue: topics.dead_letters set to an input topic was accepted, and one bad record then
 * came back 2,465 times in 10 s. Every output on every input is refused, and outputs that would
 * mix; appointments and context on one topic (the integration tests' layout) stay valid. */
static void test_dead_letters_on_an_input_topic_refused(void **state)
{
    (void)state;
    char errstr[1024];
    nb_config_t *c = t_conf();
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_OK);
    t_set(c, offsetof(nb_config_t, dead_letter_topic), "hv.contacts");
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_string_equal(errstr, "topics.dead_letters: 'hv.contacts' is also topics.appointments; "
                                "an output must not be an input: notbrought would read what it "
                                "writes back, and a record it cannot process would loop through "
                                "the dead letters");
    nb_config_destroy(c);

    static const struct {
        size_t off;
        const char *topic, *want;
    } cases[] = {
        {offsetof(nb_config_t, dead_letter_topic), "gp.appointments",
         "topics.dead_letters: 'gp.appointments' is also topics.appointments; an output"},
        {offsetof(nb_config_t, dead_letter_topic), "child.context",
         "topics.dead_letters: 'child.context' is also topics.context; an output"},
        {offsetof(nb_config_t, dead_letter_topic), "notification.acks",
         "topics.dead_letters: 'notification.acks' is also topics.acks; an output"},
        {offsetof(nb_config_t, dead_letter_topic), "identity.links",
         "topics.dead_letters: 'identity.links' is also topics.links; an output"},
        {offsetof(nb_config_t, notifications_topic), "notification.acks",
         "topics.notifications: 'notification.acks' is also topics.acks; an output"},
        {offsetof(nb_config_t, notifications_topic), "identity.links",
         "topics.notifications: 'identity.links' is also topics.links; an output"},
        {offsetof(nb_config_t, audit_topic), "midwifery.appointments",
         "topics.audit: 'midwifery.appointments' is also topics.appointments; an output"},
        {offsetof(nb_config_t, by_child_topic), "gp.appointments",
         "topics.by_child: 'gp.appointments' is also topics.appointments; an output"},
        {offsetof(nb_config_t, changelog_topic), "child.context",
         "topics.changelog: 'child.context' is also topics.context; an output"},
        {offsetof(nb_config_t, changelog_topic), "notbrought.by-child",
         "topics.changelog: 'notbrought.by-child' is also topics.by_child; notbrought reads "
         "by_child back as events and changelog as per-child state"},
        {offsetof(nb_config_t, dead_letter_topic), "notbrought.by-child",
         "topics.dead_letters: 'notbrought.by-child' is also topics.by_child; notbrought reads"},
        {offsetof(nb_config_t, dead_letter_topic), "notbrought.changelog",
         "topics.dead_letters: 'notbrought.changelog' is also topics.changelog; notbrought reads"},
        {offsetof(nb_config_t, notifications_topic), "notbrought.by-child",
         "topics.notifications: 'notbrought.by-child' is also topics.by_child; notbrought reads"},
        {offsetof(nb_config_t, dead_letter_topic), "notifications",
         "topics.dead_letters: 'notifications' is also topics.notifications; each output needs "
         "a topic of its own"},
        {offsetof(nb_config_t, audit_topic), "notifications",
         "topics.audit: 'notifications' is also topics.notifications; each output needs"},
        {offsetof(nb_config_t, audit_topic), "notbrought.dead-letters",
         "topics.audit: 'notbrought.dead-letters' is also topics.dead_letters; each output"},
        {offsetof(nb_config_t, acks_topic), "gp.appointments",
         "topics.acks: 'gp.appointments' is also topics.appointments; links, acknowledgements "
         "and events each need a topic of their own"},
        {offsetof(nb_config_t, links_topic), "child.context",
         "topics.links: 'child.context' is also topics.context; links, acknowledgements"},
        {offsetof(nb_config_t, links_topic), "notification.acks",
         "topics.links: 'notification.acks' is also topics.acks; links"},
        {offsetof(nb_config_t, dead_letter_topic), "",
         "topics.dead_letters: not a Kafka topic name"},
        {offsetof(nb_config_t, notifications_topic), "^gp.*",
         "topics.notifications: not a Kafka topic name"},
        {offsetof(nb_config_t, audit_topic), "..", "topics.audit: not a Kafka topic name"},
        {offsetof(nb_config_t, identity_suggestions_topic), "identity.links",
         "topics.identity_suggestions: 'identity.links' is also topics.links; an output"},
        {offsetof(nb_config_t, identity_suggestions_topic), "notifications",
         "topics.identity_suggestions: 'notifications' is also topics.notifications; each "
         "output needs"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        c = t_conf();
        t_set(c, cases[i].off, cases[i].topic);
        assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_CONFIG);
        if (strncmp(errstr, cases[i].want, strlen(cases[i].want)) != 0 || strchr(errstr, '\n'))
            fail_msg("case %zu: got '%s', want one error starting '%s'", i, errstr,
                     cases[i].want);
        nb_config_destroy(c);
    }

    /* Appointments and context facts may share a topic, and an appointment topic listed twice
     * does no harm. */
    c = t_conf();
    for (size_t i = 0; i < c->n_appointment_topics; i++)
        free(c->appointment_topics[i]);
    c->n_appointment_topics = 2;
    c->appointment_topics[0] = strdup("events");
    c->appointment_topics[1] = strdup("events");
    t_set(c, offsetof(nb_config_t, context_topic), "events");
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_OK);
    /* The dead letters on that shared topic: one error, not one per use of the topic. */
    t_set(c, offsetof(nb_config_t, dead_letter_topic), "events");
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_non_null(strstr(errstr, "topics.dead_letters: 'events' is also topics.appointments"));
    assert_null(strchr(errstr, '\n'));
    nb_config_destroy(c);
}

/* A key given twice was accepted and the last one silently won. */
static void test_duplicate_keys_refused(void **state)
{
    (void)state;
    char errstr[1024], want[1024];
    t_scratch_t t = {"/tmp/nb-test-ops.XXXXXX", {{0}}, 0};
    assert_non_null(mkdtemp(t.dir));
    const char *path = t_write(&t, "nb.yaml",
                               "topics:\n"
                               "  dead_letters: nb.dead-letters\n"
                               "  audit: nb.audit\n"
                               "  dead_letters: gp.appointments\n"
                               "kafka:\n"
                               "  properties:\n"
                               "    linger.ms: 5\n"
                               "    linger.ms: 50\n"
                               "topics:\n"
                               "  audit: nb.audit2\n");
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_load(c, path, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    snprintf(want, sizeof(want),
             "%s:4:3: key 'topics.dead_letters' is given twice (first at line 2)\n"
             "%s:8:5: kafka.properties: property 'linger.ms' is given twice (first at line 7)\n"
             "%s:9:1: section 'topics' is given twice (first at line 1)",
             path, path, path);
    assert_string_equal(errstr, want);
    nb_config_destroy(c);
    t_scratch_free(&t);
}

/* ingest.mllp: listeners read with their TLS settings and defaults (bind 127.0.0.1). */
static void test_mllp_listeners_loaded(void **state)
{
    (void)state;
    char errstr[1024];
    t_scratch_t t = {"/tmp/nb-test-ops.XXXXXX", {{0}}, 0};
    assert_non_null(mkdtemp(t.dir));
    const char *pem = t_write(&t, "x.pem", "not checked by the loader\n");
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "ingest:\n"
             "  max_message_bytes: 2048\n"
             "  mllp:\n"
             "    - name: gp-pas\n"
             "      port: 2575\n"
             "      topic: gp.appointments\n"
             "    - name: maternity\n"
             "      bind: 0.0.0.0\n"
             "      port: 2576\n"
             "      topic: midwifery.appointments\n"
             "      tls: {cert: %s, key: %s, ca: %s, require_client_cert: true}\n",
             pem, pem, pem);
    const char *path = t_write(&t, "nb.yaml", yaml);
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_load(c, path, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(c->n_mllp, 2);
    assert_string_equal(c->mllp[0].name, "gp-pas");
    assert_string_equal(c->mllp[0].bind, "127.0.0.1");
    assert_int_equal(c->mllp[0].port, 2575);
    assert_string_equal(c->mllp[0].tls_cert, "");
    assert_false(c->mllp[0].tls_require_client_cert);
    assert_string_equal(c->mllp[1].bind, "0.0.0.0");
    assert_string_equal(c->mllp[1].tls_ca, pem);
    assert_true(c->mllp[1].tls_require_client_cert);
    assert_int_equal(c->ingest_max_message_bytes, 2048);
    assert_int_equal(c->ingest_max_connections, 64);
    /* Refused by validation: max_buffered_bytes (default 4 MiB) is fine; 2048 < 1024 not. */
    c->ingest_max_buffered_bytes = 1024;
    free(c->hmac_key);
    c->hmac_key = strdup("0123456789abcdef0123");
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_non_null(strstr(errstr, "ingest.max_buffered_bytes: must be at least"));
    nb_config_destroy(c);
    t_scratch_free(&t);
}

/* ingest.mllp errors carry file:line:column; a listener needs a name, a port and a topic of
 * topics.appointments; TLS files go together. */
static void test_mllp_listeners_refused(void **state)
{
    (void)state;
    char errstr[2048];
    t_scratch_t t = {"/tmp/nb-test-ops.XXXXXX", {{0}}, 0};
    assert_non_null(mkdtemp(t.dir));
    const char *path = t_write(&t, "nb.yaml",
                               "ingest:\n"
                               "  mllp:\n"
                               "    - name: a\n"
                               "      port: 70000\n"
                               "      topic: gp.appointments\n"
                               "      colour: blue\n"
                               "    - port: 1\n"
                               "      topic: gp.appointments\n"
                               "      tls: {require_client_cert: maybe}\n");
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_load(c, path, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_non_null(strstr(errstr, ":4:13: ingest.mllp: port: must be between 0 and 65535"));
    assert_non_null(strstr(errstr, ":6:7: ingest.mllp: unknown key 'colour'"));
    assert_non_null(strstr(errstr, ":9:34: ingest.mllp: tls.require_client_cert: expected true "
                                   "or false"));
    assert_non_null(strstr(errstr, ":7:7: ingest.mllp: a listener needs a name"));
    nb_config_destroy(c);
    path = t_write(
        &t, "nb2.yaml",
        "ingest:\n"
        "  mllp:\n"
        "    - {name: a, port: 2575, topic: nowhere, bind: localhost}\n"
        "    - {name: a, port: 2575, topic: gp.appointments, tls: {cert: /nonexistent}}\n"
        "    - {name: b, port: 2577, topic: gp.appointments, tls: {require_client_cert: true}}\n");
    c = nb_config_new();
    assert_int_equal(nb_config_load(c, path, errstr, sizeof(errstr)), NB_ERR_OK);
    free(c->hmac_key);
    c->hmac_key = strdup("0123456789abcdef0123");
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_non_null(strstr(errstr, "ingest.mllp a (line 3): topic: nowhere is not one of "
                                   "topics.appointments"));
    assert_non_null(strstr(errstr, "ingest.mllp a (line 3): bind: expected a numeric"));
    assert_non_null(strstr(errstr, "ingest.mllp (line 4): the name a is taken (line 3)"));
    assert_non_null(strstr(errstr, "ingest.mllp a (line 4): tls: cert and key go together"));
    assert_non_null(strstr(errstr, "ingest.mllp a tls.cert: /nonexistent:"));
    assert_non_null(strstr(errstr, "ingest.mllp b (line 5): tls.require_client_cert needs "
                                   "tls.ca"));
    nb_config_destroy(c);
    t_scratch_free(&t);
}

/* A misspelt NB_ variable was ignored and the default stayed in force. It is refused by name,
 * with the nearest known name and never its value; the tests' and tools' NB_ variables pass. */
static void test_misspelt_nb_variable_refused(void **state)
{
    (void)state;
    char errstr[1024];
    static const struct {
        const char *var, *want;
    } cases[] = {
        {"NB_TOPICS_DEAD_LETTER=value-not-echoed",
         "NB_TOPICS_DEAD_LETTER: not a configuration variable (did you mean "
         "NB_TOPICS_DEAD_LETTERS?)"},
        {"NB_KAFKA_INSTANCEID=value-not-echoed",
         "NB_KAFKA_INSTANCEID: not a configuration variable (did you mean "
         "NB_KAFKA_INSTANCE_ID?)"},
        {"NB_KAFKA_BOOTSTRAP=value-not-echoed",
         "NB_KAFKA_BOOTSTRAP: not a configuration variable (did you mean "
         "NB_KAFKA_BOOTSTRAP_SERVERS?)"},
        {"NB_BOOTSTRAP_SERVERS=value-not-echoed",
         "NB_BOOTSTRAP_SERVERS: not a configuration variable (did you mean "
         "NB_KAFKA_BOOTSTRAP_SERVERS?)"},
        {"NB_TOPICS_LOG_LEVEL=value-not-echoed",
         "NB_TOPICS_LOG_LEVEL: not a configuration variable (did you mean NB_OPS_LOG_LEVEL?)"},
        {"NB_HMAC_KEYS=value-not-echoed",
         "NB_HMAC_KEYS: not a configuration variable (did you mean NB_HMAC_KEY?)"},
        {"NB_TOPIC_AUDIT=value-not-echoed",
         "NB_TOPIC_AUDIT: not a configuration variable (did you mean NB_TOPICS_AUDIT?)"},
        {"NB_IDENTITY_PARK_MAXIMUM=value-not-echoed",
         "NB_IDENTITY_PARK_MAXIMUM: not a configuration variable (did you mean "
         "NB_IDENTITY_PARK_MAX?)"},
        {"NB_KAFKA_PROPERTIES=value-not-echoed",
         "NB_KAFKA_PROPERTIES: librdkafka properties come from the environment one by one, as "
         "NB_RDKAFKA_<PROPERTY>"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *env[] = {(char *)cases[i].var, NULL};
        nb_config_t *c = nb_config_new();
        assert_int_equal(nb_config_apply_env(c, env, errstr, sizeof(errstr)), NB_ERR_CONFIG);
        assert_string_equal(errstr, cases[i].want);
        assert_null(strstr(errstr, "value-not-echoed"));
        nb_config_destroy(c);
    }

    /* Not configuration: the tests', the tools' and ops/kafka's own. */
    char *fine[] = {"NB_TEST_LOG=info", "NB_TEST_FILTER=x", "NB_ROOT=/r", "NB_CACHE=/c",
                    "NB_VENV=/v", "NB_SKIP_E2E=1", "NB_FUZZ_RUNS=9", "NB_BIN=/b", "NB_NOW=x",
                    "NB_SOURCE_DIR=/s", "NB_E2E_SEED=1", "NB_DEMO_SEED=2", "NB_PYTHON=/p",
                    "NB_KAFKA_PORT=1", "NB_KAFKA_STATE=/k", "NB_KAFKA_SASL_PASSWORD=x",
                    "NB_KAFKA_SASL_USER=u", "NB_KAFKA_HOME=/h", "NB_KAFKA_VERSION=3.9.2",
                    "NB_KAFKA4_VERSION=4.4.0", "NB_RDKAFKA_LINGER_MS=20",
                    "NB_HMAC_KEY=unit-test-hmac-key-0123456789",
                    "NB_KAFKA_INSTANCE_ID=pod-1", NULL};
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_apply_env(c, fine, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_string_equal(c->instance_id, "pod-1");
    nb_config_destroy(c);
}

/* A missing CA file passed the check and failed at start (ssl.ca.location failed: ... system
 * lib). Every file the configuration names must be there, readable and a file. */
static void test_missing_files_refused(void **state)
{
    (void)state;
    char errstr[2048], yaml[1024], want[2048];
    t_scratch_t t = {"/tmp/nb-test-ops.XXXXXX", {{0}}, 0};
    assert_non_null(mkdtemp(t.dir));
    const char *ca = t_write(&t, "ca.pem", "not really a certificate\n");
    snprintf(yaml, sizeof(yaml),
             "kafka:\n  sasl_password_file: /nonexistent/nb/sasl.password\n  properties:\n"
             "    security.protocol: ssl\n"
             "    ssl.ca.location: /nonexistent/nb/ca.pem\n"
             "    ssl.certificate.location: %s\n"
             "    ssl.key.location: %s\n"
             "identity:\n  hmac_key_file: /nonexistent/nb/hmac.key\n",
             ca, t.dir);
    const char *path = t_write(&t, "nb.yaml", yaml);
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_load(c, path, errstr, sizeof(errstr)), NB_ERR_OK);
    /* The secrets from the environment: the files are then not read, but still refused. */
    char *env[] = {"NB_HMAC_KEY=unit-test-hmac-key-0123456789",
                   "NB_RDKAFKA_SASL_PASSWORD=from-env", NULL};
    assert_int_equal(nb_config_apply_env(c, env, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    snprintf(want, sizeof(want),
             "kafka.properties: ssl.ca.location: /nonexistent/nb/ca.pem: No such file or "
             "directory\n"
             "kafka.properties: ssl.key.location: %s: not a regular file\n"
             "kafka.sasl_password_file: /nonexistent/nb/sasl.password: No such file or "
             "directory\n"
             "identity.hmac_key_file: /nonexistent/nb/hmac.key: No such file or directory",
             t.dir);
    assert_string_equal(errstr, want);
    assert_null(strstr(errstr, "from-env"));
    nb_config_destroy(c);

    /* A CA directory, "probe" and files that are there pass. */
    static const char *const cas[] = {NULL, "probe", "dir"};
    for (size_t i = 0; i < 3; i++) {
        c = t_conf();
        char var[3][256];
        snprintf(var[0], sizeof(var[0]), "NB_RDKAFKA_SSL_CA_LOCATION=%s",
                 !cas[i] ? ca : strcmp(cas[i], "dir") == 0 ? t.dir : cas[i]);
        snprintf(var[1], sizeof(var[1]), "NB_RDKAFKA_SSL_KEY_LOCATION=%s", ca);
        snprintf(var[2], sizeof(var[2]), "NB_IDENTITY_HMAC_KEY_FILE=%s", ca);
        char *ok_env[] = {var[0], var[1], var[2], NULL};
        assert_int_equal(nb_config_apply_env(c, ok_env, errstr, sizeof(errstr)), NB_ERR_OK);
        if (nb_config_validate(c, errstr, sizeof(errstr)) != NB_ERR_OK)
            fail_msg("case %zu: %s", i, errstr);
        nb_config_destroy(c);
    }
    t_scratch_free(&t);
}

/* What librdkafka refuses when the daemon starts, or what would silently override or be
 * overridden, was passed by --check-config. */
static void test_start_refusals_caught_by_the_check(void **state)
{
    (void)state;
    char errstr[1024];
    static const struct {
        const char *var, *want;
    } cases[] = {
        {"NB_KAFKA_ASSIGNMENT_STRATEGY=sticky",
         "kafka.assignment_strategy: expected range, roundrobin or cooperative-sticky"},
        {"NB_KAFKA_ASSIGNMENT_STRATEGY=range,cooperative-sticky",
         "kafka.assignment_strategy: cooperative-sticky cannot be listed with range or "
         "roundrobin"},
        {"NB_KAFKA_GROUP_ID=", "kafka.group_id: must not be empty"},
        {"NB_KAFKA_BOOTSTRAP_SERVERS=", "kafka.bootstrap_servers: must not be empty"},
        {"NB_RDKAFKA_ENABLE_IDEMPOTENCE=false",
         "kafka.properties: enable.idempotence must be true (notbrought's transactions need it)"},
        {"NB_RDKAFKA_ACKS=1", "kafka.properties: acks must be all (notbrought's transactions "
                              "need it)"},
        {"NB_RDKAFKA_GROUP_ID=other", "kafka.properties: group.id is set by notbrought: use "
                                      "kafka.group_id"},
        {"NB_RDKAFKA_BOOTSTRAP_SERVERS=h:1", "kafka.properties: bootstrap.servers is set by "
                                             "notbrought: use kafka.bootstrap_servers"},
        {"NB_RDKAFKA_ISOLATION_LEVEL=read_uncommitted",
         "kafka.properties: isolation.level is set by notbrought (exactly once depends on it): "
         "remove it"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *env[] = {(char *)cases[i].var, NULL};
        nb_config_t *c = t_conf();
        assert_int_equal(nb_config_apply_env(c, env, errstr, sizeof(errstr)), NB_ERR_OK);
        assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_CONFIG);
        assert_string_equal(errstr, cases[i].want);
        nb_config_destroy(c);
    }

    /* SCRAM without a password: librdkafka refuses to start. With one it passes, as do the
     * properties notbrought leaves alone. */
    char *scram[] = {"NB_RDKAFKA_SECURITY_PROTOCOL=sasl_plaintext",
                     "NB_RDKAFKA_SASL_MECHANISMS=SCRAM-SHA-512", "NB_RDKAFKA_SASL_USERNAME=nb",
                     NULL, NULL};
    nb_config_t *c = t_conf();
    assert_int_equal(nb_config_apply_env(c, scram, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_string_equal(errstr, "kafka.properties: sasl.mechanisms SCRAM-SHA-512 needs a "
                                "password: NB_RDKAFKA_SASL_PASSWORD or kafka.sasl_password_file");
    nb_config_destroy(c);
    scram[3] = "NB_RDKAFKA_SASL_PASSWORD=pw";
    char *more[] = {"NB_KAFKA_ASSIGNMENT_STRATEGY=roundrobin,range", "NB_RDKAFKA_ACKS=all",
                    "NB_RDKAFKA_ENABLE_IDEMPOTENCE=true", "NB_RDKAFKA_LINGER_MS=20", NULL};
    c = t_conf();
    assert_int_equal(nb_config_apply_env(c, scram, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(nb_config_apply_env(c, more, errstr, sizeof(errstr)), NB_ERR_OK);
    if (nb_config_validate(c, errstr, sizeof(errstr)) != NB_ERR_OK)
        fail_msg("%s", errstr);
    nb_config_destroy(c);
}

/* ---- docs/configuration.md is generated ---------------------------------------------------- */

static void test_configuration_reference_is_current(void **state)
{
    (void)state;
    char *gen = NULL;
    size_t gen_len = 0;
    FILE *f = open_memstream(&gen, &gen_len);
    assert_non_null(f);
    nb_config_write_reference(f);
    fclose(f);
    const char *dir = getenv("NB_SOURCE_DIR") ? getenv("NB_SOURCE_DIR") : NB_SOURCE_DIR;
    char path[1024];
    snprintf(path, sizeof(path), "%s/docs/configuration.md", dir);
    FILE *d = fopen(path, "rb");
    assert_non_null(d);
    char *doc = malloc(gen_len + 2);
    size_t doc_len = fread(doc, 1, gen_len + 1, d);
    fclose(d);
    doc[doc_len] = '\0';
    if (doc_len != gen_len || memcmp(doc, gen, gen_len) != 0)
        print_error("docs/configuration.md is stale: regenerate it with "
                    "'notbrought run --print-config-reference > docs/configuration.md'\n");
    assert_int_equal(doc_len, gen_len);
    assert_memory_equal(doc, gen, gen_len);
    free(doc);
    free(gen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_empty_registry_exact),
        cmocka_unit_test(test_render_small_registry_exact),
        cmocka_unit_test(test_label_values_escaped_and_stripped),
        cmocka_unit_test(test_long_label_values_cut_on_character_boundary),
        cmocka_unit_test(test_histogram_buckets_cumulative),
        cmocka_unit_test(test_format_values),
        cmocka_unit_test(test_invalid_definitions_rejected),
        cmocka_unit_test(test_series_limit_counts_drops),
        cmocka_unit_test(test_well_known_registry_renders),
        cmocka_unit_test(test_stream_mirror_and_direct_reports),
        cmocka_unit_test(test_health_judgement),
        cmocka_unit_test(test_concurrent_updates_and_render),
        cmocka_unit_test(test_kafka_stats_consumer_document),
        cmocka_unit_test(test_kafka_stats_producer_document),
        cmocka_unit_test(test_kafka_stats_counters_never_decrease),
        cmocka_unit_test(test_kafka_stats_follow_the_assignment),
        cmocka_unit_test(test_kafka_stats_garbage_is_harmless),
        cmocka_unit_test(test_http_endpoints),
        cmocka_unit_test(test_http_bad_bind),
        cmocka_unit_test(test_http_slow_clients_limited),
        cmocka_unit_test(test_config_http_defaults),
        cmocka_unit_test(test_sasl_password_file),
        cmocka_unit_test(test_sasl_password_file_missing),
        cmocka_unit_test(test_hmac_key_file),
        cmocka_unit_test(test_env_overrides_yaml),
        cmocka_unit_test(test_secret_properties_refused_in_yaml),
        cmocka_unit_test(test_dead_letters_on_an_input_topic_refused),
        cmocka_unit_test(test_duplicate_keys_refused),
        cmocka_unit_test(test_misspelt_nb_variable_refused),
        cmocka_unit_test(test_missing_files_refused),
        cmocka_unit_test(test_start_refusals_caught_by_the_check),
        cmocka_unit_test(test_configuration_reference_is_current),
        cmocka_unit_test(test_mllp_listeners_loaded),
        cmocka_unit_test(test_mllp_listeners_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
