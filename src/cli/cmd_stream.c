/*
 * notbrought broker | produce | consume | run: the commands around the Kafka runtime
 * (`topics` and `purge`: cmd_topics.c).
 */
#include "cli/commands.h"

#include "notbrought/notify.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "notbrought/ops.h"
#include "notbrought/stream.h"
#include "notbrought/util.h"

extern char **environ;

/* The only global mutable state: what the signal handlers say. nb__stop and nb__reload are
 * for nb_stream_run() on the main thread. The shutdown watchdog, another thread, reads
 * nb__stopping: a volatile sig_atomic_t is a flag for the thread the handler interrupted, and
 * reading it on another races with the handler's write; a lock-free atomic may be written by a
 * handler (C11 7.14.1.1) and read by any thread. */
static volatile sig_atomic_t nb__stop;
static volatile sig_atomic_t nb__reload;
static atomic_bool nb__stopping;
_Static_assert(ATOMIC_BOOL_LOCK_FREE == 2, "a signal handler may write only lock-free atomics");

static void nb__on_stop(int sig)
{
    (void)sig;
    nb__stop = 1;
    atomic_store(&nb__stopping, true);
}

static void nb__on_reload(int sig)
{
    (void)sig;
    nb__reload = 1;
}

static void nb__signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = nb__on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = nb__on_reload;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/*
 * The shutdown watchdog: once SIGTERM or SIGINT has been received, the daemon has
 * processing.shutdown_timeout_ms to stop. It finishes the open transaction and leaves the
 * group when the brokers let it; when they do not (unreachable, paused, a commit that never
 * returns), the process exits anyway, as a kill -9 would: what committed stays committed, and
 * what did not is handled again by the next owner of the partitions.
 */
typedef struct nb__watchdog_s {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done; /* @locks lock: the daemon stopped by itself */
    int timeout_ms;
} nb__watchdog_t;

static void nb__deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *nb__watchdog_main(void *arg)
{
    nb__watchdog_t *w = arg;
    struct timespec ts;
    pthread_mutex_lock(&w->lock);
    /* The signal handler only sets a flag: look at it ten times a second. */
    while (!w->done && !atomic_load(&nb__stopping)) {
        nb__deadline(&ts, 100);
        pthread_cond_timedwait(&w->cond, &w->lock, &ts);
    }
    nb__deadline(&ts, w->timeout_ms);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT)
            break;
    bool done = w->done;
    pthread_mutex_unlock(&w->lock);
    if (!done) {
        NB_LOG(NB_LOG_ERROR, "stream",
               "shutdown did not finish within processing.shutdown_timeout_ms (%d ms): the "
               "brokers do not answer; exiting now. What committed stays committed; the rest "
               "is handled again by the next owner of the partitions", w->timeout_ms);
        _exit(NB_EXIT_SOFTWARE);
    }
    return NULL;
}

static bool nb__watchdog_start(nb__watchdog_t *w, int timeout_ms)
{
    memset(w, 0, sizeof(*w));
    w->timeout_ms = timeout_ms;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (nb_thread_create(&w->thread, nb__watchdog_main, w) == 0)
        return true;
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    return false;
}

static void nb__watchdog_stop(nb__watchdog_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
}

/* Loads --config (or the defaults), the environment, and --bootstrap (commands.h). */
nb_config_t *nb__load_config(const char *cmd, const char *path, const char *bootstrap,
                             bool need_key)
{
    char errstr[4096];
    nb_config_t *conf = nb_config_new();
    if (!conf) {
        fprintf(stderr, "notbrought %s: out of memory\n", cmd);
        return NULL;
    }
    if ((path && nb_config_load(conf, path, errstr, sizeof(errstr))) ||
        nb_config_apply_env(conf, environ, errstr, sizeof(errstr))) {
        fprintf(stderr, "notbrought %s: configuration:\n%s\n", cmd, errstr);
        nb_config_destroy(conf);
        return NULL;
    }
    if (bootstrap) {
        free(conf->bootstrap_servers);
        conf->bootstrap_servers = strdup(bootstrap);
    }
    nb_log_level_t lvl;
    if (nb_log_level_parse(conf->log_level, &lvl))
        nb_log_set_level(lvl);
    if (need_key && nb_config_validate(conf, errstr, sizeof(errstr))) {
        fprintf(stderr, "notbrought %s: configuration:\n%s\n", cmd, errstr);
        nb_config_destroy(conf);
        return NULL;
    }
    return conf;
}

/* ---- broker ------------------------------------------------------------------------------- */

static const char nb__broker_help[] =
    "usage: notbrought broker [--brokers N] [--config FILE] [--source-partitions N]\n"
    "\n"
    "Starts an embedded Kafka-protocol cluster (librdkafka's mock cluster) on loopback,\n"
    "creates the configured topics, prints the bootstrap address on the first line of\n"
    "stdout, and runs until SIGTERM or SIGINT. For local use, demos and tests; it keeps\n"
    "everything in memory.\n";

int nb__cmd_broker(int argc, char **argv)
{
    static const struct option longopts[] = {{"brokers", required_argument, NULL, 'b'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"source-partitions", required_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int brokers = 3, source_parts = 3, c;
    const char *cfg = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            brokers = atoi(optarg);
            break;
        case 'c':
            cfg = optarg;
            break;
        case 's':
            source_parts = atoi(optarg);
            break;
        case 'h':
            fputs(nb__broker_help, stdout);
            return NB_EXIT_OK;
        default:
            fputs(nb__broker_help, stderr);
            return NB_EXIT_USAGE;
        }
    }
    if (brokers < 1 || brokers > 16 || source_parts < 1 || source_parts > 64) {
        fputs(nb__broker_help, stderr);
        return NB_EXIT_USAGE;
    }
    nb_config_t *conf = nb__load_config("broker", cfg, NULL, false);
    if (!conf)
        return NB_EXIT_FAILURE;
    char errstr[512];
    nb_broker_t *b = nb_broker_new(brokers, errstr, sizeof(errstr));
    if (!b) {
        fprintf(stderr, "notbrought broker: %s\n", errstr);
        nb_config_destroy(conf);
        return NB_EXIT_SOFTWARE;
    }
    nb_broker_create_topics(b, conf, source_parts);
    printf("%s\n", nb_broker_bootstraps(b));
    fflush(stdout);
    NB_LOG(NB_LOG_INFO, "broker", "embedded broker (%d brokers) at %s", brokers,
           nb_broker_bootstraps(b));
    nb__signals();
    while (!nb__stop)
        pause();
    nb_broker_destroy(b);
    nb_config_destroy(conf);
    return NB_EXIT_OK;
}

/* ---- produce ------------------------------------------------------------------------------ */

int nb__cmd_produce(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"bootstrap", required_argument, NULL, 'B'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    static const char help[] =
        "usage: notbrought produce [--config FILE] [--bootstrap HOST:PORT] RECORDFILE\n\n"
        "Produces every record of a record file (see 'notbrought generate') to its topic\n"
        "with an idempotent producer, and waits until all are delivered.\n";
    const char *cfg = NULL, *bootstrap = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg = optarg;
            break;
        case 'B':
            bootstrap = optarg;
            break;
        case 'h':
            fputs(help, stdout);
            return NB_EXIT_OK;
        default:
            fputs(help, stderr);
            return NB_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(help, stderr);
        return NB_EXIT_USAGE;
    }
    nb_config_t *conf = nb__load_config("produce", cfg, bootstrap, false);
    if (!conf)
        return NB_EXIT_FAILURE;
    char errstr[512];
    long n = 0;
    nb_err_t err = nb_stream_produce_file(conf, argv[optind], &n, errstr, sizeof(errstr));
    nb_config_destroy(conf);
    if (err) {
        fprintf(stderr, "notbrought produce: %s\n", errstr);
        return err == NB_ERR_IO ? NB_EXIT_FAILURE : NB_EXIT_SOFTWARE;
    }
    fprintf(stderr, "notbrought produce: %ld records delivered\n", n);
    return NB_EXIT_OK;
}

/* ---- consume ------------------------------------------------------------------------------ */

typedef struct nb__consume_s {
    const nb_config_t *conf;
    nb_codec_t *codec;
    int format; /* 0 json, 1 text, 2 records */
    long n, bad;
    nb_notify_zone_t zone; /* notify.timezone */
} nb__consume_t;

/* Topics whose values need not be Avro records: what could not be processed (as it came),
 * the repartition topic's merges and moves, and the daemon's own state. */
static bool nb__consume_raw_topic(const nb_config_t *conf, const char *topic)
{
    return strcmp(topic, conf->dead_letter_topic) == 0 ||
           strcmp(topic, conf->by_child_topic) == 0 || strcmp(topic, conf->changelog_topic) == 0;
}

/* A record of such a topic that is not an Avro record: where it was, its headers (a dead
 * letter's say why it was set aside) and its size, never its content (it may be an HL7 v2
 * message with a name and address in it; `--format records` gives the bytes). */
static void nb__consume_raw(const char *topic, const char *key, size_t len, int64_t ts,
                            const nb_record_meta_t *meta, nb_err_t why)
{
    json_t *h = json_object();
    for (size_t i = 0; meta && i < meta->n_headers; i++) {
        /* Header values are text the daemon wrote (nb.error.*, nb.kind, nb.topic, ...). */
        char buf[NB_TEXT_MAX + 1];
        size_t n = meta->headers[i].len < NB_TEXT_MAX ? meta->headers[i].len : NB_TEXT_MAX;
        memcpy(buf, meta->headers[i].value ? meta->headers[i].value : "", n);
        buf[n] = '\0';
        if (strcmp(meta->headers[i].name, "nb.nhs") == 0 ||
            strcmp(meta->headers[i].name, "nb.mother") == 0)
            continue; /* the by-child topic's NHS numbers: not shown */
        json_object_set_new(h, meta->headers[i].name, json_stringn_nocheck(buf, strlen(buf)));
    }
    char at[32];
    nb_format_time(ts, at, sizeof(at));
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:o, s:I, s:s}", "topic", topic, "key",
                          key ? key : "", "partition", meta ? (int)meta->partition : -1,
                          "timestamp", at, "headers", h, "value_bytes", (json_int_t)len, "value",
                          nb_err_name(why) /* why it is not shown decoded */);
    if (o && !json_dumpf(o, stdout, JSON_COMPACT))
        putchar('\n');
    json_decref(o);
}

/* A record consume cannot show is reported on stderr by its number and error code (no
 * value: the message names the field only) and makes the exit status 1. */
static int nb__consume_one(void *opaque, const char *topic, const char *key, const void *value,
                           size_t len, int64_t ts, const nb_record_meta_t *meta)
{
    nb__consume_t *c = opaque;
    nb_record_t rec;
    char errstr[512];
    c->n++;
    if (c->format == 2) {
        nb_recfile_write_meta(stdout, topic, key, value, len, ts, meta);
        return 0;
    }
    bool audit = strcmp(topic, c->conf->audit_topic) == 0;
    nb_err_t err =
        audit ? nb_stream_audit_decode(c->codec, value, len, &rec, errstr, sizeof(errstr))
              : nb_codec_decode(c->codec, value, len, NB_RECORD_NONE, &rec, errstr, sizeof(errstr));
    if (err && nb__consume_raw_topic(c->conf, topic)) {
        nb__consume_raw(topic, key, len, ts, meta, err);
        return 0;
    }
    if (err) {
        c->bad++;
        fprintf(stderr, "notbrought consume: %s record %ld cannot be decoded: %s: %s\n", topic,
                c->n, nb_err_name(err), errstr);
        return 0;
    }
    if (c->format == 1 && rec.type == NB_RECORD_NOTIFICATION) {
        nb__text_notification(stdout, &rec.u.notif, c->zone);
    } else {
        json_t *o = nb__record_to_json(&rec);
        if (!o || json_dumpf(o, stdout, JSON_COMPACT)) {
            c->bad++;
            fprintf(stderr, "notbrought consume: %s record %ld cannot be shown as JSON\n", topic,
                    c->n);
        } else {
            putchar('\n');
        }
        json_decref(o);
    }
    return 0;
}

int nb__cmd_consume(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"bootstrap", required_argument, NULL, 'B'},
                                             {"topic", required_argument, NULL, 't'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"max", required_argument, NULL, 'm'},
                                             {"idle-ms", required_argument, NULL, 'i'},
                                             {"to-end", no_argument, NULL, 'e'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    static const char help[] =
        "usage: notbrought consume [--config FILE] [--bootstrap HOST:PORT] [--topic T]\n"
        "                          [--format json|text|records] [--max N] [--idle-ms MS]\n"
        "                          [--to-end]\n\n"
        "Reads a topic (default: the notifications topic) from the beginning with\n"
        "read_committed, decodes each record and prints it: json (one object per line),\n"
        "text (notifications as a nurse reads them), or records (a record file, undecoded).\n"
        "Every topic reads: the audit's records (older JSON ones too); on the dead-letter,\n"
        "by-child and changelog topics a value that is not an Avro record is shown as where\n"
        "it was, its headers and its size, never its content.\n"
        "Stops after --max records, when nothing arrives for --idle-ms (default 3000), or\n"
        "with --to-end as soon as every partition has been read to its end.\n";
    const char *cfg = NULL, *bootstrap = NULL, *topic = NULL;
    nb__consume_t cc = {NULL, NULL, 0, 0, 0, NB_NOTIFY_ZONE_EUROPE_LONDON};
    long max = 0;
    int idle = 3000, c;
    bool to_end = false;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:t:f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg = optarg;
            break;
        case 'B':
            bootstrap = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'f':
            cc.format = strcmp(optarg, "json") == 0      ? 0
                        : strcmp(optarg, "text") == 0    ? 1
                        : strcmp(optarg, "records") == 0 ? 2
                                                         : -1;
            if (cc.format < 0) {
                fputs(help, stderr);
                return NB_EXIT_USAGE;
            }
            break;
        case 'm':
            max = atol(optarg);
            break;
        case 'i':
            idle = atoi(optarg);
            break;
        case 'e':
            to_end = true;
            break;
        case 'h':
            fputs(help, stdout);
            return NB_EXIT_OK;
        default:
            fputs(help, stderr);
            return NB_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fputs(help, stderr);
        return NB_EXIT_USAGE;
    }
    nb_config_t *conf = nb__load_config("consume", cfg, bootstrap, false);
    if (!conf)
        return NB_EXIT_FAILURE;
    nb_notify_zone_parse(conf->timezone, &cc.zone); /* validated with the configuration */
    cc.conf = conf;
    nb_registry_t *reg;
    if (nb__cli_codec_dir(conf->schemas_dir[0] ? conf->schemas_dir : NULL, &reg, &cc.codec)) {
        nb_config_destroy(conf);
        return NB_EXIT_SOFTWARE;
    }
    char errstr[512];
    nb_err_t err =
        nb_stream_consume_meta(conf, topic ? topic : conf->notifications_topic, max, idle,
                               to_end, nb__consume_one, &cc, errstr, sizeof(errstr));
    fflush(stdout);
    nb__cli_codec_free(reg, cc.codec);
    nb_config_destroy(conf);
    if (err) {
        fprintf(stderr, "notbrought consume: %s\n", errstr);
        return NB_EXIT_SOFTWARE;
    }
    if (cc.bad)
        fprintf(stderr, "notbrought consume: %ld of %ld records could not be shown\n", cc.bad,
                cc.n);
    return cc.bad ? NB_EXIT_FAILURE : NB_EXIT_OK;
}

/* ---- run ---------------------------------------------------------------------------------- */

/* --check-config: validates the configuration and the policy, and says so. */
static int nb__run_check(const nb_config_t *conf)
{
    char errstr[1024];
    if (nb_stream_check(conf, errstr, sizeof(errstr))) {
        fprintf(stderr, "notbrought run: %s\n", errstr);
        return NB_EXIT_FAILURE;
    }
    printf("configuration and policy are valid\n");
    return NB_EXIT_OK;
}

/* Metrics and health (ops.http_port), when configured. The HTTP thread reads the stream's
 * counters through nb_stream_stats(), which is thread-safe; the server stops before the
 * stream goes. False (with the error printed) when they cannot start; *metrics may then
 * hold a registry for the caller to destroy. */
static bool nb__run_http(const nb_config_t *conf, nb_stream_t *st, nb_metrics_t **metrics,
                         nb_http_t **http)
{
    char errstr[1024];
    if (conf->http_port <= 0)
        return true;
    nb_http_conf_t hc = {conf->http_bind,
                         conf->http_port,
                         0,
                         nb_stream_collect_metrics,
                         st,
                         conf->http_max_connections,
                         conf->http_max_connections_per_ip,
                         conf->http_timeout_s};
    if (!(*metrics = nb_metrics_new()))
        snprintf(errstr, sizeof(errstr), "out of memory");
    else
        *http = nb_http_new(*metrics, &hc, errstr, sizeof(errstr));
    if (!*http) {
        fprintf(stderr, "notbrought run: %s\n", errstr);
        return false;
    }
    NB_LOG(NB_LOG_INFO, "http", "metrics and health on port %d", nb_http_port(*http));
    nb_stream_set_metrics(st, *metrics);
    return true;
}

int nb__cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"bootstrap", required_argument, NULL, 'B'},
        {"check-config", no_argument, NULL, 'C'},
        {"print-config-reference", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char help[] =
        "usage: notbrought run --config FILE [--bootstrap HOST:PORT] [--check-config]\n\n"
        "Runs the daemon: consumes the source topics, joins events on the child, keeps each\n"
        "child's history, applies the policy and publishes notifications, exactly once.\n"
        "SIGTERM/SIGINT finish the current transaction and exit 0; SIGHUP reloads the policy\n"
        "(validated first; the old one stays in force on error).\n\n"
        "  --check-config            validate the configuration and the policy, then exit\n"
        "  --print-config-reference  print the configuration reference (Markdown)\n\n"
        "Secrets come from the environment or from files, never from the configuration:\n"
        "NB_HMAC_KEY (or identity.hmac_key_file), NB_RDKAFKA_SASL_PASSWORD (or\n"
        "kafka.sasl_password_file), NB_RDKAFKA_<PROPERTY> for other librdkafka secrets.\n";
    const char *cfg = NULL, *bootstrap = NULL;
    bool check = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg = optarg;
            break;
        case 'B':
            bootstrap = optarg;
            break;
        case 'C':
            check = true;
            break;
        case 'R':
            nb_config_write_reference(stdout);
            return NB_EXIT_OK;
        case 'h':
            fputs(help, stdout);
            return NB_EXIT_OK;
        default:
            fputs(help, stderr);
            return NB_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fputs(help, stderr);
        return NB_EXIT_USAGE;
    }
    nb_config_t *conf = nb__load_config("run", cfg, bootstrap, true);
    if (!conf)
        return NB_EXIT_FAILURE;
    char errstr[1024];
    if (check) {
        int rc = nb__run_check(conf);
        nb_config_destroy(conf);
        return rc;
    }
    nb__signals();
    nb__watchdog_t watchdog;
    if (!nb__watchdog_start(&watchdog, conf->shutdown_timeout_ms)) {
        fprintf(stderr, "notbrought run: cannot start the shutdown watchdog thread\n");
        nb_config_destroy(conf);
        return NB_EXIT_SOFTWARE;
    }
    nb_stream_t *st = nb_stream_new(conf, errstr, sizeof(errstr));
    if (!st) {
        fprintf(stderr, "notbrought run: %s\n", errstr);
        nb__watchdog_stop(&watchdog);
        nb_config_destroy(conf);
        return NB_EXIT_FAILURE;
    }
    nb_metrics_t *metrics = NULL;
    nb_http_t *http = NULL;
    if (!nb__run_http(conf, st, &metrics, &http)) {
        nb_stream_destroy(st);
        nb_metrics_destroy(metrics);
        nb__watchdog_stop(&watchdog);
        nb_config_destroy(conf);
        return NB_EXIT_SOFTWARE;
    }
    nb_err_t err = nb_stream_run(st, &nb__stop, &nb__reload);
    /* The stream goes before the registry it reports to: closing its clients still calls
     * their statistics callback, which writes to the registry. */
    nb_http_destroy(http);
    nb_stream_destroy(st);
    nb_metrics_destroy(metrics);
    nb__watchdog_stop(&watchdog);
    nb_config_destroy(conf);
    return err ? NB_EXIT_SOFTWARE : NB_EXIT_OK;
}
