/*
 * notbrought - ingest: the MLLP server. Listeners from ingest.mllp, one poll() loop over them,
 * the connections, the publisher's delivery reports and a wake-up pipe; limits on connections,
 * idle time and bytes held per connection; a graceful stop.
 */
#include "ingest/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t nb__ingest_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool nb__nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 &&
           fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
}

/* Binds and listens on the listener's address. */
static bool nb__listen(nb__listener_t *l, char *errstr, size_t errstr_size)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, l->conf->bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)l->conf->port);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, l->conf->bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)l->conf->port);
        len = sizeof(*v6);
    } else {
        snprintf(errstr, errstr_size, "ingest.mllp %s: bind: not a numeric address", l->conf->name);
        return false;
    }
    int one = 1;
    l->fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(l->fd, (struct sockaddr *)&ss, len) != 0 || listen(l->fd, 64) != 0 ||
        !nb__nonblock(l->fd) || getsockname(l->fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(errstr, errstr_size, "ingest.mllp %s: %s port %d: %s", l->conf->name,
                 l->conf->bind, l->conf->port, strerror(errno));
        return false;
    }
    l->port = ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
    return true;
}

nb_ingest_t *nb_ingest_new(const nb_config_t *conf, const nb_ingest_mapper_t *mappers,
                           nb_metrics_t *m, char *errstr, size_t errstr_size)
{
    nb_ingest_t *in = calloc(1, sizeof(*in));
    if (!in) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    in->conf = conf;
    in->metrics = m;
    in->wake[0] = in->wake[1] = -1;
    in->now = nb__ingest_now();
    atomic_init(&in->stop, false);
    pthread_mutex_init(&in->stats_lock, NULL);
    if (conf->n_mllp == 0 && conf->n_fhir == 0) {
        snprintf(errstr, errstr_size, "ingest.mllp, ingest.fhir: no listener is configured");
        goto fail;
    }
    if (pipe(in->wake) != 0 || !nb__nonblock(in->wake[0]) || !nb__nonblock(in->wake[1])) {
        snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
        goto fail;
    }
    in->result = calloc(1, sizeof(*in->result));
    in->hl7 = nb_hl7_msg_new(NULL);
    in->ls = calloc(conf->n_mllp ? conf->n_mllp : 1, sizeof(*in->ls));
    if (!in->result || !in->hl7 || !in->ls) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < conf->n_mllp; i++)
        in->ls[i].fd = -1;
    in->n_ls = conf->n_mllp;
    for (size_t i = 0; i < conf->n_mllp; i++) {
        nb__listener_t *l = &in->ls[i];
        l->conf = &conf->mllp[i];
        l->mapper = mappers[i];
        if (!l->mapper.map) {
            snprintf(errstr, errstr_size, "ingest.mllp %s: no mapper", l->conf->name);
            goto fail;
        }
        if (l->conf->tls_cert[0] && !(l->tls = nb__tls_ctx(l->conf, errstr, errstr_size)))
            goto fail;
        if (!nb__listen(l, errstr, errstr_size))
            goto fail;
        nb_metrics_set(m, NB_M_MLLP_LAST_MESSAGE, l->conf->name, (double)in->now / 1e3);
        nb_metrics_set(m, NB_M_MLLP_CONNECTIONS, l->conf->name, 0);
    }
    in->pub = nb_publisher_new(conf, "ingest", conf->ingest_delivery_timeout_ms, nb__reported,
                               errstr, errstr_size);
    if (!in->pub || !nb__fhir_start(in, mappers + conf->n_mllp, errstr, errstr_size))
        goto fail;
    for (size_t i = 0; i < in->n_fsrv; i++)
        NB_LOG(NB_LOG_INFO, "ingest", "%s: FHIR R4 over HTTP on %s port %d, events to %s",
               in->fsrv[i].conf->name, in->fsrv[i].conf->bind, in->fsrv[i].port,
               in->fsrv[i].conf->topic);
    for (size_t i = 0; i < in->n_ls; i++)
        NB_LOG(NB_LOG_INFO, "ingest", "%s: MLLP%s on %s port %d, events to %s",
               in->ls[i].conf->name, in->ls[i].tls ? " over TLS" : "", in->ls[i].conf->bind,
               in->ls[i].port, in->ls[i].conf->topic);
    return in;
fail:
    nb_ingest_destroy(in);
    return NULL;
}

int nb_ingest_port(const nb_ingest_t *in, size_t i)
{
    return i < in->n_ls ? in->ls[i].port : -1;
}

void nb_ingest_stop(nb_ingest_t *in)
{
    atomic_store(&in->stop, true);
    if (write(in->wake[1], "x", 1) < 0) {
        /* The pipe is full: a wake-up is pending already. */
    }
}

void nb_ingest_stats(const nb_ingest_t *in, nb_ingest_stats_t *out)
{
    pthread_mutex_lock((pthread_mutex_t *)&in->stats_lock);
    *out = in->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&in->stats_lock);
}

static void nb__conn_gauge(nb_ingest_t *in, size_t li, int delta)
{
    in->ls[li].open += delta;
    nb_metrics_set(in->metrics, NB_M_MLLP_CONNECTIONS, in->ls[li].conf->name,
                   (double)in->ls[li].open);
    pthread_mutex_lock(&in->stats_lock);
    in->stats.open += delta;
    if (delta > 0)
        in->stats.connections++;
    pthread_mutex_unlock(&in->stats_lock);
}

/* Accepts what waits on listener @p li; beyond ingest.max_connections, closes at once. */
static void nb__accept(nb_ingest_t *in, size_t li)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept(in->ls[li].fd, (struct sockaddr *)&ss, &len);
        if (fd < 0)
            return; /* EAGAIN, or an aborted connection: nothing to do */
        char host[INET6_ADDRSTRLEN] = "?", peer[64];
        const void *a = ss.ss_family == AF_INET6
                            ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                            : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
        int port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
        inet_ntop(ss.ss_family, a, host, sizeof(host));
        snprintf(peer, sizeof(peer), "%s:%d", host, port);
        if (in->n_conns >= (size_t)in->conf->ingest_max_connections || !nb__nonblock(fd)) {
            NB_LOG(NB_LOG_WARN, "ingest",
                   "%s: connection from %s closed: %d connections open "
                   "(ingest.max_connections)",
                   in->ls[li].conf->name, peer, (int)in->n_conns);
            nb__count(in, &in->stats.refused_connections, 1);
            close(fd);
            continue;
        }
        if (in->n_conns == in->cap_conns) {
            size_t cap = in->cap_conns ? 2 * in->cap_conns : 16;
            nb__conn_t **p = realloc(in->conns, cap * sizeof(*p));
            if (!p) {
                close(fd);
                return;
            }
            in->conns = p;
            in->cap_conns = cap;
        }
        nb__conn_t *c = nb__conn_new(in, li, fd, peer);
        if (!c) {
            close(fd);
            return;
        }
        in->conns[in->n_conns++] = c;
        nb__conn_gauge(in, li, +1);
        NB_LOG(NB_LOG_INFO, "ingest", "%s: connection from %s", in->ls[li].conf->name, peer);
    }
}

/* Closes connections marked dead, and idle ones. */
static void nb__reap(nb_ingest_t *in)
{
    size_t k = 0;
    int64_t idle = in->conf->ingest_idle_timeout_ms;
    for (size_t i = 0; i < in->n_conns; i++) {
        nb__conn_t *c = in->conns[i];
        if (!c->dead && !c->head && c->out.len == 0 && in->now - c->last_ms > idle) {
            NB_LOG(NB_LOG_INFO, "ingest", "%s: connection from %s idle for %lld ms: closed",
                   in->ls[c->listener].conf->name, c->peer, (long long)idle);
            c->dead = true;
        }
        if (!c->dead) {
            in->conns[k++] = c;
            continue;
        }
        nb__conn_gauge(in, c->listener, -1);
        nb__conn_free(in, c);
    }
    in->n_conns = k;
}

/* SIGTERM: no new connections, nothing more read; what is in flight is answered. */
static void nb__begin_stop(nb_ingest_t *in)
{
    in->stopping = true;
    in->stop_deadline = in->now + in->conf->shutdown_timeout_ms;
    for (size_t i = 0; i < in->n_ls; i++) {
        if (in->ls[i].fd >= 0)
            close(in->ls[i].fd);
        in->ls[i].fd = -1;
    }
    for (size_t i = 0; i < in->n_conns; i++) {
        in->conns[i]->closing = true;
        nb__conn_flush(in, in->conns[i]);
    }
    nb__fhir_quiesce(in);
    NB_LOG(NB_LOG_INFO, "ingest", "stopping: %zu connections to answer and close", in->n_conns);
}

static short nb__conn_events(const nb_ingest_t *in, const nb__conn_t *c)
{
    short ev = 0;
    if ((c->ssl && !c->handshaken) || nb__conn_readable(in, c))
        ev |= POLLIN;
    if (c->out.len > c->out_off || c->want_write)
        ev |= POLLOUT;
    return ev;
}

/* After a fatal producer error (fenced, a broken sequence) nothing more can be delivered and
 * every message is answered AR: once the old producer has reported all it held, a new one. */
static void nb__renew_publisher(nb_ingest_t *in)
{
    char errstr[512];
    if (!nb_publisher_failed(in->pub) || nb_publisher_in_flight(in->pub) > 0)
        return;
    nb_publisher_t *pub = nb_publisher_new(in->conf, "ingest", in->conf->ingest_delivery_timeout_ms,
                                           nb__reported, errstr, sizeof(errstr));
    if (!pub) {
        NB_LOG(NB_LOG_ERROR, "ingest", "a new producer after a fatal error: %s", errstr);
        return;
    }
    nb_publisher_destroy(in->pub);
    in->pub = pub;
    NB_LOG(NB_LOG_WARN, "ingest", "the producer failed; a new one replaces it");
}

/* One turn: poll, then serve whatever is ready. @returns false when poll() failed. */
static bool nb__turn(nb_ingest_t *in, struct pollfd *pfd)
{
    size_t n = 0, n_conns = in->n_conns;
    pfd[n++] = (struct pollfd){in->wake[0], POLLIN, 0};
    pfd[n++] = (struct pollfd){nb_publisher_fd(in->pub), POLLIN, 0};
    for (size_t i = 0; i < in->n_ls; i++)
        pfd[n++] = (struct pollfd){in->stopping ? -1 : in->ls[i].fd, POLLIN, 0};
    for (size_t i = 0; i < n_conns; i++) {
        short ev = nb__conn_events(in, in->conns[i]);
        /* A closed peer with nothing to read or write would report POLLHUP at every turn. */
        bool skip = ev == 0 && in->conns[i]->eof;
        pfd[n++] = (struct pollfd){skip ? -1 : in->conns[i]->fd, ev, 0};
    }
    size_t fhir_at = n;
    n += nb__fhir_pollfds(in, pfd + n);
    int rc = poll(pfd, (nfds_t)n, nb__fhir_timeout(in, in->stopping ? 50 : NB__INGEST_TICK_MS));
    if (rc < 0 && errno != EINTR) {
        NB_LOG(NB_LOG_ERROR, "ingest", "poll: %s", strerror(errno));
        return false;
    }
    in->now = nb__ingest_now();
    char drain[64];
    while (read(in->wake[0], drain, sizeof(drain)) > 0)
        ;
    nb_publisher_poll(in->pub, 0); /* delivery reports decide answers and flush them */
    nb__renew_publisher(in);
    /* Every turn, not only when its descriptor is ready: delivery reports resume requests. */
    (void)fhir_at;
    nb__fhir_run(in);
    for (size_t i = 0; rc > 0 && i < in->n_ls; i++)
        if (pfd[2 + i].revents & POLLIN)
            nb__accept(in, i);
    for (size_t i = 0; i < n_conns; i++) {
        nb__conn_t *c = in->conns[i];
        short re = pfd[2 + in->n_ls + i].revents;
        if (re & (POLLERR | POLLNVAL))
            c->dead = true;
        else if (re & (POLLIN | POLLHUP))
            nb__conn_read(in, c);
        else if (c->ssl && c->handshaken && SSL_pending(c->ssl) > 0 && nb__conn_readable(in, c))
            nb__conn_read(in, c); /* decrypted bytes held back while the connection was full */
        /* Writable: a handshake or a read that OpenSSL said needs to write goes on; else
         * the ACKs waiting go out. */
        if (!c->dead && (re & POLLOUT)) {
            if (c->ssl && (!c->handshaken || c->want_write))
                nb__conn_read(in, c);
            else
                nb__conn_flush(in, c);
        }
        if ((re & POLLHUP) && !(re & POLLIN))
            c->eof = true;
    }
    nb__reap(in);
    return true;
}

nb_err_t nb_ingest_run(nb_ingest_t *in, volatile sig_atomic_t *stop)
{
    nb_err_t result = NB_ERR_OK;
    struct pollfd *pfd = NULL;
    size_t cap = 0;
    for (;;) {
        in->now = nb__ingest_now();
        if (!in->stopping && (atomic_load(&in->stop) || (stop && *stop)))
            nb__begin_stop(in);
        if (in->metrics) {
            /* /healthz: the loop turns; /readyz: it takes messages (not while stopping). */
            nb_metrics_heartbeat(in->metrics, in->now);
            nb_metrics_set(in->metrics, NB_M_READY, NULL, in->stopping ? 0 : 1);
        }
        if (in->stopping && in->n_conns == 0 && nb_publisher_in_flight(in->pub) == 0 &&
            nb__fhir_in_flight(in) == 0)
            break;
        if (in->stopping && in->now > in->stop_deadline) {
            for (size_t i = 0; i < in->n_conns; i++)
                nb__conn_give_up(in, in->conns[i],
                                 "the receiving application is stopping; "
                                 "resend");
            NB_LOG(NB_LOG_WARN, "ingest",
                   "stopping: processing.shutdown_timeout_ms passed; "
                   "what Kafka had not acknowledged was answered AR");
            break;
        }
        size_t need = 2 + in->n_ls + in->n_conns + in->n_fsrv;
        if (need > cap) {
            struct pollfd *p = realloc(pfd, need * 2 * sizeof(*p));
            if (!p) {
                result = NB_ERR_NOMEM;
                break;
            }
            pfd = p;
            cap = need * 2;
        }
        if (!nb__turn(in, pfd)) {
            result = NB_ERR_IO;
            break;
        }
    }
    free(pfd);
    for (size_t i = 0; i < in->n_conns; i++) {
        nb__conn_gauge(in, in->conns[i]->listener, -1);
        nb__conn_free(in, in->conns[i]);
    }
    in->n_conns = 0;
    return result;
}

void nb_ingest_destroy(nb_ingest_t *in)
{
    if (!in)
        return;
    for (size_t i = 0; i < in->n_conns; i++)
        nb__conn_free(in, in->conns[i]);
    free(in->conns);
    /* After the connections: the purge reports what is still in flight, freeing it. */
    nb_publisher_destroy(in->pub);
    nb__fhir_destroy(in); /* after the publisher: its purge resumes what waits for Kafka */
    for (size_t i = 0; in->ls && i < in->n_ls; i++) {
        if (in->ls[i].fd >= 0)
            close(in->ls[i].fd);
        SSL_CTX_free(in->ls[i].tls);
    }
    free(in->ls);
    nb_hl7_msg_destroy(in->hl7);
    free(in->result);
    for (int i = 0; i < 2; i++)
        if (in->wake[i] >= 0)
            close(in->wake[i]);
    pthread_mutex_destroy(&in->stats_lock);
    free(in);
}
