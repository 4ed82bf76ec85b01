/*
 * notbrought - stream: a record's origin (partition, offset, headers) and dead letters: full, bounded
 * or minimal, with the reason.
 */
#include "stream/runtime.h"

#include <openssl/evp.h>

/* ---- origins and dead letters ------------------------------------------------------------- */

/* Reads @p bytes little-endian at *p into *v and moves *p past them, unless they are not
 * all before @p end. */
static bool nb__get_le(const uint8_t **p, const uint8_t *end, size_t bytes, uint64_t *v)
{
    if ((size_t)(end - *p) < bytes)
        return false;
    *v = nb_le_get(*p, bytes);
    *p += bytes;
    return true;
}

static bool nb__headers_pack_h(const rd_kafka_headers_t *h, nb_buf_t *out);

bool nb__headers_pack(const rd_kafka_message_t *rkm, nb_buf_t *out)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h)
        return false;
    return nb__headers_pack_h(h, out);
}

static bool nb__headers_pack_h(const rd_kafka_headers_t *h, nb_buf_t *out)
{
    size_t n = rd_kafka_header_cnt(h);
    if (n == 0)
        return false;
    nb_buf_add_le(out, n, 4);
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++) {
        size_t nl = strlen(name);
        if (nl > UINT16_MAX)
            nl = UINT16_MAX;
        nb_buf_add_le(out, nl, 2);
        nb_buf_add(out, name, nl);
        nb_buf_add_le(out, val ? size : UINT32_MAX, 4);
        if (val)
            nb_buf_add(out, val, size);
    }
    return out->err == NB_ERR_OK;
}

bool nb__headers_unpack(const void *blob, size_t len, rd_kafka_headers_t *h)
{
    const uint8_t *p = blob, *end = p + len;
    uint64_t n, nl, vl;
    if (!nb__get_le(&p, end, 4, &n))
        return false;
    for (uint64_t i = 0; i < n; i++) {
        if (!nb__get_le(&p, end, 2, &nl) || (size_t)(end - p) < nl)
            return false;
        const char *name = (const char *)p;
        p += nl;
        if (!nb__get_le(&p, end, 4, &vl))
            return false;
        if (vl == UINT32_MAX) {
            rd_kafka_header_add(h, name, (ssize_t)nl, NULL, 0);
            continue;
        }
        if ((size_t)(end - p) < vl)
            return false;
        rd_kafka_header_add(h, name, (ssize_t)nl, p, (ssize_t)vl);
        p += vl;
    }
    return p == end;
}

/* Adds the provenance headers of a record read from @p topic. */
static void nb__source_headers(rd_kafka_headers_t *h, const char *topic, int32_t partition,
                               int64_t offset, int64_t ts)
{
    char buf[32];
    rd_kafka_header_add(h, "nb.source.topic", -1, topic, -1);
    snprintf(buf, sizeof(buf), "%d", (int)partition);
    rd_kafka_header_add(h, "nb.source.partition", -1, buf, -1);
    snprintf(buf, sizeof(buf), "%lld", (long long)offset);
    rd_kafka_header_add(h, "nb.source.offset", -1, buf, -1);
    snprintf(buf, sizeof(buf), "%lld", (long long)ts);
    rd_kafka_header_add(h, "nb.source.timestamp", -1, buf, -1);
}

void nb__origin_to_headers(const nb__origin_t *o, rd_kafka_headers_t *h)
{
    if (!o->topic)
        return;
    nb__source_headers(h, o->topic, o->partition, o->offset, o->ts);
    if (o->key)
        rd_kafka_header_add(h, "nb.source.key", -1, o->key, (ssize_t)o->key_len);
    if (o->headers)
        rd_kafka_header_add(h, "nb.source.headers", -1, o->headers, (ssize_t)o->headers_len);
}

const char *nb__header_str(rd_kafka_headers_t *h, const char *name, char *buf,
                                  size_t size)
{
    const void *v = NULL;
    size_t n = 0;
    buf[0] = '\0';
    if (h && rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR && v) {
        if (n >= size)
            n = size - 1;
        memcpy(buf, v, n);
        buf[n] = '\0';
    }
    return buf;
}

bool nb__origin_from_headers(const rd_kafka_message_t *rkm, nb__origin_t *o, char *topic,
                             size_t topic_size)
{
    rd_kafka_headers_t *h = NULL;
    char buf[32];
    memset(o, 0, sizeof(*o));
    if (rd_kafka_message_headers(rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h ||
        !nb__header_str(h, "nb.source.topic", topic, topic_size)[0])
        return false;
    o->topic = topic;
    o->partition = atoi(nb__header_str(h, "nb.source.partition", buf, sizeof(buf)));
    o->offset = atoll(nb__header_str(h, "nb.source.offset", buf, sizeof(buf)));
    o->ts = nb__header_str(h, "nb.source.timestamp", buf, sizeof(buf))[0]
                ? atoll(buf)
                : rd_kafka_message_timestamp(rkm, NULL);
    const void *v;
    size_t n;
    if (rd_kafka_header_get_last(h, "nb.source.key", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        o->key = v ? v : "";
        o->key_len = v ? n : 0;
    }
    if (rd_kafka_header_get_last(h, "nb.source.headers", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        v) {
        o->headers = v;
        o->headers_len = n;
    }
    return true;
}

/* Counts a dead letter of the open batch (reported when its transaction commits). */
static void nb__dl_count(nb_stream_t *st, nb_err_t err)
{
    if ((int)err >= 0 && err < NB_ERR__COUNT) {
        st->batch.dl[err]++;
        st->batch.dl_any = true;
    }
}

static void nb__sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    out[0] = '\0';
    if (EVP_Digest(p ? p : "", n, md, &md_len, EVP_sha256(), NULL) != 1)
        return;
    for (unsigned int i = 0; i < md_len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void nb__header_num(rd_kafka_headers_t *h, const char *name, unsigned long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", v);
    rd_kafka_header_add(h, name, -1, buf, -1);
}

/* Adds the error and the provenance to a dead letter's headers. */
static void nb__dl_headers(rd_kafka_headers_t *h, const nb__origin_t *o, nb_err_t err,
                           const char *reason)
{
    rd_kafka_header_add(h, "nb.error.code", -1, nb_err_name(err), -1);
    rd_kafka_header_add(h, "nb.error.message", -1, reason, -1);
    nb__source_headers(h, o->topic, o->partition, o->offset, o->ts);
}

/*
 * A dead letter that fits whatever the record was: the reason, the provenance, the sizes and
 * SHA-256 digests of the original key, value and headers, the original headers when they are
 * small, the key cut to NB__DL_KEY_MAX bytes and the first processing.dead_letter_prefix_bytes
 * of the value. @p minimal keeps no value bytes and no original headers (the last resort for
 * a record whose bounded dead letter was refused too). @p orig is taken over (may be NULL).
 */
nb_err_t nb__dead_letter_bounded(nb_stream_t *st, const nb__origin_t *o,
                                        rd_kafka_headers_t *orig, const void *value, size_t len,
                                        nb_err_t err, const char *reason, bool minimal)
{
    nb_buf_t packed = {0};
    size_t n_orig = orig ? rd_kafka_header_cnt(orig) : 0;
    if (n_orig > 0 && !nb__headers_pack_h(orig, &packed)) {
        nb_buf_free(&packed);
        rd_kafka_headers_destroy(orig);
        return NB_ERR_NOMEM; /* a dead letter that misstates the original is not written */
    }
    char key_sha[65], value_sha[65], headers_sha[65];
    nb__sha256_hex(o->key, o->key ? o->key_len : 0, key_sha);
    nb__sha256_hex(value, value ? len : 0, value_sha);
    nb__sha256_hex(packed.data, packed.len, headers_sha);
    bool keep = !minimal && orig && packed.len <= NB__DL_HEADERS_MAX;
    rd_kafka_headers_t *h = keep ? orig : rd_kafka_headers_new(16);
    if (!keep && orig)
        rd_kafka_headers_destroy(orig);
    nb__dl_headers(h, o, err, reason);
    rd_kafka_header_add(h, "nb.dead_letter.bounded", -1, minimal ? "minimal" : "true", -1);
    nb__header_num(h, "nb.original.key.bytes", o->key ? o->key_len : 0);
    rd_kafka_header_add(h, "nb.original.key.sha256", -1, key_sha, -1);
    nb__header_num(h, "nb.original.value.bytes", value ? len : 0);
    rd_kafka_header_add(h, "nb.original.value.sha256", -1, value_sha, -1);
    nb__header_num(h, "nb.original.headers.count", n_orig);
    nb__header_num(h, "nb.original.headers.bytes", packed.len);
    rd_kafka_header_add(h, "nb.original.headers.sha256", -1, headers_sha, -1);
    rd_kafka_header_add(h, "nb.original.headers.kept", -1, keep ? "true" : "false", -1);
    nb_buf_free(&packed);
    size_t klen = o->key && o->key_len > NB__DL_KEY_MAX ? NB__DL_KEY_MAX : o->key_len;
    size_t vlen = minimal || !value ? 0 : len;
    if (vlen > (size_t)st->conf->dead_letter_prefix_bytes)
        vlen = (size_t)st->conf->dead_letter_prefix_bytes;
    size_t base = nb__wire_size(klen, 0, h);
    if (base + vlen > st->max_msg)
        vlen = base < st->max_msg ? st->max_msg - base : 0;
    nb__dl_count(st, err);
    NB_LOG(NB_LOG_WARN, "stream",
           "dead letter from %s [%d] offset %lld: %s: %s; too large to set aside whole (key %zu "
           "bytes, value %zu bytes, %zu headers): a bounded dead letter with digests%s",
           o->topic, (int)o->partition, (long long)o->offset, nb_err_name(err), reason,
           o->key ? o->key_len : 0, value ? len : 0, n_orig,
           vlen ? " and the value's first bytes" : "");
    return nb__emit(st, st->conf->dead_letter_topic, RD_KAFKA_PARTITION_UA, o->key, klen, value,
                    vlen, h);
}

/* Adds the error and the provenance to @p orig (the original headers, taken over; NULL: none),
 * counts, logs and produces; or, when the whole record would be larger than Kafka takes, a
 * bounded dead letter (nb__dead_letter_bounded). */
NB_NODISCARD static nb_err_t nb__dead_letter_send(nb_stream_t *st, const nb__origin_t *o,
                                                  rd_kafka_headers_t *orig, const void *value,
                                                  size_t len, nb_err_t err, const char *reason)
{
    /* The error and provenance headers: the reason (< 1 KiB) and five short values. */
    size_t whole = nb__wire_size(o->key ? o->key_len : 0, value ? len : 0, orig) +
                   strlen(reason) + 512;
    if (st->dl_force > 0 || whole > st->max_msg)
        return nb__dead_letter_bounded(st, o, orig, value, len, err, reason, st->dl_force >= 2);
    rd_kafka_headers_t *hdrs = orig ? orig : rd_kafka_headers_new(8);
    nb__dl_headers(hdrs, o, err, reason);
    nb__dl_count(st, err);
    NB_LOG(NB_LOG_WARN, "stream", "dead letter from %s [%d] offset %lld: %s: %s", o->topic,
           (int)o->partition, (long long)o->offset, nb_err_name(err), reason);
    return nb__emit(st, st->conf->dead_letter_topic, RD_KAFKA_PARTITION_UA, o->key, o->key_len,
                    value, len, hdrs);
}

nb_err_t nb__dead_letter_origin(nb_stream_t *st, const nb__origin_t *o, const void *value,
                                size_t len, nb_err_t err, const char *reason)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (o->headers) {
        hdrs = rd_kafka_headers_new(8);
        if (!nb__headers_unpack(o->headers, o->headers_len, hdrs))
            NB_LOG(NB_LOG_WARN, "stream", "dead letter from %s [%d] offset %lld: its original "
                   "headers were unreadable; kept those read", o->topic, (int)o->partition,
                   (long long)o->offset);
    }
    return nb__dead_letter_send(st, o, hdrs, value, len, err, reason);
}

nb_err_t nb__dead_letter(nb_stream_t *st, const rd_kafka_message_t *rkm, nb_err_t err,
                         const char *reason)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    nb__origin_t o;
    char src_topic[256];
    /* A by-child record stands for the record first read: dead-letter that one. */
    if (strcmp(topic, st->conf->by_child_topic) == 0 &&
        nb__origin_from_headers(rkm, &o, src_topic, sizeof(src_topic)))
        return nb__dead_letter_origin(st, &o, rkm->payload, rkm->len, err, reason);
    memset(&o, 0, sizeof(o));
    o.topic = topic;
    o.partition = rkm->partition;
    o.offset = rkm->offset;
    o.ts = rd_kafka_message_timestamp(rkm, NULL);
    o.key = rkm->key;
    o.key_len = rkm->key_len;
    rd_kafka_headers_t *orig = NULL;
    rd_kafka_headers_t *hdrs =
        rd_kafka_message_headers(rkm, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig
            ? rd_kafka_headers_copy(orig)
            : NULL;
    return nb__dead_letter_send(st, &o, hdrs, rkm->payload, rkm->len, err, reason);
}
