/*
 * notbrought - stream: a consumer group of its own, for `notbrought dispatch` (docs/inbox.md
 * §4). read_committed, no automatic commit and no automatic offset store: the caller commits
 * a partition's offset only when everything before it is finished, so a restart or a
 * rebalance reads again what was not (at least once). Eager and cooperative rebalances are
 * both handled in the rebalance callback; a pause asked for holds across rebalances.
 */
#include "stream/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/ops.h"

struct nb_group_consumer_s {
    rd_kafka_t *rk;
    rd_kafka_message_t *last; /* the record handed out by the last poll */
    uint64_t generation;
    bool paused;
};

/* Pauses or resumes @p parts as the consumer's pause says. */
static void nb__gc_apply_pause(nb_group_consumer_t *gc, rd_kafka_topic_partition_list_t *parts)
{
    if (!parts || parts->cnt == 0)
        return;
    rd_kafka_resp_err_t err = gc->paused ? rd_kafka_pause_partitions(gc->rk, parts)
                                         : rd_kafka_resume_partitions(gc->rk, parts);
    if (err)
        NB_LOG(NB_LOG_WARN, "stream", "%s: could not %s partitions: %s", rd_kafka_name(gc->rk),
               gc->paused ? "pause" : "resume", rd_kafka_err2str(err));
}

static void nb__gc_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    nb_group_consumer_t *gc = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    gc->generation++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e) {
                NB_LOG(NB_LOG_ERROR, "stream", "%s: assign: %s", rd_kafka_name(rk),
                       rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else if (rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            NB_LOG(NB_LOG_ERROR, "stream", "%s: assign failed", rd_kafka_name(rk));
        }
        NB_LOG(NB_LOG_INFO, "stream", "%s: %d partition%s assigned", rd_kafka_name(rk), parts->cnt,
               parts->cnt == 1 ? "" : "s");
        if (gc->paused)
            nb__gc_apply_pause(gc, parts);
        return;
    }
    NB_LOG(NB_LOG_INFO, "stream", "%s: %d partition%s revoked", rd_kafka_name(rk), parts->cnt,
           parts->cnt == 1 ? "" : "s");
    if (coop) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e)
            rd_kafka_error_destroy(e);
    } else if (rd_kafka_assign(rk, NULL) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        NB_LOG(NB_LOG_WARN, "stream", "%s: unassign failed", rd_kafka_name(rk));
    }
}

nb_group_consumer_t *nb_group_consumer_new(const nb_config_t *conf, const char *group_id,
                                           const char *role, const char *const *topics,
                                           size_t n_topics, char *errstr, size_t errstr_size)
{
    nb_group_consumer_t *gc = calloc(1, sizeof(*gc));
    rd_kafka_conf_t *kc = gc ? nb__client_conf(conf, role, errstr, errstr_size) : NULL;
    if (!gc) {
        snprintf(errstr, errstr_size, "no memory");
        return NULL;
    }
    if (!kc)
        goto fail;
    const char *kv[][2] = {{"group.id", group_id},
                           {"isolation.level", "read_committed"},
                           {"enable.auto.commit", "false"},
                           {"enable.auto.offset.store", "false"},
                           {"auto.offset.reset", "earliest"},
                           {"partition.assignment.strategy", conf->assignment_strategy}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (rd_kafka_conf_set(kc, kv[i][0], kv[i][1], errstr, errstr_size) != RD_KAFKA_CONF_OK)
            goto fail;
    rd_kafka_conf_set_rebalance_cb(kc, nb__gc_rebalance);
    rd_kafka_conf_set_opaque(kc, gc);
    if (!(gc->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size)))
        goto fail;
    kc = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(gc->rk);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)n_topics);
    for (size_t i = 0; i < n_topics; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(gc->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(err));
        goto fail;
    }
    return gc;
fail:
    if (kc)
        rd_kafka_conf_destroy(kc);
    nb_group_consumer_destroy(gc);
    return NULL;
}

nb_err_t nb_group_consumer_poll(nb_group_consumer_t *gc, int timeout_ms, nb_followed_t *rec)
{
    if (gc->last) {
        rd_kafka_message_destroy(gc->last);
        gc->last = NULL;
    }
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(gc->rk, timeout_ms);
    if (!rkm)
        return NB_ERR_TIMEOUT;
    if (rkm->err) {
        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            NB_LOG(NB_LOG_WARN, "stream", "%s: %s", rd_kafka_name(gc->rk),
                   rd_kafka_message_errstr(rkm));
        rd_kafka_message_destroy(rkm);
        char reason[256];
        if (rd_kafka_fatal_error(gc->rk, reason, sizeof(reason))) {
            NB_LOG(NB_LOG_ERROR, "stream", "%s: fatal: %s", rd_kafka_name(gc->rk), reason);
            return NB_ERR_KAFKA_FATAL;
        }
        return NB_ERR_TIMEOUT;
    }
    gc->last = rkm;
    rd_kafka_timestamp_type_t tstype;
    *rec = (nb_followed_t){rd_kafka_topic_name(rkm->rkt),
                           rkm->partition,
                           rkm->offset,
                           rkm->key,
                           rkm->key_len,
                           rkm->payload,
                           rkm->len,
                           rd_kafka_message_timestamp(rkm, &tstype)};
    return NB_ERR_OK;
}

nb_err_t nb_group_consumer_commit(nb_group_consumer_t *gc, const char *topic, int32_t partition,
                                  int64_t next, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = next;
    rd_kafka_resp_err_t err = rd_kafka_commit(gc->rk, list, 0);
    if (!err && list->elems[0].err)
        err = list->elems[0].err;
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        snprintf(errstr, errstr_size, "commit %s [%d] at %lld: %s", topic, (int)partition,
                 (long long)next, rd_kafka_err2str(err));
        return NB_ERR_KAFKA;
    }
    return NB_ERR_OK;
}

void nb_group_consumer_pause(nb_group_consumer_t *gc, bool pause)
{
    if (gc->paused == pause)
        return;
    gc->paused = pause;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(gc->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR)
        nb__gc_apply_pause(gc, parts);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
}

uint64_t nb_group_consumer_generation(const nb_group_consumer_t *gc)
{
    return gc->generation;
}

bool nb_group_consumer_owns(nb_group_consumer_t *gc, const char *topic, int32_t partition)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    bool owned = false;
    if (rd_kafka_assignment(gc->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts)
        owned = rd_kafka_topic_partition_list_find(parts, topic, partition) != NULL;
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    return owned;
}

void nb_group_consumer_destroy(nb_group_consumer_t *gc)
{
    if (!gc)
        return;
    if (gc->last)
        rd_kafka_message_destroy(gc->last);
    if (gc->rk) {
        if (rd_kafka_consumer_close(gc->rk) != RD_KAFKA_RESP_ERR_NO_ERROR)
            NB_LOG(NB_LOG_WARN, "stream", "%s: leaving the group failed", rd_kafka_name(gc->rk));
        rd_kafka_destroy(gc->rk);
    }
    free(gc);
}
