/*
 * Benchmark: the floor under the daemon's throughput. A transactional consume -> produce loop
 * with librdkafka and nothing else: subscribe (one group, read_committed, eager range
 * assignment), produce every record unchanged to an output topic, and every --commit-ms
 * (default 100, the daemon's commit interval) send the consumed offsets to the transaction
 * and commit it. The same shape as the daemon's transactions, without decoding, identity,
 * state or policy; bench/e2e_throughput.py divides the daemon's rate by this one.
 *
 *   bench_passthrough --bootstrap HOST:PORT --input TOPIC --output TOPIC [--group G]
 *                     [--commit-ms MS] [--expect N] [--idle-ms MS]
 *
 * Stops after --expect records (default: the sum of the input partitions' end - start offsets
 * when it starts), or when nothing arrives for --idle-ms (default 10000). Prints one JSON line.
 * Exit status: 0 ok, 2 usage, 3 Kafka error.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define TXN_TIMEOUT_MS 30000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_passthrough: %s: %s\n", what, why);
    exit(3);
}

static void die_error(const char *what, rd_kafka_error_t *error)
{
    die(what, rd_kafka_error_string(error));
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char errstr[512];
    if (rd_kafka_conf_set(c, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        die(k, errstr);
}

/* Records to expect: the sum over the input's partitions of high - low watermark. */
static long long backlog(rd_kafka_t *rk, const char *topic)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (err || md->topic_cnt < 1 || md->topics[0].err)
        die("metadata", rd_kafka_err2str(err ? err : md->topics[0].err));
    long long total = 0;
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int64_t lo = 0, hi = 0;
        err = rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[i].id, &lo,
                                               &hi, 10000);
        if (err)
            die("watermarks", rd_kafka_err2str(err));
        total += hi - lo;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return total;
}

static void commit(rd_kafka_t *producer, rd_kafka_t *consumer,
                   rd_kafka_topic_partition_list_t *offsets)
{
    rd_kafka_error_t *error;
    if (offsets->cnt > 0) {
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(consumer);
        for (int attempt = 0;; attempt++) {
            error = rd_kafka_send_offsets_to_transaction(producer, offsets, cgmd, TXN_TIMEOUT_MS);
            if (!error)
                break;
            if (!rd_kafka_error_is_retriable(error) || attempt >= 10)
                die_error("send_offsets_to_transaction", error);
            rd_kafka_error_destroy(error);
        }
        rd_kafka_consumer_group_metadata_destroy(cgmd);
    }
    for (int attempt = 0;; attempt++) {
        error = rd_kafka_commit_transaction(producer, TXN_TIMEOUT_MS);
        if (!error)
            break;
        if (!rd_kafka_error_is_retriable(error) || attempt >= 10)
            die_error("commit_transaction", error);
        rd_kafka_error_destroy(error);
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"bootstrap", required_argument, NULL, 'b'},
                                             {"input", required_argument, NULL, 'i'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"group", required_argument, NULL, 'g'},
                                             {"commit-ms", required_argument, NULL, 'c'},
                                             {"expect", required_argument, NULL, 'n'},
                                             {"idle-ms", required_argument, NULL, 'I'},
                                             {NULL, 0, NULL, 0}};
    const char *bootstrap = NULL, *input = NULL, *output = NULL, *group = "bench-passthrough";
    int commit_ms = 100, idle_ms = 10000, c;
    long long expect = -1;
    while ((c = getopt_long(argc, argv, "b:i:o:g:c:n:I:", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            bootstrap = optarg;
            break;
        case 'i':
            input = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case 'c':
            commit_ms = atoi(optarg);
            break;
        case 'n':
            expect = atoll(optarg);
            break;
        case 'I':
            idle_ms = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_passthrough --bootstrap HOST:PORT --input TOPIC "
                            "--output TOPIC [--group G] [--commit-ms MS] [--expect N] "
                            "[--idle-ms MS]\n");
            return 2;
        }
    }
    if (!bootstrap || !input || !output || commit_ms < 1) {
        fprintf(stderr, "bench_passthrough: --bootstrap, --input and --output are required\n");
        return 2;
    }
    char errstr[512], txn_id[128];
    double t_start = now_s();

    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    set(pc, "bootstrap.servers", bootstrap);
    snprintf(txn_id, sizeof(txn_id), "bench-passthrough-%d", (int)getpid());
    set(pc, "transactional.id", txn_id);
    set(pc, "client.id", "bench-passthrough-producer");
    set(pc, "linger.ms", "5"); /* as the daemon */
    set(pc, "transaction.timeout.ms", "60000");
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr));
    if (!producer)
        die("producer", errstr);

    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    set(cc, "bootstrap.servers", bootstrap);
    set(cc, "client.id", "bench-passthrough-consumer");
    set(cc, "group.id", group);
    set(cc, "enable.auto.commit", "false");
    set(cc, "auto.offset.reset", "earliest");
    set(cc, "isolation.level", "read_committed");
    set(cc, "partition.assignment.strategy", "range");
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof(errstr));
    if (!consumer)
        die("consumer", errstr);
    rd_kafka_poll_set_consumer(consumer);

    if (expect < 0)
        expect = backlog(consumer, input);
    rd_kafka_error_t *error = rd_kafka_init_transactions(producer, TXN_TIMEOUT_MS);
    if (error)
        die_error("init_transactions", error);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, input, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err)
        die("subscribe", rd_kafka_err2str(err));

    /* Produced through a topic handle and polled without waiting first, as the daemon does
     * (a producev() by topic name looks the handle up for every record). */
    rd_kafka_topic_t *out_rkt = rd_kafka_topic_new(producer, output, NULL);
    if (!out_rkt)
        die("topic", rd_kafka_err2str(rd_kafka_last_error()));
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(16);
    long long count = 0, transactions = 0;
    bool open = false;
    double t_first = 0, t_batch = 0, t_last_msg = now_s();
    while (count < expect) {
        int timeout = 100;
        if (open) {
            double left = t_batch + commit_ms / 1000.0 - now_s();
            timeout = left <= 0 ? 0 : (int)(left * 1000) + 1;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(consumer, 0);
        if (!rkm && timeout > 0)
            rkm = rd_kafka_consumer_poll(consumer, timeout);
        double now = now_s();
        if (rkm && !rkm->err) {
            if (!open) {
                if ((error = rd_kafka_begin_transaction(producer)))
                    die_error("begin_transaction", error);
                open = true;
                t_batch = now;
            }
            if (t_first == 0)
                t_first = now;
            t_last_msg = now;
            for (;;) {
                err = rd_kafka_producev(
                    producer, RD_KAFKA_V_RKT(out_rkt), RD_KAFKA_V_KEY(rkm->key, rkm->key_len),
                    RD_KAFKA_V_VALUE(rkm->payload, rkm->len),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                    break;
                rd_kafka_poll(producer, 50);
            }
            if (err)
                die("produce", rd_kafka_err2str(err));
            const char *topic = rd_kafka_topic_name(rkm->rkt);
            rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_find(offsets, topic, rkm->partition);
            if (!tp)
                tp = rd_kafka_topic_partition_list_add(offsets, topic, rkm->partition);
            tp->offset = rkm->offset + 1;
            count++;
        } else if (rkm && rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            fprintf(stderr, "bench_passthrough: consume: %s\n", rd_kafka_message_errstr(rkm));
        }
        if (rkm)
            rd_kafka_message_destroy(rkm);
        if (open && (now - t_batch >= commit_ms / 1000.0 || count >= expect)) {
            commit(producer, consumer, offsets);
            rd_kafka_topic_partition_list_destroy(offsets);
            offsets = rd_kafka_topic_partition_list_new(16);
            open = false;
            transactions++;
        }
        if (!open && now - t_last_msg > idle_ms / 1000.0) {
            fprintf(stderr, "bench_passthrough: nothing for %d ms; stopping at %lld of %lld\n",
                    idle_ms, count, expect);
            break;
        }
    }
    if (open) {
        commit(producer, consumer, offsets);
        transactions++;
    }
    double t_end = now_s();
    rd_kafka_topic_partition_list_destroy(offsets);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_topic_destroy(out_rkt);
    rd_kafka_destroy(producer);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    double busy = t_first > 0 ? t_end - t_first : 0;
    printf("{\"bench\":\"passthrough\",\"events\":%lld,\"expected\":%lld,\"seconds\":%.3f,"
           "\"events_per_sec\":%.0f,\"seconds_with_startup\":%.3f,\"transactions\":%lld,"
           "\"commit_interval_ms\":%d,\"cpu_seconds\":%.2f,\"peak_rss_kb\":%ld}\n",
           count, expect, busy, busy > 0 ? (double)count / busy : 0.0, t_end - t_start,
           transactions, commit_ms, cpu, (long)ru.ru_maxrss);
    return count >= expect ? 0 : 1;
}
