/*
 * notbrought - stream: the publisher of the adapters (MLLP, and later HTTP): an idempotent
 * producer (acks=all) whose every record reports its delivery back to the caller, so that an
 * adapter acknowledges its sender only after Kafka has acknowledged what it sent.
 *
 * Delivery reports are served on the caller's thread by nb_publisher_poll(); librdkafka
 * writes a byte to a pipe when reports wait (rd_kafka_queue_io_event_enable), so that a
 * poll() loop over sockets wakes for them too.
 */
#include "stream/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

struct nb_publisher_s {
    rd_kafka_t *rk;
    const nb_config_t *conf;
    nb_registry_t *reg;
    nb_codec_t *codec;
    nb_publish_cb_t *cb;
    int pipefd[2];
    size_t in_flight;
    size_t max_msg; /* the producer's message.max.bytes */
    atomic_bool fatal;
    nb_buf_t buf; /* the record being encoded */
};

size_t nb_stream_record_key(const nb_record_t *rec, char *out, size_t size)
{
    int n = -1;
    switch (rec->type) {
    case NB_RECORD_APPOINTMENT:
        n = snprintf(out, size, "%s", rec->u.appt.appointment_id);
        break;
    case NB_RECORD_IDENTITY_LINK: {
        const nb_identity_link_t *l = &rec->u.link;
        if (l->kind == NB_LINK_UNBORN_TO_CHILD)
            n = snprintf(out, size, "%s|%s|%d", l->from.system, l->from.value,
                         (int)l->expected_delivery_date);
        else
            n = snprintf(out, size, "%s|%s", l->from.system, l->from.value);
        break;
    }
    case NB_RECORD_CONTEXT_FACT:
        n = snprintf(out, size, "%s", rec->u.fact.event_id);
        break;
    case NB_RECORD_AUDIT: {
        /* The child's records together, in order, on one partition; a record about no child
         * (a digest, a purge) by what it is about. */
        const nb_audit_t *a = &rec->u.audit;
        n = snprintf(out, size, "%s",
                     a->child_key[0]         ? a->child_key
                     : a->notification_id[0] ? a->notification_id
                                             : a->audit_id);
        break;
    }
    default:
        break;
    }
    if (n <= 0 || (size_t)n >= size) {
        if (size)
            out[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

/* Delivery reports. @locality the thread in nb_publisher_poll() */
static void nb__pub_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    nb_publisher_t *pub = opaque;
    (void)rk;
    nb_err_t err = NB_ERR_OK;
    if (rkm->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ||
        rkm->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || rkm->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        err = NB_ERR_TIMEOUT;
    else if (rkm->err == RD_KAFKA_RESP_ERR__FATAL || atomic_load(&pub->fatal))
        err = rkm->err ? NB_ERR_KAFKA_FATAL : NB_ERR_OK;
    else if (rkm->err)
        err = NB_ERR_KAFKA;
    if (pub->in_flight > 0)
        pub->in_flight--;
    pub->cb(rkm->_private, err, rkm->err ? rd_kafka_err2str(rkm->err) : "delivered");
}

/* @locality librdkafka's threads */
static void nb__pub_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    nb_publisher_t *pub = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        NB_LOG(NB_LOG_ERROR, "stream", "%s: fatal Kafka error: %s: %s", rd_kafka_name(rk),
               rd_kafka_err2name(orig), buf);
        atomic_store(&pub->fatal, true);
        return;
    }
    NB_LOG(NB_LOG_WARN, "stream", "%s: %s: %s", rd_kafka_name(rk),
           rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static bool nb__pub_set(rd_kafka_conf_t *kc, const char *k, const char *v, char *errstr,
                        size_t errstr_size)
{
    return rd_kafka_conf_set(kc, k, v, errstr, errstr_size) == RD_KAFKA_CONF_OK;
}

/* The producer's configuration: the project's client settings, idempotence and acks=all. */
static rd_kafka_conf_t *nb__pub_conf(nb_publisher_t *pub, const char *role, int timeout_ms,
                                     char *errstr, size_t errstr_size)
{
    char timeout[16];
    rd_kafka_conf_t *kc = nb__client_conf(pub->conf, role, errstr, errstr_size);
    if (!kc)
        return NULL;
    snprintf(timeout, sizeof(timeout), "%d", timeout_ms);
    /* Statistics: nobody serves them here; they would only wait in the queue. */
    if (!nb__pub_set(kc, "enable.idempotence", "true", errstr, errstr_size) ||
        !nb__pub_set(kc, "acks", "all", errstr, errstr_size) ||
        !nb__pub_set(kc, "message.timeout.ms", timeout, errstr, errstr_size) ||
        !nb__pub_set(kc, "statistics.interval.ms", "0", errstr, errstr_size) ||
        /* A sender waits for each ACK: a record leaves at once, whatever linger.ms the
         * daemon's producer is given in kafka.properties (records still batch while a request
         * is in flight). bench_mllp, one sender waiting for each ACK on the embedded broker:
         * 700 messages/s with linger.ms=1, 2,600-4,700 with 0. */
        !nb__pub_set(kc, "linger.ms", "0", errstr, errstr_size)) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(kc, nb__pub_dr_cb);
    rd_kafka_conf_set_error_cb(kc, nb__pub_error_cb);
    rd_kafka_conf_set_opaque(kc, pub);
    return kc;
}

nb_publisher_t *nb_publisher_new(const nb_config_t *conf, const char *role, int delivery_timeout_ms,
                                 nb_publish_cb_t *cb, char *errstr, size_t errstr_size)
{
    nb_publisher_t *pub = calloc(1, sizeof(*pub));
    rd_kafka_conf_t *kc = NULL;
    if (!pub || !cb) {
        snprintf(errstr, errstr_size, pub ? "no delivery callback" : "out of memory");
        free(pub);
        return NULL;
    }
    pub->conf = conf;
    pub->cb = cb;
    pub->pipefd[0] = pub->pipefd[1] = -1;
    atomic_init(&pub->fatal, false);
    if (pipe(pub->pipefd) != 0) {
        snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
        goto fail;
    }
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(pub->pipefd[i], F_GETFL);
        if (fl < 0 || fcntl(pub->pipefd[i], F_SETFL, fl | O_NONBLOCK) != 0 ||
            fcntl(pub->pipefd[i], F_SETFD, FD_CLOEXEC) != 0) {
            snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
            goto fail;
        }
    }
    if (!(pub->reg = nb_registry_new()) || nb_registry_add_builtin(pub->reg, errstr, errstr_size) ||
        (conf->schemas_dir[0] &&
         nb_registry_load_dir(pub->reg, conf->schemas_dir, errstr, errstr_size)) ||
        !(pub->codec = nb_codec_new(pub->reg, errstr, errstr_size)))
        goto fail;
    if (!(kc = nb__pub_conf(pub, role, delivery_timeout_ms, errstr, errstr_size)))
        goto fail;
    char mmb[32];
    size_t mmb_len = sizeof(mmb);
    pub->max_msg = rd_kafka_conf_get(kc, "message.max.bytes", mmb, &mmb_len) == RD_KAFKA_CONF_OK
                       ? (size_t)strtoull(mmb, NULL, 10)
                       : 1000000;
    if (!(pub->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size)))
        goto fail;
    kc = NULL; /* now owned by the producer */
    rd_kafka_queue_t *q = rd_kafka_queue_get_main(pub->rk);
    rd_kafka_queue_io_event_enable(q, pub->pipefd[1], "1", 1);
    rd_kafka_queue_destroy(q);
    return pub;
fail:
    if (kc)
        rd_kafka_conf_destroy(kc);
    nb_publisher_destroy(pub);
    return NULL;
}

nb_err_t nb_publisher_publish(nb_publisher_t *pub, const char *topic, const void *key,
                              size_t key_len, const void *value, size_t len,
                              const nb_publish_header_t *hdrs, size_t n_hdrs, void *opaque,
                              char *errstr, size_t errstr_size)
{
    if (atomic_load(&pub->fatal)) {
        snprintf(errstr, errstr_size,
                 "the producer failed (fatal error): nothing more can be "
                 "delivered");
        return NB_ERR_KAFKA_FATAL;
    }
    rd_kafka_headers_t *h = n_hdrs ? rd_kafka_headers_new(n_hdrs) : NULL;
    for (size_t i = 0; i < n_hdrs; i++)
        rd_kafka_header_add(h, hdrs[i].name, -1, hdrs[i].value, (ssize_t)hdrs[i].len);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        pub->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? key_len : 0),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err) {
        if (h)
            rd_kafka_headers_destroy(h); /* owned by the message only when produced */
        snprintf(errstr, errstr_size, "producing to %s: %s", topic, rd_kafka_err2str(err));
        return err == RD_KAFKA_RESP_ERR__QUEUE_FULL          ? NB_ERR_LIMIT
               : err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? NB_ERR_RECORD_TOO_LARGE
               : err == RD_KAFKA_RESP_ERR__FATAL             ? NB_ERR_KAFKA_FATAL
                                                             : NB_ERR_KAFKA;
    }
    pub->in_flight++;
    return NB_ERR_OK;
}

nb_err_t nb_publisher_publish_record(nb_publisher_t *pub, const char *topic, const nb_record_t *rec,
                                     void *opaque, char *errstr, size_t errstr_size)
{
    char key[NB_SYSTEM_MAX + NB_ID_MAX + 16];
    size_t key_len = nb_stream_record_key(rec, key, sizeof(key));
    if (key_len == 0) {
        snprintf(errstr, errstr_size, "a %s record has no key rule (or an empty key)",
                 nb_record_type_name(rec->type));
        return NB_ERR_INVALID_ARG;
    }
    pub->buf.len = 0;
    nb_err_t err = nb_codec_encode(pub->codec, rec, &pub->buf, errstr, errstr_size);
    if (err)
        return err;
    return nb_publisher_publish(pub, topic, key, key_len, pub->buf.data, pub->buf.len, NULL, 0,
                                opaque, errstr, errstr_size);
}

static void nb__pub_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    out[0] = '\0';
    if (EVP_Digest(p ? p : "", n, md, &md_len, EVP_sha256(), NULL) != 1)
        return;
    for (unsigned int i = 0; i < md_len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

#define NB__PUB_DL_HEADERS 16

nb_err_t nb_publisher_dead_letter(nb_publisher_t *pub, const nb_publish_origin_t *o,
                                  const void *raw, size_t len, nb_err_t err, const char *reason,
                                  const nb_publish_header_t *extra, size_t n_extra, void *opaque,
                                  char *errstr, size_t errstr_size)
{
    nb_publish_header_t h[NB__PUB_DL_HEADERS + 8];
    char ts[32], bytes[32], sha[65];
    size_t n = 0, extra_bytes = 0;
    const char *code = nb_err_name(err);
    snprintf(ts, sizeof(ts), "%lld", (long long)o->received_ms);
    h[n++] = (nb_publish_header_t){"nb.error.code", code, strlen(code)};
    h[n++] = (nb_publish_header_t){"nb.error.message", reason, strlen(reason)};
    h[n++] = (nb_publish_header_t){"nb.source.protocol", o->protocol, strlen(o->protocol)};
    h[n++] = (nb_publish_header_t){"nb.source.name", o->source, strlen(o->source)};
    h[n++] = (nb_publish_header_t){"nb.source.timestamp", ts, strlen(ts)};
    for (size_t i = 0; i < n_extra && i < NB__PUB_DL_HEADERS; i++) {
        h[n++] = extra[i];
        extra_bytes += strlen(extra[i].name) + extra[i].len + 16;
    }
    /* The headers' own size, with room for the bounded ones and the record's overhead. */
    size_t overhead = strlen(reason) + extra_bytes + 1024;
    size_t vlen = len;
    if (len + overhead > pub->max_msg) {
        vlen = (size_t)pub->conf->dead_letter_prefix_bytes;
        if (vlen > len)
            vlen = len;
        if (vlen + overhead > pub->max_msg)
            vlen = pub->max_msg > overhead ? pub->max_msg - overhead : 0;
        snprintf(bytes, sizeof(bytes), "%zu", len);
        nb__pub_sha256_hex(raw, len, sha);
        h[n++] = (nb_publish_header_t){"nb.dead_letter.bounded", "true", 4};
        h[n++] = (nb_publish_header_t){"nb.original.value.bytes", bytes, strlen(bytes)};
        h[n++] = (nb_publish_header_t){"nb.original.value.sha256", sha, strlen(sha)};
    }
    return nb_publisher_publish(pub, pub->conf->dead_letter_topic, NULL, 0, raw, vlen, h, n, opaque,
                                errstr, errstr_size);
}

int nb_publisher_fd(const nb_publisher_t *pub)
{
    return pub->pipefd[0];
}

int nb_publisher_poll(nb_publisher_t *pub, int timeout_ms)
{
    char drain[64];
    while (read(pub->pipefd[0], drain, sizeof(drain)) > 0)
        ;
    return rd_kafka_poll(pub->rk, timeout_ms);
}

size_t nb_publisher_in_flight(const nb_publisher_t *pub)
{
    return pub->in_flight;
}

bool nb_publisher_failed(const nb_publisher_t *pub)
{
    return atomic_load(&((nb_publisher_t *)pub)->fatal);
}

nb_err_t nb_publisher_flush(nb_publisher_t *pub, int timeout_ms)
{
    int64_t end = nb__now() + timeout_ms;
    while (pub->in_flight > 0) {
        int64_t left = end - nb__now();
        if (left <= 0)
            return NB_ERR_TIMEOUT;
        nb_publisher_poll(pub, left > 100 ? 100 : (int)left);
    }
    return NB_ERR_OK;
}

void nb_publisher_destroy(nb_publisher_t *pub)
{
    if (!pub)
        return;
    if (pub->rk) {
        /* Every record gets its one report, even those that will never be delivered now. */
        rd_kafka_purge(pub->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        int64_t end = nb__now() + 5000;
        while (pub->in_flight > 0 && nb__now() < end)
            rd_kafka_poll(pub->rk, 50);
        rd_kafka_destroy(pub->rk);
    }
    nb_codec_destroy(pub->codec);
    nb_registry_destroy(pub->reg);
    nb_buf_free(&pub->buf);
    for (int i = 0; i < 2; i++)
        if (pub->pipefd[i] >= 0)
            close(pub->pipefd[i]);
    free(pub);
}
