/*
 * notbrought - cli: record files (Kafka records as JSON lines with base64 values).
 */
#include "notbrought/cli.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nb_recfile_write(void *fp, const char *topic, const char *key, const void *value,
                     size_t value_len, int64_t timestamp)
{
    size_t b64_cap = 4 * ((value_len + 2) / 3) + 1;
    char *b64 = malloc(b64_cap);
    if (!b64)
        return -1;
    EVP_EncodeBlock((unsigned char *)b64, value, (int)value_len);
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "topic", topic, "key", key ? key : "", "value",
                          b64, "timestamp", (json_int_t)timestamp);
    free(b64);
    if (!o)
        return -1;
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

int nb_recfile_read(const char *path, nb_record_cb_t *cb, void *opaque, char *errstr,
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
        json_int_t ts = 0;
        if (!o) {
            snprintf(errstr, errstr_size, "%s:%d:%d: %s", path, lineno, jerr.column, jerr.text);
            rc = -1;
            break;
        }
        if (json_unpack_ex(o, &jerr, JSON_STRICT, "{s:s, s?s, s:s, s?I}", "topic", &topic, "key",
                           &key, "value", &value, "timestamp", &ts)) {
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
        rc = cb(opaque, topic, key, bytes, len, (int64_t)ts);
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
