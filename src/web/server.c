/*
 * notbrought - web: the inbox's HTTP(S) server (libmicrohttpd), signing in and sessions.
 *
 * One polling thread of libmicrohttpd's answers every request, and it alone uses the session
 * table and the rate limiters, so they need no lock; the inbox view is read under the lock
 * its writer holds (nb_web_view_t).
 *
 * Who a request is: with inbox.auth.proxy.user_header configured, a request from an address
 * in trusted_proxies that carries the header is that user (a session is made for them, or
 * the one of the same user kept); the header from any other address is ignored, and logged
 * without the address or the id. Otherwise the session cookie says who, or nobody.
 * Every POST carries the session's CSRF token, compared in constant time: a missing or wrong
 * one is 403. Every answer carries the security headers and Cache-Control: no-store.
 */
#include "web/internal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>

#define NB__BODY_MAX 8192
#define NB__PASSWORD_MAX 1024
#define NB__LIMITER_KEYS 100000
/* Ignored proxy headers logged at most once per window (each says how many were ignored). */
#define NB__SPOOF_LOG_MS 10000

/* TLS 1.2 and later, GnuTLS's normal ciphers (as the FHIR listeners). */
static const char nb__priorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

struct nb_web_s {
    struct MHD_Daemon *d;
    const nb_config_t *conf;
    const nb_web_users_t *users;
    nb_web_view_t view;
    nb_web_backend_t backend;
    nb_notify_zone_t zone; /* notify.timezone: the times a nurse reads */
    nb_web_sessions_t *sessions;
    nb_web_limiter_t *by_user, *by_addr;
    nb_web_cidr_t proxies[NB_CONFIG_MAX_PROXIES];
    size_t n_proxies;
    bool tls;
    char *cert, *key;
    int port;
    /* @locality HTTP thread */
    nb__web_pending_t pending[NB__WEB_PENDING]; /* users' own actions, newest last */
    size_t pending_next;
    int64_t spoof_logged_ms;
    unsigned spoof_count;
};

/* One request: its body, as it comes. */
typedef struct nb__req_s {
    nb_buf_t body;
    bool too_large;
} nb__req_t;

/* What the request is, once worked out. */
typedef struct nb__ctx_s {
    nb_web_t *w;
    struct MHD_Connection *conn;
    int64_t now;
    char addr[INET6_ADDRSTRLEN]; /* the peer, for the rate limiter only: never logged */
    bool have;                   /* a live session */
    nb_web_session_t s;
    char set_cookie[160]; /* a Set-Cookie to send, or "" */
} nb__ctx_t;

static int64_t nb__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- answers ------------------------------------------------------------------------------- */

static void nb__headers(nb__ctx_t *c, struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                            "base-uri 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    /* Every page may show personal data or a token: nothing is stored by browsers or caches. */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (c->w->tls)
        MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
    if (c->set_cookie[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, c->set_cookie);
}

/* Sends the page in @p b (freed here) with @p status; @p extra a header pair or NULL. */
static enum MHD_Result nb__send(nb__ctx_t *c, unsigned status, nb_buf_t *b, const char *name,
                                const char *value)
{
    if (b->err) {
        nb_buf_free(b);
        nb__page_message(b, "Something went wrong", "The server ran out of memory. Try again.");
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        if (b->err) {
            nb_buf_free(b);
            return MHD_NO;
        }
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(b->len, b->data, free);
    if (!r) {
        nb_buf_free(b);
        return MHD_NO;
    }
    b->data = NULL; /* now the response's */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    nb__headers(c, r);
    if (name)
        MHD_add_response_header(r, name, value);
    enum MHD_Result ret = MHD_queue_response(c->conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* GET /inbox.css: the one stylesheet (the CSP allows no inline style). Targets of at least
 * 24 px (WCAG 2.2 2.5.8), tables that scroll rather than overflow a phone's width, forms that
 * do not either (a fieldset is as wide as its content by default, a 40-column text area
 * wider than a phone), visible focus. Served to anyone: it holds nothing. */
static enum MHD_Result nb__stylesheet(nb__ctx_t *c)
{
    static const char css[] =
        "body{font-family:system-ui,sans-serif;line-height:1.5;margin:0 auto;max-width:60rem;"
        "padding:0 1rem}\n"
        "a,button{display:inline-block;min-height:24px;min-width:24px;padding:2px 0}\n"
        "button{padding:4px 12px}\n"
        "a:focus,button:focus,input:focus{outline:3px solid #fd0;outline-offset:2px}\n"
        "table{border-collapse:collapse;display:block;overflow-x:auto;max-width:100%}\n"
        "th,td{padding:6px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #888}\n"
        "dt{font-weight:bold}\n"
        "fieldset{min-width:0}\n"
        "textarea,input,select{max-width:100%;box-sizing:border-box}\n";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof(css) - 1, (void *)css, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/css; charset=utf-8");
    nb__headers(c, r);
    enum MHD_Result ret = MHD_queue_response(c->conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result nb__message(nb__ctx_t *c, unsigned status, const char *title,
                                   const char *text)
{
    nb_buf_t b = {0};
    nb__page_message(&b, title, text);
    return nb__send(c, status, &b, NULL, NULL);
}

static enum MHD_Result nb__redirect(nb__ctx_t *c, const char *to)
{
    nb_buf_t b = {0};
    nb__page_message(&b, "See other", "Continue to the next page.");
    return nb__send(c, MHD_HTTP_SEE_OTHER, &b, MHD_HTTP_HEADER_LOCATION, to);
}

/* ---- who the request is -------------------------------------------------------------------- */

static bool nb__peer(struct MHD_Connection *conn, int *family, uint8_t *bytes, char *text)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        memcpy(bytes, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        *family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        memcpy(bytes, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        *family = AF_INET6;
    } else {
        return false;
    }
    return inet_ntop(*family, bytes, text, INET6_ADDRSTRLEN) != NULL;
}

/* A proxy header from an address not trusted: ignored, and said in the log at most once per
 * window, with how many there were, and neither the address nor the id. */
static void nb__spoof(nb_web_t *w, int64_t now)
{
    w->spoof_count++;
    if (now - w->spoof_logged_ms < NB__SPOOF_LOG_MS && now >= w->spoof_logged_ms)
        return;
    NB_LOG(NB_LOG_WARN, "inbox",
           "%u request(s) carried the proxy's user header from an address not in "
           "inbox.auth.proxy.trusted_proxies: the header was ignored (not signed in)",
           w->spoof_count);
    w->spoof_logged_ms = now;
    w->spoof_count = 0;
}

/* Splits a comma-separated list of routes into the user's queues (bad ones skipped). */
static void nb__queues_from(nb_web_user_t *u, const char *list)
{
    const char *p = list;
    u->n_queues = 0;
    while (*p && u->n_queues < NB_WEB_MAX_QUEUES) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ",");
        while (len && p[len - 1] == ' ')
            len--;
        if (len && len <= NB_SYSTEM_MAX && memchr(p, ':', len) && !memchr(p, ' ', len)) {
            memcpy(u->queues[u->n_queues], p, len);
            u->queues[u->n_queues++][len] = '\0';
        }
        p += strcspn(p, ",");
    }
}

/* The user a trusted proxy says the request is. false: it says nothing usable. */
static bool nb__proxy_user(nb_web_t *w, struct MHD_Connection *conn, const char *id,
                           nb_web_user_t *u)
{
    const nb_config_t *cf = w->conf;
    if (!nb__web_id_ok(id)) {
        NB_LOG(NB_LOG_WARN, "inbox", "the proxy's user header holds no valid user id: ignored");
        return false;
    }
    const nb_web_user_t *known = nb_web_users_find(w->users, id);
    memset(u, 0, sizeof(*u));
    if (known)
        *u = *known;
    u->hash[0] = '\0';
    snprintf(u->id, sizeof(u->id), "%s", id);
    const char *name =
        cf->inbox_proxy_name_header[0]
            ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, cf->inbox_proxy_name_header)
            : NULL;
    if (name && name[0]) {
        snprintf(u->name, sizeof(u->name), "%s", name);
        for (char *p = u->name; *p; p++)
            *p = (unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p;
    } else if (!known) {
        snprintf(u->name, sizeof(u->name), "%s", id);
    }
    if (cf->inbox_proxy_queues_header[0]) {
        const char *q =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, cf->inbox_proxy_queues_header);
        nb__queues_from(u, q ? q : "");
    }
    return true;
}

/* Works out the session: the proxy's user (from a trusted address), or the cookie's. */
static void nb__who(nb__ctx_t *c)
{
    nb_web_t *w = c->w;
    uint8_t bytes[16];
    int family = 0;
    char id[NB_WEB_TOKEN_HEX + 1];
    bool peer = nb__peer(c->conn, &family, bytes, c->addr);
    const char *cookie = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Cookie");
    if (cookie && nb_web_cookie_get(cookie, id))
        c->have = nb_web_sessions_get(w->sessions, id, c->now, &c->s);
    if (!w->conf->inbox_proxy_user_header[0])
        return;
    const char *hdr =
        MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, w->conf->inbox_proxy_user_header);
    bool trusted = false;
    for (size_t i = 0; peer && i < w->n_proxies && !trusted; i++)
        trusted = nb_web_cidr_match(&w->proxies[i], family, bytes);
    nb_web_user_t u;
    if (hdr && !trusted)
        nb__spoof(w, c->now);
    if (!hdr || !trusted || !nb__proxy_user(w, c->conn, hdr, &u)) {
        /* A proxy's session stands only while the proxy vouches for it. */
        if (c->have && c->s.by_proxy)
            c->have = false;
        return;
    }
    if (c->have && c->s.by_proxy && strcmp(c->s.user.id, u.id) == 0)
        return;
    if (c->have)
        nb_web_sessions_end(w->sessions, c->s.id); /* another user, or one signed in before */
    c->have = nb_web_sessions_create(w->sessions, &u, true, c->now, &c->s) == NB_ERR_OK;
    if (c->have && !nb_web_cookie_set(c->set_cookie, sizeof(c->set_cookie), c->s.id))
        c->set_cookie[0] = '\0';
}

/* Whether the POST's csrf field is the session's token. */
static bool nb__csrf_ok(const nb__ctx_t *c, const nb__req_t *rq)
{
    char token[NB_WEB_TOKEN_HEX + 2];
    if (!c->have)
        return false;
    long n =
        nb_web_form_get((const char *)rq->body.data, rq->body.len, "csrf", token, sizeof(token));
    return n == NB_WEB_TOKEN_HEX && nb_web_token_equal(token, c->s.csrf);
}

/* ---- the pages ----------------------------------------------------------------------------- */

static enum MHD_Result nb__get_signin(nb__ctx_t *c, const char *error, unsigned status)
{
    nb_buf_t b = {0};
    if (c->have && c->s.signed_in && !error)
        return nb__redirect(c, "/");
    if (!c->have || c->s.signed_in) {
        nb_err_t err = nb_web_sessions_create(c->w->sessions, NULL, false, c->now, &c->s);
        if (err)
            return nb__message(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Busy",
                               "The inbox has too many sessions open. Try again later.");
        c->have = true;
        if (!nb_web_cookie_set(c->set_cookie, sizeof(c->set_cookie), c->s.id))
            return MHD_NO;
    }
    nb__page_signin(&b, c->s.csrf, error, c->w->users != NULL);
    return nb__send(c, status, &b, NULL, NULL);
}

static enum MHD_Result nb__too_many(nb__ctx_t *c, int64_t wait_ms)
{
    char after[32];
    nb_buf_t b = {0};
    snprintf(after, sizeof(after), "%lld", (long long)((wait_ms + 999) / 1000));
    nb__page_message(&b, "Too many attempts",
                     "There were too many failed sign-ins. Wait a while before trying again.");
    return nb__send(c, MHD_HTTP_TOO_MANY_REQUESTS, &b, MHD_HTTP_HEADER_RETRY_AFTER, after);
}

static enum MHD_Result nb__post_signin(nb__ctx_t *c, nb__req_t *rq)
{
    nb_web_t *w = c->w;
    char user[NB_WEB_USER_MAX + 2], key[NB_WEB_USER_MAX + 8];
    char *pw = NULL;
    if (!w->users)
        return nb__message(c, MHD_HTTP_NOT_FOUND, "Not here",
                           "Sign in through your organisation's sign-in page.");
    if (!nb__csrf_ok(c, rq))
        return nb__message(c, MHD_HTTP_FORBIDDEN, "Refused",
                           "The form had expired or did not come from this inbox. Open the "
                           "sign-in page again.");
    const char *body = (const char *)rq->body.data;
    long ulen = nb_web_form_get(body, rq->body.len, "user", user, sizeof(user));
    if (ulen <= 0 || !nb__web_id_ok(user))
        return nb__get_signin(c, "Enter your user id and password.", MHD_HTTP_BAD_REQUEST);
    snprintf(key, sizeof(key), "u:%s", user);
    int64_t wait = nb_web_limiter_wait(w->by_user, key, c->now);
    int64_t wait_a = nb_web_limiter_wait(w->by_addr, c->addr, c->now);
    if (wait || wait_a)
        return nb__too_many(c, wait > wait_a ? wait : wait_a);
    if (!(pw = malloc(NB__PASSWORD_MAX + 1)))
        return MHD_NO;
    long plen = nb_web_form_get(body, rq->body.len, "password", pw, NB__PASSWORD_MAX + 1);
    const nb_web_user_t *u = nb_web_users_find(w->users, user);
    bool ok = plen > 0 && nb_web_password_ok(u, pw, (size_t)plen);
    sodium_memzero(pw, NB__PASSWORD_MAX + 1);
    free(pw);
    if (!ok) {
        /* On no memory a failure goes uncounted: the next attempt is checked all the same. */
        NB_IGNORE(nb_web_limiter_fail(w->by_user, key, c->now));
        NB_IGNORE(nb_web_limiter_fail(w->by_addr, c->addr, c->now));
        NB_LOG(NB_LOG_INFO, "inbox", "a sign-in failed (wrong user id or password)");
        return nb__get_signin(c, "The user id or password is not right.", MHD_HTTP_UNAUTHORIZED);
    }
    nb_web_limiter_clear(w->by_user, key);
    /* A new session id at sign-in: one known before it (fixation) is worth nothing after. */
    nb_web_sessions_end(w->sessions, c->s.id);
    c->have = nb_web_sessions_create(w->sessions, u, false, c->now, &c->s) == NB_ERR_OK;
    if (!c->have || !nb_web_cookie_set(c->set_cookie, sizeof(c->set_cookie), c->s.id))
        return nb__message(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Busy",
                           "The inbox has too many sessions open. Try again later.");
    NB_LOG(NB_LOG_INFO, "inbox", "a user signed in with a password");
    return nb__redirect(c, "/");
}

static enum MHD_Result nb__post_signout(nb__ctx_t *c, nb__req_t *rq)
{
    if (!nb__csrf_ok(c, rq))
        return nb__message(c, MHD_HTTP_FORBIDDEN, "Refused",
                           "The form had expired or did not come from this inbox.");
    nb_web_sessions_end(c->w->sessions, c->s.id);
    c->have = false;
    if (!nb_web_cookie_set(c->set_cookie, sizeof(c->set_cookie), NULL))
        return MHD_NO;
    return nb__message(c, MHD_HTTP_OK, "Signed out",
                       c->s.by_proxy ? "You are signed out of the inbox. Your organisation's "
                                       "sign-in may still know you: close the browser to end it."
                                     : "You are signed out of the inbox.");
}

static enum MHD_Result nb__inbox_page(nb__ctx_t *c, const nb__web_list_t *sel,
                                      const char *find_error, unsigned status)
{
    nb_buf_t b = {0};
    nb__web_list_t all = {NULL, 1, NULL};
    if (!nb__page_inbox(&b, &c->s, c->w->view, sel ? sel : &all, c->now, c->w->zone, find_error)) {
        nb_buf_free(&b);
        return nb__message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Something went wrong",
                           "The server ran out of memory. Try again.");
    }
    return nb__send(c, status, &b, NULL, NULL);
}

/* GET /, /?queue=<one of her queues, or "yours">&page=<n>: the list of one queue, or of what
 * she owns, a page at a time. A queue she is not in (or not a queue) shows all of hers, 404. */
static enum MHD_Result nb__get_inbox(nb__ctx_t *c)
{
    if (!c->have || !c->s.signed_in)
        return nb__redirect(c, "/signin");
    const char *queue = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "queue");
    const char *page = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "page");
    nb__web_list_t sel = {NULL, 1, NULL};
    if (page && page[0] && strspn(page, "0123456789") == strlen(page) && strlen(page) <= 6)
        sel.page = (size_t)strtoul(page, NULL, 10);
    if (queue && strcmp(queue, NB__WEB_MINE) == 0)
        sel.queue = NB__WEB_MINE;
    for (size_t i = 0; queue && queue[0] && !sel.queue && i < c->s.user.n_queues; i++)
        if (strcmp(queue, c->s.user.queues[i]) == 0)
            sel.queue = c->s.user.queues[i];
    if (queue && queue[0] && !sel.queue) {
        sel.notice = "You are not in that queue: the notifications of all your queues are shown.";
        return nb__inbox_page(c, &sel, NULL, MHD_HTTP_NOT_FOUND);
    }
    return nb__inbox_page(c, &sel, NULL, MHD_HTTP_OK);
}

/* GET /find?ref=WNB-XXXX-XXXX: to the notification's page when it is in the user's queues;
 * otherwise the inbox again saying nothing was found (the same for one that exists elsewhere). */
static enum MHD_Result nb__get_find(nb__ctx_t *c)
{
    if (!c->have || !c->s.signed_in)
        return nb__redirect(c, "/signin");
    const char *ref = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "ref");
    const char *queues[NB_WEB_MAX_QUEUES];
    nb__web_queues(&c->s, queues);
    nb_inbox_item_t it;
    bool found = false;
    if (ref && c->w->view.view) {
        nb__web_view_lock(c->w->view);
        found = nb_inbox_by_reference(c->w->view.view, ref, c->now, &it) &&
                nb_inbox_visible_to(&it, c->s.user.id, queues, c->s.user.n_queues);
        nb__web_view_unlock(c->w->view);
    }
    if (!found)
        return nb__inbox_page(c, NULL,
                              "No notification in your queues has that reference. A reference "
                              "looks like WNB-7K2M-Q9XP.",
                              MHD_HTTP_NOT_FOUND);
    char location[NB_ID_MAX + 8];
    snprintf(location, sizeof(location), "/n/%s", it.notification_id);
    return nb__redirect(c, location);
}

/* Finds the notification @p id for the session's user (one of its queues must be hers, or she
 * owns it: taken, or reassigned to her in person) and, when @p d is not NULL, the child's
 * notifications: under the view's lock. */
static bool nb__find_for(nb__ctx_t *c, const char *id, nb_inbox_item_t *it, nb_web_detail_t *d)
{
    const char *queues[NB_WEB_MAX_QUEUES];
    nb__web_queues(&c->s, queues);
    if (!c->w->view.view || !nb__web_notification_id_ok(id))
        return false;
    nb__web_view_lock(c->w->view);
    bool found = nb_inbox_by_id(c->w->view.view, id, c->now, it) &&
                 nb_inbox_visible_to(it, c->s.user.id, queues, c->s.user.n_queues);
    if (found && d) {
        size_t n = nb_inbox_child(c->w->view.view, it->child_key, c->now, d->others,
                                  NB__WEB_DETAIL_OTHERS);
        d->n_others = n == (size_t)-1 ? 0 : n;
        d->n_steps =
            nb_inbox_history(c->w->view.view, it->notification_id, d->steps, NB__WEB_DETAIL_STEPS);
    }
    nb__web_view_unlock(c->w->view);
    return found;
}

/* A notification's page, with @p error (a form's, or NULL) above its forms. Anyone without
 * one of its queues gets the same 404 as for an id that does not exist: no one learns what
 * exists elsewhere. The access is recorded before the page is shown. */
static enum MHD_Result nb__detail(nb__ctx_t *c, const char *id, const char *error, unsigned status)
{
    const char *queues[NB_WEB_MAX_QUEUES];
    nb__web_queues(&c->s, queues);
    nb_web_detail_t *d = calloc(1, sizeof(*d));
    if (!d)
        return nb__message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Something went wrong",
                           "The server ran out of memory. Try again.");
    enum MHD_Result ret;
    if (!nb__find_for(c, id, &d->item, d)) {
        ret = nb__message(c, MHD_HTTP_NOT_FOUND, "Not found",
                          "There is no such notification in your queues.");
    } else if (c->w->backend.access &&
               c->w->backend.access(c->w->backend.opaque, "viewed", c->s.user.id,
                                    d->item.notification_id, d->item.child_key)) {
        ret = nb__message(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Not available now",
                          "Your access to this notification could not be recorded, so it is not "
                          "shown. Try again in a minute.");
    } else {
        d->have_record = c->w->backend.fetch &&
                         !c->w->backend.fetch(c->w->backend.opaque, d->item.latest, &d->record);
        d->actions = c->w->backend.act != NULL;
        d->ladder_known = NB__WEB_LADDER_NO_POLICY;
        if (!d->item.raised) {
            d->ladder_known = NB__WEB_LADDER_NO_RAISED;
        } else if (c->w->backend.ladder) {
            nb_err_t e = c->w->backend.ladder(c->w->backend.opaque, &d->item, &d->ladder);
            d->ladder_known = e == NB_ERR_OK          ? NB__WEB_LADDER_KNOWN
                              : e == NB_ERR_NOT_FOUND ? NB__WEB_LADDER_NO_RULE
                                                      : NB__WEB_LADDER_NO_POLICY;
        }
        d->users = c->w->users;
        d->error = error;
        d->pending = nb__web_pending_find(c->w->pending, c->w->pending_next,
                                          d->item.notification_id, c->s.user.id);
        if (d->pending) {
            nb__web_view_lock(c->w->view);
            d->decided = nb_inbox_verdict(c->w->view.view, d->pending->ack_id, &d->verdict);
            nb__web_view_unlock(c->w->view);
        }
        nb_buf_t b = {0};
        ret = nb__page_detail(&b, &c->s, d, queues, c->s.user.n_queues, c->now, c->w->zone)
                  ? nb__send(c, status, &b, NULL, NULL)
                  : (nb_buf_free(&b),
                     nb__message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Something went wrong",
                                 "The server ran out of memory. Try again."));
    }
    free(d);
    return ret;
}

/* GET /n/<notification id>. */
static enum MHD_Result nb__get_detail(nb__ctx_t *c, const char *id)
{
    if (!c->have || !c->s.signed_in)
        return nb__redirect(c, "/signin");
    return nb__detail(c, id, NULL, MHD_HTTP_OK);
}

/* POST /n/<id>/take, /reassign, /close: the action as a NotificationAck, written to Kafka
 * before the answer; then the page again, with the user's action shown as sent. */
static enum MHD_Result nb__post_action(nb__ctx_t *c, const char *path, nb__req_t *rq)
{
    char id[NB_ID_MAX + 1], why[160], location[NB_ID_MAX + 8];
    const char *slash = strchr(path, '/');
    if (!c->have || !c->s.signed_in)
        return nb__redirect(c, "/signin");
    if (!nb__csrf_ok(c, rq))
        return nb__message(c, MHD_HTTP_FORBIDDEN, "Refused",
                           "The form had expired or did not come from this inbox.");
    nb_ack_intent_t intent;
    size_t idlen = slash ? (size_t)(slash - path) : 0;
    if (!slash || idlen == 0 || idlen > NB_ID_MAX || !nb_ack_intent_parse(slash + 1, &intent) ||
        !c->w->backend.act)
        return nb__message(c, MHD_HTTP_NOT_FOUND, "Not found", "There is no such page.");
    memcpy(id, path, idlen);
    id[idlen] = '\0';
    nb_inbox_item_t it;
    if (!nb__find_for(c, id, &it, NULL))
        return nb__message(c, MHD_HTTP_NOT_FOUND, "Not found",
                           "There is no such notification in your queues.");
    nb_ack_t ack;
    if (!nb__web_action_build(&c->s, &it, c->w->users, &c->w->backend, intent,
                              (const char *)rq->body.data, rq->body.len, c->now, &ack, why,
                              sizeof(why)))
        return nb__detail(c, id, why, MHD_HTTP_UNPROCESSABLE_CONTENT);
    char errstr[256] = "";
    nb_err_t err =
        c->w->backend.act(c->w->backend.opaque, &ack, it.child_key, errstr, sizeof(errstr));
    if (err == NB_ERR_INVALID_ARG)
        return nb__detail(c, id, errstr[0] ? errstr : "The form was not complete.",
                          MHD_HTTP_UNPROCESSABLE_CONTENT);
    if (err)
        return nb__detail(c, id,
                          "Your action could not be recorded now, so nothing was done. Try "
                          "again in a minute.",
                          MHD_HTTP_SERVICE_UNAVAILABLE);
    nb__web_pending_add(c->w->pending, &c->w->pending_next, &ack);
    snprintf(location, sizeof(location), "/n/%s", it.notification_id);
    return nb__redirect(c, location); /* after a POST, a GET: a reload sends nothing again */
}

static enum MHD_Result nb__route(nb__ctx_t *c, const char *url, const char *method, nb__req_t *rq)
{
    if (strncmp(url, "/n/", 3) == 0 && strcmp(method, MHD_HTTP_METHOD_GET) == 0)
        return nb__get_detail(c, url + 3);
    if (strncmp(url, "/n/", 3) == 0 && strcmp(method, MHD_HTTP_METHOD_POST) == 0)
        return rq->too_large ? nb__message(c, MHD_HTTP_CONTENT_TOO_LARGE, "Too large",
                                           "The form sent was larger than any of this inbox's "
                                           "forms.")
                             : nb__post_action(c, url + 3, rq);
    if (strcmp(url, "/inbox.css") == 0 && strcmp(method, MHD_HTTP_METHOD_GET) == 0)
        return nb__stylesheet(c);
    if (strcmp(url, "/find") == 0 && strcmp(method, MHD_HTTP_METHOD_GET) == 0)
        return nb__get_find(c);
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    bool signin = strcmp(url, "/signin") == 0, signout = strcmp(url, "/signout") == 0;
    bool root = strcmp(url, "/") == 0;
    if (!signin && !signout && !root)
        return nb__message(c, MHD_HTTP_NOT_FOUND, "Not found", "There is no such page.");
    if (rq->too_large)
        return nb__message(c, MHD_HTTP_CONTENT_TOO_LARGE, "Too large",
                           "The form sent was larger than any of this inbox's forms.");
    if (get && signin)
        return nb__get_signin(c, NULL, MHD_HTTP_OK);
    if (get && root)
        return nb__get_inbox(c);
    if (post && signin)
        return nb__post_signin(c, rq);
    if (post && signout)
        return nb__post_signout(c, rq);
    nb_buf_t b = {0};
    nb__page_message(&b, "Not allowed", "This page does not take that method.");
    return nb__send(c, MHD_HTTP_METHOD_NOT_ALLOWED, &b, MHD_HTTP_HEADER_ALLOW,
                    signout ? "POST"
                    : root  ? "GET"
                            : "GET, POST");
}

/* @locality HTTP thread */
static enum MHD_Result nb__handler(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    (void)version;
    nb__req_t *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof(*rq))))
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!rq->too_large && rq->body.len + *upload_data_size <= NB__BODY_MAX)
            nb_buf_add(&rq->body, upload_data, *upload_data_size);
        else
            rq->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    nb_buf_add(&rq->body, "", 1); /* a NUL after the body; not counted in len */
    if (rq->body.err)
        return MHD_NO;
    rq->body.len--;
    nb__ctx_t c = {.w = cls, .conn = conn, .now = nb__now()};
    nb__who(&c);
    enum MHD_Result ret = nb__route(&c, url, method, rq);
    sodium_memzero(&c.s, sizeof(c.s));
    return ret;
}

static void nb__completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    nb__req_t *rq = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (!rq)
        return;
    if (rq->body.data)
        sodium_memzero(rq->body.data, rq->body.cap); /* it may hold a password */
    nb_buf_free(&rq->body);
    free(rq);
    *con_cls = NULL;
}

/* ---- the server's life --------------------------------------------------------------------- */

/* libmicrohttpd's own messages (a TLS handshake that failed, a connection limit reached) go
 * to the log at debug level: a client can cause any number of them. */
static void nb__mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void nb__mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    (void)cls;
    if (nb_log_level() < NB_LOG_DEBUG)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    for (char *p = msg; *p; p++)
        *p = (unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p;
    NB_LOG(NB_LOG_DEBUG, "inbox", "libmicrohttpd: %s", msg);
}

static bool nb__pem(const char *path, char **out, const char *what, char *errstr,
                    size_t errstr_size)
{
    size_t len = 0;
    const char *why = "";
    if (nb_file_read(path, 0, 1u << 20, out, &len, &why) != NB_FILE_OK) {
        snprintf(errstr, errstr_size, "inbox.tls.%s: %s: %s", what, path, why);
        return false;
    }
    return true;
}

static bool nb__start(nb_web_t *w, char *errstr, size_t errstr_size)
{
    const nb_config_t *cf = w->conf;
    struct sockaddr_storage ss;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, cf->inbox_bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)cf->inbox_port);
    } else if (inet_pton(AF_INET6, cf->inbox_bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)cf->inbox_port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(errstr, errstr_size, "inbox.bind: not a numeric address");
        return false;
    }
    struct MHD_OptionItem tls[4];
    size_t n = 0;
    if (cf->inbox_tls_cert[0]) {
        if (!nb__pem(cf->inbox_tls_cert, &w->cert, "cert", errstr, errstr_size) ||
            !nb__pem(cf->inbox_tls_key, &w->key, "key", errstr, errstr_size))
            return false;
        tls[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, w->cert};
        tls[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, w->key};
        tls[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)nb__priorities};
        flags |= MHD_USE_TLS;
        w->tls = true;
    }
    tls[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    sigset_t mask;
    nb_thread_signals_block(&mask); /* its thread must never take the main loop's signals */
    w->d = MHD_start_daemon(
        flags, (uint16_t)cf->inbox_port, NULL, NULL, nb__handler, w, MHD_OPTION_EXTERNAL_LOGGER,
        nb__mhd_log, w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED,
        nb__completed, w, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cf->inbox_max_connections, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    nb_thread_signals_restore(&mask);
    if (!w->d) {
        snprintf(errstr, errstr_size,
                 "inbox: cannot listen on %s port %d (in use, not "
                 "permitted, or the TLS certificate or key is not usable)",
                 cf->inbox_bind, cf->inbox_port);
        return false;
    }
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_BIND_PORT);
    w->port = pi && pi->port ? pi->port : cf->inbox_port;
    return true;
}

nb_web_t *nb_web_new(const nb_config_t *conf, const nb_web_users_t *users, nb_web_view_t view,
                     const nb_web_backend_t *backend, char *errstr, size_t errstr_size)
{
    if (nb_web_check_config(conf, errstr, errstr_size))
        return NULL;
    if (sodium_init() < 0) {
        snprintf(errstr, errstr_size, "inbox: libsodium could not start");
        return NULL;
    }
    nb_web_t *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    w->conf = conf;
    w->users = users;
    w->view = view;
    if (!conf->timezone || !nb_notify_zone_parse(conf->timezone, &w->zone))
        w->zone = NB_NOTIFY_ZONE_EUROPE_LONDON;
    if (backend)
        w->backend = *backend;
    int64_t window = (int64_t)conf->inbox_failure_window_s * 1000;
    w->sessions = nb_web_sessions_new((int64_t)conf->inbox_session_idle_s * 1000,
                                      (int64_t)conf->inbox_session_absolute_s * 1000,
                                      (size_t)conf->inbox_max_sessions);
    w->by_user = nb_web_limiter_new(conf->inbox_max_failures_per_user, window, NB__LIMITER_KEYS);
    w->by_addr = nb_web_limiter_new(conf->inbox_max_failures_per_address, window, NB__LIMITER_KEYS);
    for (size_t i = 0; i < conf->n_inbox_trusted_proxies; i++)
        if (nb_web_cidr_parse(conf->inbox_trusted_proxies[i], &w->proxies[w->n_proxies]))
            w->n_proxies++;
    if (!w->sessions || !w->by_user || !w->by_addr) {
        snprintf(errstr, errstr_size, "out of memory");
        nb_web_destroy(w);
        return NULL;
    }
    if (!nb__start(w, errstr, errstr_size)) {
        nb_web_destroy(w);
        return NULL;
    }
    return w;
}

int nb_web_port(const nb_web_t *w)
{
    return w ? w->port : 0;
}

bool nb_web_tls(const nb_web_t *w)
{
    return w && w->tls;
}

void nb_web_destroy(nb_web_t *w)
{
    if (!w)
        return;
    if (w->d)
        MHD_stop_daemon(w->d);
    nb_web_sessions_destroy(w->sessions);
    nb_web_limiter_destroy(w->by_user);
    nb_web_limiter_destroy(w->by_addr);
    if (w->key)
        sodium_memzero(w->key, strlen(w->key));
    free(w->cert);
    free(w->key);
    free(w);
}
