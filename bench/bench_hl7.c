/*
 * Benchmark: the HL7 v2 parser on one core. A typical SIU^S12 booking (made up here: 13
 * segments, 187 fields, about 1.3 KB, with repetitions, sub-components, escapes and HL7 nulls) is
 *   hl7_parse           parsed;
 *   hl7_parse_positions parsed, and every field, repetition, component and sub-component
 *                       fetched by its numbers (counts, then nb_hl7_get());
 *   hl7_parse_iterate   parsed, and every part of every field gone through with
 *                       nb_hl7_iter_next();
 *   hl7_parse_walk      parsed, and every value visited by nb_hl7_walk(), one pass;
 *   hl7_parse_walk_unescape  as hl7_parse_walk, and every value unescaped into a buffer and
 *                       every TS/DTM-looking value read as a DTM;
 *   hl7_mllp_ack        found in an MLLP frame, parsed, and its ACK built and framed.
 * Each prints one JSON line with messages per second of wall time and of CPU time (the CPU
 * time counts this process only, not the time other jobs held the core). Issue 22 aims at
 * 200,000 messages per second per core parsed and mapped; parsing alone should be well above.
 *
 *   bench_hl7 [messages]     (default 1,000,000 per phase)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notbrought/hl7.h"

static const char siu[] =
    "MSH|^~\\&|PAS|RX1^2.16.840.1.113883.2.1.3.2.4.18.48^ISO|NOTBROUGHT|NB01|"
    "20240304101500+0000||SIU^S12^SIU_S12|CTRL000123456|P|2.5.1|||AL|NE|GBR|UNICODE UTF-8\r"
    "SCH|APT-0000123^PAS|FIL-0000456^PAS|||||ROUTINE^Routine^LOCAL|IMM8W^8-week "
    "immunisations^LOCAL|20|MIN|^^20^20240310093000^20240310095000|||||GP1^Test^Doctor^^^Dr"
    "|01234 567890^WPN^PH||GP1^Test^Doctor^^^Dr|||||BOOKED^Booked^HL70278\r"
    "TQ1|1||||||20240310093000|20240310095000|R^Routine^HL70485\r"
    "NTE|1||Bring the red book \\T\\ the vaccination card\\.br\\Parking at the rear\r"
    "PID|1||LOCAL0001234^^^RX1^MR~9990000018^^^NHS^NH||TESTCHILD^ALPHA^B^^^^L||20231001|F|||"
    "1 Test Street^Flat 2^Testtown^^TE1 1ST^GBR^H||01234 000000^PRN^PH~07700 900000^PRN^CP|||"
    "||||||||||||||||||NSTS01\r"
    "PD1|||TEST PRACTICE^^W91001|G1234567^Test^GP^^^Dr\r"
    "PV1|1|O|CLINIC1^ROOM2^^RX1||||G1234567^Test^GP^\"\"^^Dr|||||||||||VISIT0000789^^^RX1^VN||"
    "||||||||||||||||||||||||20240310093000\r"
    "RGS|1|A\r"
    "AIS|1|A|IMM8W^8-week immunisations^LOCAL|20240310093000|||20|MIN||BOOKED\r"
    "AIG|1|A|NURSE1^Test Nurse^LOCAL|NUR^Nurse^HL70182||||20240310093000|||20|MIN||BOOKED\r"
    "AIL|1|A|CLINIC1^ROOM2^^RX1&2.16.840.1.113883.2.1.3.2.4.18.48&ISO|C^Clinic^HL70305||"
    "20240310093000|||20|MIN||BOOKED\r"
    "AIP|1|A|NURSE1^Nurse^Test^^^^^^RX1|NUR^Nurse^HL70182||20240310093000|||20|MIN||BOOKED\r"
    "NTE|1||First immunisations \\X0A\\ second dose due at 12 weeks\r"
    "ZU3|||5|ATTND\r";

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every position of the message, fetched by its numbers. */
static uint64_t walk_positions(const nb_hl7_msg_t *msg)
{
    uint64_t sum = 0;
    for (size_t s = 0; s < nb_hl7_segment_count(msg); s++) {
        for (size_t f = 1; f <= nb_hl7_field_count(msg, s); f++) {
            size_t reps = nb_hl7_rep_count(msg, s, f);
            for (size_t r = 1; r <= reps; r++) {
                size_t comps = nb_hl7_comp_count(msg, s, f, r);
                for (size_t c = 1; c <= comps; c++) {
                    size_t subs = nb_hl7_sub_count(msg, s, f, r, c);
                    for (size_t k = 1; k <= subs; k++)
                        sum += nb_hl7_get(msg, s, f, r, c, k).len;
                }
            }
        }
    }
    return sum;
}

/* One value: its length; unescaped and read as a DTM when @p deep. */
static uint64_t visit(const nb_hl7_delims_t *d, nb_hl7_value_t v, int deep)
{
    uint64_t sum = v.len;
    char out[2048];
    size_t n;
    nb_hl7_dtm_t t;
    if (!deep || v.len >= sizeof(out))
        return sum;
    if (nb_hl7_unescape(d, v, out, sizeof(out), &n, 0, NULL, NULL, 0) == NB_ERR_OK)
        sum += n;
    if (v.len >= 8 && v.p[0] >= '1' && v.p[0] <= '2' &&
        nb_hl7_dtm_parse(v.p, v.len, &t, NULL, 0) == NB_ERR_OK)
        sum += (uint64_t)t.precision;
    return sum;
}

static bool visit_cb(void *opaque, const nb_hl7_pos_t *pos, nb_hl7_value_t v)
{
    struct walk_s {
        const nb_hl7_delims_t *d;
        int deep;
        uint64_t sum;
    } *w = opaque;
    w->sum += visit(w->d, v, w->deep) + pos->field;
    return true;
}

/* Every value of the message, visited by nb_hl7_walk(). */
static uint64_t walk_pass(const nb_hl7_msg_t *msg, int deep)
{
    struct walk_s {
        const nb_hl7_delims_t *d;
        int deep;
        uint64_t sum;
    } w = {nb_hl7_msg_delims(msg), deep, 0};
    nb_hl7_walk(msg, visit_cb, &w);
    return w.sum;
}

/* Every position of the message, visited in one pass with the iterators. */
static uint64_t walk_iterate(const nb_hl7_msg_t *msg, int deep)
{
    const nb_hl7_delims_t *d = nb_hl7_msg_delims(msg);
    uint64_t sum = 0;
    size_t segs = nb_hl7_segment_count(msg);
    for (size_t s = 0; s < segs; s++) {
        size_t fields = nb_hl7_field_count(msg, s);
        for (size_t f = s == 0 ? 3 : 1; f <= fields; f++) {
            nb_hl7_iter_t reps, comps, subs;
            nb_hl7_value_t rep, comp, sub;
            nb_hl7_iter_init(&reps, nb_hl7_get(msg, s, f, 0, 0, 0), d->rep);
            while (nb_hl7_iter_next(&reps, &rep)) {
                nb_hl7_iter_init(&comps, rep, d->comp);
                while (nb_hl7_iter_next(&comps, &comp)) {
                    nb_hl7_iter_init(&subs, comp, d->sub);
                    while (nb_hl7_iter_next(&subs, &sub))
                        sum += visit(d, sub, deep);
                }
            }
        }
    }
    return sum;
}

static void report(const char *name, size_t n, double secs, double cpu, uint64_t sum)
{
    printf("{\"bench\":\"%s\",\"messages\":%zu,\"bytes_per_message\":%zu,\"seconds\":%.3f,"
           "\"messages_per_sec\":%.0f,\"mb_per_sec\":%.1f,\"cpu_seconds\":%.3f,"
           "\"messages_per_cpu_sec\":%.0f,\"checksum\":%llu}\n",
           name, n, sizeof(siu) - 1, secs, (double)n / secs,
           (double)n * (double)(sizeof(siu) - 1) / secs / 1e6, cpu, (double)n / cpu,
           (unsigned long long)sum);
    fflush(stdout);
}

/* One phase (0 to 5, the order of the list at the top): @p n messages. @returns 0 or 1. */
static int phase(nb_hl7_msg_t *msg, size_t n, int kind, const char *framed, size_t framed_len)
{
    static const char *const names[] = {
        "hl7_parse",      "hl7_parse_positions",     "hl7_parse_iterate",
        "hl7_parse_walk", "hl7_parse_walk_unescape", "hl7_mllp_ack"};
    char errstr[256];
    uint64_t sum = 0;
    nb_buf_t ack = {0}, body = {0};
    nb_hl7_ack_t a = {NB_HL7_AA, "ACK000001", "20240304101501+0000", NULL, 0};
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (size_t i = 0; i < n; i++) {
        const char *m = siu;
        size_t len = sizeof(siu) - 1;
        if (kind == 5) {
            nb_hl7_mllp_t f;
            if (nb_hl7_mllp_find(framed, framed_len, 1 << 20, &f) != NB_HL7_MLLP_FRAME)
                return 1;
            m = f.msg;
            len = f.msg_len;
        }
        if (nb_hl7_msg_parse(msg, m, len, errstr, sizeof(errstr)) != NB_ERR_OK) {
            fprintf(stderr, "parse: %s\n", errstr);
            return 1;
        }
        sum += nb_hl7_segment_count(msg);
        if (kind == 1)
            sum += walk_positions(msg);
        if (kind == 2)
            sum += walk_iterate(msg, 0);
        if (kind == 3 || kind == 4)
            sum += walk_pass(msg, kind == 4);
        if (kind == 5) {
            ack.len = body.len = 0; /* both reused, as a connection would */
            if (nb_hl7_ack_build(msg, &a, &body, errstr, sizeof(errstr)) != NB_ERR_OK)
                return 1;
            nb_hl7_mllp_wrap(&ack, (const char *)body.data, body.len);
            sum += ack.len;
        }
    }
    report(names[kind], n, clock_s(CLOCK_MONOTONIC) - t0, clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0,
           sum);
    int rc = ack.err != NB_ERR_OK || body.err != NB_ERR_OK;
    nb_buf_free(&ack);
    nb_buf_free(&body);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000u;
    if (n == 0 || n > 1000000000u) {
        fprintf(stderr, "messages must be 1..1000000000\n");
        return 2;
    }
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    nb_buf_t framed = {0};
    nb_hl7_mllp_wrap(&framed, siu, sizeof(siu) - 1);
    if (!msg || framed.err)
        return 1;
    int rc = 0;
    for (int kind = 0; kind < 6 && rc == 0; kind++)
        rc = phase(msg, n, kind, (const char *)framed.data, framed.len);
    nb_buf_free(&framed);
    nb_hl7_msg_destroy(msg);
    return rc;
}
