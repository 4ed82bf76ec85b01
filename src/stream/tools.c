/*
 * notbrought - stream: the embedded broker (librdkafka's mock cluster) and the produce/consume
 * helpers behind `notbrought produce` and `notbrought consume`.
 */
#include "stream/internal.h"

#include <librdkafka/rdkafka_mock.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* How often the waker knocks on the mock cluster (see nb__broker_waker). */
#define NB__WAKER_INTERVAL_MS 50

struct nb_broker_s {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    char *bootstraps;
    pthread_t waker;
    bool waker_started;
    atomic_bool stopping;
    struct addrinfo *first; /* the first mock broker's listener */
};

/*
 * The mock cluster's thread sometimes misses the wake-up for a request made through its API
 * (librdkafka 2.0.2: rd_kafka_mock_topic_create(), rd_kafka_mock_push_request_errors(),
 * rd_kafka_mock_broker_set_down() ...): the caller then waits for the thread's next poll
 * timeout, 1 s. Measured here: in 15 runs of 40 topic creations, 14 had one that took
 * 1,001-1,138 ms; the integration tests lost 1-3 s in setting up each embedded cluster. A
 * connection to one of its brokers wakes the thread's poll too, so this thread opens and closes
 * one every NB__WAKER_INTERVAL_MS while the cluster lives (with it, the same 15 runs waited at
 * most 54 ms). The mock broker accepts and drops each connection; nothing else sees them.
 */
static void *nb__broker_waker(void *arg)
{
    nb_broker_t *b = arg;
    const struct timespec pause = {0, NB__WAKER_INTERVAL_MS * 1000000L};
    while (!atomic_load(&b->stopping)) {
        int fd = socket(b->first->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            (void)connect(fd, b->first->ai_addr, b->first->ai_addrlen); /* a knock, not a use */
            close(fd);
        }
        nanosleep(&pause, NULL);
    }
    return NULL;
}

/* Starts the waker on the first "host:port" of the cluster's bootstrap list; without one (no
 * address, no thread) the cluster works as before, only slower. */
static void nb__broker_waker_start(nb_broker_t *b)
{
    char host[256], *colon, *comma;
    snprintf(host, sizeof(host), "%s", b->bootstraps);
    if ((comma = strchr(host, ',')))
        *comma = '\0';
    if (!(colon = strrchr(host, ':')))
        return;
    *colon = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    if (getaddrinfo(host, colon + 1, &hints, &b->first) != 0) {
        b->first = NULL;
        return;
    }
    b->waker_started = nb_thread_create(&b->waker, nb__broker_waker, b) == 0;
}

nb_broker_t *nb_broker_new(int brokers, char *errstr, size_t errstr_size)
{
    nb_broker_t *b = calloc(1, sizeof(*b));
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (!b)
        goto fail;
    /* The mock cluster lives inside a client handle; this one never connects anywhere. */
    if (rd_kafka_conf_set(kc, "bootstrap.servers", "", errstr, errstr_size) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(kc, "log_level", "3", errstr, errstr_size) != RD_KAFKA_CONF_OK)
        goto fail;
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (!b->rk)
        goto fail;
    kc = NULL; /* now owned by the handle */
    /* Its thread, unlike librdkafka's others, inherits our signal mask (notbrought/util.h). */
    sigset_t mask;
    nb_thread_signals_block(&mask);
    b->mcluster = rd_kafka_mock_cluster_new(b->rk, brokers);
    nb_thread_signals_restore(&mask);
    if (!b->mcluster) {
        snprintf(errstr, errstr_size, "could not start the mock cluster");
        goto fail;
    }
    b->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(b->mcluster));
    if (!b->bootstraps) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    nb__broker_waker_start(b);
    return b;
fail:
    if (kc)
        rd_kafka_conf_destroy(kc);
    nb_broker_destroy(b);
    return NULL;
}

void nb_broker_create_topics(nb_broker_t *b, const nb_config_t *conf, int source_partitions)
{
    rd_kafka_mock_cluster_t *mc = b->mcluster;
    for (size_t i = 0; i < conf->n_appointment_topics; i++)
        rd_kafka_mock_topic_create(mc, conf->appointment_topics[i], source_partitions, 1);
    rd_kafka_mock_topic_create(mc, conf->context_topic, source_partitions, 1);
    rd_kafka_mock_topic_create(mc, conf->acks_topic, source_partitions, 1);
    rd_kafka_mock_topic_create(mc, conf->links_topic, source_partitions, 1);
    rd_kafka_mock_topic_create(mc, conf->by_child_topic, conf->partitions, 1);
    rd_kafka_mock_topic_create(mc, conf->changelog_topic, conf->partitions, 1);
    rd_kafka_mock_topic_create(mc, conf->notifications_topic, source_partitions, 1);
    rd_kafka_mock_topic_create(mc, conf->dead_letter_topic, 1, 1);
    rd_kafka_mock_topic_create(mc, conf->audit_topic, source_partitions, 1);
    rd_kafka_mock_topic_create(mc, conf->identity_suggestions_topic, source_partitions, 1);
}

const char *nb_broker_bootstraps(const nb_broker_t *b)
{
    return b->bootstraps;
}

struct rd_kafka_mock_cluster_s *nb_broker_mock(nb_broker_t *b)
{
    return b->mcluster;
}

void nb_broker_destroy(nb_broker_t *b)
{
    if (!b)
        return;
    if (b->waker_started) {
        atomic_store(&b->stopping, true);
        pthread_join(b->waker, NULL);
    }
    if (b->first)
        freeaddrinfo(b->first);
    if (b->mcluster)
        rd_kafka_mock_cluster_destroy(b->mcluster);
    if (b->rk)
        rd_kafka_destroy(b->rk);
    free(b->bootstraps);
    free(b);
}

rd_kafka_conf_t *nb__tool_conf(const nb_config_t *conf, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (rd_kafka_conf_set(kc, "bootstrap.servers", conf->bootstrap_servers, errstr,
                          errstr_size) != RD_KAFKA_CONF_OK)
        goto fail;
    for (size_t i = 0; i < conf->n_kafka_props; i++)
        if (rd_kafka_conf_set(kc, conf->kafka_props[i].key, conf->kafka_props[i].value, errstr,
                              errstr_size) != RD_KAFKA_CONF_OK)
            goto fail;
    return kc;
fail:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

typedef struct nb__produce_s {
    rd_kafka_t *rk;
    long count;
    rd_kafka_resp_err_t failed;
} nb__produce_t;

static void nb__dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    nb__produce_t *p = opaque;
    (void)rk;
    if (rkm->err && !p->failed)
        p->failed = rkm->err;
}

/* Records get the time they are produced, as a source system's records would: a record file's
 * timestamps are when events happened (possibly years ago), and Kafka's time-based retention
 * would delete a topic's old segments at once if those became the record times. */
static int nb__produce_one(void *opaque, const char *topic, const char *key, const void *value,
                           size_t len, int64_t ts, const nb_record_meta_t *meta)
{
    nb__produce_t *p = opaque;
    (void)ts;
    for (;;) {
        /* A record that says where it was goes back there, with its headers. */
        rd_kafka_headers_t *hdrs = NULL;
        if (meta && meta->n_headers) {
            hdrs = rd_kafka_headers_new(meta->n_headers);
            for (size_t i = 0; i < meta->n_headers; i++)
                rd_kafka_header_add(hdrs, meta->headers[i].name, -1, meta->headers[i].value,
                                    (ssize_t)meta->headers[i].len);
        }
        /* (A variable: RD_KAFKA_V_PARTITION casts its argument without parentheses.) */
        int32_t partition = meta && meta->partition >= 0 ? meta->partition
                                                         : RD_KAFKA_PARTITION_UA;
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (err && hdrs)
            rd_kafka_headers_destroy(hdrs); /* owned by the message only when produced */
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p->rk, 100);
            continue;
        }
        if (err) {
            p->failed = err;
            return 1;
        }
        p->count++;
        rd_kafka_poll(p->rk, 0);
        return 0;
    }
}

nb_err_t nb_stream_produce_file(const nb_config_t *conf, const char *path, long *count,
                                char *errstr, size_t errstr_size)
{
    nb__produce_t p = {NULL, 0, RD_KAFKA_RESP_ERR_NO_ERROR};
    rd_kafka_conf_t *kc = nb__tool_conf(conf, errstr, errstr_size);
    if (!kc)
        return NB_ERR_CONFIG;
    if (rd_kafka_conf_set(kc, "enable.idempotence", "true", errstr, errstr_size) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(kc, "linger.ms", "20", errstr, errstr_size) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(kc);
        return NB_ERR_CONFIG;
    }
    rd_kafka_conf_set_dr_msg_cb(kc, nb__dr_cb);
    rd_kafka_conf_set_opaque(kc, &p);
    p.rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (!p.rk) {
        rd_kafka_conf_destroy(kc);
        return NB_ERR_KAFKA;
    }
    errstr[0] = '\0';
    int rc = nb_recfile_read_meta(path, nb__produce_one, &p, errstr, errstr_size);
    rd_kafka_flush(p.rk, 60000);
    nb_err_t result = NB_ERR_OK;
    if (rc < 0) {
        result = NB_ERR_IO;
    } else if (p.failed) {
        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(p.failed));
        result = NB_ERR_KAFKA;
    } else if (rd_kafka_outq_len(p.rk) > 0) {
        snprintf(errstr, errstr_size, "produce: %d records not delivered within 60 s",
                 rd_kafka_outq_len(p.rk));
        result = NB_ERR_TIMEOUT;
    }
    *count = p.count;
    rd_kafka_destroy(p.rk);
    return result;
}

typedef struct nb__plain_cb_s {
    nb_record_cb_t *cb;
    void *opaque;
} nb__plain_cb_t;

static int nb__plain_cb(void *opaque, const char *topic, const char *key, const void *value,
                        size_t len, int64_t ts, const nb_record_meta_t *meta)
{
    nb__plain_cb_t *p = opaque;
    (void)meta;
    return p->cb(p->opaque, topic, key, value, len, ts);
}

nb_err_t nb_stream_consume(const nb_config_t *conf, const char *topic, long max, int idle_ms,
                           bool to_end, nb_record_cb_t *cb, void *opaque, char *errstr,
                           size_t errstr_size)
{
    nb__plain_cb_t p = {cb, opaque};
    return nb_stream_consume_meta(conf, topic, max, idle_ms, to_end, nb__plain_cb, &p, errstr,
                                  errstr_size);
}

/* Hands one consumed record to @p cb with its key (as a string), partition and headers.
 * @returns cb's result: non-zero stops the reading. */
static int nb__consume_deliver(const rd_kafka_message_t *rkm, const char *topic,
                               nb_record_meta_cb_t *cb, void *opaque)
{
    char key[1024];
    size_t kl = rkm->key_len < sizeof(key) - 1 ? rkm->key_len : sizeof(key) - 1;
    if (rkm->key)
        memcpy(key, rkm->key, kl);
    key[rkm->key ? kl : 0] = '\0';
    nb_record_meta_t meta;
    meta.partition = rkm->partition;
    meta.n_headers = 0;
    rd_kafka_headers_t *h = NULL;
    const char *hn;
    const void *hv;
    size_t hl;
    if (!rd_kafka_message_headers((rd_kafka_message_t *)rkm, &h))
        while (meta.n_headers < NB_RECFILE_MAX_HEADERS &&
               !rd_kafka_header_get_all(h, meta.n_headers, &hn, &hv, &hl)) {
            meta.headers[meta.n_headers].name = hn;
            meta.headers[meta.n_headers].value = hv;
            meta.headers[meta.n_headers].len = hl;
            meta.n_headers++;
        }
    return cb(opaque, topic, key, rkm->payload, rkm->len,
              rd_kafka_message_timestamp(rkm, NULL), &meta);
}

nb_err_t nb_stream_consume_meta(const nb_config_t *conf, const char *topic, long max,
                                int idle_ms, bool to_end, nb_record_meta_cb_t *cb, void *opaque,
                                char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kc = nb__tool_conf(conf, errstr, errstr_size);
    if (!kc)
        return NB_ERR_CONFIG;
    if (rd_kafka_conf_set(kc, "group.id", "notbrought-consume-tool", errstr, errstr_size) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(kc, "isolation.level", "read_committed", errstr, errstr_size) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", errstr, errstr_size) !=
            RD_KAFKA_CONF_OK ||
        /* With read_committed a partition's end is its last stable offset. */
        rd_kafka_conf_set(kc, "enable.partition.eof", to_end ? "true" : "false", errstr,
                          errstr_size) != RD_KAFKA_CONF_OK ||
        /* The end is known from a fetch that found nothing: do not wait long for one. */
        (to_end && rd_kafka_conf_set(kc, "fetch.wait.max.ms", "20", errstr, errstr_size) !=
                       RD_KAFKA_CONF_OK)) {
        rd_kafka_conf_destroy(kc);
        return NB_ERR_CONFIG;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        return NB_ERR_KAFKA;
    }
    nb_err_t result = NB_ERR_OK;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (err || md->topic_cnt < 1 || md->topics[0].err) {
        snprintf(errstr, errstr_size, "topic %s: %s", topic,
                 rd_kafka_err2str(err ? err : md->topics[0].err));
        result = NB_ERR_KAFKA;
    } else {
        int cnt = md->topics[0].partition_cnt;
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(cnt);
        for (int i = 0; i < cnt; i++)
            rd_kafka_topic_partition_list_add(parts, topic, i)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        /* Partitions read to their end (to_end): a record after an end unmarks it. */
        bool *ended = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof(*ended));
        int n_ended = 0;
        long n = 0;
        if (!ended)
            result = NB_ERR_NOMEM;
        while (ended && (max == 0 || n < max) && !(to_end && n_ended == cnt)) {
            rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, idle_ms);
            if (!rkm)
                break;
            bool ours = rkm->partition >= 0 && rkm->partition < cnt;
            if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (ours && !ended[rkm->partition]) {
                    ended[rkm->partition] = true;
                    n_ended++;
                }
                rd_kafka_message_destroy(rkm);
                continue;
            }
            if (!rkm->err && ours && ended[rkm->partition]) {
                ended[rkm->partition] = false;
                n_ended--;
            }
            if (!rkm->err) {
                n++;
                int rc = nb__consume_deliver(rkm, topic, cb, opaque);
                rd_kafka_message_destroy(rkm);
                if (rc)
                    break;
            } else {
                rd_kafka_message_destroy(rkm);
            }
        }
        free(ended);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return result;
}
