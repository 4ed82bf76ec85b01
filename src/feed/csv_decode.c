/*
 * notbrought - feed: a CSV extract's characters. Child health systems often write Windows-1252
 * or ISO-8859-1; the mapping's csv `encoding` names it, and each field is converted to UTF-8
 * with iconv(3) (glibc) before it is mapped. A byte the encoding does not define refuses its
 * row (the caller says which row and column). docs/integration.md, "CSV extracts".
 */
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "feed/internal.h"

struct nb_feed_csv_decoder_s {
    iconv_t cd; /* (iconv_t)-1 for UTF-8: fields pass as read */
    char *buf;
    size_t cap;
};

bool nb__feed_csv_is_utf8(const char *name)
{
    return !name[0] || strcasecmp(name, "utf-8") == 0 || strcasecmp(name, "utf8") == 0;
}

bool nb__feed_csv_encoding_check(const char *name, char *why, size_t why_size)
{
    if (nb__feed_csv_is_utf8(name))
        return true;
    iconv_t cd = iconv_open("UTF-8", name);
    if (cd == (iconv_t)-1) {
        snprintf(why, why_size, "not an encoding iconv knows (e.g. windows-1252, iso-8859-1)");
        return false;
    }
    /* libcsv splits the bytes before they are converted: the delimiters, quotes and line
     * ends must be the same bytes in the encoding as in ASCII (UTF-16 is not). */
    static const char ascii[] = "\t\r\n ,;|\"'0123456789ABCXYZabcxyz-:/.";
    char out[sizeof(ascii) * 4], *in = (char *)ascii, *op = out;
    size_t inleft = sizeof(ascii) - 1, outleft = sizeof(out);
    size_t r = iconv(cd, &in, &inleft, &op, &outleft);
    iconv_close(cd);
    if (r == (size_t)-1 || inleft || (size_t)(op - out) != sizeof(ascii) - 1 ||
        memcmp(out, ascii, sizeof(ascii) - 1) != 0) {
        snprintf(why, why_size,
                 "not ASCII-compatible: the delimiter, quote and line ends "
                 "must be single ASCII bytes (convert UTF-16 and the like first)");
        return false;
    }
    return true;
}

nb_err_t nb_feed_csv_decoder_new(const nb_feed_mapping_t *m, nb_feed_csv_decoder_t **dp,
                                 char *errstr, size_t errstr_size)
{
    if (!m || !m->csv || !dp)
        return NB_ERR_INVALID_ARG;
    *dp = NULL;
    nb_feed_csv_decoder_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NB_ERR_NOMEM;
    d->cd = (iconv_t)-1;
    const char *enc = m->csv->encoding;
    if (!nb__feed_csv_is_utf8(enc) && (d->cd = iconv_open("UTF-8", enc)) == (iconv_t)-1) {
        snprintf(errstr, errstr_size, "encoding %s: iconv cannot convert it: %s", enc,
                 strerror(errno));
        free(d);
        return NB_ERR_CONFIG;
    }
    *dp = d;
    return NB_ERR_OK;
}

void nb_feed_csv_decoder_destroy(nb_feed_csv_decoder_t *d)
{
    if (!d)
        return;
    if (d->cd != (iconv_t)-1)
        iconv_close(d->cd);
    free(d->buf);
    free(d);
}

nb_err_t nb_feed_csv_decode(nb_feed_csv_decoder_t *d, const char *in, size_t len, const char **out,
                            size_t *out_len, size_t *bad_offset)
{
    if (!d || (!in && len) || !out || !out_len)
        return NB_ERR_INVALID_ARG;
    if (d->cd == (iconv_t)-1) {
        *out = in ? in : "";
        *out_len = len;
        return NB_ERR_OK;
    }
    /* A single-byte encoding takes at most 3 UTF-8 bytes a byte; others may take more, and
     * the buffer grows when iconv says so. */
    size_t need = len * 3 + 1;
    for (;;) {
        if (d->cap < need) {
            char *p = realloc(d->buf, need);
            if (!p)
                return NB_ERR_NOMEM;
            d->buf = p;
            d->cap = need;
        }
        (void)iconv(d->cd, NULL, NULL, NULL, NULL); /* back to the initial state */
        char *ip = (char *)in, *op = d->buf;
        size_t inleft = len, outleft = d->cap - 1;
        size_t r = in ? iconv(d->cd, &ip, &inleft, &op, &outleft) : 0;
        if (r != (size_t)-1) {
            r = iconv(d->cd, NULL, NULL, &op, &outleft); /* flush a shift state */
            if (r != (size_t)-1) {
                *op = '\0';
                *out = d->buf;
                *out_len = (size_t)(op - d->buf);
                return NB_ERR_OK;
            }
        }
        if (errno == E2BIG) {
            need = d->cap * 2;
            continue;
        }
        /* EILSEQ: a byte the encoding does not define; EINVAL: a sequence cut short. */
        if (bad_offset)
            *bad_offset = len - inleft;
        return NB_ERR_TEXT_INVALID;
    }
}
