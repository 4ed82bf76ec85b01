/*
 * libFuzzer harness: the HL7 v2 parser over arbitrary bytes. The bytes go through MLLP framing
 * and through the batch splitter; every message found is parsed, and what parses is walked to
 * every sub-component, each value unescaped and read as a DTM, each segment rebuilt from its
 * parts, the one-pass walk compared with fetching every position, and acknowledged; the ACK
 * must parse and echo MSH-10. The bytes are also escaped and unescaped back (with the usual
 * delimiters and the message's), and read as a path.
 *
 *   ./fuzz_hl7 /tmp/scratch-corpus tests/fuzz/corpus/hl7
 *   (the first directory receives what libFuzzer finds; keep it out of the repository)
 *
 * Each abort() is a broken promise of include/notbrought/hl7.h, not a refused input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/hl7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Escaping any bytes and unescaping them strictly gives them back. */
static void round_trip(const nb_hl7_delims_t *d, const char *s, size_t len)
{
    nb_buf_t b = {0};
    nb_hl7_escape(d, s, len, &b);
    if (b.err) {
        nb_buf_free(&b);
        return;
    }
    char *out = malloc(b.len + 1);
    size_t n;
    nb_hl7_value_t v = {b.data ? (const char *)b.data : "", b.len};
    if (!out)
        abort();
    if (nb_hl7_unescape(d, v, out, b.len + 1, &n, NB_HL7_UNESCAPE_STRICT, NULL, NULL, 0) !=
            NB_ERR_OK ||
        n != len || (len && memcmp(out, s, len) != 0))
        abort();
    free(out);
    nb_buf_free(&b);
}

static void check_dtm(nb_hl7_value_t v)
{
    nb_hl7_dtm_t t;
    if (nb_hl7_dtm_parse(v.p, v.len, &t, NULL, 0) != NB_ERR_OK)
        return;
    if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > 31 || t.hour > 23 || t.minute > 59 ||
        t.second > 59 || t.frac_digits > 4 || t.zone_minutes < -840 || t.zone_minutes > 840 ||
        nb_hl7_dtm_ms(&t) < 0 || nb_hl7_dtm_ms(&t) > 999)
        abort();
}

static void check_value(const nb_hl7_msg_t *msg, nb_hl7_value_t v)
{
    char out[4096];
    size_t n;
    unsigned notes;
    if (v.len >= sizeof(out))
        return;
    nb_err_t err =
        nb_hl7_unescape(nb_hl7_msg_delims(msg), v, out, v.len + 1, &n, 0, &notes, NULL, 0);
    if (err != NB_ERR_OK || n > v.len || out[n] != '\0') /* lenient never fails with room */
        abort();
    err = nb_hl7_unescape(nb_hl7_msg_delims(msg), v, out, v.len + 1, &n, NB_HL7_UNESCAPE_STRICT,
                          NULL, NULL, 0);
    if (err != NB_ERR_OK && err != NB_ERR_HL7_ESCAPE)
        abort();
    if (err == NB_ERR_OK && (notes & NB_HL7_NOTE_LITERAL))
        abort(); /* strict accepted what lenient kept as written */
    check_dtm(v);
}

/* Walks every position of segment @p s and rebuilds the segment from them. */
static void walk_segment(const nb_hl7_msg_t *msg, size_t s)
{
    const nb_hl7_delims_t *d = nb_hl7_msg_delims(msg);
    nb_buf_t b = {0};
    nb_buf_add(&b, nb_hl7_segment_id(msg, s), 3);
    for (size_t f = 1; f <= nb_hl7_field_count(msg, s); f++) {
        if (s == 0 && f <= 2) {
            nb_hl7_value_t v = nb_hl7_get(msg, s, f, 0, 0, 0);
            nb_buf_add(&b, v.p, v.len);
            continue;
        }
        nb_buf_add(&b, &d->field, 1);
        for (size_t r = 1; r <= nb_hl7_rep_count(msg, s, f); r++) {
            if (r > 1)
                nb_buf_add(&b, &d->rep, 1);
            for (size_t c = 1; c <= nb_hl7_comp_count(msg, s, f, r); c++) {
                if (c > 1)
                    nb_buf_add(&b, &d->comp, 1);
                for (size_t k = 1; k <= nb_hl7_sub_count(msg, s, f, r, c); k++) {
                    if (k > 1)
                        nb_buf_add(&b, &d->sub, 1);
                    nb_hl7_value_t v = nb_hl7_get(msg, s, f, r, c, k);
                    nb_buf_add(&b, v.p, v.len);
                    check_value(msg, v);
                }
            }
        }
    }
    nb_hl7_value_t seg = nb_hl7_segment(msg, s);
    if (!b.err && (b.len != seg.len || memcmp(b.data, seg.p, seg.len) != 0))
        abort();
    nb_buf_free(&b);
}

/* The ACK of a parsed message parses, and MSA-2 is the message's MSH-10 as sent. */
static void check_ack(const nb_hl7_msg_t *msg, nb_hl7_msg_t *again)
{
    static const nb_hl7_ack_code_t codes[] = {NB_HL7_AA, NB_HL7_AE, NB_HL7_AR};
    for (size_t i = 0; i < 3; i++) {
        nb_hl7_ack_t a = {codes[i], "ACK|1", "20240304101500+0000", "cannot map ^ & ~ \\ |", 0};
        nb_buf_t b = {0};
        if (nb_hl7_ack_build(msg, &a, &b, NULL, 0) != NB_ERR_OK)
            abort();
        if (nb_hl7_msg_parse(again, (const char *)b.data, b.len, NULL, 0) != NB_ERR_OK)
            abort();
        nb_hl7_value_t want = nb_hl7_get(msg, 0, 10, 0, 0, 0);
        nb_hl7_value_t got = nb_hl7_get(again, 1, 2, 0, 0, 0);
        if (got.len != want.len || memcmp(got.p, want.p, want.len) != 0)
            abort();
        nb_buf_free(&b);
    }
}

/* Appends where and what each value is. */
static bool add_value(void *opaque, const nb_hl7_pos_t *pos, nb_hl7_value_t v)
{
    nb_buf_t *b = opaque;
    size_t where[5] = {pos->seg, pos->field, pos->rep, pos->comp, pos->sub};
    nb_buf_add(b, where, sizeof(where));
    nb_buf_add(b, &v.len, sizeof(v.len));
    nb_buf_add(b, v.p, v.len);
    return true;
}

/* nb_hl7_walk() visits exactly the non-empty values that fetching every position finds. */
static void check_walk(const nb_hl7_msg_t *msg)
{
    nb_buf_t a = {0}, b = {0};
    size_t n = nb_hl7_walk(msg, add_value, &a), m = 0;
    for (size_t s = 0; s < nb_hl7_segment_count(msg); s++)
        for (size_t f = 1; f <= nb_hl7_field_count(msg, s); f++)
            for (size_t r = 1; r <= nb_hl7_rep_count(msg, s, f); r++)
                for (size_t c = 1; c <= nb_hl7_comp_count(msg, s, f, r); c++)
                    for (size_t k = 1; k <= nb_hl7_sub_count(msg, s, f, r, c); k++) {
                        nb_hl7_value_t v = nb_hl7_get(msg, s, f, r, c, k);
                        nb_hl7_pos_t pos = {s, f, r, c, k};
                        if (v.len) {
                            add_value(&b, &pos, v);
                            m++;
                        }
                    }
    if (!a.err && !b.err &&
        (n != m || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)))
        abort();
    nb_buf_free(&a);
    nb_buf_free(&b);
}

static void one_message(nb_hl7_msg_t *msg, nb_hl7_msg_t *again, const char *m, size_t len)
{
    nb_err_t err = nb_hl7_msg_parse(msg, m, len, NULL, 0);
    if (err != NB_ERR_OK && err != NB_ERR_HL7_SYNTAX && err != NB_ERR_LIMIT)
        abort();
    for (size_t s = 0; s < nb_hl7_segment_count(msg); s++)
        walk_segment(msg, s);
    check_walk(msg);
    if (nb_hl7_segment_count(msg) > 0) {
        check_ack(msg, again);
        round_trip(nb_hl7_msg_delims(msg), m, len < 512 ? len : 512);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    nb_hl7_msg_t *msg = nb_hl7_msg_new(NULL);
    nb_hl7_msg_t *again = nb_hl7_msg_new(NULL);
    if (!msg || !again)
        abort();

    /* MLLP: frames in the bytes, each consumed; every call makes progress or stops. */
    size_t pos = 0;
    for (size_t guard = 0; pos < size; guard++) {
        nb_hl7_mllp_t f;
        nb_hl7_mllp_status_t st = nb_hl7_mllp_find(in + pos, size - pos, 2048, &f);
        if (f.consumed > size - pos || guard > size)
            abort();
        if (st == NB_HL7_MLLP_FRAME) {
            if (f.msg < in + pos || f.msg + f.msg_len > in + size || f.consumed == 0)
                abort();
            one_message(msg, again, f.msg, f.msg_len);
        }
        if (st == NB_HL7_MLLP_PARTIAL && f.consumed == 0)
            break;
        pos += f.consumed;
    }

    /* Batches: every message found is inside the bytes; the iteration ends. */
    nb_hl7_batch_t b;
    nb_hl7_batch_init(&b, in, size);
    const char *m;
    size_t len;
    nb_err_t err;
    size_t calls = 0;
    while ((err = nb_hl7_batch_next(&b, &m, &len, NULL, 0)) != NB_ERR_NOT_FOUND) {
        if (++calls > size + 4)
            abort();
        if (err == NB_ERR_OK) {
            if (m < in || m + len > in + size || len == 0)
                abort();
            one_message(msg, again, m, len);
        } else if (err != NB_ERR_HL7_BATCH) {
            abort();
        }
    }

    /* Escapes with the usual delimiters, and the bytes read as a path. */
    nb_hl7_delims_t d;
    nb_hl7_delims_default(&d);
    round_trip(&d, in, size < 512 ? size : 512);
    char path[40];
    size_t plen = size < sizeof(path) - 1 ? size : sizeof(path) - 1;
    memcpy(path, in, plen);
    path[plen] = '\0';
    nb_hl7_path_t p;
    if (nb_hl7_path_parse(path, &p, NULL, 0) == NB_ERR_OK) {
        nb_hl7_value_t v = nb_hl7_path_get(msg, &p);
        if (!v.p)
            abort();
    }

    nb_hl7_msg_destroy(again);
    nb_hl7_msg_destroy(msg);
    return 0;
}
