/*
 * notbrought - ops: librdkafka statistics (the JSON documents of a stats_cb, librdkafka's
 * STATISTICS.md) into the metrics registry: broker state, round-trip time and errors,
 * consumer lag and rebalances, the producer's queue and transaction state.
 *
 * The document is parsed before the registry's lock is taken, then applied under one hold of
 * it, so that a scrape never sees half a document (a broker's old RTT next to another's new).
 */
#include "notbrought/ops.h"

#include <jansson.h>
#include <string.h>

#include "ops/metrics_internal.h"

/* Reads a number member. @returns false when it is missing or not a number. */
static bool nb__num(const json_t *obj, const char *key, double *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

/* Brokers of one client. @locks metrics_lock (held) */
static void nb__kstats_brokers(nb_metrics_t *m, const char *client, json_t *brokers)
{
    const char *name;
    json_t *b;
    json_object_foreach(brokers, name, b)
    {
        double nodeid;
        const char *state = json_string_value(json_object_get(b, "state"));
        /* Bootstrap and internal brokers (nodeid -1) are addresses, not cluster members: a
         * bootstrap address that answers takes its broker's node id (and name), and one that
         * never does (a stale DNS name) says nothing about the cluster. */
        if (!json_is_object(b) || !nb__num(b, "nodeid", &nodeid) || nodeid < 0 || !state)
            continue;
        const char *cb[2] = {client, name};
        /* INIT: never connected, or disconnected and not needed since (librdkafka connects
         * only to the brokers it needs); neither up nor a reason to alert. */
        if (strcmp(state, "INIT") != 0)
            nb__metrics_batch_set(m, NB_M_KAFKA_BROKER_UP, cb, strcmp(state, "UP") == 0 ? 1 : 0,
                                  NB__METRICS_SET);

        json_t *rtt = json_object_get(b, "rtt");
        double cnt, avg, p99;
        if (nb__num(rtt, "cnt", &cnt) && cnt > 0 && nb__num(rtt, "avg", &avg) &&
            nb__num(rtt, "p99", &p99)) {
            const char *qa[3] = {client, name, "avg"}, *qp[3] = {client, name, "p99"};
            nb__metrics_batch_set(m, NB_M_KAFKA_BROKER_RTT, qa, avg / 1e6, NB__METRICS_SET);
            nb__metrics_batch_set(m, NB_M_KAFKA_BROKER_RTT, qp, p99 / 1e6, NB__METRICS_SET);
        }

        static const char *const kinds[][2] = {
            {"txerrs", "tx"}, {"rxerrs", "rx"}, {"req_timeouts", "timeout"}};
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            double n;
            const char *ck[3] = {client, name, kinds[k][1]};
            if (nb__num(b, kinds[k][0], &n) && n >= 0)
                nb__metrics_batch_set(m, NB_M_KAFKA_BROKER_ERRORS, ck, n, NB__METRICS_MAX);
        }
    }
    /* Brokers this client no longer reports (or reports in INIT, or without RTT samples). */
    nb__metrics_batch_sweep(m, NB_M_KAFKA_BROKER_UP, 0, client);
    nb__metrics_batch_sweep(m, NB_M_KAFKA_BROKER_RTT, 0, client);
}

/* Lag of the partitions the consumer is assigned. @locks metrics_lock (held) */
static void nb__kstats_lag(nb_metrics_t *m, json_t *topics)
{
    const char *topic;
    json_t *t;
    json_object_foreach(topics, topic, t)
    {
        const char *pid;
        json_t *part;
        json_object_foreach(json_object_get(t, "partitions"), pid, part)
        {
            double lag;
            /* -1: the UnAssigned pseudo-partition; desired: assigned to this consumer.
             * consumer_lag_stored counts from the offset after the last record handed to the
             * application. consumer_lag counts from the committed offset, which this consumer
             * learns only when it is assigned the partition: the daemon commits through the
             * producer's transactions, so it would be frozen at the assignment (-1 for a new
             * group). It is the answer only before the first record (stored lag -1). A lag
             * of -1 in both: not known yet. */
            if (strcmp(pid, "-1") == 0 || !json_is_true(json_object_get(part, "desired")))
                continue;
            if ((nb__num(part, "consumer_lag_stored", &lag) && lag >= 0) ||
                (nb__num(part, "consumer_lag", &lag) && lag >= 0)) {
                const char *tp[2] = {topic, pid};
                nb__metrics_batch_set(m, NB_M_CONSUMER_LAG, tp, lag, NB__METRICS_SET);
            }
        }
    }
    nb__metrics_batch_sweep(m, NB_M_CONSUMER_LAG, 0, NULL);
}

bool nb_metrics_kafka_stats(nb_metrics_t *m, const char *json, size_t len)
{
    json_error_t jerr;
    json_t *root = json ? json_loadb(json, len, 0, &jerr) : NULL;
    const char *type = json_string_value(json_object_get(root, "type"));
    const char *client = json_string_value(json_object_get(root, "client_id"));
    if (!client || !client[0])
        client = json_string_value(json_object_get(root, "name"));
    bool consumer = type && strcmp(type, "consumer") == 0;
    bool producer = type && strcmp(type, "producer") == 0;
    bool valid = (consumer || producer) && client && client[0] &&
                 json_is_object(json_object_get(root, "brokers"));
    if (!nb__metrics_batch_begin(m)) {
        json_decref(root);
        return false;
    }
    if (!valid) {
        nb__metrics_batch_set(m, NB_M_KAFKA_STATS_INVALID, NULL, 1, NB__METRICS_ADD);
        nb__metrics_batch_end(m);
        json_decref(root);
        return false;
    }
    nb__kstats_brokers(m, client, json_object_get(root, "brokers"));
    double v;
    if (consumer) {
        nb__kstats_lag(m, json_object_get(root, "topics"));
        const char *c1[1] = {client};
        if (nb__num(json_object_get(root, "cgrp"), "rebalance_cnt", &v) && v >= 0)
            nb__metrics_batch_set(m, NB_M_KAFKA_REBALANCES, c1, v, NB__METRICS_MAX);
    } else {
        if (nb__num(root, "msg_cnt", &v) && v >= 0)
            nb__metrics_batch_set(m, NB_M_KAFKA_PRODUCER_QUEUE, NULL, v, NB__METRICS_SET);
        const char *state =
            json_string_value(json_object_get(json_object_get(root, "eos"), "txn_state"));
        if (state && state[0]) {
            /* One series: the previous state's goes, so no two states are ever 1. */
            const char *s1[1] = {state};
            nb__metrics_batch_set(m, NB_M_KAFKA_TXN_STATE, s1, 1, NB__METRICS_SET);
            nb__metrics_batch_sweep(m, NB_M_KAFKA_TXN_STATE, 0, NULL);
        }
    }
    nb__metrics_batch_end(m);
    json_decref(root);
    return true;
}
