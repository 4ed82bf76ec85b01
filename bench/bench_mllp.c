/*
 * Benchmark: MLLP -> Kafka-acknowledged HL7 v2 messages per second, on the embedded broker
 * (librdkafka's mock cluster, in this process: a floor for a real cluster's round trips, not
 * a forecast). An MLLP server (notbrought/ingest.h) with a mapper that makes one appointment
 * event per message; a sender on one connection that keeps @p window messages in flight (1:
 * waits for each ACK, as most integration engines do). Every ACK is checked to be AA.
 *
 *   bench_mllp [messages] [window...]   (default 20,000 messages, windows 1 and 64)
 *
 * One JSON line per window: {"bench":"mllp_ack","window":W,"messages":N,"seconds":S,
 * "messages_per_second":R}.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "notbrought/hl7.h"
#include "notbrought/ingest.h"
#include "notbrought/stream.h"

static double nb__secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

NB_NODISCARD static nb_err_t bench_map(void *opaque, const char *source, const char *msg,
                                       size_t len, int64_t now_ms, nb_ingest_result_t *out)
{
    static unsigned long seq;
    (void)opaque;
    (void)source;
    (void)msg;
    (void)len;
    out->outcome = NB_INGEST_PUBLISH;
    out->n_records = 1;
    nb_appointment_event_t *a = &out->records[0].u.appt;
    out->records[0].type = NB_RECORD_APPOINTMENT;
    seq++;
    snprintf(a->event_id, sizeof(a->event_id), "bench-%lu", seq);
    a->source.agency = NB_AGENCY_GP;
    snprintf(a->source.system, sizeof(a->source.system), "Bench PAS");
    snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "W97001");
    snprintf(a->nhs_number, sizeof(a->nhs_number), "9434765919");
    a->date_of_birth = NB_DATE_NONE;
    a->expected_delivery_date = NB_DATE_NONE;
    snprintf(a->appointment_id, sizeof(a->appointment_id), "APPT-%lu", seq % 5000);
    snprintf(a->appointment_type, sizeof(a->appointment_type), "gp_routine");
    a->scheduled_start = now_ms + 86400000LL;
    a->recorded_at = now_ms;
    a->version = 1;
    return NB_ERR_OK;
}

static void *bench_serve(void *arg)
{
    if (nb_ingest_run(arg, NULL) != NB_ERR_OK)
        fprintf(stderr, "bench_mllp: the server failed\n");
    return NULL;
}

/* Sends @p n messages keeping @p window in flight; @returns the ACKs that were not AA. */
static long bench_send(int port, long n, long window)
{
    static const char msg[] = "MSH|^~\\&|PAS|RVF|NB|NB|20261201120000||SIU^S12|C|P|2.5\r"
                              "SCH|APPT-1\rPID|||1234^^^RVF^MR\r";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return n;
    nb_buf_t frame = {0}, in = {0};
    nb_hl7_mllp_wrap(&frame, msg, sizeof(msg) - 1);
    long sent = 0, acked = 0, bad = 0;
    while (acked < n) {
        while (sent < n && sent - acked < window) {
            if (write(fd, frame.data, frame.len) != (ssize_t)frame.len)
                goto out;
            sent++;
        }
        if (nb_buf_reserve(&in, 65536))
            goto out;
        ssize_t r = read(fd, in.data + in.len, 65536);
        if (r <= 0)
            goto out;
        in.len += (size_t)r;
        nb_hl7_mllp_t f;
        size_t off = 0;
        while (nb_hl7_mllp_find((char *)in.data + off, in.len - off, 65536, &f) ==
               NB_HL7_MLLP_FRAME) {
            bad += strstr(f.msg, "MSA|AA|") ? 0 : 1;
            acked++;
            off += f.consumed;
        }
        memmove(in.data, in.data + off, in.len - off);
        in.len -= off;
    }
out:
    close(fd);
    nb_buf_free(&frame);
    nb_buf_free(&in);
    return bad + (n - acked);
}

int main(int argc, char **argv)
{
    char errstr[1024];
    long n = argc > 1 ? atol(argv[1]) : 20000;
    nb_log_set_level(NB_LOG_ERROR);
    nb_broker_t *b = nb_broker_new(1, errstr, sizeof(errstr));
    nb_config_t *conf = nb_config_new();
    if (!b || !conf) {
        fprintf(stderr, "bench_mllp: %s\n", errstr);
        return 1;
    }
    free(conf->bootstrap_servers);
    conf->bootstrap_servers = strdup(nb_broker_bootstraps(b));
    nb_broker_create_topics(b, conf, 6);
    conf->n_mllp = 1;
    nb_mllp_conf_t *l = &conf->mllp[0];
    l->name = strdup("bench");
    l->bind = strdup("127.0.0.1");
    l->mapping = strdup("");
    l->topic = strdup(conf->appointment_topics[0]);
    l->tls_cert = strdup("");
    l->tls_key = strdup("");
    l->tls_ca = strdup("");
    nb_ingest_mapper_t mapper = {bench_map, NULL, NULL};
    nb_ingest_t *in = nb_ingest_new(conf, &mapper, NULL, errstr, sizeof(errstr));
    if (!in) {
        fprintf(stderr, "bench_mllp: %s\n", errstr);
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, bench_serve, in);
    int rc = 0;
    long windows[8] = {1, 64};
    int n_windows = 2;
    if (argc > 2)
        for (n_windows = 0; n_windows < 8 && n_windows + 2 < argc; n_windows++)
            windows[n_windows] = atol(argv[n_windows + 2]);
    for (int i = 0; i < n_windows; i++) {
        double t0 = nb__secs();
        long bad = bench_send(nb_ingest_port(in, 0), n, windows[i]);
        double s = nb__secs() - t0;
        printf("{\"bench\":\"mllp_ack\",\"window\":%ld,\"messages\":%ld,\"seconds\":%.3f,"
               "\"messages_per_second\":%.0f}\n",
               windows[i], n, s, (double)n / s);
        if (bad) {
            fprintf(stderr, "bench_mllp: %ld messages not answered AA\n", bad);
            rc = 1;
        }
    }
    nb_ingest_stop(in);
    pthread_join(t, NULL);
    nb_ingest_destroy(in);
    nb_config_destroy(conf);
    nb_broker_destroy(b);
    return rc;
}
