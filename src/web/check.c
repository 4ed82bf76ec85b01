/*
 * notbrought - web: the checks of the inbox section that the configuration table cannot make
 * (nb_web_check_config): what goes with what, CIDR blocks, and when plain HTTP is allowed.
 */
#include "web/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct nb__werr_s {
    char *buf;
    size_t size, len;
    int count;
} nb__werr_t;

static void nb__werr(nb__werr_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void nb__werr(nb__werr_t *e, const char *fmt, ...)
{
    va_list ap;
    e->count++;
    if (e->len + 1 >= e->size)
        return;
    if (e->len)
        e->buf[e->len++] = '\n';
    va_start(ap, fmt);
    int n = vsnprintf(e->buf + e->len, e->size - e->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        e->len = e->len + (size_t)n < e->size ? e->len + (size_t)n : e->size - 1;
}

/* An HTTP header name: a token of letters, digits and '-'. */
static bool nb__header_ok(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

static void nb__readable(nb__werr_t *e, const char *key, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    const char *why = "";
    if (nb_file_read(path, 0, 1u << 20, &data, &len, &why) != NB_FILE_OK)
        nb__werr(e, "%s: %s: %s", key, path, why[0] ? why : "cannot be read");
    if (data)
        memset(data, 0, len); /* it may be a private key */
    free(data);
}

static bool nb__loopback(const char *bind)
{
    nb_web_cidr_t lo[2];
    return nb_web_cidr_parse("127.0.0.0/8", &lo[0]) && nb_web_cidr_parse("::1/128", &lo[1]) &&
           nb_web_cidr_match_text(lo, 2, bind);
}

static void nb__check_proxy(const nb_config_t *c, nb__werr_t *e)
{
    const char *hdrs[] = {c->inbox_proxy_user_header, c->inbox_proxy_name_header,
                          c->inbox_proxy_queues_header};
    const char *names[] = {"user_header", "name_header", "queues_header"};
    for (size_t i = 0; i < 3; i++)
        if (hdrs[i][0] && !nb__header_ok(hdrs[i]))
            nb__werr(e, "inbox.auth.proxy.%s: not an HTTP header name", names[i]);
    if (!c->inbox_proxy_user_header[0]) {
        if (c->inbox_proxy_name_header[0] || c->inbox_proxy_queues_header[0] ||
            c->n_inbox_trusted_proxies)
            nb__werr(e, "inbox.auth.proxy: name_header, queues_header and trusted_proxies need "
                        "user_header");
        return;
    }
    if (c->n_inbox_trusted_proxies == 0)
        nb__werr(e, "inbox.auth.proxy.trusted_proxies: required with user_header (the "
                    "addresses the proxy connects from)");
    for (size_t i = 0; i < c->n_inbox_trusted_proxies; i++) {
        nb_web_cidr_t b;
        if (!nb_web_cidr_parse(c->inbox_trusted_proxies[i], &b))
            nb__werr(e,
                     "inbox.auth.proxy.trusted_proxies: '%s' is not a CIDR block (such as "
                     "10.0.0.0/8 or ::1/128, no host bits under the prefix)",
                     c->inbox_trusted_proxies[i]);
    }
}

nb_err_t nb_web_check_config(const nb_config_t *c, char *errstr, size_t errstr_size)
{
    nb__werr_t e = {errstr, errstr_size, 0, 0};
    errstr[0] = '\0';
    bool cert = c->inbox_tls_cert[0], key = c->inbox_tls_key[0];
    nb_web_cidr_t any;
    if (!nb_web_cidr_parse(c->inbox_bind, &any))
        nb__werr(&e, "inbox.bind: '%s' is not a numeric IPv4 or IPv6 address", c->inbox_bind);
    if (cert != key)
        nb__werr(&e, "inbox.tls: cert and key go together");
    if (cert)
        nb__readable(&e, "inbox.tls.cert", c->inbox_tls_cert);
    if (key)
        nb__readable(&e, "inbox.tls.key", c->inbox_tls_key);
    if (!c->inbox_users_file[0] && !c->inbox_proxy_user_header[0])
        nb__werr(&e, "inbox.auth: no way to sign in: set inbox.auth.users_file, "
                     "inbox.auth.proxy.user_header, or both");
    nb__check_proxy(c, &e);
    if (!cert && !c->inbox_proxy_user_header[0] && !nb__loopback(c->inbox_bind))
        nb__werr(&e,
                 "inbox.tls: plain HTTP on %s would send passwords and session cookies in "
                 "the clear: configure inbox.tls, bind a loopback address (development), or "
                 "serve behind the proxy of inbox.auth.proxy",
                 c->inbox_bind);
    if (c->inbox_session_idle_s > c->inbox_session_absolute_s)
        nb__werr(&e, "inbox.session.idle_timeout_s: must not exceed absolute_timeout_s");
    return e.count ? NB_ERR_CONFIG : NB_ERR_OK;
}
