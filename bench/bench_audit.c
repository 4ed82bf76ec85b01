/*
 * Benchmark: the cost of the compact 'received' audit record the daemon writes for each event
 * it takes into a child's history (issue 24: source topics expire, the audit keeps what a
 * chronology needs). For every appointment event and context fact of a record file (from
 * `notbrought generate`): the record built (nb_audit_received_appointment() / _fact()) and
 * encoded as the daemon encodes it (Avro, Confluent framing). Prints one JSON line:
 *
 *   audit_value_bytes_mean / _max   the encoded AuditRecord (what the audit topic stores as the
 *                                   value), against event_value_bytes_mean, the event's own
 *                                   value on its source topic;
 *   audit_record_bytes_est          + the 64-byte child key and a record's framing in a Kafka
 *                                   v2 batch (about 8 bytes of varints; the batch header,
 *                                   61 bytes, is shared by every record of a batch);
 *   cpu_us_per_record               CPU time (CLOCK_PROCESS_CPUTIME_ID) to build and encode one,
 *                                   over --rounds passes of every event.
 *
 *   bench_audit RECORDFILE [rounds]     (default 20 rounds)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notbrought/codec.h"
#include "notbrought/recfile.h"
#include "notbrought/util.h"

#define KEY "3f2a9c1b0d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd"

typedef struct nb__bench_s {
    nb_codec_t *codec;
    nb_record_t *recs; /* the events and facts of the file */
    size_t n, cap;
    uint64_t event_bytes;
} nb__bench_t;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keeps every appointment event and context fact that decodes. */
static int nb__take(void *opaque, const char *topic, const char *key, const void *value, size_t len,
                    int64_t ts)
{
    nb__bench_t *b = opaque;
    (void)topic;
    (void)key;
    (void)ts;
    char errstr[256];
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        nb_record_t *r = realloc(b->recs, cap * sizeof(*r));
        if (!r)
            return -1;
        b->recs = r;
        b->cap = cap;
    }
    nb_record_t *rec = &b->recs[b->n];
    if (nb_codec_decode(b->codec, value, len, NB_RECORD_NONE, rec, errstr, sizeof(errstr)) ||
        (rec->type != NB_RECORD_APPOINTMENT && rec->type != NB_RECORD_CONTEXT_FACT))
        return 0;
    b->event_bytes += len;
    b->n++;
    return 0;
}

/* Builds and encodes the 'received' record of event @p i into @p out. */
static int nb__one(nb__bench_t *b, size_t i, nb_record_t *audit, nb_buf_t *out)
{
    char errstr[256];
    audit->type = NB_RECORD_AUDIT;
    if (b->recs[i].type == NB_RECORD_APPOINTMENT)
        nb_audit_received_appointment(&b->recs[i].u.appt, KEY, 1780000000000LL, &audit->u.audit);
    else
        nb_audit_received_fact(&b->recs[i].u.fact, KEY, 1780000000000LL, &audit->u.audit);
    out->len = 0;
    if (nb_codec_encode(b->codec, audit, out, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_audit: record %zu: %s\n", i, errstr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_audit RECORDFILE [rounds]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    char errstr[512];
    nb__bench_t b = {0};
    nb_registry_t *reg = nb_registry_new();
    nb_record_t *audit = calloc(1, sizeof(*audit));
    nb_buf_t out = {0};
    int rc = 1;
    if (!reg || !audit || nb_registry_add_builtin(reg, errstr, sizeof(errstr)) ||
        !(b.codec = nb_codec_new(reg, errstr, sizeof(errstr))) ||
        nb_recfile_read(argv[1], nb__take, &b, errstr, sizeof(errstr)) || !b.n) {
        fprintf(stderr, "bench_audit: %s\n", b.n || !b.codec ? errstr : "no events in the file");
        goto done;
    }
    uint64_t bytes = 0, max = 0;
    for (size_t i = 0; i < b.n; i++) {
        if (nb__one(&b, i, audit, &out))
            goto done;
        bytes += out.len;
        max = out.len > max ? out.len : max;
    }
    double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t sink = 0;
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < b.n; i++) {
            if (nb__one(&b, i, audit, &out))
                goto done;
            sink += out.len;
        }
    double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    double mean = (double)bytes / (double)b.n;
    printf("{\"bench\": \"audit_received\", \"events\": %zu, \"rounds\": %d, "
           "\"event_value_bytes_mean\": %.1f, \"audit_value_bytes_mean\": %.1f, "
           "\"audit_value_bytes_max\": %llu, \"audit_record_bytes_est\": %.1f, "
           "\"cpu_us_per_record\": %.2f, \"check\": %llu}\n",
           b.n, rounds, (double)b.event_bytes / (double)b.n, mean, (unsigned long long)max,
           mean + 64 + 8, cpu * 1e6 / ((double)b.n * rounds), (unsigned long long)(sink % 997));
    rc = 0;
done:
    nb_buf_free(&out);
    free(audit);
    free(b.recs);
    nb_codec_destroy(b.codec);
    nb_registry_destroy(reg);
    return rc;
}
