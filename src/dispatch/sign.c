/*
 * notbrought - dispatch: the webhook signature (HMAC-SHA256 over "<timestamp>.<body>", OpenSSL)
 * and its check, as a receiver does it.
 */
#include "notbrought/dispatch.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* HMAC-SHA256 of "<unix_s>.<body>" into @p mac (32 bytes). False when OpenSSL fails. */
static bool nb__mac(const void *secret, size_t secret_len, int64_t unix_s, const void *body,
                    size_t len, unsigned char mac[32])
{
    char ts[24];
    int n = snprintf(ts, sizeof(ts), "%" PRId64 ".", unix_s);
    bool ok = false;
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t out_len = 0;
    if (ctx && EVP_MAC_init(ctx, secret, secret_len, params) &&
        EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)n) &&
        EVP_MAC_update(ctx, body, len) && EVP_MAC_final(ctx, mac, &out_len, 32))
        ok = out_len == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(alg);
    return ok;
}

void nb_dispatch_sign(const void *secret, size_t secret_len, int64_t unix_s, const void *body,
                      size_t len, char out[NB_DISPATCH_SIG_MAX])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[32];
    int n = snprintf(out, NB_DISPATCH_SIG_MAX, "t=%" PRId64 ",v1=", unix_s);
    if (!nb__mac(secret, secret_len, unix_s, body, len, mac)) {
        out[0] = '\0'; /* no signature rather than a wrong one: the receiver refuses it */
        return;
    }
    for (size_t i = 0; i < 32 && (size_t)n + 2 < NB_DISPATCH_SIG_MAX; i++) {
        out[n++] = hex[mac[i] >> 4];
        out[n++] = hex[mac[i] & 15];
    }
    out[n] = '\0';
}

static int nb__unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

nb_err_t nb_dispatch_verify(const void *secret, size_t secret_len, const char *header,
                            const void *body, size_t len, int64_t now_s, int64_t tolerance_s)
{
    int64_t t = -1;
    unsigned char want[32];
    bool have_v1 = false, match = false;
    /* t first, wherever it is, then every v1 (a secret being rotated signs with both). */
    for (const char *p = header; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (strncmp(p, "t=", 2) == 0) {
            char *end;
            long long v = strtoll(p + 2, &end, 10);
            if (end == p + 2 || (*end && *end != ',') || v < 0)
                return NB_ERR_INVALID_ARG;
            t = v;
        }
    }
    if (t < 0 || !nb__mac(secret, secret_len, t, body, len, want))
        return NB_ERR_INVALID_ARG;
    for (const char *p = header; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (strncmp(p, "v1=", 3) != 0)
            continue;
        unsigned char got[32];
        const char *h = p + 3;
        size_t i = 0;
        for (; i < 32; i++) {
            int a = nb__unhex(h[2 * i]), b = a < 0 ? -1 : nb__unhex(h[2 * i + 1]);
            if (a < 0 || b < 0)
                break;
            got[i] = (unsigned char)(a << 4 | b);
        }
        have_v1 = true;
        if (i == 32 && (h[64] == '\0' || h[64] == ',') && CRYPTO_memcmp(got, want, 32) == 0)
            match = true;
    }
    if (!have_v1 || !match)
        return NB_ERR_INVALID_ARG;
    if (now_s - t > tolerance_s || t - now_s > tolerance_s)
        return NB_ERR_TIMEOUT;
    return NB_ERR_OK;
}
