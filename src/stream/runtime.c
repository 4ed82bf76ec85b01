/*
 * notbrought - stream: the Kafka runtime.
 *
 * One group consumer (sources + by-child topic), one transactional producer, one consumer
 * without a group for the global identity links table, and one for restoring changelog
 * partitions. @locality everything here runs on the thread that calls nb_stream_run(),
 * including librdkafka's rebalance callback (served from rd_kafka_consumer_poll()), except
 * the committer thread (one commit) and the decoder thread (decodes records polled ahead).
 */
#define _GNU_SOURCE /* gettid() */
#include "stream/internal.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#define NB__TXN_TIMEOUT_MS 30000
#define NB__LINKS_PER_TICK 10000
#define NB__TICK_MS 1000
#define NB__LINKS_FETCH_WAIT_MS 100
#define NB__MAX_COUNTED_TOPICS 16
#define NB__MAX_TOPIC_HANDLES 8
#define NB__AHEAD 256           /* records polled per turn of the main loop */
#define NB__RING (2 * NB__AHEAD) /* records polled and not handled yet, at most */
#define NB__DL_KEY_MAX 1024      /* key bytes a bounded dead letter keeps */
#define NB__DL_HEADERS_MAX 16384 /* packed original headers a bounded dead letter keeps */
#define NB__BROKERS_PROBE_MS 1000 /* while the brokers are down, how often to ask them */

/* A record polled and not handled yet. Source records are decoded by the decoder thread
 * (processing.decode_ahead) unless the main loop gets to them first. */
typedef enum {
    NB__SLOT_READY,   /* nothing to decode, or decoded into `dec` */
    NB__SLOT_NEW,     /* a source record for the decoder */
    NB__SLOT_DECODING, /* the decoder is at it */
    NB__SLOT_INLINE,  /* the main loop got there first: decoded when handled */
} nb__slot_state_t;

typedef struct nb__slot_s {
    rd_kafka_message_t *rkm;
    nb__slot_state_t state; /* @locks ahead_lock */
    bool source;            /* a source record to decode ahead */
    int64_t now;            /* when it was polled: the decoder validates as of it */
    nb__decoded_t dec;
} nb__slot_t;

/* Records consumed since the last report, by topic. */
typedef struct nb__counted_s {
    char topic[250];   /* Kafka allows 249 characters */
    const char *name;  /* librdkafka's name of the topic handle, compared first */
    uint64_t n;
} nb__counted_t;

/* The producer's handle of a topic the daemon writes: producing by name looks the handle up
 * (a list walk under a lock) for every record. */
typedef struct nb__topic_handle_s {
    const char *name; /* the configuration's string */
    rd_kafka_topic_t *rkt;
} nb__topic_handle_t;

/* A record produced while the previous transaction commits: it waits for its own. */
typedef struct nb__pending_s {
    const char *topic; /* the configuration's */
    int32_t partition;
    void *key;
    size_t key_len;
    void *value; /* malloc'd; the producer takes it over (RD_KAFKA_MSG_F_FREE) */
    size_t value_len;
    rd_kafka_headers_t *hdrs;
} nb__pending_t;

/* How far a source partition has been read, in the time its records were recorded: its
 * watermark (nb__watermark). Assigned here, or reported by the instance it is assigned to
 * (a watermark record on the by-child topic). */
typedef struct nb__srcwm_s {
    char topic[250];
    int32_t partition;
    bool remote;      /* reported by another instance, not assigned here */
    int64_t recorded; /* latest recorded_at read (remote: the watermark reported); 0: none */
    int64_t seen;     /* wall clock: the report heard (remote entries) */
    int64_t at_end;   /* wall clock: read to its end since (nothing read after), or 0 */
} nb__srcwm_t;

/* Pre-image of a state entry the batch changed: what it held before the batch first wrote it
 * (or before a write that re-created it after the batch removed it). */
typedef struct nb__undo_s {
    int32_t partition;
    bool existed;
    uint8_t key[NB__KEY_LEN];
    uint8_t *val;
    size_t len;
} nb__undo_t;

/* A batch's pre-images, in the order it took them: undone in reverse, the first write's
 * pre-image of a key comes back last. The store marks the entries whose pre-image a batch holds,
 * so a key written again by the same batch needs no lookup here. */
typedef struct nb__undo_log_s {
    nb__undo_t *v;
    size_t n, cap;
} nb__undo_log_t;

struct nb_stream_s {
    const nb_config_t *conf;
    nb__pipeline_t *pipe;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_t *links;
    rd_kafka_t *restorer;
    rd_kafka_t *restorer2; /* a second restoring thread's */
    nb__store_t **stores; /* [partitions], NULL when not owned */
    int partitions;
    bool txn_open;  /* a batch is open: records handled since the last commit started */
    bool txn_begun; /* its producer transaction has begun (not while the last one commits) */
    int64_t batch_start;
    long batch_records;
    long batch_emitted;
    rd_kafka_topic_partition_list_t *offsets; /* next offsets to commit */
    /* The offsets this instance's own transactions committed since the last rebalance: an
     * abort rewinds to these without asking the coordinator (which may be the broker in
     * trouble), and the embedded cluster, which forgets transactional offset commits, then
     * rewinds as Apache Kafka does. Partitions not in it are looked up. */
    rd_kafka_topic_partition_list_t *done_offsets;
    int last_offset; /* index in offsets of the last record's partition */
    nb__topic_handle_t topics[NB__MAX_TOPIC_HANDLES];
    size_t n_topics;
    nb__counted_t consumed[NB__MAX_COUNTED_TOPICS]; /* by the open batch */
    size_t n_consumed;
    nb__undo_log_t undo;
    uint64_t batch_seq; /* of the open batch: the stores' mark of the pre-images it holds */
    /* The commit in flight (processing.commit_in_background): the committer thread sends the
     * offsets and commits the last batch's transaction while this thread handles the next
     * batch, whose records wait in `pending` until its own transaction can begin. Until the
     * commit is settled its pre-images stay in undo_prev: an abort rolls back both batches. */
    bool committing;
    pthread_t committer;
    atomic_bool commit_done;
    rd_kafka_error_t *commit_error; /* the committer's result */
    rd_kafka_topic_partition_list_t *commit_offsets;
    rd_kafka_consumer_group_metadata_t *commit_cgmd;
    int64_t commit_t0;
    int64_t commit_wait_ms; /* the main loop's time waiting for commits (logged at the end) */
    long abort_backoff_ms;  /* pause after an abort that followed an abort */
    /* A record whose handling failed with an error of its own (not Kafka's): its batch was
     * rolled back, and when the record comes again it goes to the dead letters (nb__process). */
    struct {
        bool set;
        char topic[256];
        int32_t partition;
        int64_t offset;
        nb_err_t err;
        int attempts; /* times this record was set aside and its batch still failed */
    } poison;
    /* Dead letters of the open batch and of the batch committing, by code: counted (metrics,
     * stats) when their transaction commits, not when they are produced. */
    uint32_t dl_open[NB_ERR__COUNT], dl_prev[NB_ERR__COUNT];
    bool dl_any_open, dl_any_prev;
    int dl_force; /* while setting a poison record aside: 1 bounded, 2 minimal dead letter */
    size_t max_msg; /* the producer's message.max.bytes */
    /* A record a broker refused for itself (too large, invalid), as the transaction's failure
     * says (nb__names_refusal): the batch aborts, and its records are handled again one per
     * transaction until the one refused is found and set aside. @locality set on any thread */
    atomic_bool rec_refused;
    rd_kafka_topic_partition_list_t *isolate;        /* suspect records: offsets below these */
    rd_kafka_topic_partition_list_t *failed_offsets; /* of a commit that failed, until rollback */
    bool isolate_commit; /* the open batch holds one suspect record: commit it alone, now */
    struct {
        bool set;
        char topic[256];
        int32_t partition;
        int64_t offset;
    } isolated; /* the suspect record alone in the open (or committing) batch */
    /* Readiness: when the loop last made progress (a commit, or nothing to do), and whether
     * the brokers were seen down. Read by the HTTP thread through nb_stream_stats(). */
    _Atomic int64_t progress_ms;
    int64_t brokers_probe_ms;
    /* Watermarks of the source partitions (absence deadlines wait for them). */
    nb__srcwm_t *srcwm;
    size_t n_srcwm, cap_srcwm, srcwm_hit;
    int64_t wm;           /* the watermark last worked out (NB_TIME_NONE: the clock) */
    uint64_t released_seen; /* nb__pipeline_released() as last reported */
    int64_t wm_reported;  /* wall clock: the last report to the other instances */
    nb_stream_fault_fn *fault_fn; /* test seam (nb_stream_set_fault_hook) */
    void *fault_opaque;
    nb__undo_log_t undo_prev;
    nb__counted_t consumed_prev[NB__MAX_COUNTED_TOPICS];
    size_t n_consumed_prev;
    nb__pending_t *pending;
    size_t n_pending, cap_pending;
    atomic_bool fatal;      /* also set by librdkafka's callbacks, on whichever thread polls */
    atomic_bool brokers_down; /* ALL_BROKERS_DOWN seen: not ready until the brokers answer */
    atomic_bool stop_asked;   /* nb_stream_stop(), from any thread */
    bool restoring;
    /* After an assignment or an abort, the sources stay paused until every owned by-child
     * partition has been read to its end once: what the topic held for a key is handled before
     * anything delivered to that key locally, so a key's events keep their order. */
    bool catching_up;
    int64_t catch_up_since; /* when it started; reset once a slow catch-up has been logged */
    bool *caught; /* [partitions]: by-child partition read to its end since it was assigned */
    int64_t last_tick;
    /* Records polled ahead, handled in order from `head`; the decoder thread decodes source
     * records from `wcur` on. Indexes grow forever; the slot is index % NB__RING. */
    nb__slot_t *ring;
    uint64_t head, tail;  /* @locks ahead_lock (written by this thread only) */
    uint64_t wcur;        /* @locks ahead_lock */
    bool ahead_quit;      /* @locks ahead_lock */
    bool decoder_idle;    /* @locks ahead_lock: waits for ahead_work */
    bool main_waits;      /* @locks ahead_lock: waits for ahead_done */
    uint64_t decoded_ahead, decoded_inline; /* @locks ahead_lock */
    nb__decoder_t *decoder; /* the decoder thread's; NULL: no decoder thread */
    pthread_t decoder_thread;
    pthread_mutex_t ahead_lock;
    pthread_cond_t ahead_work, ahead_done;
    _Atomic int64_t fixed_now; /* NB_TIME_NONE: evaluate at the wall clock */
    nb_metrics_t *metrics;      /* borrowed; NULL when metrics are off (every call accepts it) */
    nb_stream_stats_t stats;            /* main thread's working copy */
    nb_stream_stats_t published;        /* @locks stats_lock: what other threads read */
    pthread_mutex_t stats_lock;
    char errstr[512];
};

/* The time rules are evaluated at: the wall clock, or processing.fixed_now in tests. */
static int64_t nb__eval_now(const nb_stream_t *st);

static int64_t nb__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t nb__eval_now(const nb_stream_t *st)
{
    int64_t fixed = atomic_load(&((nb_stream_t *)st)->fixed_now);
    return fixed != NB_TIME_NONE ? fixed : nb__now();
}

void nb_stream_set_metrics(nb_stream_t *st, nb_metrics_t *m)
{
    st->metrics = m;
    nb__pipeline_report(st->pipe, m);
}

nb_metrics_t *nb__stream_metrics(const nb_stream_t *st)
{
    return st->metrics;
}

void nb_stream_set_fault_hook(nb_stream_t *st, nb_stream_fault_fn *fn, void *opaque)
{
    st->fault_fn = fn;
    st->fault_opaque = opaque;
}

void nb_stream_set_fixed_now(nb_stream_t *st, int64_t now_ms)
{
    atomic_store(&st->fixed_now, now_ms);
}

void nb_stream_stop(nb_stream_t *st)
{
    atomic_store(&st->stop_asked, true);
}

/* *stop is a signal flag, for the handler's own thread; nb_stream_stop() for any thread. */
static bool nb__stopping(nb_stream_t *st, volatile sig_atomic_t *stop)
{
    return (stop && *stop) || atomic_load(&st->stop_asked);
}

/* ---- librdkafka plumbing ----------------------------------------------------------------- */

/* librdkafka before 2.6.1 sends a SCRAM nonce that Apache Kafka 4.x brokers refuse, and the
 * broker answers "invalid credentials": the one failure a right password cannot fix. Said once
 * per process, next to librdkafka's own message (which 2.0.2 reports through the log callback,
 * not the error callback). */
static void nb__scram_hint(const char *reason)
{
    static atomic_bool said;
    if (rd_kafka_version() >= 0x02060100 || !reason || !strstr(reason, "SCRAM") ||
        atomic_exchange(&said, true))
        return;
    NB_LOG(NB_LOG_ERROR, "stream",
           "SCRAM login refused. If the password is right and the brokers run Apache Kafka 4.x: "
           "librdkafka %s cannot log in with SCRAM to them (fixed in librdkafka 2.6.1); use "
           "Kafka 3.9 brokers, a newer librdkafka, or another mechanism (docs/runbook.md)",
           rd_kafka_version_str());
}

/*
 * Whether the reason librdkafka gives for a failed transaction names a refusal of a record
 * itself (not of the broker or of permissions): "ProduceRequest for T [p] with N message(s)
 * failed: Broker: Message size too large (...): current transaction must be aborted
 * (MSG_SIZE_TOO_LARGE)". (A delivery report callback would say it per record, but with one
 * set, commit and abort wait for its reports to be served, which nobody does while they wait.)
 */
static bool nb__names_refusal(const char *s)
{
    static const char *const names[] = {"MSG_SIZE_TOO_LARGE", "RECORD_LIST_TOO_LARGE",
                                        "INVALID_RECORD", "INVALID_MSG_SIZE", "(INVALID_MSG)"};
    for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
        if (strstr(s, names[i]))
            return true;
    return false;
}

/* A record a broker refused for itself: the batch's abort looks for it (nb__rollback).
 * @locality any thread (librdkafka's, or the committer) */
static void nb__refused(nb_stream_t *st, const char *reason)
{
    if (!st || atomic_exchange(&st->rec_refused, true))
        return;
    NB_LOG(NB_LOG_WARN, "stream", "a broker refused a record for itself (%s)",
           strstr(reason, "(MSG_SIZE_TOO_LARGE)") ? "too large for the topic"
                                                  : "invalid or too large");
}

static void nb__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug. */
    nb_log_level_t lvl = level <= 3 ? NB_LOG_ERROR
                         : level == 4 ? NB_LOG_WARN
                         : level <= 6 ? NB_LOG_INFO
                                      : NB_LOG_DEBUG;
    NB_LOG(lvl, "rdkafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
    if (strstr(buf, "SASL authentication error"))
        nb__scram_hint(buf);
    if (strcmp(fac, "TXNERR") == 0 && nb__names_refusal(buf))
        nb__refused(rd_kafka_opaque(rk), buf);
}

const char *nb_stream_kafka_version(void)
{
    return rd_kafka_version_str();
}

static void nb__error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    nb_stream_t *st = opaque;
    if (!st) /* a client made only to check the configuration (nb_stream_check) */
        return;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        NB_LOG(NB_LOG_ERROR, "stream", "fatal Kafka error: %s: %s", rd_kafka_err2name(orig), buf);
        st->fatal = true;
        atomic_store(&st->brokers_down, true);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        atomic_store(&st->brokers_down, true);
    NB_LOG(NB_LOG_WARN, "stream", "%s: %s: %s", rd_kafka_name(rk),
           rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* True when the configuration (kafka.properties or NB_RDKAFKA_*) sets this property. */
static bool nb__given(const nb_config_t *conf, const char *key)
{
    for (size_t i = 0; i < conf->n_kafka_props; i++)
        if (strcmp(conf->kafka_props[i].key, key) == 0)
            return true;
    return false;
}

/* librdkafka statistics (JSON) of the group consumer and of the producer: consumer lag,
 * brokers' round trips and errors, the transaction state (src/ops/kstats.c).
 * @locality the thread that polls the client: the main thread */
static int nb__stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    nb_stream_t *st = opaque;
    (void)rk;
    if (st)
        nb_metrics_kafka_stats(st->metrics, json, json_len);
    return 0; /* librdkafka frees json */
}

/* Statistics every 10 s for the metrics, unless the configuration says otherwise. */
static bool nb__stats_conf(const nb_config_t *conf, rd_kafka_conf_t *kc, char *errstr,
                           size_t errstr_size)
{
    if (!nb__given(conf, "statistics.interval.ms") &&
        rd_kafka_conf_set(kc, "statistics.interval.ms", "10000", errstr, errstr_size) !=
            RD_KAFKA_CONF_OK)
        return false;
    rd_kafka_conf_set_stats_cb(kc, nb__stats_cb);
    return true;
}

static rd_kafka_conf_t *nb__base_conf(const nb_config_t *conf, const char *role, void *opaque,
                                      char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char client_id[256];
    snprintf(client_id, sizeof(client_id), "%s-%s", conf->instance_id, role);
    if (rd_kafka_conf_set(kc, "bootstrap.servers", conf->bootstrap_servers, errstr,
                          errstr_size) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(kc, "client.id", client_id, errstr, errstr_size) != RD_KAFKA_CONF_OK)
        goto fail;
    for (size_t i = 0; i < conf->n_kafka_props; i++) {
        if (rd_kafka_conf_set(kc, conf->kafka_props[i].key, conf->kafka_props[i].value, errstr,
                              errstr_size) != RD_KAFKA_CONF_OK)
            goto fail;
    }
    rd_kafka_conf_set_log_cb(kc, nb__log_cb);
    rd_kafka_conf_set_error_cb(kc, nb__error_cb);
    rd_kafka_conf_set_opaque(kc, opaque);
    return kc;
fail:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

static bool nb__set(rd_kafka_conf_t *kc, const char *k, const char *v, char *errstr,
                    size_t errstr_size)
{
    return rd_kafka_conf_set(kc, k, v, errstr, errstr_size) == RD_KAFKA_CONF_OK;
}

/* ---- state and undo ----------------------------------------------------------------------- */

const nb_config_t *nb__stream_conf(const nb_stream_t *st)
{
    return st->conf;
}

nb_stream_stats_t *nb__stream_counters(nb_stream_t *st)
{
    return &st->stats;
}

int32_t nb__partition_of(const nb_stream_t *st, const uint8_t key[NB__KEY_LEN])
{
    uint32_t h = ((uint32_t)key[0] << 24) | ((uint32_t)key[1] << 16) | ((uint32_t)key[2] << 8) |
                 key[3];
    return (int32_t)(h % (uint32_t)st->partitions);
}

size_t nb__stream_keys(const nb_stream_t *st)
{
    size_t n = 0;
    for (int p = 0; p < st->partitions; p++)
        if (st->stores[p])
            n += nb__store_count(st->stores[p]);
    return n;
}

bool nb__owns(const nb_stream_t *st, int32_t partition)
{
    return partition >= 0 && partition < st->partitions && st->stores[partition] != NULL;
}

bool nb__deliver_here(const nb_stream_t *st, int32_t partition)
{
    return st->conf->local_by_child && !st->catching_up && nb__owns(st, partition);
}

const uint8_t *nb__state_get(nb_stream_t *st, int32_t partition, const uint8_t key[NB__KEY_LEN],
                             size_t *len)
{
    if (!nb__owns(st, partition))
        return NULL;
    return nb__store_get(st->stores[partition], key, len);
}

static nb_err_t nb__begin(nb_stream_t *st);

nb_err_t nb__state_put_owned(nb_stream_t *st, int32_t partition, const uint8_t key[NB__KEY_LEN],
                             uint8_t *val, size_t len)
{
    nb_err_t err = nb__owns(st, partition) ? nb__begin(st) : NB_ERR_INVALID_ARG;
    if (err) {
        free(val);
        return err;
    }
    if (len == 0) {
        free(val);
        val = NULL;
    }
    nb__undo_log_t *log = &st->undo;
    if (log->n == log->cap) {
        size_t cap = log->cap ? 2 * log->cap : 1024;
        nb__undo_t *v = realloc(log->v, cap * sizeof(*v));
        if (!v) {
            free(val);
            return NB_ERR_NOMEM;
        }
        log->v = v;
        log->cap = cap;
    }
    uint8_t *old = NULL;
    size_t old_len = 0;
    bool marked = false;
    if ((err = nb__store_swap(st->stores[partition], key, val, len, st->batch_seq, &old,
                              &old_len, &marked))) {
        free(val);
        return err;
    }
    if (marked) {
        free(old); /* the batch holds this key's pre-image already */
    } else {
        /* The value replaced is the pre-image (kept for an abort, not copied). */
        nb__undo_t *u = &log->v[log->n++];
        u->partition = partition;
        memcpy(u->key, key, NB__KEY_LEN);
        u->existed = old != NULL;
        u->val = old;
        u->len = old_len;
    }
    char hex[2 * NB__KEY_LEN + 1];
    nb__key_hex(key, hex);
    return nb__emit(st, st->conf->changelog_topic, partition, hex, 2 * NB__KEY_LEN, val, len,
                    NULL);
}

nb_err_t nb__state_put(nb_stream_t *st, int32_t partition, const uint8_t key[NB__KEY_LEN],
                       const void *val, size_t len)
{
    uint8_t *copy = NULL;
    if (len > 0) {
        if (!(copy = malloc(len)))
            return NB_ERR_NOMEM;
        memcpy(copy, val, len);
    }
    return nb__state_put_owned(st, partition, key, copy, len);
}

static void nb__undo_clear(nb__undo_log_t *log)
{
    for (size_t i = 0; i < log->n; i++)
        free(log->v[i].val);
    log->n = 0;
}

static void nb__undo_free(nb__undo_log_t *log)
{
    nb__undo_clear(log);
    free(log->v);
    memset(log, 0, sizeof(*log));
}

/* Puts back every state entry a rolled-back batch changed, the latest change first. */
static void nb__undo_apply(nb_stream_t *st, nb__undo_log_t *log)
{
    for (size_t i = log->n; i-- > 0;) {
        const nb__undo_t *u = &log->v[i];
        int32_t p = u->partition;
        if (nb__owns(st, p)) {
            if (u->existed)
                nb__store_put(st->stores[p], u->key, u->val, u->len);
            else
                nb__store_del(st->stores[p], u->key);
            nb__pipeline_state_loaded(st->pipe, p, u->key, u->existed ? u->val : NULL,
                                      u->existed ? u->len : 0);
        }
    }
    nb__undo_clear(log);
}

/* ---- producing --------------------------------------------------------------------------- */

/* Opens a batch; begins its producer transaction unless the last one is still committing. */
static nb_err_t nb__begin(nb_stream_t *st)
{
    if (!st->txn_open) {
        st->txn_open = true;
        st->batch_seq++;
        st->batch_start = nb__now();
        st->batch_records = 0;
        st->batch_emitted = 0;
    }
    if (st->txn_begun || st->committing)
        return NB_ERR_OK;
    rd_kafka_error_t *error = rd_kafka_begin_transaction(st->producer);
    if (error) {
        NB_LOG(NB_LOG_ERROR, "stream", "begin_transaction: %s", rd_kafka_error_string(error));
        bool fatal = rd_kafka_error_is_fatal(error);
        rd_kafka_error_destroy(error);
        if (fatal)
            st->fatal = true;
        return fatal ? NB_ERR_KAFKA_FATAL : NB_ERR_KAFKA_ABORTABLE;
    }
    st->txn_begun = true;
    return NB_ERR_OK;
}

/* The producer's handle of @p topic, made on first use (NULL when NB__MAX_TOPIC_HANDLES are
 * taken: the caller produces by name). */
static rd_kafka_topic_t *nb__topic_handle(nb_stream_t *st, const char *topic)
{
    for (size_t i = 0; i < st->n_topics; i++)
        if (st->topics[i].name == topic)
            return st->topics[i].rkt;
    for (size_t i = 0; i < st->n_topics; i++)
        if (strcmp(st->topics[i].name, topic) == 0)
            return st->topics[i].rkt;
    if (st->n_topics == NB__MAX_TOPIC_HANDLES)
        return NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(st->producer, topic, NULL);
    if (rkt) {
        st->topics[st->n_topics].name = topic;
        st->topics[st->n_topics++].rkt = rkt;
    }
    return rkt;
}

/* Produces one record into the begun transaction. @p flags: RD_KAFKA_MSG_F_COPY, or
 * RD_KAFKA_MSG_F_FREE to hand the value over (kept by the caller on error). @p hdrs are taken
 * over in either case. */
static nb_err_t nb__produce(nb_stream_t *st, const char *topic, int32_t partition,
                            const void *key, size_t key_len, void *value, size_t value_len,
                            rd_kafka_headers_t *hdrs, int flags)
{
    rd_kafka_topic_t *rkt = nb__topic_handle(st, topic);
    for (;;) {
        rd_kafka_resp_err_t rerr =
            rkt ? rd_kafka_producev(st->producer, RD_KAFKA_V_RKT(rkt),
                                    RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, key_len),
                                    RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_MSGFLAGS(flags),
                                    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END)
                : rd_kafka_producev(st->producer, RD_KAFKA_V_TOPIC(topic),
                                    RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, key_len),
                                    RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_MSGFLAGS(flags),
                                    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR) {
            st->batch_emitted++;
            return NB_ERR_OK;
        }
        if (rerr == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(st->producer, 50);
            continue;
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (rerr == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            /* The record's own failure, not Kafka's (nb__emit checks first; this is the
             * client's own check, should it count differently). */
            NB_LOG(NB_LOG_WARN, "stream", "produce to %s: %zu bytes: %s", topic,
                   key_len + value_len, rd_kafka_err2str(rerr));
            return NB_ERR_RECORD_TOO_LARGE;
        }
        NB_LOG(NB_LOG_ERROR, "stream", "produce to %s: %s", topic, rd_kafka_err2str(rerr));
        if (rerr == RD_KAFKA_RESP_ERR__FATAL) {
            st->fatal = true;
            return NB_ERR_KAFKA_FATAL;
        }
        return NB_ERR_KAFKA_ABORTABLE;
    }
}

static void nb__pending_clear(nb_stream_t *st)
{
    for (size_t i = 0; i < st->n_pending; i++) {
        free(st->pending[i].key);
        free(st->pending[i].value);
        if (st->pending[i].hdrs)
            rd_kafka_headers_destroy(st->pending[i].hdrs);
    }
    st->n_pending = 0;
}

/* Keeps a record for the batch's transaction, which begins once the last commit is settled. */
static nb_err_t nb__pending_add(nb_stream_t *st, const char *topic, int32_t partition,
                                const void *key, size_t key_len, const void *value,
                                size_t value_len, rd_kafka_headers_t *hdrs)
{
    if (st->n_pending == st->cap_pending) {
        size_t cap = st->cap_pending ? st->cap_pending * 2 : 1024;
        nb__pending_t *v = realloc(st->pending, cap * sizeof(*v));
        if (!v)
            goto nomem;
        st->pending = v;
        st->cap_pending = cap;
    }
    nb__pending_t *e = &st->pending[st->n_pending];
    e->topic = topic;
    e->partition = partition;
    e->key_len = key ? key_len : 0;
    e->value_len = value ? value_len : 0;
    e->key = e->key_len ? malloc(e->key_len) : NULL;
    e->value = e->value_len ? malloc(e->value_len) : NULL;
    if ((e->key_len && !e->key) || (e->value_len && !e->value)) {
        free(e->key);
        free(e->value);
        goto nomem;
    }
    if (e->key_len)
        memcpy(e->key, key, e->key_len);
    if (e->value_len)
        memcpy(e->value, value, e->value_len);
    e->hdrs = hdrs;
    st->n_pending++;
    return NB_ERR_OK;
nomem:
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    return NB_ERR_NOMEM;
}

/* Produces what waited for the batch's transaction (just begun). */
static nb_err_t nb__pending_flush(nb_stream_t *st)
{
    nb_err_t err = NB_ERR_OK;
    for (size_t i = 0; i < st->n_pending && !err; i++) {
        nb__pending_t *e = &st->pending[i];
        err = nb__produce(st, e->topic, e->partition, e->key, e->key_len, e->value,
                          e->value_len, e->hdrs, e->value ? RD_KAFKA_MSG_F_FREE : 0);
        e->hdrs = NULL; /* taken over either way */
        if (!err)
            e->value = NULL; /* the producer frees it */
    }
    /* The keys; on error also what was not produced (the batch is rolled back). */
    nb__pending_clear(st);
    return err;
}

/* An upper bound of the size librdkafka gives a record when it checks message.max.bytes (a
 * record batch's header, the record's own varints and attributes, every header). */
static size_t nb__wire_size(size_t key_len, size_t value_len, rd_kafka_headers_t *hdrs)
{
    size_t n = key_len + value_len + 128;
    const char *name;
    const void *v;
    size_t size;
    for (size_t i = 0; hdrs && rd_kafka_header_get_all(hdrs, i, &name, &v, &size) == 0; i++)
        n += strlen(name) + size + 16;
    return n;
}

nb_err_t nb__emit(nb_stream_t *st, const char *topic, int32_t partition, const void *key,
                  size_t key_len, const void *value, size_t value_len, rd_kafka_headers_t *hdrs)
{
    /* Checked before it is kept for a transaction that begins later (nb__pending_add): the
     * failure belongs to the record being handled now, which is then set aside. */
    if (key_len + value_len + 128 > st->max_msg ||
        (hdrs && nb__wire_size(key_len, value_len, hdrs) > st->max_msg)) {
        NB_LOG(NB_LOG_DEBUG, "stream", "a record for %s of %zu bytes exceeds message.max.bytes "
               "(%zu)", topic, nb__wire_size(key_len, value_len, hdrs), st->max_msg);
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return NB_ERR_RECORD_TOO_LARGE;
    }
    nb_err_t err = nb__begin(st);
    if (err) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return err;
    }
    if (!st->txn_begun)
        return nb__pending_add(st, topic, partition, key, key_len, value, value_len, hdrs);
    return nb__produce(st, topic, partition, key, key_len, (void *)value, value_len, hdrs,
                       RD_KAFKA_MSG_F_COPY);
}

/* ---- origins and dead letters ------------------------------------------------------------- */

static void nb__put_le(nb_buf_t *b, uint64_t v, int bytes)
{
    uint8_t x[8];
    for (int i = 0; i < bytes; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    nb_buf_append(b, x, (size_t)bytes);
}

static bool nb__get_le(const uint8_t **p, const uint8_t *end, int bytes, uint64_t *v)
{
    if ((size_t)(end - *p) < (size_t)bytes)
        return false;
    *v = 0;
    for (int i = 0; i < bytes; i++)
        *v |= (uint64_t)(*p)[i] << (8 * i);
    *p += bytes;
    return true;
}

static bool nb__headers_pack_h(const rd_kafka_headers_t *h, nb_buf_t *out);

bool nb__headers_pack(const rd_kafka_message_t *rkm, nb_buf_t *out)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h)
        return false;
    return nb__headers_pack_h(h, out);
}

static bool nb__headers_pack_h(const rd_kafka_headers_t *h, nb_buf_t *out)
{
    size_t n = rd_kafka_header_cnt(h);
    if (n == 0)
        return false;
    nb__put_le(out, n, 4);
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++) {
        size_t nl = strlen(name);
        if (nl > UINT16_MAX)
            nl = UINT16_MAX;
        nb__put_le(out, nl, 2);
        nb_buf_append(out, name, nl);
        nb__put_le(out, val ? size : UINT32_MAX, 4);
        if (val)
            nb_buf_append(out, val, size);
    }
    return out->err == NB_ERR_OK;
}

bool nb__headers_unpack(const void *blob, size_t len, rd_kafka_headers_t *h)
{
    const uint8_t *p = blob, *end = p + len;
    uint64_t n, nl, vl;
    if (!nb__get_le(&p, end, 4, &n))
        return false;
    for (uint64_t i = 0; i < n; i++) {
        if (!nb__get_le(&p, end, 2, &nl) || (size_t)(end - p) < nl)
            return false;
        const char *name = (const char *)p;
        p += nl;
        if (!nb__get_le(&p, end, 4, &vl))
            return false;
        if (vl == UINT32_MAX) {
            rd_kafka_header_add(h, name, (ssize_t)nl, NULL, 0);
            continue;
        }
        if ((size_t)(end - p) < vl)
            return false;
        rd_kafka_header_add(h, name, (ssize_t)nl, p, (ssize_t)vl);
        p += vl;
    }
    return p == end;
}

/* Adds the provenance headers of a record read from @p topic. */
static void nb__source_headers(rd_kafka_headers_t *h, const char *topic, int32_t partition,
                               int64_t offset, int64_t ts)
{
    char buf[32];
    rd_kafka_header_add(h, "nb.source.topic", -1, topic, -1);
    snprintf(buf, sizeof(buf), "%d", (int)partition);
    rd_kafka_header_add(h, "nb.source.partition", -1, buf, -1);
    snprintf(buf, sizeof(buf), "%lld", (long long)offset);
    rd_kafka_header_add(h, "nb.source.offset", -1, buf, -1);
    snprintf(buf, sizeof(buf), "%lld", (long long)ts);
    rd_kafka_header_add(h, "nb.source.timestamp", -1, buf, -1);
}

void nb__origin_to_headers(const nb__origin_t *o, rd_kafka_headers_t *h)
{
    if (!o->topic)
        return;
    nb__source_headers(h, o->topic, o->partition, o->offset, o->ts);
    if (o->key)
        rd_kafka_header_add(h, "nb.source.key", -1, o->key, (ssize_t)o->key_len);
    if (o->headers)
        rd_kafka_header_add(h, "nb.source.headers", -1, o->headers, (ssize_t)o->headers_len);
}

const char *nb__header_str(rd_kafka_headers_t *h, const char *name, char *buf,
                                  size_t size)
{
    const void *v = NULL;
    size_t n = 0;
    buf[0] = '\0';
    if (h && rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR && v) {
        if (n >= size)
            n = size - 1;
        memcpy(buf, v, n);
        buf[n] = '\0';
    }
    return buf;
}

bool nb__origin_from_headers(const rd_kafka_message_t *rkm, nb__origin_t *o, char *topic,
                             size_t topic_size)
{
    rd_kafka_headers_t *h = NULL;
    char buf[32];
    memset(o, 0, sizeof(*o));
    if (rd_kafka_message_headers(rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h ||
        !nb__header_str(h, "nb.source.topic", topic, topic_size)[0])
        return false;
    o->topic = topic;
    o->partition = atoi(nb__header_str(h, "nb.source.partition", buf, sizeof(buf)));
    o->offset = atoll(nb__header_str(h, "nb.source.offset", buf, sizeof(buf)));
    o->ts = nb__header_str(h, "nb.source.timestamp", buf, sizeof(buf))[0]
                ? atoll(buf)
                : rd_kafka_message_timestamp(rkm, NULL);
    const void *v;
    size_t n;
    if (rd_kafka_header_get_last(h, "nb.source.key", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        o->key = v ? v : "";
        o->key_len = v ? n : 0;
    }
    if (rd_kafka_header_get_last(h, "nb.source.headers", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        v) {
        o->headers = v;
        o->headers_len = n;
    }
    return true;
}

/* Counts a dead letter of the open batch (reported when its transaction commits). */
static void nb__dl_count(nb_stream_t *st, nb_err_t err)
{
    if ((int)err >= 0 && err < NB_ERR__COUNT) {
        st->dl_open[err]++;
        st->dl_any_open = true;
    }
}

static void nb__sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    out[0] = '\0';
    if (EVP_Digest(p ? p : "", n, md, &md_len, EVP_sha256(), NULL) != 1)
        return;
    for (unsigned int i = 0; i < md_len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void nb__header_num(rd_kafka_headers_t *h, const char *name, unsigned long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", v);
    rd_kafka_header_add(h, name, -1, buf, -1);
}

/* Adds the error and the provenance to a dead letter's headers. */
static void nb__dl_headers(rd_kafka_headers_t *h, const nb__origin_t *o, nb_err_t err,
                           const char *reason)
{
    rd_kafka_header_add(h, "nb.error.code", -1, nb_err_name(err), -1);
    rd_kafka_header_add(h, "nb.error.message", -1, reason, -1);
    nb__source_headers(h, o->topic, o->partition, o->offset, o->ts);
}

/*
 * A dead letter that fits whatever the record was: the reason, the provenance, the sizes and
 * SHA-256 digests of the original key, value and headers, the original headers when they are
 * small, the key cut to NB__DL_KEY_MAX bytes and the first processing.dead_letter_prefix_bytes
 * of the value. @p minimal keeps no value bytes and no original headers (the last resort for
 * a record whose bounded dead letter was refused too). @p orig is taken over (may be NULL).
 */
static nb_err_t nb__dead_letter_bounded(nb_stream_t *st, const nb__origin_t *o,
                                        rd_kafka_headers_t *orig, const void *value, size_t len,
                                        nb_err_t err, const char *reason, bool minimal)
{
    nb_buf_t packed = {0};
    size_t n_orig = orig ? rd_kafka_header_cnt(orig) : 0;
    if (n_orig > 0 && !nb__headers_pack_h(orig, &packed)) {
        nb_buf_free(&packed);
        rd_kafka_headers_destroy(orig);
        return NB_ERR_NOMEM; /* a dead letter that misstates the original is not written */
    }
    char key_sha[65], value_sha[65], headers_sha[65];
    nb__sha256_hex(o->key, o->key ? o->key_len : 0, key_sha);
    nb__sha256_hex(value, value ? len : 0, value_sha);
    nb__sha256_hex(packed.data, packed.len, headers_sha);
    bool keep = !minimal && orig && packed.len <= NB__DL_HEADERS_MAX;
    rd_kafka_headers_t *h = keep ? orig : rd_kafka_headers_new(16);
    if (!keep && orig)
        rd_kafka_headers_destroy(orig);
    nb__dl_headers(h, o, err, reason);
    rd_kafka_header_add(h, "nb.dead_letter.bounded", -1, minimal ? "minimal" : "true", -1);
    nb__header_num(h, "nb.original.key.bytes", o->key ? o->key_len : 0);
    rd_kafka_header_add(h, "nb.original.key.sha256", -1, key_sha, -1);
    nb__header_num(h, "nb.original.value.bytes", value ? len : 0);
    rd_kafka_header_add(h, "nb.original.value.sha256", -1, value_sha, -1);
    nb__header_num(h, "nb.original.headers.count", n_orig);
    nb__header_num(h, "nb.original.headers.bytes", packed.len);
    rd_kafka_header_add(h, "nb.original.headers.sha256", -1, headers_sha, -1);
    rd_kafka_header_add(h, "nb.original.headers.kept", -1, keep ? "true" : "false", -1);
    nb_buf_free(&packed);
    size_t klen = o->key && o->key_len > NB__DL_KEY_MAX ? NB__DL_KEY_MAX : o->key_len;
    size_t vlen = minimal || !value ? 0 : len;
    if (vlen > (size_t)st->conf->dead_letter_prefix_bytes)
        vlen = (size_t)st->conf->dead_letter_prefix_bytes;
    size_t base = nb__wire_size(klen, 0, h);
    if (base + vlen > st->max_msg)
        vlen = base < st->max_msg ? st->max_msg - base : 0;
    nb__dl_count(st, err);
    NB_LOG(NB_LOG_WARN, "stream",
           "dead letter from %s [%d] offset %lld: %s: %s; too large to set aside whole (key %zu "
           "bytes, value %zu bytes, %zu headers): a bounded dead letter with digests%s",
           o->topic, (int)o->partition, (long long)o->offset, nb_err_name(err), reason,
           o->key ? o->key_len : 0, value ? len : 0, n_orig,
           vlen ? " and the value's first bytes" : "");
    return nb__emit(st, st->conf->dead_letter_topic, RD_KAFKA_PARTITION_UA, o->key, klen, value,
                    vlen, h);
}

/* Adds the error and the provenance to @p orig (the original headers, taken over; NULL: none),
 * counts, logs and produces; or, when the whole record would be larger than Kafka takes, a
 * bounded dead letter (nb__dead_letter_bounded). */
static nb_err_t nb__dead_letter_send(nb_stream_t *st, const nb__origin_t *o,
                                     rd_kafka_headers_t *orig, const void *value, size_t len,
                                     nb_err_t err, const char *reason)
{
    /* The error and provenance headers: the reason (< 1 KiB) and five short values. */
    size_t whole = nb__wire_size(o->key ? o->key_len : 0, value ? len : 0, orig) +
                   strlen(reason) + 512;
    if (st->dl_force > 0 || whole > st->max_msg)
        return nb__dead_letter_bounded(st, o, orig, value, len, err, reason, st->dl_force >= 2);
    rd_kafka_headers_t *hdrs = orig ? orig : rd_kafka_headers_new(8);
    nb__dl_headers(hdrs, o, err, reason);
    nb__dl_count(st, err);
    NB_LOG(NB_LOG_WARN, "stream", "dead letter from %s [%d] offset %lld: %s: %s", o->topic,
           (int)o->partition, (long long)o->offset, nb_err_name(err), reason);
    return nb__emit(st, st->conf->dead_letter_topic, RD_KAFKA_PARTITION_UA, o->key, o->key_len,
                    value, len, hdrs);
}

nb_err_t nb__dead_letter_origin(nb_stream_t *st, const nb__origin_t *o, const void *value,
                                size_t len, nb_err_t err, const char *reason)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (o->headers) {
        hdrs = rd_kafka_headers_new(8);
        if (!nb__headers_unpack(o->headers, o->headers_len, hdrs))
            NB_LOG(NB_LOG_WARN, "stream", "dead letter from %s [%d] offset %lld: its original "
                   "headers were unreadable; kept those read", o->topic, (int)o->partition,
                   (long long)o->offset);
    }
    return nb__dead_letter_send(st, o, hdrs, value, len, err, reason);
}

nb_err_t nb__dead_letter(nb_stream_t *st, const rd_kafka_message_t *rkm, nb_err_t err,
                         const char *reason)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    nb__origin_t o;
    char src_topic[256];
    /* A by-child record stands for the record first read: dead-letter that one. */
    if (strcmp(topic, st->conf->by_child_topic) == 0 &&
        nb__origin_from_headers(rkm, &o, src_topic, sizeof(src_topic)))
        return nb__dead_letter_origin(st, &o, rkm->payload, rkm->len, err, reason);
    memset(&o, 0, sizeof(o));
    o.topic = topic;
    o.partition = rkm->partition;
    o.offset = rkm->offset;
    o.ts = rd_kafka_message_timestamp(rkm, NULL);
    o.key = rkm->key;
    o.key_len = rkm->key_len;
    rd_kafka_headers_t *orig = NULL;
    rd_kafka_headers_t *hdrs =
        rd_kafka_message_headers(rkm, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig
            ? rd_kafka_headers_copy(orig)
            : NULL;
    return nb__dead_letter_send(st, &o, hdrs, rkm->payload, rkm->len, err, reason);
}

/* ---- transactions ------------------------------------------------------------------------- */

static void nb__track_offset(nb_stream_t *st, const rd_kafka_message_t *rkm)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    rd_kafka_topic_partition_list_t *l = st->offsets;
    rd_kafka_topic_partition_t *tp = NULL;
    if (st->last_offset < l->cnt && l->elems[st->last_offset].partition == rkm->partition &&
        strcmp(l->elems[st->last_offset].topic, topic) == 0)
        tp = &l->elems[st->last_offset]; /* records come in runs of one partition */
    else if (!(tp = rd_kafka_topic_partition_list_find(l, topic, rkm->partition)))
        tp = rd_kafka_topic_partition_list_add(l, topic, rkm->partition);
    st->last_offset = (int)(tp - l->elems);
    tp->offset = rkm->offset + 1;
}

/* Seeks every assigned partition back to its committed offset: the one this instance's last
 * transaction on it committed, or else the group's. */
static void nb__rewind(nb_stream_t *st)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(st->consumer, &parts) || !parts)
        return;
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        rd_kafka_topic_partition_t *done =
            rd_kafka_topic_partition_list_find(st->done_offsets, tp->topic, tp->partition);
        if (done)
            tp->offset = done->offset;
        else
            rd_kafka_topic_partition_list_add(ask, tp->topic, tp->partition);
    }
    if (ask->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_committed(st->consumer, ask, 30000);
        if (err)
            NB_LOG(NB_LOG_WARN, "stream", "committed offsets: %s", rd_kafka_err2str(err));
        for (int i = 0; i < ask->cnt; i++)
            rd_kafka_topic_partition_list_find(parts, ask->elems[i].topic,
                                               ask->elems[i].partition)
                ->offset = err || ask->elems[i].offset < 0 ? RD_KAFKA_OFFSET_BEGINNING
                                                           : ask->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(ask);
    if (parts->cnt > 0) {
        rd_kafka_error_t *error = rd_kafka_seek_partitions(st->consumer, parts, 30000);
        if (error) {
            NB_LOG(NB_LOG_WARN, "stream", "rewind: %s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Forgets the offsets committed (a rebalance: the group's are looked up again). */
static void nb__done_offsets_reset(nb_stream_t *st)
{
    if (st->done_offsets)
        rd_kafka_topic_partition_list_destroy(st->done_offsets);
    st->done_offsets = rd_kafka_topic_partition_list_new(16);
}

/* Reports the records consumed by topic (once per transaction, not per record). */
static void nb__report_consumed(nb_stream_t *st, const nb__counted_t *counted, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        nb_metrics_add(st->metrics, NB_M_RECORDS_CONSUMED, counted[i].topic,
                       (double)counted[i].n);
    *n = 0;
}

static void nb__count_consumed(nb_stream_t *st, const char *topic)
{
    for (size_t i = 0; i < st->n_consumed; i++) {
        if (st->consumed[i].name == topic || strcmp(st->consumed[i].topic, topic) == 0) {
            st->consumed[i].name = topic;
            st->consumed[i].n++;
            return;
        }
    }
    if (st->n_consumed == NB__MAX_COUNTED_TOPICS)
        nb__report_consumed(st, st->consumed, &st->n_consumed);
    snprintf(st->consumed[st->n_consumed].topic, sizeof(st->consumed[0].topic), "%s", topic);
    st->consumed[st->n_consumed].name = topic;
    st->consumed[st->n_consumed++].n = 1;
}

static void nb__batch_reset(nb_stream_t *st)
{
    st->n_consumed = 0; /* reported on commit; after an abort they are read again */
    st->txn_open = false;
    st->txn_begun = false;
    rd_kafka_topic_partition_list_destroy(st->offsets);
    st->offsets = rd_kafka_topic_partition_list_new(16);
    st->batch_records = 0;
    st->batch_emitted = 0;
}

/* Pauses or resumes every assigned partition of the source topics (all but by-child). */
static void nb__sources_pause(nb_stream_t *st, bool pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL, *src;
    if (rd_kafka_assignment(st->consumer, &parts) || !parts)
        return;
    src = rd_kafka_topic_partition_list_new(parts->cnt + 1);
    for (int i = 0; i < parts->cnt; i++)
        if (strcmp(parts->elems[i].topic, st->conf->by_child_topic) != 0)
            rd_kafka_topic_partition_list_add(src, parts->elems[i].topic,
                                              parts->elems[i].partition);
    if (src->cnt > 0) {
        rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(st->consumer, src)
                                        : rd_kafka_resume_partitions(st->consumer, src);
        if (err)
            NB_LOG(NB_LOG_WARN, "stream", "%s sources: %s", pause ? "pause" : "resume",
                   rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(src);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Starts catching up (sources paused) when some owned by-child partition is not read to its
 * end; ends it when all are. */
static void nb__catch_up_check(nb_stream_t *st, bool force)
{
    bool all = true, any = false;
    for (int p = 0; p < st->partitions; p++) {
        if (!st->stores[p])
            continue;
        any = true;
        all = all && st->caught[p];
    }
    bool want = st->conf->local_by_child && any && !all;
    if (want == st->catching_up && !force)
        return;
    bool changed = want != st->catching_up;
    st->catching_up = want;
    st->stats.catching_up = want;
    if (changed && want)
        st->catch_up_since = nb__now();
    nb__sources_pause(st, want);
    if (changed)
        NB_LOG(NB_LOG_INFO, "stream", want ? "reading the by-child partitions to their end before "
                                         "the sources"
                                       : "by-child partitions read to their end; sources resumed");
}

static void nb__catch_up_restart(nb_stream_t *st)
{
    for (int p = 0; p < st->partitions; p++)
        st->caught[p] = false;
    nb__catch_up_check(st, false);
}

/* ---- records polled ahead ----------------------------------------------------------------- */

/* The decoder thread: decodes the source records polled, in order, ahead of the main loop. */
static void *nb__decoder_main(void *arg)
{
    nb_stream_t *st = arg;
    /* Spare CPU first: the main loop is the critical path, and it decodes itself what this
     * thread has not got to. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 5) != 0)
        NB_LOG(NB_LOG_DEBUG, "stream", "decoder thread keeps its priority");
    pthread_mutex_lock(&st->ahead_lock);
    for (;;) {
        if (st->wcur < st->head)
            st->wcur = st->head; /* handled or dropped meanwhile */
        if (st->ahead_quit)
            break;
        if (st->wcur >= st->tail) {
            st->decoder_idle = true;
            pthread_cond_wait(&st->ahead_work, &st->ahead_lock);
            st->decoder_idle = false;
            continue;
        }
        nb__slot_t *s = &st->ring[st->wcur++ % NB__RING];
        if (s->state != NB__SLOT_NEW)
            continue;
        s->state = NB__SLOT_DECODING;
        pthread_mutex_unlock(&st->ahead_lock);
        nb__decoder_run(st->decoder, s->rkm, s->now, &s->dec);
        pthread_mutex_lock(&st->ahead_lock);
        s->state = NB__SLOT_READY;
        st->decoded_ahead++;
        if (st->main_waits)
            pthread_cond_signal(&st->ahead_done);
    }
    pthread_mutex_unlock(&st->ahead_lock);
    return NULL;
}

/* Waits until the decoder is not at slot @p s. @locks ahead_lock held */
static void nb__slot_wait(nb_stream_t *st, const nb__slot_t *s)
{
    while (s->state == NB__SLOT_DECODING) {
        st->main_waits = true;
        pthread_cond_wait(&st->ahead_done, &st->ahead_lock);
    }
    st->main_waits = false;
}

/* Drops every record polled and not handled (an abort rewinds to the committed offsets, a
 * stop leaves them to the next run): they will be consumed again. */
static void nb__ahead_discard(nb_stream_t *st)
{
    if (!st->ring)
        return;
    pthread_mutex_lock(&st->ahead_lock);
    while (st->head < st->tail) {
        nb__slot_t *s = &st->ring[st->head % NB__RING];
        nb__slot_wait(st, s);
        rd_kafka_message_destroy(s->rkm);
        s->rkm = NULL;
        st->head++;
    }
    pthread_mutex_unlock(&st->ahead_lock);
}

/* Takes the next record polled; *pre is its decoded form when the decoder got to it first,
 * else NULL (decoded when handled). */
static rd_kafka_message_t *nb__ahead_take(nb_stream_t *st, const nb__decoded_t **pre)
{
    nb__slot_t *s = &st->ring[st->head % NB__RING];
    pthread_mutex_lock(&st->ahead_lock);
    if (s->state == NB__SLOT_NEW) {
        s->state = NB__SLOT_INLINE;
        st->decoded_inline++;
    }
    nb__slot_wait(st, s);
    st->head++;
    bool decoded = s->source && s->state == NB__SLOT_READY;
    pthread_mutex_unlock(&st->ahead_lock);
    *pre = decoded ? &s->dec : NULL;
    rd_kafka_message_t *rkm = s->rkm;
    s->rkm = NULL;
    return rkm;
}

/* Polls up to NB__AHEAD records (or consumer events) into the ring, the first poll waiting up
 * to @p timeout ms, and wakes the decoder. A rebalance callback served by these polls handles
 * what was polled before it. *@p drained tells whether the consumer had nothing more to give
 * (a poll came back empty). @returns the number of records polled (not events). */
static size_t nb__ahead_fill(nb_stream_t *st, int timeout, bool *drained)
{
    size_t records = 0;
    *drained = false;
    for (int i = 0; i < NB__AHEAD && st->tail - st->head < NB__RING; i++) {
        /* Without waiting first: a poll that may wait costs more even when a record is
         * there already. */
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(st->consumer, 0);
        if (!rkm && i == 0 && timeout > 0)
            rkm = rd_kafka_consumer_poll(st->consumer, timeout);
        if (!rkm) {
            *drained = true;
            break;
        }
        nb__slot_t *s = &st->ring[st->tail % NB__RING];
        s->rkm = rkm;
        s->now = nb__eval_now(st); /* per record: a rebalance callback may restore for seconds */
        s->source = st->decoder && !rkm->err &&
                    strcmp(rd_kafka_topic_name(rkm->rkt), st->conf->by_child_topic) != 0;
        if (!rkm->err)
            records++;
        pthread_mutex_lock(&st->ahead_lock);
        s->state = s->source ? NB__SLOT_NEW : NB__SLOT_READY;
        st->tail++;
        if (s->source && st->decoder_idle)
            pthread_cond_signal(&st->ahead_work);
        pthread_mutex_unlock(&st->ahead_lock);
    }
    return records;
}

static nb_err_t nb__ahead_start(nb_stream_t *st)
{
    char why[512];
    if (!(st->ring = calloc(NB__RING, sizeof(*st->ring))))
        return NB_ERR_NOMEM;
    if (!st->conf->decode_ahead)
        return NB_ERR_OK;
    st->ahead_quit = false;
    if (!(st->decoder = nb__decoder_new(st->pipe, why, sizeof(why)))) {
        NB_LOG(NB_LOG_ERROR, "stream", "decoder: %s", why);
        return NB_ERR_NOMEM;
    }
    if (pthread_create(&st->decoder_thread, NULL, nb__decoder_main, st) != 0) {
        NB_LOG(NB_LOG_WARN, "stream", "no decoder thread: records are decoded when handled");
        nb__decoder_destroy(st->decoder);
        st->decoder = NULL;
    }
    return NB_ERR_OK;
}

static void nb__ahead_stop(nb_stream_t *st)
{
    nb__ahead_discard(st);
    if (st->decoder) {
        pthread_mutex_lock(&st->ahead_lock);
        st->ahead_quit = true;
        pthread_cond_signal(&st->ahead_work);
        pthread_mutex_unlock(&st->ahead_lock);
        pthread_join(st->decoder_thread, NULL);
        nb__decoder_destroy(st->decoder);
        st->decoder = NULL;
    }
    free(st->ring);
    st->ring = NULL;
}

/* Aborts the producer's transaction (the open one, or the one whose commit failed). */
static nb_err_t nb__abort_producer(nb_stream_t *st)
{
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *error = rd_kafka_abort_transaction(st->producer, NB__TXN_TIMEOUT_MS);
        if (!error)
            return NB_ERR_OK;
        bool retry = rd_kafka_error_is_retriable(error) && attempt < 20;
        NB_LOG(NB_LOG_WARN, "stream", "abort_transaction: %s", rd_kafka_error_string(error));
        if (rd_kafka_error_is_fatal(error))
            st->fatal = true;
        rd_kafka_error_destroy(error);
        if (!retry) {
            st->fatal = true;
            return NB_ERR_KAFKA_FATAL;
        }
        /* The abort waits for records the brokers never acknowledge (a partition whose
         * sequence broke, OUT_OF_ORDER_SEQUENCE_NUMBER, until the epoch is bumped, which the
         * abort itself does): they belong to the transaction being aborted, which no
         * read_committed reader sees, so they are purged rather than waited for again. */
        rd_kafka_resp_err_t perr =
            rd_kafka_purge(st->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        if (perr)
            NB_LOG(NB_LOG_WARN, "stream", "purge before retrying the abort: %s",
                   rd_kafka_err2str(perr));
    }
}

/* Adds the offsets of @p l to @p into, keeping the higher of two for a partition. */
static void nb__offsets_merge(rd_kafka_topic_partition_list_t *into,
                              const rd_kafka_topic_partition_list_t *l)
{
    for (int i = 0; l && i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[i];
        rd_kafka_topic_partition_t *e =
            rd_kafka_topic_partition_list_find(into, tp->topic, tp->partition);
        if (!e)
            rd_kafka_topic_partition_list_add(into, tp->topic, tp->partition)->offset =
                tp->offset;
        else if (tp->offset > e->offset)
            e->offset = tp->offset;
    }
}

/*
 * A broker refused a record of the batches being rolled back for the record itself (too
 * large for the topic, invalid). When the batch held one suspect record alone, that record is
 * the one: it is set aside when it comes again (nb__process), as a bounded dead letter, then a
 * minimal one; if even that is refused, the dead-letter topic is at fault and the stream stops
 * making progress (not ready) rather than skip the record. Otherwise every record of the
 * batches is suspect until it has been handled again in a transaction of its own.
 */
static void nb__isolate(nb_stream_t *st)
{
    if (st->isolated.set) {
        bool same = st->poison.attempts > 0 && st->poison.partition == st->isolated.partition &&
                    st->poison.offset == st->isolated.offset &&
                    strcmp(st->poison.topic, st->isolated.topic) == 0;
        int attempts = same ? st->poison.attempts + 1 : 1;
        if (attempts > 3) {
            NB_LOG(NB_LOG_ERROR, "stream",
                   "%s [%d] offset %lld: even its minimal dead letter was refused: the "
                   "dead-letter topic %s does not take records (check its max.message.bytes "
                   "and ACLs); retrying, the record is not skipped",
                   st->isolated.topic, (int)st->isolated.partition,
                   (long long)st->isolated.offset, st->conf->dead_letter_topic);
            return;
        }
        nb_str_copy(st->poison.topic, sizeof(st->poison.topic), st->isolated.topic);
        st->poison.partition = st->isolated.partition;
        st->poison.offset = st->isolated.offset;
        st->poison.err = NB_ERR_RECORD_TOO_LARGE;
        st->poison.attempts = attempts;
        st->poison.set = true;
        NB_LOG(NB_LOG_ERROR, "stream",
               "%s [%d] offset %lld: a broker refused what handling it produced; the record "
               "goes to the dead letters", st->isolated.topic, (int)st->isolated.partition,
               (long long)st->isolated.offset);
        return;
    }
    if (!st->isolate)
        st->isolate = rd_kafka_topic_partition_list_new(8);
    nb__offsets_merge(st->isolate, st->offsets);
    nb__offsets_merge(st->isolate, st->failed_offsets);
    NB_LOG(NB_LOG_WARN, "stream", "a broker refused a record of the rolled-back batch for the "
                                  "record itself: handling its records one per transaction to "
                                  "find it");
}

/* True when @p rkm is to be handled in a transaction of its own (nb__isolate). */
static bool nb__suspect(const nb_stream_t *st, const rd_kafka_message_t *rkm)
{
    if (!st->isolate || rkm->err)
        return false;
    const rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_find(
        st->isolate, rd_kafka_topic_name(rkm->rkt), rkm->partition);
    return e && rkm->offset < e->offset;
}

/* After a commit: forgets the suspects it covered. */
static void nb__isolate_done(nb_stream_t *st, const rd_kafka_topic_partition_list_t *committed)
{
    if (!st->isolate)
        return;
    for (int i = 0; i < committed->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &committed->elems[i];
        rd_kafka_topic_partition_t *e =
            rd_kafka_topic_partition_list_find(st->isolate, tp->topic, tp->partition);
        if (e && tp->offset >= e->offset)
            rd_kafka_topic_partition_list_del(st->isolate, tp->topic, tp->partition);
    }
    if (st->isolate->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(st->isolate);
        st->isolate = NULL;
        NB_LOG(NB_LOG_INFO, "stream", "every suspect record handled again; batches as usual");
    }
}

/* Rolls back every batch not committed: state, outputs waiting, offsets; rewinds. */
static void nb__rollback(nb_stream_t *st)
{
    /* An abort right after an abort (e.g. a topic refused until the metadata is refreshed):
     * back off, 100 ms doubling up to 5 s, rather than abort in a tight loop. */
    bool again = st->stats.aborts > 0 && st->stats.commits_since_abort == 0;
    st->abort_backoff_ms = !again                     ? 0
                           : st->abort_backoff_ms == 0 ? 100
                           : st->abort_backoff_ms >= 2500 ? 5000
                                                          : st->abort_backoff_ms * 2;
    st->stats.aborts++;
    st->stats.commits_since_abort = 0;
    /* A refusal is reported by now (the transaction's failure, logged or returned). */
    if (atomic_exchange(&st->rec_refused, false))
        nb__isolate(st);
    if (st->failed_offsets)
        rd_kafka_topic_partition_list_destroy(st->failed_offsets);
    st->failed_offsets = NULL;
    st->isolated.set = false;
    st->isolate_commit = false;
    memset(st->dl_open, 0, sizeof(st->dl_open));
    memset(st->dl_prev, 0, sizeof(st->dl_prev));
    st->dl_any_open = st->dl_any_prev = false;
    nb__undo_apply(st, &st->undo);      /* the newer batch first, */
    nb__undo_apply(st, &st->undo_prev); /* then the one whose commit failed */
    st->n_consumed_prev = 0;
    nb__pending_clear(st);
    nb__batch_reset(st);
    nb__ahead_discard(st);
    nb__rewind(st);
    /* Rewound: what was read comes again, and the watermarks with it. */
    for (size_t i = 0; i < st->n_srcwm; i++) {
        nb__srcwm_t *w = &st->srcwm[i];
        if (!w->remote) {
            w->recorded = 0;
            w->at_end = 0;
            w->seen = nb__now();
        }
    }
    /* Rewound: by-child records handled in the aborted transaction come again, before any
     * source record may be handled locally. */
    nb__catch_up_restart(st);
    NB_LOG(NB_LOG_WARN, "stream", "transaction aborted; state restored, rewound to committed "
                                  "offsets%s",
           st->abort_backoff_ms ? "; backing off after consecutive aborts" : "");
    if (st->abort_backoff_ms) {
        struct timespec ts = {st->abort_backoff_ms / 1000,
                              (st->abort_backoff_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Sends the offsets and commits; retries what is retriable. @returns NULL or the error.
 * @locality the committer thread, or the main thread; touches only the producer. */
static rd_kafka_error_t *nb__commit_txn(rd_kafka_t *producer,
                                        const rd_kafka_topic_partition_list_t *offsets,
                                        const rd_kafka_consumer_group_metadata_t *cgmd)
{
    rd_kafka_error_t *error = NULL;
    if (offsets->cnt > 0) {
        for (int attempt = 0;; attempt++) {
            error = rd_kafka_send_offsets_to_transaction(producer, offsets, cgmd,
                                                         NB__TXN_TIMEOUT_MS);
            if (!error || !rd_kafka_error_is_retriable(error) || attempt >= 10)
                break;
            rd_kafka_error_destroy(error);
            error = NULL;
        }
    }
    for (int attempt = 0; !error; attempt++) {
        error = rd_kafka_commit_transaction(producer, NB__TXN_TIMEOUT_MS);
        if (!error || !rd_kafka_error_is_retriable(error) || attempt >= 10)
            break;
        NB_LOG(NB_LOG_WARN, "stream", "commit_transaction (retrying): %s",
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        error = NULL;
    }
    return error;
}

static void *nb__committer_main(void *arg)
{
    nb_stream_t *st = arg;
    st->commit_error = nb__commit_txn(st->producer, st->commit_offsets, st->commit_cgmd);
    atomic_store(&st->commit_done, true);
    return NULL;
}

static nb_err_t nb__abort(nb_stream_t *st);
static void nb__publish_stats(nb_stream_t *st);
static nb_err_t nb__ahead_handle(nb_stream_t *st, uint64_t upto, bool bounded);
static nb_err_t nb__commit_settle(nb_stream_t *st);

/* Starts committing the open batch: on the committer thread when @p background, else here
 * (settled before returning). The next batch may open at once; its transaction begins when
 * this commit is settled. */
static nb_err_t nb__commit_start(nb_stream_t *st, bool background)
{
    nb_err_t err = nb__commit_settle(st);
    if (err || !st->txn_open)
        return err;
    if (!st->txn_begun && (err = nb__begin(st)) == NB_ERR_OK)
        err = nb__pending_flush(st);
    if (err)
        return err == NB_ERR_KAFKA_FATAL || nb__abort(st) ? NB_ERR_KAFKA_FATAL
                                                          : NB_ERR_KAFKA_ABORTABLE;
    /* Fetched now: the group generation changes with every rebalance, and offsets sent with
     * an old generation are fenced. */
    st->commit_cgmd = st->offsets->cnt > 0 ? rd_kafka_consumer_group_metadata(st->consumer)
                                           : NULL;
    st->commit_offsets = st->offsets;
    st->offsets = rd_kafka_topic_partition_list_new(16);
    /* The last commit is settled: its log is empty, and serves the next batch. */
    nb__undo_log_t spare = st->undo_prev;
    st->undo_prev = st->undo;
    st->undo = spare;
    memcpy(st->consumed_prev, st->consumed, st->n_consumed * sizeof(st->consumed[0]));
    st->n_consumed_prev = st->n_consumed;
    st->n_consumed = 0;
    if (st->dl_any_open) {
        memcpy(st->dl_prev, st->dl_open, sizeof(st->dl_prev));
        memset(st->dl_open, 0, sizeof(st->dl_open));
        st->dl_any_prev = true;
        st->dl_any_open = false;
    }
    st->txn_open = false;
    st->txn_begun = false;
    st->batch_records = 0;
    st->batch_emitted = 0;
    st->commit_t0 = nb__now();
    st->commit_error = NULL;
    atomic_store(&st->commit_done, false);
    st->committing = true;
    if (background && pthread_create(&st->committer, NULL, nb__committer_main, st) == 0) {
        st->stats.commits_background++;
    } else {
        nb__committer_main(st);
        st->committer = pthread_self(); /* nothing to join */
        background = false;
    }
    return background ? NB_ERR_OK : nb__commit_settle(st);
}

/* Waits for the commit in flight, if any, and acts on its outcome: on success the next batch's
 * transaction begins with what waited for it; on failure both batches are rolled back.
 * @returns NB_ERR_OK, NB_ERR_KAFKA_ABORTABLE (rolled back and rewound) or
 *          NB_ERR_KAFKA_FATAL. */
static nb_err_t nb__commit_settle(nb_stream_t *st)
{
    if (!st->committing)
        return NB_ERR_OK;
    if (!pthread_equal(st->committer, pthread_self())) {
        int64_t t0 = nb__now();
        pthread_join(st->committer, NULL);
        st->commit_wait_ms += nb__now() - t0;
    } else {
        st->commit_wait_ms += nb__now() - st->commit_t0;
    }
    st->committing = false;
    rd_kafka_error_t *error = st->commit_error;
    st->commit_error = NULL;
    if (st->commit_cgmd)
        rd_kafka_consumer_group_metadata_destroy(st->commit_cgmd);
    st->commit_cgmd = NULL;
    rd_kafka_topic_partition_list_t *committed = st->commit_offsets;
    st->commit_offsets = NULL;
    if (!error) {
        nb__isolate_done(st, committed);
        for (int i = 0; i < committed->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &committed->elems[i];
            rd_kafka_topic_partition_t *done = rd_kafka_topic_partition_list_find(
                st->done_offsets, tp->topic, tp->partition);
            if (!done)
                done = rd_kafka_topic_partition_list_add(st->done_offsets, tp->topic,
                                                         tp->partition);
            done->offset = tp->offset;
        }
    }
    if (error) {
        /* Kept for the rollback: a record refused may be among them (nb__isolate). */
        if (st->failed_offsets)
            rd_kafka_topic_partition_list_destroy(st->failed_offsets);
        st->failed_offsets = committed;
    } else {
        rd_kafka_topic_partition_list_destroy(committed);
    }
    if (error) {
        NB_LOG(NB_LOG_WARN, "stream", "commit: %s", rd_kafka_error_string(error));
        if (nb__names_refusal(rd_kafka_error_string(error)))
            nb__refused(st, rd_kafka_error_string(error));
        bool fatal = rd_kafka_error_is_fatal(error);
        rd_kafka_error_destroy(error);
        if (fatal) {
            st->fatal = true;
            return NB_ERR_KAFKA_FATAL;
        }
        /* Abortable (or not retriable any more): abort it, roll back both batches. */
        if (nb__abort_producer(st))
            return NB_ERR_KAFKA_FATAL;
        nb__rollback(st);
        return NB_ERR_KAFKA_ABORTABLE;
    }
    st->stats.commits++;
    st->stats.commits_since_abort++;
    /* A commit went through: the brokers are reachable again (after ALL_BROKERS_DOWN), and
     * the stream makes progress. */
    atomic_store(&st->brokers_down, false);
    atomic_store(&st->progress_ms, nb__now());
    st->isolated.set = false;
    if (st->poison.attempts > 0 && !st->poison.set)
        st->poison.attempts = 0; /* what was set aside is committed */
    if (st->dl_any_prev) {
        for (int code = 0; code < NB_ERR__COUNT; code++) {
            if (!st->dl_prev[code])
                continue;
            st->stats.dead_letters += st->dl_prev[code];
            nb_metrics_add(st->metrics, NB_M_DEAD_LETTERS, nb_err_name((nb_err_t)code),
                           st->dl_prev[code]);
        }
        memset(st->dl_prev, 0, sizeof(st->dl_prev));
        st->dl_any_prev = false;
    }
    nb_metrics_observe(st->metrics, NB_M_COMMIT_LATENCY, (double)(nb__now() - st->commit_t0) / 1e3);
    nb__report_consumed(st, st->consumed_prev, &st->n_consumed_prev);
    nb__undo_clear(&st->undo_prev);
    if (!st->txn_open)
        return NB_ERR_OK;
    /* The next batch: its transaction, and what it produced meanwhile. */
    nb_err_t err = nb__begin(st);
    if (!err)
        err = nb__pending_flush(st);
    if (!err)
        return NB_ERR_OK;
    if (err == NB_ERR_KAFKA_FATAL)
        return err;
    return nb__abort(st) ? NB_ERR_KAFKA_FATAL : NB_ERR_KAFKA_ABORTABLE;
}

/* Rolls back the open batch (and a commit in flight, which is settled first). */
static nb_err_t nb__abort(nb_stream_t *st)
{
    nb_err_t err = nb__commit_settle(st);
    if (err == NB_ERR_KAFKA_ABORTABLE)
        return NB_ERR_OK; /* rolled back already, this batch with it */
    if (err)
        return err;
    if (!st->txn_open)
        return NB_ERR_OK;
    if (st->txn_begun && nb__abort_producer(st))
        return NB_ERR_KAFKA_FATAL;
    nb__rollback(st);
    return NB_ERR_OK;
}

/* Commits the open batch and waits for it (and for a commit in flight). */
static nb_err_t nb__commit(nb_stream_t *st)
{
    return nb__commit_start(st, false);
}

/* ---- watermarks ------------------------------------------------------------------------------ */

/* The entry of a source partition (made when @p make), or NULL. */
static nb__srcwm_t *nb__srcwm_find(nb_stream_t *st, const char *topic, int32_t partition,
                                   bool make)
{
    if (st->srcwm_hit < st->n_srcwm) {
        nb__srcwm_t *w = &st->srcwm[st->srcwm_hit];
        if (w->partition == partition && strcmp(w->topic, topic) == 0)
            return w;
    }
    for (size_t i = 0; i < st->n_srcwm; i++) {
        nb__srcwm_t *w = &st->srcwm[i];
        if (w->partition == partition && strcmp(w->topic, topic) == 0) {
            st->srcwm_hit = i;
            return w;
        }
    }
    if (!make)
        return NULL;
    if (st->n_srcwm == st->cap_srcwm) {
        size_t cap = st->cap_srcwm ? 2 * st->cap_srcwm : 16;
        nb__srcwm_t *v = realloc(st->srcwm, cap * sizeof(*v));
        if (!v)
            return NULL;
        st->srcwm = v;
        st->cap_srcwm = cap;
    }
    nb__srcwm_t *w = &st->srcwm[st->n_srcwm];
    memset(w, 0, sizeof(*w));
    nb_str_copy(w->topic, sizeof(w->topic), topic);
    w->partition = partition;
    w->seen = nb__now();
    st->srcwm_hit = st->n_srcwm++;
    return w;
}

static void nb__srcwm_drop(nb_stream_t *st, size_t i)
{
    st->srcwm[i] = st->srcwm[--st->n_srcwm];
    st->srcwm_hit = 0;
}

/* The partitions of an assignment (the sources, and the by-child partitions, whose records
 * are events read from a source and not yet applied) start unknown: they hold absence
 * deadlines back until they have been read to their end and stayed quiet. Revoked ones are
 * forgotten. */
static void nb__srcwm_assign(nb_stream_t *st, const rd_kafka_topic_partition_list_t *parts,
                             bool assign)
{
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        nb__srcwm_t *w = nb__srcwm_find(st, tp->topic, tp->partition, assign);
        if (!w)
            continue;
        if (assign) {
            memset(&w->remote, 0, sizeof(*w) - offsetof(nb__srcwm_t, remote));
            w->seen = nb__now();
        } else if (!w->remote) {
            nb__srcwm_drop(st, (size_t)(w - st->srcwm));
        }
    }
}

/* A record or the end of a source partition, in the order handled. */
static void nb__srcwm_note(nb_stream_t *st, const rd_kafka_message_t *rkm, int64_t recorded)
{
    nb__srcwm_t *w = nb__srcwm_find(st, rd_kafka_topic_name(rkm->rkt), rkm->partition, true);
    if (!w)
        return;
    w->remote = false;
    if (rkm->err) {
        if (!w->at_end)
            w->at_end = nb__now();
        return;
    }
    w->at_end = 0; /* (seen is a report's time: a local entry needs no clock per record) */
    if (recorded != NB_TIME_NONE && recorded > w->recorded)
        w->recorded = recorded;
}

/* The watermark of one partition as of @p now (the evaluation clock), or NB_TIME_NONE when it
 * holds nothing back: a partition read to its end and quiet for processing.watermark_idle_ms
 * (the end alone is no proof: a source catching up may still be sending its backlog), or a
 * report no longer renewed. @p wall is the wall clock. */
static int64_t nb__srcwm_of(const nb_stream_t *st, const nb__srcwm_t *w, int64_t now,
                            int64_t wall)
{
    if (w->remote ? wall - w->seen > st->conf->watermark_idle_ms
                  : w->at_end && wall - w->at_end >= st->conf->watermark_idle_ms)
        return NB_TIME_NONE;
    return w->recorded < now ? w->recorded : NB_TIME_NONE;
}

/*
 * How far every source that could record an expected contact has been read, in recorded
 * time: the least watermark of the source and by-child partitions, those assigned here and
 * those the other instances report; NB_TIME_NONE when none holds deadlines back. How long a
 * slow or stuck partition may hold a deadline back is bounded by the pipeline
 * (processing.watermark_max_hold_ms).
 */
static int64_t nb__watermark(nb_stream_t *st, int64_t now, int64_t wall)
{
    int64_t wm = NB_TIME_NONE;
    for (size_t i = 0; i < st->n_srcwm; i++) {
        int64_t w = nb__srcwm_of(st, &st->srcwm[i], now, wall);
        if (w != NB_TIME_NONE && (wm == NB_TIME_NONE || w < wm))
            wm = w;
    }
    return st->conf->watermark_max_hold_ms == 0 ? NB_TIME_NONE : wm;
}

/* Every turn: the watermark for the pipeline; once a tick (@p gauges) the metrics too. */
static void nb__watermark_update(nb_stream_t *st, int64_t now, int64_t wall, bool gauges)
{
    st->wm = nb__watermark(st, now, wall);
    nb__pipeline_set_watermark(st->pipe, st->wm, wall);
    if (!st->metrics || !gauges)
        return;
    uint64_t released = nb__pipeline_released(st->pipe);
    if (released > st->released_seen) {
        nb_metrics_add(st->metrics, NB_M_WATERMARK_RELEASED, NULL,
                       (double)(released - st->released_seen));
        st->released_seen = released;
    }
    nb_metrics_set(st->metrics, NB_M_ABSENCE_WATERMARK_LAG, NULL,
                   st->wm == NB_TIME_NONE ? 0.0 : (double)(now - st->wm) / 1e3);
    nb_metrics_set(st->metrics, NB_M_TIMERS_HELD, NULL, (double)nb__pipeline_held(st->pipe));
    for (size_t i = 0; i < st->n_srcwm; i++) {
        const nb__srcwm_t *w = &st->srcwm[i];
        if (w->remote)
            continue;
        char part[16];
        snprintf(part, sizeof(part), "%d", (int)w->partition);
        const char *labels[2] = {w->topic, part};
        int64_t v = nb__srcwm_of(st, w, now, wall);
        nb_metrics_set_v(st->metrics, NB_M_SOURCE_WATERMARK_LAG, labels,
                         v == NB_TIME_NONE ? 0.0 : (double)(now - v) / 1e3);
    }
}

/* Reports the watermarks of the source partitions assigned here to the by-child partitions
 * other instances own (a record of kind "watermark": "topic TAB partition TAB ms" lines), in
 * the open transaction, at most once a second. Nothing when this instance owns them all. */
static nb_err_t nb__watermark_report(nb_stream_t *st, int64_t now, int64_t wall)
{
    if (wall - st->wm_reported < NB__TICK_MS || st->stats.owned >= st->partitions)
        return NB_ERR_OK;
    st->wm_reported = wall;
    nb_buf_t b = {0};
    for (size_t i = 0; i < st->n_srcwm; i++) {
        const nb__srcwm_t *w = &st->srcwm[i];
        if (w->remote)
            continue;
        int64_t v = nb__srcwm_of(st, w, now, wall);
        char line[300];
        int n = snprintf(line, sizeof(line), "%s\t%d\t%lld\n", w->topic, (int)w->partition,
                         (long long)(v == NB_TIME_NONE ? now : v));
        if (n > 0 && (size_t)n < sizeof(line) && nb_buf_append(&b, line, (size_t)n)) {
            nb_buf_free(&b);
            return NB_ERR_NOMEM;
        }
    }
    nb_err_t err = NB_ERR_OK;
    for (int32_t p = 0; b.len > 0 && p < st->partitions && !err; p++) {
        if (nb__owns(st, p))
            continue;
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, "nb.kind", -1, "watermark", -1);
        rd_kafka_header_add(h, "nb.instance", -1, st->conf->instance_id, -1);
        err = nb__emit(st, st->conf->by_child_topic, p, "watermark", 9, b.data, b.len, h);
    }
    nb_buf_free(&b);
    return err;
}

/* A watermark report of another instance (nb__watermark_report). @returns true when
 * @p rkm is one. */
static bool nb__watermark_heard(nb_stream_t *st, const rd_kafka_message_t *rkm)
{
    rd_kafka_headers_t *h = NULL;
    char kind[16];
    if (rd_kafka_message_headers(rkm, &h) || !h ||
        strcmp(nb__header_str(h, "nb.kind", kind, sizeof(kind)), "watermark") != 0)
        return false;
    const char *p = rkm->payload, *end = p ? p + rkm->len : NULL;
    int64_t wall = nb__now();
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[300], topic[250];
        int part;
        long long ms;
        if (len < sizeof(line)) {
            memcpy(line, p, len);
            line[len] = '\0';
            if (sscanf(line, "%249[^\t]\t%d\t%lld", topic, &part, &ms) == 3) {
                /* One assigned here is known better here (a report from before a rebalance);
                 * one not known yet is made a remote entry. */
                nb__srcwm_t *w = nb__srcwm_find(st, topic, part, false);
                if (!w && (w = nb__srcwm_find(st, topic, part, true)))
                    w->remote = true;
                if (w && w->remote) {
                    w->recorded = ms;
                    w->seen = wall;
                }
            }
        }
        p += len + 1;
    }
    return true;
}

/* ---- restore and rebalance ------------------------------------------------------------------ */

static int nb__loaded_cb(void *opaque, const uint8_t key[NB__KEY_LEN], const uint8_t *val,
                         size_t len)
{
    void **a = opaque;
    nb__pipeline_state_loaded(a[0], *(int32_t *)a[1], key, val, len);
    return 0;
}

/* Reads one changelog partition (read_committed, to the last stable offset) into a new store.
 * @locality any thread: touches only @p rk (one restorer per thread), the new store, and the
 *           thread-safe metrics registry. */
static nb_err_t nb__restore_build(nb_stream_t *st, rd_kafka_t *rk, int32_t p, int64_t span,
                                  atomic_llong *remaining, nb__store_t **out, long *records)
{
    nb_err_t result = NB_ERR_OK;
    nb__store_t *fresh = nb__store_new();
    int64_t left = span > 0 ? span : 0; /* of this partition's share of *remaining */
    *out = NULL;
    *records = 0;
    if (!fresh)
        return NB_ERR_NOMEM;
    /* An empty changelog partition needs no read (waiting for its end costs a fetch). */
    if (span == 0) {
        *out = fresh;
        return NB_ERR_OK;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, st->conf->changelog_topic, p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *batch[1024];
    bool done = false;
    while (!done && result == NB_ERR_OK) {
        /* Returns when the batch is full or after 20 ms: at the end of the partition a long
         * timeout would be waited in full. */
        ssize_t n = rd_kafka_consume_batch_queue(q, 20, batch, 1024);
        nb_metrics_heartbeat(st->metrics, nb__now());
        if (n > 0) {
            int64_t d = n < left ? n : left;
            left -= d;
            nb_metrics_add(st->metrics, NB_M_RESTORE_RECORDS, NULL, (double)n);
            nb_metrics_set(st->metrics, NB_M_RESTORE_REMAINING, NULL,
                           (double)(atomic_fetch_sub(remaining, d) - d));
        }
        if (n <= 0) {
            if (st->fatal)
                result = NB_ERR_KAFKA_FATAL;
            continue;
        }
        for (ssize_t k = 0; k < n; k++) {
            rd_kafka_message_t *rkm = batch[k];
            if (done || result != NB_ERR_OK || rkm->partition != p) {
                /* after the end, or not ours */
            } else if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                done = true;
            } else if (rkm->err) {
                NB_LOG(NB_LOG_WARN, "stream", "restore of partition %d: %s", (int)p,
                       rd_kafka_message_errstr(rkm));
            } else {
                uint8_t key[NB__KEY_LEN];
                if (!rkm->key || !nb__key_unhex(rkm->key, rkm->key_len, key))
                    NB_LOG(NB_LOG_WARN, "stream", "changelog %d offset %lld: bad key, skipped",
                           (int)p, (long long)rkm->offset);
                else if (!rkm->payload || rkm->len == 0)
                    nb__store_del(fresh, key);
                else if (nb__store_put(fresh, key, rkm->payload, rkm->len))
                    result = NB_ERR_NOMEM;
                (*records)++;
            }
            rd_kafka_message_destroy(rkm);
        }
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_assign(rk, NULL);
    /* Offsets compaction removed and transaction markers are not records. */
    nb_metrics_set(st->metrics, NB_M_RESTORE_REMAINING, NULL,
                   (double)(atomic_fetch_sub(remaining, left) - left));
    if (result != NB_ERR_OK) {
        nb__store_destroy(fresh);
        return result;
    }
    *out = fresh;
    return NB_ERR_OK;
}

/* Partitions to restore, shared by the restoring threads. */
typedef struct nb__restore_job_s {
    nb_stream_t *st;
    const int32_t *ps;
    size_t np;
    atomic_size_t next;
    nb__store_t **stores; /* [np] */
    int64_t *spans;       /* [np]: high - low watermark of each changelog partition (-1: unknown) */
    atomic_llong remaining;
    long *records;        /* [np] */
    nb_err_t *errs;       /* [np] */
    int64_t *ms;          /* [np] */
} nb__restore_job_t;

static void nb__restore_work(nb__restore_job_t *job, rd_kafka_t *rk)
{
    for (;;) {
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->np)
            return;
        int64_t t0 = nb__now();
        job->errs[i] = nb__restore_build(job->st, rk, job->ps[i], job->spans[i], &job->remaining,
                                         &job->stores[i], &job->records[i]);
        job->ms[i] = nb__now() - t0;
    }
}

static void *nb__restore_thread(void *arg)
{
    nb__restore_job_t *job = arg;
    nb__restore_work(job, job->st->restorer2);
    return NULL;
}

/* Rebuilds the state of the given by-child partitions from their changelog partitions: two
 * threads with a restorer each read partitions (the per-record work is the limit, and the
 * broker serves both), then this thread installs the stores and rebuilds the indexes. */
static nb_err_t nb__restore(nb_stream_t *st, const int32_t *ps, size_t np)
{
    int64_t t0 = nb__now();
    nb__restore_job_t job;
    memset(&job, 0, sizeof(job));
    job.st = st;
    job.ps = ps;
    job.np = np;
    atomic_init(&job.next, 0);
    job.stores = calloc(np ? np : 1, sizeof(*job.stores));
    job.records = calloc(np ? np : 1, sizeof(*job.records));
    job.errs = calloc(np ? np : 1, sizeof(*job.errs));
    job.ms = calloc(np ? np : 1, sizeof(*job.ms));
    job.spans = calloc(np ? np : 1, sizeof(*job.spans));
    atomic_init(&job.remaining, 0);
    nb_err_t result = NB_ERR_OK;
    if (!job.stores || !job.records || !job.errs || !job.ms || !job.spans) {
        result = NB_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < np; i++)
        if (ps[i] < 0 || ps[i] >= st->partitions)
            result = NB_ERR_INVALID_ARG;
    if (result)
        goto done;
    /* What there is to read, for the progress gauges (and to skip empty partitions). */
    int64_t total = 0;
    for (size_t i = 0; i < np; i++) {
        int64_t low = 0, high = 0;
        job.spans[i] = rd_kafka_query_watermark_offsets(st->restorer, st->conf->changelog_topic,
                                                        ps[i], &low, &high, 10000) ==
                               RD_KAFKA_RESP_ERR_NO_ERROR
                           ? (high > low ? high - low : 0)
                           : -1;
        total += job.spans[i] > 0 ? job.spans[i] : 0;
    }
    atomic_store(&job.remaining, total);
    nb_metrics_set(st->metrics, NB_M_RESTORING_PARTITIONS, NULL, (double)np);
    nb_metrics_set(st->metrics, NB_M_RESTORE_REMAINING, NULL, (double)total);
    pthread_t helper;
    bool two = np > 1 && st->restorer2 &&
               pthread_create(&helper, NULL, nb__restore_thread, &job) == 0;
    nb__restore_work(&job, st->restorer);
    if (two)
        pthread_join(helper, NULL);
    nb_metrics_set(st->metrics, NB_M_RESTORING_PARTITIONS, NULL, 0);
    nb_metrics_set(st->metrics, NB_M_RESTORE_REMAINING, NULL, 0);
    for (size_t i = 0; i < np && result == NB_ERR_OK; i++)
        result = job.errs[i];
    if (result)
        goto done;
    for (size_t i = 0; i < np; i++) {
        int32_t p = ps[i];
        if (st->stores[p])
            nb__store_destroy(st->stores[p]);
        else
            st->stats.owned++;
        st->stores[p] = job.stores[i];
        job.stores[i] = NULL;
        void *args[2] = {st->pipe, &p};
        nb__store_foreach(st->stores[p], nb__loaded_cb, args);
        st->stats.restored += nb__store_count(st->stores[p]);
        NB_LOG(NB_LOG_INFO, "stream",
               "restored partition %d: %zu children from %ld changelog records in %lld ms",
               (int)p, nb__store_count(st->stores[p]), job.records[i], (long long)job.ms[i]);
    }
    NB_LOG(NB_LOG_INFO, "stream", "restored %zu partitions in %lld ms", np,
           (long long)(nb__now() - t0));
done:
    for (size_t i = 0; job.stores && i < np; i++)
        nb__store_destroy(job.stores[i]);
    free(job.stores);
    free(job.records);
    free(job.errs);
    free(job.ms);
    free(job.spans);
    return result;
}

static void nb__drop(nb_stream_t *st, int32_t p)
{
    if (p < 0 || p >= st->partitions || !st->stores[p])
        return;
    nb__store_destroy(st->stores[p]);
    st->stores[p] = NULL;
    st->stats.owned--;
    nb__pipeline_partition_dropped(st->pipe, p);
}

static void nb__rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    nb_stream_t *st = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    /* What was polled before the rebalance is handled before it, as if it had been handled
     * at once; or dropped with partitions lost, whose records another instance handles. */
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && rd_kafka_assignment_lost(rk))
        nb__ahead_discard(st);
    else if (nb__ahead_handle(st, UINT64_MAX, false) == NB_ERR_KAFKA_FATAL)
        nb__ahead_discard(st);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        nb__commit_settle(st); /* a failed commit rewinds before the restore, not after */
        nb__done_offsets_reset(st);
        nb__srcwm_assign(st, parts, true);
        st->stats.ready = false;
        nb__publish_stats(st); /* /readyz says so while the restore runs, not after it */
        int32_t *ps = calloc((size_t)parts->cnt + 1, sizeof(*ps));
        size_t np = 0;
        for (int i = 0; ps && i < parts->cnt; i++) {
            if (strcmp(parts->elems[i].topic, st->conf->by_child_topic) != 0)
                continue;
            if (parts->elems[i].partition >= st->partitions) {
                NB_LOG(NB_LOG_ERROR, "stream",
                       "%s has partition %d but topics.partitions is %d: the configuration "
                       "must match the topic (and the changelog)",
                       st->conf->by_child_topic, (int)parts->elems[i].partition, st->partitions);
                st->fatal = true;
                continue;
            }
            ps[np++] = parts->elems[i].partition;
        }
        /* One partition at a time per thread, two threads (docs/benchmarks.md). */
        if (ps && np > 0 && !st->fatal && nb__restore(st, ps, np)) {
            NB_LOG(NB_LOG_ERROR, "stream", "restore of %zu partitions failed", np);
            st->fatal = true;
        }
        if (!ps) {
            NB_LOG(NB_LOG_ERROR, "stream", "restore: out of memory");
            st->fatal = true;
        }
        free(ps);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
        st->stats.ready = !st->fatal;
        NB_LOG(NB_LOG_INFO, "stream", "assigned %d partitions", parts->cnt);
        for (int i = 0; i < parts->cnt; i++)
            if (strcmp(parts->elems[i].topic, st->conf->by_child_topic) == 0 &&
                parts->elems[i].partition >= 0 && parts->elems[i].partition < st->partitions)
                st->caught[parts->elems[i].partition] = false;
        nb__catch_up_check(st, true); /* pause what the assignment brings if need be */
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        /* Finish what we did with these partitions before another instance gets them: the
         * commit in flight, then the open batch (rolled back when the partitions are lost). */
        if (rd_kafka_assignment_lost(rk))
            nb__abort(st);
        else
            nb__commit(st);
        nb__done_offsets_reset(st);
        nb__srcwm_assign(st, parts, false);
        for (int i = 0; i < parts->cnt; i++)
            if (strcmp(parts->elems[i].topic, st->conf->by_child_topic) == 0)
                nb__drop(st, parts->elems[i].partition);
        if (!cooperative)
            st->catching_up = false; /* nothing left to pause */
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
        NB_LOG(NB_LOG_INFO, "stream", "revoked %d partitions", parts->cnt);
    } else {
        NB_LOG(NB_LOG_ERROR, "stream", "rebalance: %s", rd_kafka_err2str(err));
        rd_kafka_assign(rk, NULL);
    }
}

/* ---- construction --------------------------------------------------------------------------- */

/* A consumer: the group's (@p group), or one assigned by hand that reports partition EOF and
 * whose fetches of partitions with nothing new wait at most @p eof_wait_ms on the broker. */
static rd_kafka_t *nb__new_consumer(const nb_config_t *conf, void *opaque, const char *role,
                                    bool group, int eof_wait_ms, char *errstr,
                                    size_t errstr_size)
{
    char wait[16];
    bool eof = eof_wait_ms > 0;
    snprintf(wait, sizeof(wait), "%d", eof_wait_ms);
    rd_kafka_conf_t *kc = nb__base_conf(conf, role, opaque, errstr, errstr_size);
    if (!kc)
        return NULL;
    char group_id[256];
    snprintf(group_id, sizeof(group_id), "%s%s", conf->group_id, group ? "" : "-unused");
    if (!nb__set(kc, "group.id", group_id, errstr, errstr_size) ||
        !nb__set(kc, "isolation.level", "read_committed", errstr, errstr_size) ||
        !nb__set(kc, "enable.auto.commit", "false", errstr, errstr_size) ||
        !nb__set(kc, "auto.offset.reset", "earliest", errstr, errstr_size) ||
        /* The group consumer learns from EOF when a by-child partition has been caught up. */
        !nb__set(kc, "enable.partition.eof", eof || group ? "true" : "false", errstr,
                 errstr_size) ||
        (eof && !nb__set(kc, "fetch.wait.max.ms", wait, errstr, errstr_size))) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    if (group) {
        /* A fetch of partitions with nothing new waits on the broker up to fetch.wait.max.ms
         * (500 ms by default), and partitions resumed meanwhile (after catching up, at every
         * assignment and abort) wait for it: 1.6 s from assignment to the first record in
         * the benchmark, 0.27 s with 50 ms. */
        if ((!nb__given(conf, "fetch.wait.max.ms") &&
             !nb__set(kc, "fetch.wait.max.ms", "50", errstr, errstr_size)) ||
            !nb__set(kc, "partition.assignment.strategy", conf->assignment_strategy, errstr,
                     errstr_size) ||
            (conf->group_instance_id[0] &&
             !nb__set(kc, "group.instance.id", conf->group_instance_id, errstr,
                      errstr_size))) {
            rd_kafka_conf_destroy(kc);
            return NULL;
        }
        rd_kafka_conf_set_rebalance_cb(kc, nb__rebalance_cb);
        if (!nb__stats_conf(conf, kc, errstr, errstr_size)) {
            rd_kafka_conf_destroy(kc);
            return NULL;
        }
    } else if (!nb__set(kc, "statistics.interval.ms", "0", errstr, errstr_size)) {
        /* Nobody serves these consumers' statistics: they would pile up in their queues. */
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(kc);
    return rk;
}

/* The transactional producer's configuration. @returns NULL with the reason in errstr. */
static rd_kafka_conf_t *nb__producer_conf(const nb_config_t *conf, void *opaque, char *errstr,
                                          size_t errstr_size)
{
    rd_kafka_conf_t *pc = nb__base_conf(conf, "producer", opaque, errstr, errstr_size);
    char txn_id[256];
    snprintf(txn_id, sizeof(txn_id), "notbrought-%s", conf->instance_id);
    if (!pc)
        return NULL;
    if (!nb__set(pc, "transactional.id", txn_id, errstr, errstr_size) ||
        (!nb__given(conf, "linger.ms") && !nb__set(pc, "linger.ms", "5", errstr, errstr_size)) ||
        !nb__set(pc, "transaction.timeout.ms", "60000", errstr, errstr_size) ||
        !nb__stats_conf(conf, pc, errstr, errstr_size)) {
        rd_kafka_conf_destroy(pc);
        return NULL;
    }
    return pc;
}

/* Makes a client as nb_stream_new() does and lets it go at once: librdkafka checks the
 * properties against each other only when a client is made (message.timeout.ms above the
 * transaction timeout, fetch.max.bytes below message.max.bytes, a CA file that is not PEM).
 * Making one connects nowhere first; it is destroyed before it has anything to say. */
static nb_err_t nb__check_client(rd_kafka_type_t type, rd_kafka_conf_t *kc, const char *what,
                                 char *errstr, size_t errstr_size)
{
    char why[512];
    if (!kc)
        return NB_ERR_CONFIG;
    /* Quiet: it would only say that it cannot reach the brokers yet. */
    rd_kafka_conf_set(kc, "log_level", "0", why, sizeof(why));
    rd_kafka_t *rk = rd_kafka_new(type, kc, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        snprintf(errstr, errstr_size, "kafka.properties: the %s refuses them: %s", what, why);
        return NB_ERR_CONFIG;
    }
    rd_kafka_destroy(rk);
    return NB_ERR_OK;
}

nb_err_t nb_stream_check(const nb_config_t *conf, char *errstr, size_t errstr_size)
{
    nb__pipeline_t *pipe = nb__pipeline_new(conf, errstr, errstr_size);
    if (!pipe)
        return NB_ERR_CONFIG;
    nb__pipeline_destroy(pipe);
    nb_err_t err = nb__check_client(RD_KAFKA_PRODUCER,
                                    nb__producer_conf(conf, NULL, errstr, errstr_size),
                                    "transactional producer", errstr, errstr_size);
    if (err)
        return err;
    rd_kafka_t *rk = nb__new_consumer(conf, NULL, "check", true, 0, errstr, errstr_size);
    if (!rk)
        return NB_ERR_CONFIG;
    rd_kafka_destroy(rk);
    return NB_ERR_OK;
}

nb_stream_t *nb_stream_new(const nb_config_t *conf, char *errstr, size_t errstr_size)
{
    nb_stream_t *st = calloc(1, sizeof(*st));
    rd_kafka_conf_t *pc = NULL;
    if (!st) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    st->conf = conf;
    int64_t fixed = NB_TIME_NONE;
    if (conf->fixed_now && conf->fixed_now[0] && !nb_parse_time(conf->fixed_now, &fixed)) {
        snprintf(errstr, errstr_size, "processing.fixed_now: not an ISO 8601 time");
        free(st);
        return NULL;
    }
    atomic_init(&st->fixed_now, fixed);
    pthread_mutex_init(&st->stats_lock, NULL);
    pthread_mutex_init(&st->ahead_lock, NULL);
    pthread_cond_init(&st->ahead_work, NULL);
    pthread_cond_init(&st->ahead_done, NULL);
    st->partitions = conf->partitions;
    st->stores = calloc((size_t)conf->partitions, sizeof(*st->stores));
    st->caught = calloc((size_t)conf->partitions, sizeof(*st->caught));
    st->offsets = rd_kafka_topic_partition_list_new(16);
    st->done_offsets = rd_kafka_topic_partition_list_new(16);
    atomic_init(&st->rec_refused, false);
    atomic_init(&st->progress_ms, 0);
    st->wm = NB_TIME_NONE;
    if (!st->stores || !st->caught)
        goto fail;
    if (!(st->pipe = nb__pipeline_new(conf, errstr, errstr_size)))
        goto fail;
    if (!(pc = nb__producer_conf(conf, st, errstr, errstr_size)))
        goto fail;
    char mmb[32];
    size_t mmb_len = sizeof(mmb);
    st->max_msg = rd_kafka_conf_get(pc, "message.max.bytes", mmb, &mmb_len) == RD_KAFKA_CONF_OK
                      ? (size_t)strtoull(mmb, NULL, 10)
                      : 1000000;
    if (!(st->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, errstr_size)))
        goto fail;
    pc = NULL; /* now owned by the producer */
    /* The restorers read to the end of each partition in turn: a short wait at the end. The
     * links consumer follows its topic for as long as the daemon runs: a wait of 10 ms cost
     * the broker a hundred fetches a second with nothing to read. A fetch returns as soon as
     * a link arrives, whatever the wait. */
    if (!(st->consumer =
              nb__new_consumer(conf, st, "consumer", true, 0, errstr, errstr_size)) ||
        !(st->links = nb__new_consumer(conf, st, "links", false, NB__LINKS_FETCH_WAIT_MS,
                                       errstr, errstr_size)) ||
        !(st->restorer = nb__new_consumer(conf, st, "restore", false, 10, errstr,
                                          errstr_size)) ||
        !(st->restorer2 = nb__new_consumer(conf, st, "restore2", false, 10, errstr,
                                           errstr_size)))
        goto fail;
    rd_kafka_poll_set_consumer(st->consumer);
    return st;
fail:
    if (pc)
        rd_kafka_conf_destroy(pc);
    nb_stream_destroy(st);
    return NULL;
}

void nb_stream_destroy(nb_stream_t *st)
{
    if (!st)
        return;
    nb__ahead_stop(st); /* nb_stream_run() stops it; this is for a run cut short */
    if (st->consumer) {
        rd_kafka_consumer_close(st->consumer);
        rd_kafka_destroy(st->consumer);
    }
    if (st->links) {
        rd_kafka_consumer_close(st->links);
        rd_kafka_destroy(st->links);
    }
    if (st->restorer) {
        rd_kafka_consumer_close(st->restorer);
        rd_kafka_destroy(st->restorer);
    }
    if (st->restorer2) {
        rd_kafka_consumer_close(st->restorer2);
        rd_kafka_destroy(st->restorer2);
    }
    for (size_t i = 0; i < st->n_topics; i++)
        rd_kafka_topic_destroy(st->topics[i].rkt);
    if (st->producer)
        rd_kafka_destroy(st->producer);
    for (int p = 0; st->stores && p < st->partitions; p++)
        nb__store_destroy(st->stores[p]);
    free(st->stores);
    free(st->caught);
    if (st->committing) /* nb_stream_run() settles it; this is for a run cut short */
        nb__commit_settle(st);
    nb__undo_free(&st->undo);
    nb__undo_free(&st->undo_prev);
    nb__pending_clear(st);
    free(st->pending);
    if (st->offsets)
        rd_kafka_topic_partition_list_destroy(st->offsets);
    if (st->done_offsets)
        rd_kafka_topic_partition_list_destroy(st->done_offsets);
    free(st->srcwm);
    if (st->isolate)
        rd_kafka_topic_partition_list_destroy(st->isolate);
    if (st->failed_offsets)
        rd_kafka_topic_partition_list_destroy(st->failed_offsets);
    nb__pipeline_destroy(st->pipe);
    pthread_mutex_destroy(&st->stats_lock);
    pthread_mutex_destroy(&st->ahead_lock);
    pthread_cond_destroy(&st->ahead_work);
    pthread_cond_destroy(&st->ahead_done);
    free(st);
}

void nb_stream_stats(const nb_stream_t *st, nb_stream_stats_t *out)
{
    pthread_mutex_lock((pthread_mutex_t *)&st->stats_lock);
    *out = st->published;
    pthread_mutex_unlock((pthread_mutex_t *)&st->stats_lock);
    /* Read here, not from the last loop turn: a main loop stuck in a commit publishes
     * nothing, and that is when readiness matters. */
    int64_t progress = atomic_load(&((nb_stream_t *)st)->progress_ms);
    int64_t limit = st->conf->stall_timeout_ms;
    if (limit < 2LL * st->conf->commit_interval_ms)
        limit = 2LL * st->conf->commit_interval_ms; /* a commit is due within the interval */
    out->stalled = progress > 0 && nb__now() - progress > limit;
    out->brokers_down = atomic_load(&((nb_stream_t *)st)->brokers_down);
    if (out->stalled || out->brokers_down)
        out->ready = false;
}

/* Publishes the main thread's counters for other threads. @locality main thread */
static void nb__publish_stats(nb_stream_t *st)
{
    if (st->decoder) {
        pthread_mutex_lock(&st->ahead_lock);
        st->stats.decoded_ahead = st->decoded_ahead;
        pthread_mutex_unlock(&st->ahead_lock);
    }
    pthread_mutex_lock(&st->stats_lock);
    st->published = st->stats;
    pthread_mutex_unlock(&st->stats_lock);
}

/* While the brokers are down (ALL_BROKERS_DOWN), asks them for metadata once a second: an
 * answer means they are back (so does a commit). */
static void nb__brokers_probe(nb_stream_t *st, int64_t now)
{
    if (!atomic_load(&st->brokers_down) || now - st->brokers_probe_ms < NB__BROKERS_PROBE_MS)
        return;
    st->brokers_probe_ms = now;
    const rd_kafka_metadata_t *md = NULL;
    if (rd_kafka_metadata(st->producer, 0, NULL, &md, 500) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md && md->broker_cnt > 0) {
        atomic_store(&st->brokers_down, false);
        NB_LOG(NB_LOG_INFO, "stream", "the brokers answer again");
    }
    if (md)
        rd_kafka_metadata_destroy(md);
}

/* ---- running ------------------------------------------------------------------------------- */

/* One identity link into the table; a refused one is counted by its reason. */
static void nb__link(nb_stream_t *st, const rd_kafka_message_t *rkm)
{
    if (!rkm->payload) {
        /* Not applied: a tombstone removes the link's record for instances that start after
         * compaction but not from the tables of those running, so they would disagree. A
         * link is withdrawn with an unlink record. (The key may hold an identifier: never
         * logged.) */
        NB_LOG(NB_LOG_WARN, "identity", "link at %s [%d] offset %lld refused: a tombstone "
               "(null value) is not applied; withdraw a link with an unlink record",
               rd_kafka_topic_name(rkm->rkt), (int)rkm->partition, (long long)rkm->offset);
        nb_metrics_add(st->metrics, NB_M_LINKS_REFUSED, "tombstone", 1);
        return;
    }
    nb_err_t err = nb__pipeline_link(st->pipe, rkm, nb__eval_now(st));
    st->stats.links++;
    if (err)
        nb_metrics_add(st->metrics, NB_M_LINKS_REFUSED, nb_err_name(err), 1);
}

/* Assigns every partition of the links topic from the beginning and reads to the end, so that
 * ingest can resolve any event before it starts. */
static nb_err_t nb__links_start(nb_stream_t *st, volatile sig_atomic_t *stop)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(st->links, st->conf->links_topic, NULL);
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_metadata(st->links, 0, rkt, &md, 5000)) != RD_KAFKA_RESP_ERR_NO_ERROR ||
           md->topic_cnt < 1 || md->topics[0].err) {
        if (md) {
            if (!err)
                err = md->topics[0].err;
            rd_kafka_metadata_destroy(md);
            md = NULL;
        }
        NB_LOG(NB_LOG_WARN, "stream", "waiting for topic %s: %s", st->conf->links_topic,
               rd_kafka_err2str(err));
        if (nb__stopping(st, stop) || st->fatal) {
            rd_kafka_topic_destroy(rkt);
            return NB_ERR_KAFKA;
        }
    }
    int n = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(parts, st->conf->links_topic, i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_assign(st->links, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int eofs = 0;
    int64_t t0 = nb__now();
    while (eofs < n && !nb__stopping(st, stop) && !st->fatal) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(st->links, 1000);
        nb_metrics_heartbeat(st->metrics, nb__now());
        if (!rkm)
            continue;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (!rkm->err) {
            nb__link(st, rkm);
        }
        rd_kafka_message_destroy(rkm);
    }
    NB_LOG(NB_LOG_INFO, "stream", "identity table loaded: %llu links in %lld ms",
           (unsigned long long)st->stats.links, (long long)(nb__now() - t0));
    return NB_ERR_OK;
}

static void nb__links_poll(nb_stream_t *st)
{
    for (int i = 0; i < NB__LINKS_PER_TICK; i++) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(st->links, 0);
        if (!rkm)
            return;
        if (!rkm->err) {
            nb__link(st, rkm);
        }
        rd_kafka_message_destroy(rkm);
    }
}

static nb_err_t nb__subscribe(nb_stream_t *st)
{
    const nb_config_t *c = st->conf;
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(8);
    const char *names[NB_CONFIG_MAX_TOPICS + 2];
    size_t n = 0;
    for (size_t i = 0; i < c->n_appointment_topics; i++)
        names[n++] = c->appointment_topics[i];
    names[n++] = c->context_topic;
    names[n++] = c->acks_topic;
    names[n++] = c->by_child_topic;
    for (size_t i = 0; i < n; i++)
        if (!rd_kafka_topic_partition_list_find(topics, names[i], RD_KAFKA_PARTITION_UA))
            rd_kafka_topic_partition_list_add(topics, names[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(st->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        NB_LOG(NB_LOG_ERROR, "stream", "subscribe: %s", rd_kafka_err2str(err));
        return NB_ERR_KAFKA;
    }
    return NB_ERR_OK;
}

static nb_err_t nb__init_transactions(nb_stream_t *st, volatile sig_atomic_t *stop)
{
    /* In slices of a second, so that a stop requested while the brokers do not answer is
     * seen at once (a call that timed out is retried: it goes on where it was). */
    for (int64_t said = 0;;) {
        rd_kafka_error_t *error = rd_kafka_init_transactions(st->producer, 1000);
        if (!error)
            return NB_ERR_OK;
        bool retry = rd_kafka_error_is_retriable(error);
        bool timeout = rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (!timeout || nb__now() - said >= NB__TXN_TIMEOUT_MS) {
            NB_LOG(NB_LOG_WARN, "stream", "init_transactions: %s", rd_kafka_error_string(error));
            said = nb__now();
        }
        rd_kafka_error_destroy(error);
        if (nb__stopping(st, stop))
            return NB_ERR_OK; /* nothing began: a clean stop */
        if (!retry)
            return NB_ERR_KAFKA_FATAL;
    }
}

/* Processes one consumed message inside the open transaction. */
static nb_err_t nb__process(nb_stream_t *st, rd_kafka_message_t *rkm, int64_t now,
                            const nb__decoded_t *pre)
{
    nb_err_t err = nb__begin(st);
    if (err)
        return err;
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    st->stats.records_in++;
    nb__count_consumed(st, topic);
    if (st->poison.set && rkm->partition == st->poison.partition &&
        rkm->offset == st->poison.offset && strcmp(topic, st->poison.topic) == 0) {
        /* It failed before: set aside with the error, so that the stream goes on and the
         * record is not lost (nb__handle). */
        char why[256];
        st->poison.set = false;
        snprintf(why, sizeof(why),
                 "handling the record failed (%s); its transaction was rolled back and the "
                 "record set aside", nb_err_str(st->poison.err));
        /* Its dead letter failed before: bounded, then minimal (nb__dead_letter_bounded). */
        st->dl_force = st->poison.attempts >= 3 ? 2 : st->poison.attempts == 2 ? 1 : 0;
        err = nb__dead_letter(st, rkm, st->poison.err, why);
        st->dl_force = 0;
    } else if (st->fault_fn && (err = st->fault_fn(st->fault_opaque, topic, rkm->partition,
                                                   rkm->offset)) != NB_ERR_OK) {
        /* a test's fault: as if the pipeline had failed */
    } else if (strcmp(topic, st->conf->by_child_topic) == 0) {
        if (!nb__watermark_heard(st, rkm)) {
            err = nb__pipeline_by_child(st->pipe, st, rkm, now);
            if (!err) {
                rd_kafka_headers_t *h = NULL;
                char buf[32];
                if (rd_kafka_message_headers(rkm, &h))
                    h = NULL;
                nb__srcwm_note(st, rkm,
                               nb__header_str(h, "nb.recorded", buf, sizeof(buf))[0]
                                   ? atoll(buf)
                                   : NB_TIME_NONE);
            }
        }
    } else {
        err = nb__pipeline_source(st->pipe, st, rkm, now, pre);
        if (!err)
            nb__srcwm_note(st, rkm, nb__pipeline_last_recorded(st->pipe));
    }
    if (!err) {
        nb__track_offset(st, rkm);
        st->batch_records++;
    }
    return err;
}

/* A record, or an event of the consumer (end of a partition, an error). */
static nb_err_t nb__handle(nb_stream_t *st, rd_kafka_message_t *rkm, int64_t now,
                           const nb__decoded_t *pre)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (strcmp(rd_kafka_topic_name(rkm->rkt), st->conf->by_child_topic) == 0) {
            if (rkm->partition >= 0 && rkm->partition < st->partitions) {
                st->caught[rkm->partition] = true;
                if (st->catching_up)
                    nb__catch_up_check(st, false);
            }
        }
        nb__srcwm_note(st, rkm, NB_TIME_NONE);
        return NB_ERR_OK;
    }
    if (rkm->err) {
        NB_LOG(NB_LOG_WARN, "stream", "consume: %s", rd_kafka_message_errstr(rkm));
        return NB_ERR_OK;
    }
    /* Records arrive: the brokers are reachable (assignment restored already). */
    st->stats.ready = !st->fatal;
    nb_err_t err = nb__process(st, rkm, now, pre);
    if (err && err != NB_ERR_KAFKA_ABORTABLE && err != NB_ERR_KAFKA_FATAL) {
        /* The record's own failure (not Kafka's). Going on would commit its offset with
         * whatever part of its outputs it made: roll the batch back instead, and set the
         * record aside when it comes again (nb__process). */
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        bool same = st->poison.attempts > 0 && st->poison.partition == rkm->partition &&
                    st->poison.offset == rkm->offset && strcmp(st->poison.topic, topic) == 0;
        int attempts = same ? st->poison.attempts + 1 : 1;
        if (attempts > 3) {
            /* Not even a minimal dead letter could be made: the dead-letter topic is at
             * fault, not the record. Never skip it: retry (backing off), not ready. */
            NB_LOG(NB_LOG_ERROR, "stream",
                   "%s [%d] offset %lld: its dead letter cannot be produced (%s); retrying, "
                   "the record is not skipped", topic, (int)rkm->partition,
                   (long long)rkm->offset, nb_err_name(err));
            return NB_ERR_KAFKA_ABORTABLE;
        }
        NB_LOG(NB_LOG_ERROR, "stream",
               "handling %s [%d] offset %lld failed: %s; rolling back its batch, the record "
               "goes to the dead letters", topic, (int)rkm->partition, (long long)rkm->offset,
               nb_err_name(err));
        st->poison.set = true;
        nb_str_copy(st->poison.topic, sizeof(st->poison.topic), topic);
        st->poison.partition = rkm->partition;
        st->poison.offset = rkm->offset;
        st->poison.err = same ? st->poison.err : err; /* the first failure is the reason */
        st->poison.attempts = attempts;
        return NB_ERR_KAFKA_ABORTABLE;
    }
    return err;
}

/* Handles the records polled, in order, up to ring index @p upto (UINT64_MAX: all), and
 * (@p bounded) until the open batch holds processing.max_batch records. @returns NB_ERR_OK,
 * NB_ERR_KAFKA_ABORTABLE (aborted and rewound; what was polled is dropped) or
 * NB_ERR_KAFKA_FATAL. */
static nb_err_t nb__ahead_handle(nb_stream_t *st, uint64_t upto, bool bounded)
{
    /* Rules are evaluated as of now, not as of the poll (a turn or a restore ago): never
     * earlier than the last tick. */
    int64_t now = nb__eval_now(st);
    while (st->ring && st->head < st->tail && st->head < upto && !st->fatal) {
        if (st->isolate_commit)
            break; /* a suspect record waits for its commit */
        const nb__decoded_t *pre;
        bool suspect = st->isolate && nb__suspect(st, st->ring[st->head % NB__RING].rkm);
        if (suspect && st->txn_open) {
            st->isolate_commit = true; /* what the batch holds commits first, without it */
            break;
        }
        rd_kafka_message_t *rkm = nb__ahead_take(st, &pre);
        if (suspect) {
            st->isolated.set = true;
            nb_str_copy(st->isolated.topic, sizeof(st->isolated.topic),
                        rd_kafka_topic_name(rkm->rkt));
            st->isolated.partition = rkm->partition;
            st->isolated.offset = rkm->offset;
            st->isolate_commit = true;
            st->stats.handled_alone++;
        }
        nb_err_t err = nb__handle(st, rkm, now, pre);
        rd_kafka_message_destroy(rkm);
        if (err == NB_ERR_KAFKA_ABORTABLE)
            return nb__abort(st) ? NB_ERR_KAFKA_FATAL : NB_ERR_KAFKA_ABORTABLE;
        if (err == NB_ERR_KAFKA_FATAL)
            return err;
        if (bounded && st->txn_open && st->batch_records >= st->conf->max_batch)
            break;
    }
    return st->fatal ? NB_ERR_KAFKA_FATAL : NB_ERR_OK;
}

nb_err_t nb_stream_run(nb_stream_t *st, volatile sig_atomic_t *stop,
                       volatile sig_atomic_t *reload)
{
    nb_err_t err;
    NB_LOG(NB_LOG_INFO, "stream", "starting instance %s (group %s, %d partitions)",
           st->conf->instance_id, st->conf->group_id, st->partitions);
    if ((err = nb__init_transactions(st, stop)) || nb__stopping(st, stop))
        return err;
    if ((err = nb__links_start(st, stop)))
        return nb__stopping(st, stop) ? NB_ERR_OK : err;
    if ((err = nb__ahead_start(st)) || (err = nb__subscribe(st))) {
        nb__ahead_stop(st);
        return err;
    }
    st->last_tick = nb__now();
    atomic_store(&st->progress_ms, st->last_tick);
    while (!nb__stopping(st, stop) && !st->fatal) {
        if (reload && *reload) {
            char why[1024];
            *reload = 0;
            if (nb__pipeline_reload(st->pipe, why, sizeof(why))) {
                NB_LOG(NB_LOG_ERROR, "stream", "policy reload failed, old policy stays: %s",
                       why);
                nb_metrics_add(st->metrics, NB_M_POLICY_RELOADS, "error", 1);
            } else {
                NB_LOG(NB_LOG_INFO, "stream", "policy reloaded");
                nb_metrics_add(st->metrics, NB_M_POLICY_RELOADS, "ok", 1);
                nb__pipeline_report(st->pipe, st->metrics);
            }
        }
        /* The commit in flight has finished: the next batch's transaction begins now, and its
         * records waiting go out while it fills. */
        if (st->committing && atomic_load(&st->commit_done)) {
            err = nb__commit_settle(st);
            if (err == NB_ERR_KAFKA_FATAL)
                break;
        }
        int64_t now = nb__now();
        int timeout = 100;
        if (st->txn_open) {
            /* Wait no longer than the commit interval, nor, while the transaction is younger
             * than the minimum, than that: an idle moment after it commits at once. */
            int64_t age = now - st->batch_start;
            int64_t left = st->conf->commit_interval_ms - age;
            if (age < st->conf->min_commit_interval_ms &&
                st->conf->min_commit_interval_ms - age < left)
                left = st->conf->min_commit_interval_ms - age;
            timeout = left < 0 ? 0 : (int)left;
        }
        if (st->committing && timeout > 2)
            timeout = 2; /* to notice the commit's end */
        /* This turn handles what earlier turns polled, while the decoder starts on what this
         * one polls: it stays a turn ahead of the main loop instead of racing it. */
        uint64_t upto = st->tail;
        bool leftover = st->head < upto;
        bool drained;
        size_t polled = nb__ahead_fill(st, leftover ? 0 : timeout, &drained);
        now = nb__now();
        bool idle = polled == 0 && !leftover;
        nb__brokers_probe(st, now);
        if (!st->decoder)
            upto = st->tail; /* nothing to gain from waiting a turn */
        nb__watermark_update(st, nb__eval_now(st), now, false);
        err = nb__ahead_handle(st, upto, true);
        if (err == NB_ERR_KAFKA_FATAL)
            break;
        if (err == NB_ERR_KAFKA_ABORTABLE)
            continue;
        nb__links_poll(st);
        rd_kafka_poll(st->producer, 0); /* serves the producer's statistics callback */
        if (st->catching_up && now - st->catch_up_since > 30000) {
            NB_LOG(NB_LOG_WARN, "stream", "sources still paused: a by-child partition has not "
                                          "been read to its end for 30 s");
            st->catch_up_since = now;
        }
        /* Nothing to do is progress too (readiness: nb_stream_stats()); not while aborts
         * follow each other, when the same records come again. */
        if (idle && !st->txn_open && !st->committing &&
            (st->stats.aborts == 0 || st->stats.commits_since_abort > 0))
            atomic_store(&st->progress_ms, now);
        nb__publish_stats(st);
        nb__pipeline_flush_metrics(st->pipe, st->metrics);
        nb_metrics_heartbeat(st->metrics, now);
        int64_t age = now - st->batch_start;
        /* Once the transaction is min_commit_interval_ms old it commits as soon as the
         * consumer has nothing more at hand: when idle, and also under a trickle of records
         * (a few a turn) that never leaves a turn idle, which held every batch to the full
         * commit interval at 1,000 events a second. Under a backlog turns come full. */
        bool due = st->txn_open && (age >= st->conf->commit_interval_ms ||
                                    st->batch_records >= st->conf->max_batch ||
                                    (drained && age >= st->conf->min_commit_interval_ms));
        if (st->isolate_commit && !st->txn_open)
            st->isolate_commit = false;
        bool alone = st->isolate_commit; /* a suspect record: commit it alone, now */
        due = due || alone;
        /* While input waits and the last commit is still in flight, the batch grows (up to
         * max_batch) rather than wait for it: a slow commit holds nothing up. */
        if (due && !idle && st->committing && !atomic_load(&st->commit_done) &&
            st->batch_records < st->conf->max_batch)
            due = false;
        /* The tick (timers, parked events, merges) runs with a commit at most once per commit
         * interval, and at least once a second, and again at once when idle while escalations
         * wait (its budget ran out); not while catching up, when it could deliver here ahead
         * of what the by-child topic still holds. */
        bool tick = !st->catching_up && !alone &&
                    (now - st->last_tick >= NB__TICK_MS ||
                     (due && now - st->last_tick >= st->conf->commit_interval_ms) ||
                     (idle && nb__pipeline_tick_more(st->pipe)));
        if (due || tick) {
            if (tick) {
                st->last_tick = now;
                nb__watermark_update(st, nb__eval_now(st), now, true);
                err = nb__watermark_report(st, nb__eval_now(st), now);
                if (!err)
                    err = nb__pipeline_tick(st->pipe, st, nb__eval_now(st));
                if (!err)
                    st->stats.ticks++;
                if (err == NB_ERR_KAFKA_ABORTABLE) {
                    if (nb__abort(st))
                        break;
                    continue;
                }
            }
            if (st->txn_open) {
                /* In the background only while input waits (a backlog): when the consumer
                 * has nothing more there is little to overlap, and the next records go out
                 * sooner after a commit that was waited for. */
                err = nb__commit_start(st, st->conf->commit_in_background && !drained && !alone &&
                                               !st->isolate);
                st->isolate_commit = false;
                if (err == NB_ERR_KAFKA_FATAL)
                    break;
            }
        }
    }
    /* What was polled and not handled comes again in the next run. The commit in flight, then
     * the open batch (after a fatal error only settled). */
    nb__ahead_stop(st);
    if (st->fatal)
        nb__commit_settle(st);
    else
        nb__commit(st);
    NB_LOG(NB_LOG_INFO, "stream",
           "stopping: %llu records, %llu commits, %llu aborts; %lld ms waiting for commits; "
           "%llu records decoded ahead, %llu when handled",
           (unsigned long long)st->stats.records_in, (unsigned long long)st->stats.commits,
           (unsigned long long)st->stats.aborts, (long long)st->commit_wait_ms,
           (unsigned long long)st->decoded_ahead, (unsigned long long)st->decoded_inline);
    rd_kafka_consumer_close(st->consumer);
    rd_kafka_destroy(st->consumer);
    st->consumer = NULL;
    st->stats.ready = false;
    nb__publish_stats(st);
    nb__pipeline_flush_metrics(st->pipe, st->metrics);
    return st->fatal ? NB_ERR_KAFKA_FATAL : NB_ERR_OK;
}
