/*
 * notbrought - stream: librdkafka plumbing (logs, errors, statistics, refusals) and the construction
 * of the clients, the check of their configuration and their destruction.
 */
#include "stream/runtime.h"

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
bool nb__names_refusal(const char *s)
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
void nb__refused(nb_stream_t *st, const char *reason)
{
    if (!st || atomic_exchange(&st->isolation.refused, true))
        return;
    NB_LOG(NB_LOG_WARN, "stream", "a broker refused a record for itself (%s)",
           strstr(reason, "(MSG_SIZE_TOO_LARGE)") ? "too large for the topic"
                                                  : "invalid or too large");
}

/* librdkafka's log lines into ours: what every client of the project logs. */
static void nb__plain_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug. */
    nb_log_level_t lvl = level <= 3 ? NB_LOG_ERROR
                         : level == 4 ? NB_LOG_WARN
                         : level <= 6 ? NB_LOG_INFO
                                      : NB_LOG_DEBUG;
    NB_LOG(lvl, "rdkafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
    if (strstr(buf, "SASL authentication error"))
        nb__scram_hint(buf);
}

/* The stream's clients, whose opaque is the nb_stream_t: a transaction's refused record too. */
static void nb__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    nb__plain_log_cb(rk, level, fac, buf);
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

rd_kafka_conf_t *nb__client_conf(const nb_config_t *conf, const char *role, char *errstr,
                                 size_t errstr_size)
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
    rd_kafka_conf_set_log_cb(kc, nb__plain_log_cb);
    return kc;
fail:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

static rd_kafka_conf_t *nb__base_conf(const nb_config_t *conf, const char *role, void *opaque,
                                      char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kc = nb__client_conf(conf, role, errstr, errstr_size);
    if (!kc)
        return NULL;
    rd_kafka_conf_set_log_cb(kc, nb__log_cb);
    rd_kafka_conf_set_error_cb(kc, nb__error_cb);
    rd_kafka_conf_set_opaque(kc, opaque);
    return kc;
}

static bool nb__set(rd_kafka_conf_t *kc, const char *k, const char *v, char *errstr,
                    size_t errstr_size)
{
    return rd_kafka_conf_set(kc, k, v, errstr, errstr_size) == RD_KAFKA_CONF_OK;
}

/* ---- construction --------------------------------------------------------------------------- */

/* The local queue of a consumer that reads whole partitions one at a time (a restorer),
 * unless the configuration sets them. Once a partition's queue holds queued.min.messages (or
 * queued.max.messages.kbytes), librdkafka before 2.2 stops fetching it for a fixed second
 * (2.2 made that fetch.queue.backoff.ms). A restorer drains a queue of librdkafka's default
 * 100,000 records in about 0.15 s, and then waited: 0.9-1 s for each of several partitions
 * of a restore of 1 M children. The queue is bounded by the kilobytes (256 MB), and fills only
 * while the restorer is behind the fetches. */
static const char *const nb__long_read[][2] = {{"queued.min.messages", "1000000"},
                                               {"queued.max.messages.kbytes", "262144"}};

/* A consumer: the group's (@p group), or one assigned by hand that reports partition EOF and
 * whose fetches of partitions with nothing new wait at most @p eof_wait_ms on the broker. It
 * reads committed records only, unless @p uncommitted (it then only asks for offsets). A
 * @p long_read consumer keeps a longer local queue (nb__long_read). */
static rd_kafka_t *nb__new_consumer(const nb_config_t *conf, void *opaque, const char *role,
                                    bool group, int eof_wait_ms, bool uncommitted, bool long_read,
                                    char *errstr, size_t errstr_size)
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
        !nb__set(kc, "isolation.level", uncommitted ? "read_uncommitted" : "read_committed", errstr,
                 errstr_size) ||
        !nb__set(kc, "enable.auto.commit", "false", errstr, errstr_size) ||
        !nb__set(kc, "auto.offset.reset", "earliest", errstr, errstr_size) ||
        /* The group consumer learns from EOF when a by-child partition has been caught up. */
        !nb__set(kc, "enable.partition.eof", eof || group ? "true" : "false", errstr,
                 errstr_size) ||
        (eof && !nb__set(kc, "fetch.wait.max.ms", wait, errstr, errstr_size))) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    for (size_t i = 0; long_read && i < sizeof(nb__long_read) / sizeof(nb__long_read[0]); i++) {
        if (!nb__given(conf, nb__long_read[i][0]) &&
            !nb__set(kc, nb__long_read[i][0], nb__long_read[i][1], errstr, errstr_size)) {
            rd_kafka_conf_destroy(kc);
            return NULL;
        }
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
rd_kafka_conf_t *nb__producer_conf(const nb_config_t *conf, void *opaque, char *errstr,
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
NB_NODISCARD static nb_err_t nb__check_client(rd_kafka_type_t type, rd_kafka_conf_t *kc,
                                              const char *what, char *errstr, size_t errstr_size)
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
    rd_kafka_t *rk =
        nb__new_consumer(conf, NULL, "check", true, 0, false, false, errstr, errstr_size);
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
    pthread_mutex_init(&st->ahead.lock, NULL);
    pthread_cond_init(&st->ahead.work, NULL);
    pthread_cond_init(&st->ahead.done, NULL);
    st->partitions = conf->partitions;
    st->stores = calloc((size_t)conf->partitions, sizeof(*st->stores));
    st->restore.target = calloc((size_t)conf->partitions, sizeof(*st->restore.target));
    st->restore.read_to = calloc((size_t)conf->partitions, sizeof(*st->restore.read_to));
    st->batch.offsets = rd_kafka_topic_partition_list_new(16);
    st->done_offsets = rd_kafka_topic_partition_list_new(16);
    atomic_init(&st->isolation.refused, false);
    atomic_init(&st->progress_ms, 0);
    st->wm.value = NB_TIME_NONE;
    if (!st->stores || !st->restore.target || !st->restore.read_to)
        goto fail;
    for (int p = 0; p < conf->partitions; p++)
        st->restore.read_to[p] = -1;
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
              nb__new_consumer(conf, st, "consumer", true, 0, false, false, errstr, errstr_size)) ||
        !(st->links = nb__new_consumer(conf, st, "links", false, NB__LINKS_FETCH_WAIT_MS, false,
                                       false, errstr, errstr_size)) ||
        !(st->restore.client =
              nb__new_consumer(conf, st, "restore", false, 10, false, true, errstr, errstr_size)) ||
        !(st->restore.client2 = nb__new_consumer(conf, st, "restore2", false, 10, false, true,
                                                 errstr, errstr_size)) ||
        (conf->local_by_child &&
         !(st->restore.ends =
               nb__new_consumer(conf, st, "ends", false, 0, true, false, errstr, errstr_size))))
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
    /* nb_stream_run() settles the commit in flight; this is for a run cut short. First, while
     * what it uses is still there: the committer thread the producer, a failed commit's abort
     * and rollback the consumer and the stores. Its outcome cannot matter here: a batch whose
     * commit failed is never seen by read_committed readers (aborted now, or by the brokers
     * when its transaction times out), and its records, whose offsets were not committed, are
     * read again by the next run. */
    if (st->commit.busy)
        NB_IGNORE(nb__commit_settle(st));
    nb__ahead_stop(st); /* nb_stream_run() stops it; this is for a run cut short */
    if (st->consumer) {
        rd_kafka_consumer_close(st->consumer);
        rd_kafka_destroy(st->consumer);
    }
    if (st->links) {
        rd_kafka_consumer_close(st->links);
        rd_kafka_destroy(st->links);
    }
    if (st->restore.client) {
        rd_kafka_consumer_close(st->restore.client);
        rd_kafka_destroy(st->restore.client);
    }
    if (st->restore.client2) {
        rd_kafka_consumer_close(st->restore.client2);
        rd_kafka_destroy(st->restore.client2);
    }
    nb__catch_up_forget(st);
    if (st->restore.ends) {
        rd_kafka_consumer_close(st->restore.ends);
        rd_kafka_destroy(st->restore.ends);
    }
    for (size_t i = 0; i < st->n_topics; i++)
        rd_kafka_topic_destroy(st->topics[i].rkt);
    if (st->producer)
        rd_kafka_destroy(st->producer);
    for (int p = 0; st->stores && p < st->partitions; p++)
        nb__store_destroy(st->stores[p]);
    free(st->stores);
    free(st->restore.target);
    free(st->restore.read_to);
    nb__undo_free(&st->batch.undo);
    nb__undo_free(&st->commit.undo);
    nb__pending_clear(st);
    free(st->batch.pending);
    if (st->batch.offsets)
        rd_kafka_topic_partition_list_destroy(st->batch.offsets);
    if (st->done_offsets)
        rd_kafka_topic_partition_list_destroy(st->done_offsets);
    free(st->wm.src);
    if (st->isolation.suspects)
        rd_kafka_topic_partition_list_destroy(st->isolation.suspects);
    if (st->isolation.failed_offsets)
        rd_kafka_topic_partition_list_destroy(st->isolation.failed_offsets);
    nb__pipeline_destroy(st->pipe);
    pthread_mutex_destroy(&st->stats_lock);
    pthread_mutex_destroy(&st->ahead.lock);
    pthread_cond_destroy(&st->ahead.work);
    pthread_cond_destroy(&st->ahead.done);
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
void nb__publish_stats(nb_stream_t *st)
{
    if (st->ahead.decoder) {
        pthread_mutex_lock(&st->ahead.lock);
        st->stats.decoded_ahead = st->ahead.decoded_ahead;
        pthread_mutex_unlock(&st->ahead.lock);
    }
    pthread_mutex_lock(&st->stats_lock);
    st->published = st->stats;
    pthread_mutex_unlock(&st->stats_lock);
}

/* While the brokers are down (ALL_BROKERS_DOWN), asks them for metadata once a second: an
 * answer means they are back (so does a commit). */
void nb__brokers_probe(nb_stream_t *st, int64_t now)
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
