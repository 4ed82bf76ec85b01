/*
 * notbrought - deliver: one attempt of one delivery over libcurl. TLS peers are always
 * verified (dispatch.ca_file or the system's CAs); redirects are never followed; every
 * attempt is bounded by dispatch.connect_timeout_ms and dispatch.timeout_ms. What is logged
 * by the caller is the endpoint's name, the status and curl's reason: never a URL (it may
 * carry a token) nor what was sent.
 */
#include "deliver/internal.h"

#include <stdio.h>
#include <string.h>

/* The answer's body is not needed: a receiver's text is not trusted into the logs. */
static size_t nb__discard(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    (void)ptr;
    (void)opaque;
    return size * nmemb;
}

static void nb__common(CURL *h, const nb_dispatch_conf_t *dc)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)dc->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)dc->timeout_ms);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (dc->ca_file && dc->ca_file[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, dc->ca_file);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, nb__discard);
}

nb_dispatch_verdict_t nb__post_webhook(CURL *h, const nb_dispatch_conf_t *dc,
                                       const nb_webhook_conf_t *w, const char *secret,
                                       size_t secret_len, const char *notification_id,
                                       const char *body, size_t len, int64_t now_s, long *status,
                                       char *why, size_t why_size)
{
    char sig[NB_DISPATCH_SIG_MAX], line[256];
    struct curl_slist *hdr = NULL, *grown;
    *status = 0;
    why[0] = '\0';
    nb_dispatch_sign(secret, secret_len, now_s, body, len, sig);
    const char *lines[] = {"Content-Type: application/json", "User-Agent: notbrought-dispatch",
                           "Expect:", NULL, NULL};
    snprintf(line, sizeof(line), "Idempotency-Key: %s", notification_id);
    lines[3] = line;
    char sigline[NB_DISPATCH_SIG_MAX + 32];
    snprintf(sigline, sizeof(sigline), "X-Notbrought-Signature: %s", sig);
    lines[4] = sigline;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!(grown = curl_slist_append(hdr, lines[i]))) {
            curl_slist_free_all(hdr);
            snprintf(why, why_size, "no memory");
            return NB_DISPATCH_RETRY;
        }
        hdr = grown;
    }
    nb__common(h, dc);
    curl_easy_setopt(h, CURLOPT_URL, w->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    else
        snprintf(why, why_size, "%s", curl_easy_strerror(rc));
    curl_slist_free_all(hdr);
    return nb_dispatch_http_verdict(rc == CURLE_OK ? *status : 0);
}

typedef struct nb__reader_s {
    const char *data;
    size_t len, at;
} nb__reader_t;

static size_t nb__read(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    nb__reader_t *r = opaque;
    size_t n = size * nmemb;
    if (n > r->len - r->at)
        n = r->len - r->at;
    memcpy(ptr, r->data + r->at, n);
    r->at += n;
    return n;
}

nb_dispatch_verdict_t nb__send_email(CURL *h, const nb_dispatch_conf_t *dc, const char *password,
                                     const nb_email_conf_t *m, const void *msg, size_t len,
                                     long *reply, char *why, size_t why_size)
{
    struct curl_slist *rcpt = NULL, *grown;
    char from[320];
    nb__reader_t r = {msg, len, 0};
    *reply = 0;
    why[0] = '\0';
    for (size_t i = 0; i < m->n_to; i++) {
        char to[320];
        snprintf(to, sizeof(to), "<%s>", m->to[i]);
        if (!(grown = curl_slist_append(rcpt, to))) {
            curl_slist_free_all(rcpt);
            snprintf(why, why_size, "no memory");
            return NB_DISPATCH_RETRY;
        }
        rcpt = grown;
    }
    snprintf(from, sizeof(from), "<%s>", dc->smtp_from);
    nb__common(h, dc);
    curl_easy_setopt(h, CURLOPT_URL, dc->smtp_url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    if (dc->smtp_starttls)
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (dc->smtp_user && dc->smtp_user[0]) {
        curl_easy_setopt(h, CURLOPT_USERNAME, dc->smtp_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, password ? password : "");
    }
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, nb__read);
    curl_easy_setopt(h, CURLOPT_READDATA, &r);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, reply);
    if (rc != CURLE_OK)
        snprintf(why, why_size, "%s", curl_easy_strerror(rc));
    curl_slist_free_all(rcpt);
    /* A login refused is the relay's configuration, not this message: retried (and seen in
     * the retries and the oldest-undelivered age) rather than refused for every message. */
    if (rc == CURLE_LOGIN_DENIED || rc == CURLE_USE_SSL_FAILED)
        return NB_DISPATCH_RETRY;
    return nb_dispatch_smtp_verdict(rc == CURLE_OK, *reply);
}
