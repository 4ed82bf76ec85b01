/*
 * notbrought - ops: /metrics, /healthz and /readyz over HTTP (libmicrohttpd).
 *
 * libmicrohttpd runs one polling thread of its own (epoll, or poll() where epoll is missing;
 * never select(), whose FD_SETSIZE a daemon with many Kafka sockets and files can exceed).
 * Every answer is built on that thread from the metrics registry, which has its own lock.
 * Nothing here touches the runtime except through the optional collect callback.
 *
 * The port must keep answering the probes while clients misbehave. libmicrohttpd stops
 * accepting when it holds max_connections connections, and the kernel queues the rest, probes
 * included, in arrival order; so one client must never be able to hold them all (the per-IP
 * limit closes its extra connections as soon as they are accepted), and a connection that
 * never finishes its request is closed after timeout_s of silence.
 */
#include "notbrought/ops.h"
#include "notbrought/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <microhttpd.h>

#define NB__HTTP_STALL_MS 60000
/* libmicrohttpd's messages logged per window; the rest are counted and summarised. A flood
 * of connections makes one message each ("reached connection limit"). */
#define NB__HTTP_LOG_BURST 5
#define NB__HTTP_LOG_WINDOW_MS 10000

struct nb_http_s {
    struct MHD_Daemon *d;
    nb_metrics_t *m;
    int64_t stall_ms;
    nb_http_collect_cb_t *collect;
    void *opaque;
    int port;
    /* @locks log_lock: the polling thread logs, and so may the thread that starts or stops. */
    pthread_mutex_t log_lock;
    int64_t log_window_ms; /* start of the current window */
    unsigned log_count;    /* messages in it, logged or not */
};

static int64_t nb__http_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drops control characters (a message may quote what a client sent) and trailing blanks. */
static void nb__http_clean(char *s)
{
    char *w = s;
    for (const unsigned char *r = (const unsigned char *)s; *r; r++)
        if (*r >= 0x20 && *r != 0x7f)
            *w++ = (char)*r;
    while (w > s && w[-1] == ' ')
        w--;
    *w = '\0';
}

/* libmicrohttpd's own messages go to our log, at most NB__HTTP_LOG_BURST per window: each
 * refused connection makes one, and a flood of them must not flood the log too.
 * @locality HTTP thread, or the thread in nb_http_new() / nb_http_destroy() @locks log_lock */
static void nb__http_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void nb__http_log(void *cls, const char *fmt, va_list ap)
{
    nb_http_t *h = cls;
    char msg[512];
    int64_t now = nb__http_now();
    unsigned dropped = 0;
    pthread_mutex_lock(&h->log_lock);
    if (now - h->log_window_ms >= NB__HTTP_LOG_WINDOW_MS || now < h->log_window_ms) {
        if (h->log_count > NB__HTTP_LOG_BURST)
            dropped = h->log_count - NB__HTTP_LOG_BURST;
        h->log_window_ms = now;
        h->log_count = 0;
    }
    bool show = ++h->log_count <= NB__HTTP_LOG_BURST;
    pthread_mutex_unlock(&h->log_lock);
    if (dropped)
        NB_LOG(NB_LOG_WARN, "http", "%u more libmicrohttpd messages in the last %d s not logged",
               dropped, NB__HTTP_LOG_WINDOW_MS / 1000);
    if (!show)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    nb__http_clean(msg);
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

/* /healthz and /readyz: a short JSON object; the reason is static text, never data; the
 * identity digest is hex checked by nb_metrics_set_identity_digest(). */
static enum MHD_Result nb__http_health(nb_http_t *h, struct MHD_Connection *conn, bool ready)
{
    enum { BODY = 512 };
    nb_health_t hs;
    nb_metrics_health(h->m, nb__http_now(), h->stall_ms, &hs);
    bool ok = ready ? hs.ready : hs.live;
    char *body = malloc(BODY);
    if (!body)
        return MHD_NO;
    char age[32] = "null", identity[96] = "null";
    if (hs.heartbeat_seen)
        snprintf(age, sizeof(age), "%lld", (long long)hs.heartbeat_age_ms);
    if (hs.identity_digest[0])
        snprintf(identity, sizeof(identity), "{\"digest\":\"%s\",\"links\":%llu}",
                 hs.identity_digest, (unsigned long long)hs.identity_links);
    int n = snprintf(body, BODY,
                     "{\"status\":\"%s\",\"reason\":\"%s\",\"heartbeat_age_ms\":%s,"
                     "\"identity\":%s}\n",
                     ok ? (ready ? "ready" : "ok") : (ready ? "not ready" : "stalled"),
                     ok ? "" : hs.reason, age, identity);
    return nb__http_reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json",
                          body, n > 0 && n < BODY ? (size_t)n : 0);
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
    const char *bind = hc->bind && hc->bind[0] ? hc->bind : NB_HTTP_DEFAULT_BIND;
    int max_conn = hc->max_connections > 0 ? hc->max_connections
                                           : NB_HTTP_DEFAULT_MAX_CONNECTIONS;
    int max_per_ip = hc->max_connections_per_ip > 0 ? hc->max_connections_per_ip
                                                    : NB_HTTP_DEFAULT_MAX_CONNECTIONS_PER_IP;
    int timeout_s = hc->timeout_s > 0 ? hc->timeout_s : NB_HTTP_DEFAULT_TIMEOUT_S;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa;
    /* One polling thread on epoll, else poll(). MHD_USE_AUTO would choose the same on Linux,
     * but would fall back to select() silently, which fails once descriptors pass FD_SETSIZE
     * (1024); say so instead. */
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;
    else if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
        flags |= MHD_USE_POLL;
    else {
        snprintf(errstr, errstr_size, "http: this libmicrohttpd has neither epoll nor poll()");
        return NULL;
    }
    if (hc->port < 0 || hc->port > 65535) {
        snprintf(errstr, errstr_size, "http: port %d out of range", hc->port);
        return NULL;
    }
    if (max_per_ip > max_conn) {
        snprintf(errstr, errstr_size, "http: %d connections per address exceed the limit of %d",
                 max_per_ip, max_conn);
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
    pthread_mutex_init(&h->log_lock, NULL);
    /* The logger comes first so that libmicrohttpd never writes to stderr on its own. Its
     * polling thread, started here, inherits our mask: the main loop's signals are blocked
     * around the call, so that they never reach that thread (notbrought/util.h). */
    sigset_t mask;
    nb_thread_signals_block(&mask);
    h->d = MHD_start_daemon(flags, (uint16_t)hc->port, NULL, NULL, nb__http_handler, h,
                            MHD_OPTION_EXTERNAL_LOGGER, nb__http_log, h,
                            MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)max_conn,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)max_per_ip,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)timeout_s,
                            MHD_OPTION_END);
    nb_thread_signals_restore(&mask);
    if (!h->d) {
        snprintf(errstr, errstr_size, "http: cannot listen on %s port %d (in use, or not "
                 "permitted)", bind, hc->port);
        pthread_mutex_destroy(&h->log_lock);
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
    pthread_mutex_destroy(&h->log_lock);
    free(h);
}
