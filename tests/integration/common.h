/*
 * What the integration tests share: the clock, a configuration for the embedded broker, and
 * a daemon on a thread of its own. Header-only (static inline): each test is one executable.
 * Include after <cmocka.h>.
 */
#ifndef NB_TESTS_INTEGRATION_COMMON_H
#define NB_TESTS_INTEGRATION_COMMON_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notbrought/event.h"
#include "notbrought/ops.h"
#include "notbrought/stream.h"

/* Wall-clock milliseconds. */
static inline int64_t nb_it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Between two looks at a condition (never to wait for something by time alone). */
static inline void nb_it_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* How a test's configuration differs from the defaults. */
typedef struct nb_it_conf_opts_s {
    const char *hmac_key;  /* NULL: a test key */
    bool base_only;        /* the national base policy only (else with the Cardiff overlay) */
    bool one_topic;        /* appointments and context facts on one topic "events" */
    int64_t clock;         /* processing.fixed_now: every run evaluates at this time */
    int64_t idle_ms;       /* processing.watermark_idle_ms; 0: the default */
} nb_it_conf_opts_t;

/* A validated configuration for the embedded broker at @p bootstrap: the log level from
 * NB_TEST_LOG (info shows the stream's progress when a run needs explaining; warn by
 * default), short reconnect back-offs. */
static inline nb_config_t *nb_it_conf(const char *bootstrap, const char *instance,
                                      const nb_it_conf_opts_t *o)
{
    char errstr[1024], iso[32];
    nb_config_t *c = nb_config_new();
    assert_non_null(c);
    free(c->bootstrap_servers);
    c->bootstrap_servers = strdup(bootstrap);
    free(c->instance_id);
    c->instance_id = strdup(instance);
    c->hmac_key = strdup(o->hmac_key ? o->hmac_key : "integration-test-hmac-key-0123456789");
    if (o->one_topic) {
        for (size_t i = 0; i < c->n_appointment_topics; i++)
            free(c->appointment_topics[i]);
        c->n_appointment_topics = 1;
        c->appointment_topics[0] = strdup("events");
        free(c->context_topic);
        c->context_topic = strdup("events");
    }
    for (size_t i = 0; i < c->n_policy_files; i++)
        free(c->policy_files[i]);
    c->n_policy_files = o->base_only ? 1 : 2;
    c->policy_files[0] = strdup(NB_SOURCE_DIR "/config/policy/wnb-wales-base.yaml");
    if (!o->base_only)
        c->policy_files[1] = strdup(NB_SOURCE_DIR "/config/policy/cardiff-and-vale.yaml");
    const char *lvl = getenv("NB_TEST_LOG") ? getenv("NB_TEST_LOG") : "warn";
    free(c->log_level);
    c->log_level = strdup(lvl);
    nb_log_set_level(strcmp(lvl, "info") == 0 ? NB_LOG_INFO : NB_LOG_WARN);
    nb_format_time(o->clock, iso, sizeof(iso));
    free(c->fixed_now);
    c->fixed_now = strdup(iso);
    if (o->idle_ms > 0)
        c->watermark_idle_ms = o->idle_ms;
    /* Short sessions: a member that left without a word (its leave request lost while the
     * brokers were down, or stopped by the test) keeps its partitions until its session times
     * out, and the embedded cluster lets a member join a group only once the last one's session
     * has ended; it also holds each rebalance open for the session timeout less a second
     * while the group's membership changes. 6 s is Apache Kafka's smallest session by default
     * (group.min.session.timeout.ms). Heartbeats come from librdkafka's own thread, so a busy
     * instance keeps its session. (Consumer properties: the producer says it ignores them.) */
    char *props[][2] = {{"reconnect.backoff.max.ms", "500"},
                        {"reconnect.backoff.ms", "50"},
                        {"session.timeout.ms", "6000"},
                        {"heartbeat.interval.ms", "1000"}};
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        c->kafka_props[c->n_kafka_props].key = strdup(props[i][0]);
        c->kafka_props[c->n_kafka_props++].value = strdup(props[i][1]);
    }
    assert_int_equal(nb_config_validate(c, errstr, sizeof(errstr)), NB_ERR_OK);
    return c;
}

/* A daemon on a thread of its own. */
typedef struct nb_it_daemon_s {
    nb_config_t *conf;
    nb_stream_t *st;
    nb_metrics_t *m; /* NULL unless asked for */
    pthread_t thread;
    nb_err_t result;
} nb_it_daemon_t;

static inline void *nb_it_daemon_main(void *arg)
{
    nb_it_daemon_t *d = arg;
    d->result = nb_stream_run(d->st, NULL, NULL);
    return NULL;
}

/* Starts a daemon with @p conf (taken over), with a metrics registry when @p metrics. */
static inline void nb_it_daemon_start(nb_it_daemon_t *d, nb_config_t *conf, bool metrics)
{
    char errstr[1024];
    memset(d, 0, sizeof(*d));
    d->conf = conf;
    d->st = nb_stream_new(conf, errstr, sizeof(errstr));
    if (!d->st)
        fail_msg("nb_stream_new: %s", errstr);
    if (metrics) {
        d->m = nb_metrics_new();
        assert_non_null(d->m);
        nb_stream_set_metrics(d->st, d->m);
    }
    assert_int_equal(pthread_create(&d->thread, NULL, nb_it_daemon_main, d), 0);
}

/* SIGTERM, as it were: the run must end cleanly. (From this thread through nb_stream_stop(): a
 * signal flag written here would race with the daemon's thread reading it.) */
static inline void nb_it_daemon_stop(nb_it_daemon_t *d)
{
    nb_stream_stop(d->st);
    pthread_join(d->thread, NULL);
    assert_int_equal(d->result, NB_ERR_OK);
    nb_stream_destroy(d->st);
    nb_metrics_destroy(d->m);
    nb_config_destroy(d->conf);
}

#endif
