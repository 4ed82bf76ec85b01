/*
 * Benchmark: decoding AppointmentEvents (issue 26). The synthetic generator's events (schema
 * id 1, the reader schema) decoded by the generic path alone (avro-c's generic values, then
 * map.c) and by nb_codec_decode(), which reads them straight from their bytes (appt_wire.c):
 * the same records, each path over every record for --rounds passes, after one pass that
 * checks both give the same struct. Prints JSON lines:
 *
 *   {"bench":"codec_decode","path":"generic"|"fast","records":N,"ns_per_decode":...}
 *   {"bench":"codec_decode","path":"ratio","generic_over_fast":...}
 *
 *   bench_codec [children] [rounds]     (default 400 children, 20 rounds)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/internal.h"
#include "notbrought/cli.h"

#define NOW_MS 1793534400000LL /* 2026-11-01T12:00:00Z */

typedef struct nb__frames_s {
    uint8_t **v;
    size_t *len;
    size_t n, cap;
} nb__frames_t;

typedef NB_NODISCARD nb_err_t (*nb__decode_fn)(nb_codec_t *codec, const void *buf, size_t len,
                                               nb_record_type_t expect, nb_record_t *rec,
                                               char *errstr, size_t errstr_size);

/* Keeps the frames written with schema id 1. */
static int nb__take(void *opaque, const char *topic, const char *key, const void *value, size_t len,
                    int64_t ts)
{
    nb__frames_t *f = opaque;
    int32_t id;
    (void)topic;
    (void)key;
    (void)ts;
    if (nb_frame_schema_id(value, len, &id) != NB_ERR_OK || id != 1)
        return 0;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 1024;
        uint8_t **v = realloc(f->v, cap * sizeof(*v));
        size_t *l = v ? realloc(f->len, cap * sizeof(*l)) : NULL;
        if (v)
            f->v = v;
        if (!l)
            return -1;
        f->len = l;
        f->cap = cap;
    }
    if (!(f->v[f->n] = malloc(len)))
        return -1;
    memcpy(f->v[f->n], value, len);
    f->len[f->n++] = len;
    return 0;
}

static double nb__now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ns per decode over @p rounds passes; -1 when a record does not decode. */
static double nb__time(nb_codec_t *codec, const nb__frames_t *f, nb__decode_fn decode, int rounds)
{
    static nb_record_t rec;
    char errstr[256];
    double t0 = nb__now_s();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < f->n; i++)
            if (decode(codec, f->v[i], f->len[i], NB_RECORD_APPOINTMENT, &rec, errstr,
                       sizeof(errstr)) != NB_ERR_OK)
                return -1;
    return (nb__now_s() - t0) * 1e9 / ((double)f->n * rounds);
}

/* Both paths give the same bytes for every record (as unit.codec checks). */
static int nb__same(nb_codec_t *codec, const nb__frames_t *f)
{
    static nb_record_t a, b;
    char errstr[256];
    for (size_t i = 0; i < f->n; i++) {
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        if (nb_codec_decode(codec, f->v[i], f->len[i], NB_RECORD_NONE, &a, errstr,
                            sizeof(errstr)) ||
            nb__codec_decode_generic(codec, f->v[i], f->len[i], NB_RECORD_NONE, &b, errstr,
                                     sizeof(errstr)) ||
            memcmp(&a, &b, sizeof(a)) != 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char errstr[256];
    int children = argc > 1 ? atoi(argv[1]) : 400;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    nb_registry_t *reg = nb_registry_new();
    if (!reg || nb_registry_add_builtin(reg, errstr, sizeof(errstr)))
        return 1;
    nb_codec_t *codec = nb_codec_new(reg, errstr, sizeof(errstr));
    if (!codec)
        return 1;
    nb_sample_opts_t opts;
    nb_sample_opts_default(&opts, NOW_MS);
    opts.children = children > 0 ? children : 400;
    opts.malformed = 0;
    nb__frames_t f = {0};
    if (nb_sample_generate(&opts, codec, nb__take, &f, errstr, sizeof(errstr)) || !f.n) {
        fprintf(stderr, "bench_codec: no events generated\n");
        return 1;
    }
    if (nb__same(codec, &f)) {
        fprintf(stderr, "bench_codec: the two paths disagree on a record\n");
        return 1;
    }
    rounds = rounds > 0 ? rounds : 20;
    (void)nb__time(codec, &f, nb__codec_decode_generic, 1); /* warm caches, find the writer */
    double generic = nb__time(codec, &f, nb__codec_decode_generic, rounds);
    double fast = nb__time(codec, &f, nb_codec_decode, rounds);
    if (generic < 0 || fast <= 0)
        return 1;
    printf("{\"bench\":\"codec_decode\",\"path\":\"generic\",\"records\":%zu,\"rounds\":%d,"
           "\"ns_per_decode\":%.1f}\n",
           f.n, rounds, generic);
    printf("{\"bench\":\"codec_decode\",\"path\":\"fast\",\"records\":%zu,\"rounds\":%d,"
           "\"ns_per_decode\":%.1f}\n",
           f.n, rounds, fast);
    printf("{\"bench\":\"codec_decode\",\"path\":\"ratio\",\"generic_over_fast\":%.2f}\n",
           generic / fast);
    for (size_t i = 0; i < f.n; i++)
        free(f.v[i]);
    free(f.v);
    free(f.len);
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
    return 0;
}
