/*
 * notbrought - stream: following topics for a view (the inbox, docs/inbox.md §2). A follower
 * assigns itself every partition of its topics from the beginning, read_committed, without a
 * consumer group: each inbox instance builds the whole view, and nothing it reads moves the
 * daemon's offsets. It knows when it has caught up (every partition read to the end it had),
 * and a fetcher reads one record back by partition and offset (a detail page).
 */
#include "stream/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/ops.h"

#define NB__FOLLOW_BATCH 10000 /* records handed over in one nb_follower_poll() at most */

struct nb_follower_s {
    rd_kafka_t *rk;
    size_t n_parts;
    struct {
        char *topic;
        int32_t partition;
        bool ended; /* read to its end once */
    } * parts;
    size_t n_ended;
};

/* A consumer of the tools' configuration, read_committed, no group offsets, with an event at
 * each partition's end. */
static rd_kafka_t *nb__follow_consumer(const nb_config_t *conf, const char *group, char *errstr,
                                       size_t errstr_size)
{
    rd_kafka_conf_t *kc = nb__tool_conf(conf, errstr, errstr_size);
    if (!kc)
        return NULL;
    const char *kv[][2] = {{"group.id", group},
                           {"isolation.level", "read_committed"},
                           {"enable.auto.commit", "false"},
                           {"enable.auto.offset.store", "false"},
                           {"enable.partition.eof", "true"},
                           {"fetch.wait.max.ms", "100"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (rd_kafka_conf_set(kc, kv[i][0], kv[i][1], errstr, errstr_size) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(kc);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(kc);
    return rk;
}

/* Adds every partition of @p topic to @p list (from @p offset) and to the follower's table. */
NB_NODISCARD static nb_err_t nb__follow_topic(nb_follower_t *f, const char *topic,
                                              rd_kafka_topic_partition_list_t *list, char *errstr,
                                              size_t errstr_size)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(f->rk, topic, NULL);
    rd_kafka_resp_err_t err =
        rkt ? rd_kafka_metadata(f->rk, 0, rkt, &md, 10000) : RD_KAFKA_RESP_ERR__INVALID_ARG;
    nb_err_t result = NB_ERR_OK;
    if (err || md->topic_cnt < 1 || md->topics[0].err) {
        snprintf(errstr, errstr_size, "topic %s: %s", topic,
                 rd_kafka_err2str(err ? err : md->topics[0].err));
        result = NB_ERR_KAFKA;
    } else {
        int cnt = md->topics[0].partition_cnt;
        void *grown = realloc(f->parts, (f->n_parts + (size_t)cnt) * sizeof(*f->parts));
        if (!grown) {
            result = NB_ERR_NOMEM;
        } else {
            f->parts = grown;
            for (int i = 0; i < cnt; i++) {
                rd_kafka_topic_partition_list_add(list, topic, i)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
                f->parts[f->n_parts].topic = strdup(topic);
                f->parts[f->n_parts].partition = i;
                f->parts[f->n_parts].ended = false;
                if (!f->parts[f->n_parts++].topic)
                    result = NB_ERR_NOMEM;
            }
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return result;
}

nb_follower_t *nb_follower_new(const nb_config_t *conf, const char *const *topics, size_t n_topics,
                               char *errstr, size_t errstr_size)
{
    nb_follower_t *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(errstr, errstr_size, "no memory");
        return NULL;
    }
    char group[160];
    snprintf(group, sizeof(group), "%s-inbox-view", conf->instance_id ? conf->instance_id : "nb");
    f->rk = nb__follow_consumer(conf, group, errstr, errstr_size);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    nb_err_t err = f->rk ? NB_ERR_OK : NB_ERR_CONFIG;
    for (size_t i = 0; !err && i < n_topics; i++) {
        bool again = false; /* a topic named twice is followed once */
        for (size_t k = 0; k < i; k++)
            again = again || strcmp(topics[k], topics[i]) == 0;
        if (!again)
            err = nb__follow_topic(f, topics[i], list, errstr, errstr_size);
    }
    if (!err && rd_kafka_assign(f->rk, list) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "the follower could not assign its partitions");
        err = NB_ERR_KAFKA;
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        nb_follower_destroy(f);
        return NULL;
    }
    return f;
}

/* The follower's entry for a partition, or NULL. */
static size_t nb__follow_part(const nb_follower_t *f, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < f->n_parts; i++)
        if (f->parts[i].partition == partition && strcmp(f->parts[i].topic, topic) == 0)
            return i;
    return (size_t)-1;
}

nb_err_t nb_follower_poll(nb_follower_t *f, int timeout_ms, nb_follow_cb_t *cb, void *opaque,
                          size_t *delivered, char *errstr, size_t errstr_size)
{
    size_t n = 0;
    nb_err_t err = NB_ERR_OK;
    for (int wait = timeout_ms; !err && n < NB__FOLLOW_BATCH; wait = 0) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(f->rk, wait);
        if (!rkm)
            break;
        const char *topic = rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "";
        size_t p = nb__follow_part(f, topic, rkm->partition);
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p != (size_t)-1 && !f->parts[p].ended) {
                f->parts[p].ended = true;
                f->n_ended++;
            }
        } else if (rkm->err) {
            /* The client retries what it can; say what happened, go on. */
            NB_LOG(NB_LOG_WARN, "stream", "follower: %s [%d]: %s", topic, (int)rkm->partition,
                   rd_kafka_message_errstr(rkm));
        } else {
            nb_followed_t rec = {
                topic,        rkm->partition, rkm->offset, rkm->key,
                rkm->key_len, rkm->payload,   rkm->len,    rd_kafka_message_timestamp(rkm, NULL)};
            err = cb(opaque, &rec);
            if (err)
                snprintf(errstr, errstr_size, "%s [%d] offset %lld: the view refused the record",
                         topic, (int)rkm->partition, (long long)rkm->offset);
            n++;
        }
        rd_kafka_message_destroy(rkm);
    }
    if (delivered)
        *delivered = n;
    return err;
}

bool nb_follower_caught_up(const nb_follower_t *f)
{
    return f->n_ended == f->n_parts;
}

void nb_follower_destroy(nb_follower_t *f)
{
    if (!f)
        return;
    if (f->rk) {
        rd_kafka_assign(f->rk, NULL); /* leaving: nothing to hand back */
        rd_kafka_destroy(f->rk);
    }
    for (size_t i = 0; i < f->n_parts; i++)
        free(f->parts[i].topic);
    free(f->parts);
    free(f);
}

nb_err_t nb_stream_fetch(const nb_config_t *conf, const char *topic, int32_t partition,
                         int64_t offset, int timeout_ms, nb_buf_t *value, char *errstr,
                         size_t errstr_size)
{
    char group[160];
    snprintf(group, sizeof(group), "%s-inbox-fetch", conf->instance_id ? conf->instance_id : "nb");
    rd_kafka_t *rk = nb__follow_consumer(conf, group, errstr, errstr_size);
    if (!rk)
        return NB_ERR_CONFIG;
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, topic, partition)->offset = offset;
    nb_err_t result = NB_ERR_NOT_FOUND;
    snprintf(errstr, errstr_size, "%s [%d] offset %lld: not found", topic, (int)partition,
             (long long)offset);
    if (rd_kafka_assign(rk, one) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        result = NB_ERR_KAFKA;
    } else {
        for (int waited = 0; waited < timeout_ms && result == NB_ERR_NOT_FOUND; waited += 100) {
            rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
            if (!rkm)
                continue;
            bool eof = rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
            if (!rkm->err && rkm->offset == offset) {
                value->len = 0;
                nb_buf_add(value, rkm->payload, rkm->len);
                result = value->err ? NB_ERR_NOMEM : NB_ERR_OK;
            } else if (eof || (!rkm->err && rkm->offset > offset)) {
                waited = timeout_ms; /* past it (deleted, or a transaction's marker): none */
            }
            rd_kafka_message_destroy(rkm);
        }
    }
    rd_kafka_topic_partition_list_destroy(one);
    rd_kafka_destroy(rk);
    return result;
}
