/*
 * notbrought - recfile: record files (Kafka records as JSON lines with base64 values).
 */
#include "notbrought/recfile.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *nb__b64(const void *value, size_t len)
{
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (b64)
        EVP_EncodeBlock((unsigned char *)b64, value, (int)len);
    return b64;
}

int nb_recfile_write(void *fp, const char *topic, const char *key, const void *value,
                     size_t value_len, int64_t timestamp)
{
    return nb_recfile_write_meta(fp, topic, key, value, value_len, timestamp, NULL);
}

int nb_recfile_write_meta(void *fp, const char *topic, const char *key, const void *value,
                          size_t value_len, int64_t timestamp, const nb_record_meta_t *meta)
{
    char *b64 = nb__b64(value, value_len);
    if (!b64)
        return -1;
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "topic", topic, "key", key ? key : "", "value",
                          b64, "timestamp", (json_int_t)timestamp);
    free(b64);
    if (!o)
        return -1;
    if (meta && meta->partition >= 0 &&
        json_object_set_new(o, "partition", json_integer(meta->partition))) {
        json_decref(o);
        return -1;
    }
    if (meta && meta->n_headers) {
        json_t *hs = json_array();
        for (size_t i = 0; hs && i < meta->n_headers; i++) {
            char *hv = nb__b64(meta->headers[i].value ? meta->headers[i].value : "",
                               meta->headers[i].len);
            json_t *h = hv ? json_pack("{s:s, s:s}", "name", meta->headers[i].name, "value", hv)
                           : NULL;
            free(hv);
            if (!h || json_array_append_new(hs, h)) {
                json_decref(hs);
                hs = NULL;
            }
        }
        if (!hs || json_object_set_new(o, "headers", hs)) {
            json_decref(o);
            return -1;
        }
    }
    int rc = json_dumpf(o, fp, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (rc != 0 || fputc('\n', fp) == EOF)
        return -1;
    return 0;
}

/* Decodes base64, rejecting anything that is not canonical base64. */
static int nb__b64_decode(const char *in, unsigned char **out, size_t *out_len)
{
    size_t len = strlen(in);
    if (len % 4 != 0)
        return -1;
    unsigned char *buf = malloc(len / 4 * 3 + 1);
    if (!buf)
        return -1;
    int n = len ? EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len) : 0;
    if (n < 0) {
        free(buf);
        return -1;
    }
    /* EVP_DecodeBlock counts padding as zero bytes. */
    if (len >= 1 && in[len - 1] == '=')
        n--;
    if (len >= 2 && in[len - 2] == '=')
        n--;
    *out = buf;
    *out_len = (size_t)n;
    return 0;
}

typedef struct nb__plain_s {
    nb_record_cb_t *cb;
    void *opaque;
} nb__plain_t;

static int nb__plain(void *opaque, const char *topic, const char *key, const void *value,
                     size_t len, int64_t ts, const nb_record_meta_t *meta)
{
    nb__plain_t *p = opaque;
    (void)meta;
    return p->cb(p->opaque, topic, key, value, len, ts);
}

int nb_recfile_read(const char *path, nb_record_cb_t *cb, void *opaque, char *errstr,
                    size_t errstr_size)
{
    nb__plain_t p = {cb, opaque};
    return nb_recfile_read_meta(path, nb__plain, &p, errstr, errstr_size);
}

int nb_recfile_read_meta(const char *path, nb_record_meta_cb_t *cb, void *opaque, char *errstr,
                         size_t errstr_size)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n == 0 || line[0] == '\n' || line[0] == '#')
            continue;
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)n, 0, &jerr);
        const char *topic = NULL, *key = "", *value = NULL;
        json_int_t ts = 0, partition = -1;
        json_t *headers = NULL;
        if (!o) {
            snprintf(errstr, errstr_size, "%s:%d:%d: %s", path, lineno, jerr.column, jerr.text);
            rc = -1;
            break;
        }
        if (json_unpack_ex(o, &jerr, JSON_STRICT, "{s:s, s?s, s:s, s?I, s?I, s?o}", "topic",
                           &topic, "key", &key, "value", &value, "timestamp", &ts, "partition",
                           &partition, "headers", &headers)) {
            snprintf(errstr, errstr_size, "%s:%d:1: %s", path, lineno, jerr.text);
            json_decref(o);
            rc = -1;
            break;
        }
        unsigned char *bytes = NULL;
        size_t len = 0;
        if (nb__b64_decode(value, &bytes, &len)) {
            snprintf(errstr, errstr_size, "%s:%d:1: \"value\" is not valid base64", path,
                     lineno);
            json_decref(o);
            rc = -1;
            break;
        }
        nb_record_meta_t meta;
        unsigned char *hbytes[NB_RECFILE_MAX_HEADERS];
        meta.partition = -1;
        meta.n_headers = 0;
        const char *bad = NULL;
        if (partition < -1 || partition > INT32_MAX)
            bad = "\"partition\" is out of range";
        else
            meta.partition = (int32_t)partition;
        if (!bad && headers) {
            size_t i;
            json_t *h;
            if (!json_is_array(headers) || json_array_size(headers) > NB_RECFILE_MAX_HEADERS)
                bad = "\"headers\" must be a list of at most 16 {name, value} objects";
            json_array_foreach(headers, i, h) {
                const char *hn = NULL, *hv = NULL;
                if (bad)
                    break;
                if (json_unpack(h, "{s:s, s:s}", "name", &hn, "value", &hv) ||
                    nb__b64_decode(hv, &hbytes[i], &meta.headers[i].len)) {
                    bad = "a header is not a {name, value} object with a base64 value";
                    break;
                }
                meta.headers[i].name = hn;
                meta.headers[i].value = hbytes[i];
                meta.n_headers = i + 1;
            }
        }
        if (bad) {
            snprintf(errstr, errstr_size, "%s:%d:1: %s", path, lineno, bad);
            rc = -1;
        } else {
            rc = cb(opaque, topic, key, bytes, len, (int64_t)ts,
                    meta.partition >= 0 || meta.n_headers ? &meta : NULL);
        }
        for (size_t i = 0; i < meta.n_headers; i++)
            free(hbytes[i]);
        free(bytes);
        json_decref(o);
        if (rc)
            break;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}
