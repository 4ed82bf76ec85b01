/*
 * notbrought - ops: /metrics, /healthz and /readyz over HTTP (libmicrohttpd).
 *
 * libmicrohttpd runs its own polling thread (MHD_USE_INTERNAL_POLLING_THREAD); every answer
 * is built on that thread from the metrics registry, which has its own lock. Nothing here
 * touches the runtime except through the optional collect callback.
 */
#include "notbrought/ops.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <microhttpd.h>

#define NB__HTTP_STALL_MS 60000
#define NB__HTTP_MAX_CONNECTIONS 32
#define NB__HTTP_TIMEOUT_S 10

struct nb_http_s {
    struct MHD_Daemon *d;
    nb_metrics_t *m;
    int64_t stall_ms;
    nb_http_collect_cb_t *collect;
    void *opaque;
    int port;
};

static int64_t nb__http_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libmicrohttpd's own messages go to our log. @locality HTTP thread */
static void nb__http_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void nb__http_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    NB_LOG(NB_LOG_WARN, "http", "%s", msg);
}

static enum MHD_Result nb__http_reply(struct MHD_Connection *conn, unsigned int status,
                                      const char *content_type, char *body, size_t len)
{
    /* The response owns body from here and frees it with free(). */
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result nb__http_text(struct MHD_Connection *conn, unsigned int status,
                                     const char *text)
{
    char *body = strdup(text);
    if (!body)
        return MHD_NO;
    return nb__http_reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

/* /healthz and /readyz: a short JSON object; the reason is static text, never data. */
static enum MHD_Result nb__http_health(nb_http_t *h, struct MHD_Connection *conn, bool ready)
{
    nb_health_t hs;
    nb_metrics_health(h->m, nb__http_now(), h->stall_ms, &hs);
    bool ok = ready ? hs.ready : hs.live;
    char *body = malloc(256);
    if (!body)
        return MHD_NO;
    char age[32] = "null";
    if (hs.heartbeat_seen)
        snprintf(age, sizeof(age), "%lld", (long long)hs.heartbeat_age_ms);
    int n = snprintf(body, 256, "{\"status\":\"%s\",\"reason\":\"%s\",\"heartbeat_age_ms\":%s}\n",
                     ok ? (ready ? "ready" : "ok") : (ready ? "not ready" : "stalled"),
                     ok ? "" : hs.reason, age);
    return nb__http_reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                          "application/json", body, n > 0 && n < 256 ? (size_t)n : 0);
}

/* @locality HTTP thread */
static enum MHD_Result nb__http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                        const char *method, const char *version,
                                        const char *upload_data, size_t *upload_data_size,
                                        void **con_cls)
{
    nb_http_t *h = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return nb__http_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    bool metrics = strcmp(url, "/metrics") == 0;
    bool healthz = strcmp(url, "/healthz") == 0;
    bool readyz = strcmp(url, "/readyz") == 0;
    if (!metrics && !healthz && !readyz)
        return nb__http_text(conn, MHD_HTTP_NOT_FOUND,
                             "not found: try /metrics, /healthz or /readyz\n");
    if (h->collect)
        h->collect(h->opaque, h->m);
    if (!metrics)
        return nb__http_health(h, conn, readyz);
    nb_metrics_update_process(h->m);
    size_t len = 0;
    char *body = nb_metrics_render(h->m, &len);
    if (!body)
        return nb__http_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return nb__http_reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body,
                          len);
}

nb_http_t *nb_http_new(nb_metrics_t *m, const nb_http_conf_t *hc, char *errstr,
                       size_t errstr_size)
{
    const char *bind = hc->bind && hc->bind[0] ? hc->bind : "0.0.0.0";
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (hc->port < 0 || hc->port > 65535) {
        snprintf(errstr, errstr_size, "http: port %d out of range", hc->port);
        return NULL;
    }
    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));
    if (inet_pton(AF_INET, bind, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)hc->port);
        sa = (struct sockaddr *)&sin;
    } else if (inet_pton(AF_INET6, bind, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t)hc->port);
        sa = (struct sockaddr *)&sin6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(errstr, errstr_size, "http: '%s' is not a numeric IPv4 or IPv6 address", bind);
        return NULL;
    }
    nb_http_t *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(errstr, errstr_size, "http: out of memory");
        return NULL;
    }
    h->m = m;
    h->stall_ms = hc->stall_ms > 0 ? hc->stall_ms : NB__HTTP_STALL_MS;
    h->collect = hc->collect;
    h->opaque = hc->opaque;
    /* The logger comes first so that libmicrohttpd never writes to stderr on its own. */
    h->d = MHD_start_daemon(flags, (uint16_t)hc->port, NULL, NULL, nb__http_handler, h,
                            MHD_OPTION_EXTERNAL_LOGGER, nb__http_log, NULL,
                            MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)NB__HTTP_MAX_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)NB__HTTP_TIMEOUT_S,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(errstr, errstr_size, "http: cannot listen on %s port %d (in use, or not "
                 "permitted)", bind, hc->port);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info && info->port ? (int)info->port : hc->port;
    return h;
}

int nb_http_port(const nb_http_t *h)
{
    return h ? h->port : 0;
}

void nb_http_destroy(nb_http_t *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
