/*
 * notbrought - stream: `notbrought purge`, the documented way records leave the topics that
 * keep them for ever (docs/runbook.md, "Retention schedule and erasure"). A plan finds, per
 * partition, the first record at or after a time (ListOffsets by time); applying it deletes
 * everything before those offsets (DeleteRecords). Compacted topics are refused: records
 * leave them by tombstones. The command writes the audit record between the two.
 */
#include "stream/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NB__PURGE_TIMEOUT_MS 30000

/* A consumer handle without a group: it only asks for offsets. */
static rd_kafka_t *nb__purge_client(const nb_config_t *conf, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kc = nb__tool_conf(conf, errstr, errstr_size);
    if (!kc)
        return NULL;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(kc);
    return rk;
}

/* The topic's cleanup.policy as the cluster has it (DescribeConfigs), into @p out. */
NB_NODISCARD static nb_err_t nb__purge_policy(rd_kafka_t *rk, const char *topic, char *out,
                                              size_t size, char *errstr, size_t errstr_size)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    (void)rd_kafka_AdminOptions_set_request_timeout(opts, NB__PURGE_TIMEOUT_MS, NULL, 0);
    rd_kafka_DescribeConfigs(rk, &res, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 2 * NB__PURGE_TIMEOUT_MS);
    nb_err_t err = NB_ERR_KAFKA;
    out[0] = '\0';
    if (!ev) {
        snprintf(errstr, errstr_size, "topic %s: no answer to DescribeConfigs", topic);
        err = NB_ERR_TIMEOUT;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "topic %s: %s", topic, rd_kafka_event_error_string(ev));
    } else {
        size_t cnt = 0, ecnt = 0;
        const rd_kafka_DescribeConfigs_result_t *dr = rd_kafka_event_DescribeConfigs_result(ev);
        const rd_kafka_ConfigResource_t **got =
            dr ? rd_kafka_DescribeConfigs_result_resources(dr, &cnt) : NULL;
        if (!got || cnt != 1) {
            snprintf(errstr, errstr_size, "topic %s: not described", topic);
        } else if (rd_kafka_ConfigResource_error(got[0])) {
            snprintf(errstr, errstr_size, "topic %s: %s", topic,
                     rd_kafka_ConfigResource_error_string(got[0]));
        } else {
            const rd_kafka_ConfigEntry_t **e = rd_kafka_ConfigResource_configs(got[0], &ecnt);
            for (size_t k = 0; k < ecnt; k++)
                if (strcmp(rd_kafka_ConfigEntry_name(e[k]), "cleanup.policy") == 0 &&
                    rd_kafka_ConfigEntry_value(e[k]))
                    snprintf(out, size, "%s", rd_kafka_ConfigEntry_value(e[k]));
            err = NB_ERR_OK;
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    return err;
}

/* Per partition: the offsets it holds and the first at or after plan->before_ms. */
NB_NODISCARD static nb_err_t nb__purge_offsets(rd_kafka_t *rk, nb_purge_plan_t *plan, char *errstr,
                                               size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, plan->topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, NB__PURGE_TIMEOUT_MS);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(errstr, errstr_size, "topic %s: %s", plan->topic,
                 rd_kafka_err2str(e                    ? e
                                  : md->topic_cnt == 1 ? md->topics[0].err
                                                       : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        if (md)
            rd_kafka_metadata_destroy(md);
        return NB_ERR_KAFKA;
    }
    int n = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n && i < NB_PURGE_MAX_PARTITIONS; i++)
        rd_kafka_topic_partition_list_add(tpl, plan->topic, md->topics[0].partitions[i].id)
            ->offset = plan->before_ms;
    rd_kafka_metadata_destroy(md);
    nb_err_t err = NB_ERR_OK;
    if (n > NB_PURGE_MAX_PARTITIONS) {
        snprintf(errstr, errstr_size, "topic %s: more than %d partitions", plan->topic,
                 NB_PURGE_MAX_PARTITIONS);
        err = NB_ERR_LIMIT;
    } else if ((e = rd_kafka_offsets_for_times(rk, tpl, NB__PURGE_TIMEOUT_MS))) {
        snprintf(errstr, errstr_size, "topic %s: offsets by time: %s", plan->topic,
                 rd_kafka_err2str(e));
        err = NB_ERR_KAFKA;
    }
    for (int i = 0; !err && i < tpl->cnt; i++) {
        nb_purge_part_t *p = &plan->parts[plan->n++];
        p->partition = tpl->elems[i].partition;
        e = tpl->elems[i].err;
        if (!e)
            e = rd_kafka_query_watermark_offsets(rk, plan->topic, p->partition, &p->low, &p->high,
                                                 NB__PURGE_TIMEOUT_MS);
        if (e) {
            snprintf(errstr, errstr_size, "topic %s [%d]: %s", plan->topic, (int)p->partition,
                     rd_kafka_err2str(e));
            err = NB_ERR_KAFKA;
            break;
        }
        /* No record at or after the time: everything there is older. */
        p->to = tpl->elems[i].offset < 0 ? p->high : tpl->elems[i].offset;
        if (p->to < p->low)
            p->to = p->low;
        plan->offsets += p->to - p->low;
    }
    rd_kafka_topic_partition_list_destroy(tpl);
    return err;
}

nb_err_t nb_stream_purge_plan(const nb_config_t *conf, const char *topic, int64_t before_ms,
                              nb_purge_plan_t *plan, char *errstr, size_t errstr_size)
{
    memset(plan, 0, sizeof(*plan));
    nb_topic_spec_t spec[NB_TOPICS_MAX];
    size_t n = nb_topics_plan(conf, 1, 1, spec);
    const nb_topic_spec_t *s = NULL;
    for (size_t i = 0; i < n && !s; i++)
        if (strcmp(spec[i].name, topic) == 0)
            s = &spec[i];
    if (!s) {
        snprintf(errstr, errstr_size, "%s is not one of the configured topics", topic);
        return NB_ERR_INVALID_ARG;
    }
    if (s->compact) {
        snprintf(errstr, errstr_size,
                 "%s (topics.%s) is compacted: records leave it by tombstones, not by a purge "
                 "(docs/runbook.md, \"Retention schedule and erasure\")",
                 topic, nb_topic_role_name(s->role));
        return NB_ERR_INVALID_ARG;
    }
    snprintf(plan->topic, sizeof(plan->topic), "%s", topic);
    plan->role = s->role;
    plan->before_ms = before_ms;
    rd_kafka_t *rk = nb__purge_client(conf, errstr, errstr_size);
    if (!rk)
        return NB_ERR_KAFKA;
    char policy[64];
    nb_err_t err = nb__purge_policy(rk, topic, policy, sizeof(policy), errstr, errstr_size);
    if (!err && strstr(policy, "compact")) {
        snprintf(errstr, errstr_size,
                 "%s has cleanup.policy %s on the cluster: a compacted topic is not purged by "
                 "offset (and `notbrought topics` refuses it for this topic)",
                 topic, policy);
        err = NB_ERR_INVALID_ARG;
    }
    if (!err)
        err = nb__purge_offsets(rk, plan, errstr, errstr_size);
    rd_kafka_destroy(rk);
    return err;
}

nb_err_t nb_stream_purge_apply(const nb_config_t *conf, const nb_purge_plan_t *plan, char *errstr,
                               size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new((int)plan->n);
    for (size_t i = 0; i < plan->n; i++)
        if (plan->parts[i].to > plan->parts[i].low)
            rd_kafka_topic_partition_list_add(tpl, plan->topic, plan->parts[i].partition)->offset =
                plan->parts[i].to;
    if (tpl->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(tpl);
        return NB_ERR_OK;
    }
    rd_kafka_t *rk = nb__purge_client(conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_topic_partition_list_destroy(tpl);
        return NB_ERR_KAFKA;
    }
    rd_kafka_DeleteRecords_t *dr = rd_kafka_DeleteRecords_new(tpl);
    rd_kafka_topic_partition_list_destroy(tpl);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETERECORDS);
    (void)rd_kafka_AdminOptions_set_operation_timeout(opts, NB__PURGE_TIMEOUT_MS, NULL, 0);
    (void)rd_kafka_AdminOptions_set_request_timeout(opts, NB__PURGE_TIMEOUT_MS, NULL, 0);
    rd_kafka_DeleteRecords(rk, &dr, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 2 * NB__PURGE_TIMEOUT_MS);
    nb_err_t err = NB_ERR_OK;
    if (!ev) {
        snprintf(errstr, errstr_size, "deleting records of %s: no answer", plan->topic);
        err = NB_ERR_TIMEOUT;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "deleting records of %s: %s", plan->topic,
                 rd_kafka_event_error_string(ev));
        err = NB_ERR_KAFKA;
    } else {
        const rd_kafka_DeleteRecords_result_t *res = rd_kafka_event_DeleteRecords_result(ev);
        const rd_kafka_topic_partition_list_t *got =
            res ? rd_kafka_DeleteRecords_result_offsets(res) : NULL;
        for (int i = 0; got && i < got->cnt; i++)
            if (got->elems[i].err) {
                snprintf(errstr, errstr_size, "deleting records of %s [%d]: %s", plan->topic,
                         (int)got->elems[i].partition, rd_kafka_err2str(got->elems[i].err));
                err = NB_ERR_KAFKA;
                break;
            }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteRecords_destroy(dr);
    rd_kafka_destroy(rk);
    return err;
}

static void nb__store_dr(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    *(rd_kafka_resp_err_t *)opaque = rkm->err;
}

nb_err_t nb_stream_store(const nb_config_t *conf, const char *topic, const char *key,
                         const void *value, size_t len, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t delivered = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    rd_kafka_conf_t *kc = nb__tool_conf(conf, errstr, errstr_size);
    if (!kc)
        return NB_ERR_CONFIG;
    if (rd_kafka_conf_set(kc, "enable.idempotence", "true", errstr, errstr_size) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(kc);
        return NB_ERR_CONFIG;
    }
    rd_kafka_conf_set_dr_msg_cb(kc, nb__store_dr);
    rd_kafka_conf_set_opaque(kc, &delivered);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        return NB_ERR_KAFKA;
    }
    rd_kafka_resp_err_t e =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE((void *)value, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (!e)
        rd_kafka_flush(rk, 2 * NB__PURGE_TIMEOUT_MS);
    nb_err_t err = NB_ERR_OK;
    if (e || (e = delivered)) {
        snprintf(errstr, errstr_size, "writing to %s: %s", topic,
                 e == RD_KAFKA_RESP_ERR__IN_PROGRESS ? "not delivered in time"
                                                     : rd_kafka_err2str(e));
        err = e == RD_KAFKA_RESP_ERR__IN_PROGRESS ? NB_ERR_TIMEOUT : NB_ERR_KAFKA;
    }
    rd_kafka_destroy(rk);
    return err;
}
