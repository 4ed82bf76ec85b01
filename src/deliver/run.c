/*
 * notbrought - deliver: the dispatcher's loop (docs/inbox.md §4). Each turn: attempt the
 * deliveries that are due, finish the notifications whose deliveries are all finished,
 * commit each partition's finished prefix, pause reading while dispatch.max_pending are in
 * hand, then read what came. One thread; a delivery attempt blocks for at most
 * dispatch.timeout_ms, and the consumer is polled between attempts.
 */
#include "deliver/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notbrought/codec.h"
#include "notbrought/deliver.h"
#include "notbrought/stream.h"

#define NB__MAX_TARGETS NB_NOTIF_MAX_RECIPIENTS
#define NB__SECRET_MAX 4096
#define NB__TURN_BUDGET_MS 5000 /* attempts started in one turn, at most this long */
#define NB__AUDIT_TIMEOUT_MS 120000 /* an audit record not stored by then stops the dispatcher */

typedef struct nb__delivery_s {
    nb_dispatch_target_t t;
    size_t ep;    /* index in dispatch.webhooks or dispatch.email */
    int attempts; /* made so far */
    int64_t first_ms, next_ms;
    bool finished;
    nb_buf_t mail; /* email: the message */
} nb__delivery_t;

typedef struct nb__job_s {
    struct nb__job_s *next;
    int32_t partition;
    int64_t offset;
    char id[NB_ID_MAX + 1];
    char ref[NB_REF_MAX + 1];
    char key[NB_KEY_MAX + 1]; /* the child's key ("" for a digest) */
    char *body; /* webhook body, the same for every webhook */
    size_t body_len;
    size_t n;
    nb__delivery_t d[NB__MAX_TARGETS];
} nb__job_t;

struct nb_deliver_s {
    const nb_config_t *conf;
    const nb_dispatch_conf_t *dc;
    nb_metrics_t *m;
    nb_registry_t *reg;
    nb_codec_t *codec;
    CURL *curl;
    char *secret[NB_CONFIG_MAX_ENDPOINTS];
    size_t secret_len[NB_CONFIG_MAX_ENDPOINTS];
    char *smtp_password;
    nb_notify_zone_t zone;
    nb_dispatch_backoff_t backoff;
    nb_dispatch_tracker_t *tr;
    nb__job_t *head;
    nb_group_consumer_t *gc;
    uint64_t generation;
    char group[256];
    nb_record_t *rec;
    nb_publisher_t *audit;  /* the deliveries' audit records (topics.audit) */
    nb_record_t *audit_rec; /* the one being written */
    nb_err_t audit_failed;  /* an audit record was not stored: stop before committing */
};

static int64_t nb__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A secret file's text without trailing line ends; NULL with why (never the content). */
static char *nb__secret_file(const char *path, size_t *len, char *why, size_t why_size)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(NB__SECRET_MAX + 1);
    size_t n = 0;
    if (!f || !buf) {
        snprintf(why, why_size, "%s: %s", path, f ? "no memory" : strerror(errno));
        goto fail;
    }
    n = fread(buf, 1, NB__SECRET_MAX + 1, f);
    if (n > NB__SECRET_MAX) {
        snprintf(why, why_size, "%s: longer than %d bytes", path, NB__SECRET_MAX);
        goto fail;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0) {
        snprintf(why, why_size, "%s: empty", path);
        goto fail;
    }
    buf[n] = '\0';
    fclose(f);
    *len = n;
    return buf;
fail:
    if (f)
        fclose(f);
    free(buf);
    return NULL;
}

static const char *nb__env(char **env, const char *name)
{
    size_t n = strlen(name);
    for (char **e = env; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* Reads every secret; false with why naming its source. */
static bool nb__secrets(nb_deliver_t *d, char **env, char *errstr, size_t errstr_size)
{
    char why[512];
    for (size_t i = 0; i < d->dc->n_webhooks; i++) {
        const nb_webhook_conf_t *w = &d->dc->webhooks[i];
        if (w->secret_file[0]) {
            d->secret[i] = nb__secret_file(w->secret_file, &d->secret_len[i], why, sizeof(why));
        } else {
            const char *v = nb__env(env, w->secret_env);
            if (v && v[0]) {
                d->secret[i] = strdup(v);
                d->secret_len[i] = strlen(v);
            } else {
                snprintf(why, sizeof(why), "the environment variable %s is not set or empty",
                         w->secret_env);
            }
        }
        if (!d->secret[i]) {
            snprintf(errstr, errstr_size, "dispatch.webhooks %s: secret: %s", w->name, why);
            return false;
        }
    }
    if (d->dc->smtp_password_file[0]) {
        size_t n;
        d->smtp_password = nb__secret_file(d->dc->smtp_password_file, &n, why, sizeof(why));
        if (!d->smtp_password) {
            snprintf(errstr, errstr_size, "dispatch.smtp_password_file: %s", why);
            return false;
        }
    }
    return true;
}

/* The delivery report of an audit record. @locality the dispatcher's thread */
static void nb__audit_stored(void *opaque, nb_err_t err, const char *reason)
{
    nb_deliver_t *d = opaque;
    if (!err)
        return;
    NB_LOG(NB_LOG_ERROR, "dispatch", "an audit record of a delivery was not stored: %s: %s",
           nb_err_name(err), reason);
    if (!d->audit_failed)
        d->audit_failed = err;
}

/* The audit record of a delivery's outcome (delivered; refused or given up: delivery_failed),
 * queued now and known stored before the notification's offset is committed. */
static void nb__audit_delivery(nb_deliver_t *d, const nb__job_t *j, const nb__delivery_t *dl,
                               nb_dispatch_verdict_t v, long code, int64_t now)
{
    char errstr[256], why[NB_TEXT_MAX + 1] = "";
    nb_audit_t *a = &d->audit_rec->u.audit;
    const char *kind = nb_dispatch_channel_name(dl->t.channel);
    d->audit_rec->type = NB_RECORD_AUDIT;
    nb_audit_init(a, v == NB_DISPATCH_DELIVERED ? NB_AUDIT_DELIVERED : NB_AUDIT_DELIVERY_FAILED,
                  now);
    nb_str_copy(a->child_key, sizeof(a->child_key), j->key);
    nb_str_copy(a->notification_id, sizeof(a->notification_id), j->id);
    nb_str_copy(a->reference, sizeof(a->reference), j->ref);
    a->has_delivery = true;
    nb_str_copy(a->delivery.channel, sizeof(a->delivery.channel), kind);
    nb_str_copy(a->delivery.route, sizeof(a->delivery.route), dl->t.endpoint);
    a->delivery.attempt = dl->attempts;
    if (v == NB_DISPATCH_REFUSED)
        snprintf(why, sizeof(why), "refused by the endpoint (%ld)", code);
    else if (v != NB_DISPATCH_DELIVERED)
        snprintf(why, sizeof(why), "given up after %d attempts (last: %ld)", dl->attempts, code);
    nb_str_copy(a->reason, sizeof(a->reason), why);
    char route[NB_ID_MAX * 2 + 2];
    snprintf(route, sizeof(route), "%s:%s", kind, dl->t.endpoint);
    nb_audit_set_id(a, j->id, route, 0);
    nb_err_t err = nb_publisher_publish_record(d->audit, d->conf->audit_topic, d->audit_rec, d,
                                               errstr, sizeof(errstr));
    if (err) {
        NB_LOG(NB_LOG_ERROR, "dispatch", "the audit record of %s (%s) was not queued: %s", j->id,
               j->ref, errstr);
        if (!d->audit_failed)
            d->audit_failed = err;
    }
}

nb_deliver_t *nb_deliver_new(const nb_config_t *conf, char **env, nb_metrics_t *m, char *errstr,
                             size_t errstr_size)
{
    nb_deliver_t *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(errstr, errstr_size, "no memory");
        return NULL;
    }
    d->conf = conf;
    d->dc = &conf->dispatch;
    d->m = m;
    d->backoff =
        (nb_dispatch_backoff_t){d->dc->backoff_base_ms, d->dc->backoff_max_ms, d->dc->give_up_ms};
    if (!nb_notify_zone_parse(conf->timezone, &d->zone)) {
        snprintf(errstr, errstr_size, "notify.timezone: expected Europe/London or UTC");
        goto fail;
    }
    if (d->dc->group_id[0])
        snprintf(d->group, sizeof(d->group), "%s", d->dc->group_id);
    else
        snprintf(d->group, sizeof(d->group), "%s-dispatch", conf->group_id);
    if (!nb__secrets(d, env, errstr, errstr_size))
        goto fail;
    d->reg = nb_registry_new();
    if (!d->reg || nb_registry_add_builtin(d->reg, errstr, errstr_size) ||
        (conf->schemas_dir[0] &&
         nb_registry_load_dir(d->reg, conf->schemas_dir, errstr, errstr_size)) ||
        !(d->codec = nb_codec_new(d->reg, errstr, errstr_size)))
        goto fail;
    d->rec = malloc(sizeof(*d->rec));
    d->audit_rec = malloc(sizeof(*d->audit_rec));
    d->tr = nb_dispatch_tracker_new();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(d->curl = curl_easy_init()) ||
        !d->rec || !d->audit_rec || !d->tr) {
        snprintf(errstr, errstr_size, "no memory (or libcurl could not start)");
        goto fail;
    }
    return d;
fail:
    nb_deliver_destroy(d);
    return NULL;
}

static void nb__job_free(nb__job_t *j)
{
    for (size_t i = 0; i < j->n; i++)
        nb_buf_free(&j->d[i].mail);
    free(j->body);
    free(j);
}

void nb_deliver_destroy(nb_deliver_t *d)
{
    if (!d)
        return;
    nb_group_consumer_destroy(d->gc);
    while (d->head) {
        nb__job_t *j = d->head;
        d->head = j->next;
        nb__job_free(j);
    }
    for (size_t i = 0; i < NB_CONFIG_MAX_ENDPOINTS; i++) {
        if (d->secret[i])
            memset(d->secret[i], 0, d->secret_len[i]);
        free(d->secret[i]);
    }
    if (d->smtp_password) {
        memset(d->smtp_password, 0, strlen(d->smtp_password));
        free(d->smtp_password);
    }
    if (d->curl) {
        curl_easy_cleanup(d->curl);
        curl_global_cleanup();
    }
    nb_dispatch_tracker_destroy(d->tr);
    nb_publisher_destroy(d->audit);
    free(d->audit_rec);
    free(d->rec);
    nb_codec_destroy(d->codec);
    nb_registry_destroy(d->reg);
    free(d);
}

/* The endpoint a target names, or (size_t)-1. */
static size_t nb__endpoint(const nb_dispatch_conf_t *dc, const nb_dispatch_target_t *t)
{
    size_t n = t->channel == NB_DISPATCH_WEBHOOK ? dc->n_webhooks : dc->n_email;
    for (size_t i = 0; i < n; i++) {
        const char *name =
            t->channel == NB_DISPATCH_WEBHOOK ? dc->webhooks[i].name : dc->email[i].name;
        if (strcmp(name, t->endpoint) == 0)
            return i;
    }
    return (size_t)-1;
}

/* Builds the job of a decoded notification: its deliveries, what they send. NULL when it has
 * none (nothing to deliver: finished at once). *err on no memory. */
static nb__job_t *nb__job_new(nb_deliver_t *d, const nb_notification_t *n, const nb_followed_t *rec,
                              int64_t now, nb_err_t *err)
{
    nb_dispatch_target_t t[NB__MAX_TARGETS];
    size_t nt = nb_dispatch_targets(n, d->dc->digests, t, NB__MAX_TARGETS);
    nb__job_t *j = nt ? calloc(1, sizeof(*j)) : NULL;
    *err = nt && !j ? NB_ERR_NOMEM : NB_ERR_OK;
    if (!j)
        return NULL;
    j->partition = rec->partition;
    j->offset = rec->offset;
    snprintf(j->id, sizeof(j->id), "%s", n->notification_id);
    snprintf(j->ref, sizeof(j->ref), "%s", n->reference);
    snprintf(j->key, sizeof(j->key), "%s", n->child_key);
    for (size_t i = 0; i < nt; i++) {
        size_t ep = nb__endpoint(d->dc, &t[i]);
        if (ep == (size_t)-1) {
            NB_LOG(NB_LOG_WARN, "dispatch",
                   "notification %s (%s): route %s:%s names no configured endpoint; not sent",
                   j->id, j->ref, nb_dispatch_channel_name(t[i].channel), t[i].endpoint);
            nb_metrics_add(d->m, NB_M_DISPATCH_SKIPPED, "unknown_endpoint", 1);
            continue;
        }
        nb__delivery_t *dl = &j->d[j->n++];
        dl->t = t[i];
        dl->ep = ep;
        dl->first_ms = dl->next_ms = now;
        if (t[i].channel == NB_DISPATCH_EMAIL) {
            const nb_email_conf_t *m = &d->dc->email[ep];
            *err = nb_dispatch_email(n, d->dc->inbox_url, d->zone, d->dc->smtp_from,
                                     (const char *const *)m->to, m->n_to, now, &dl->mail);
        } else if (!j->body) {
            j->body = nb_dispatch_webhook_body(n, d->dc->inbox_url, d->zone, &j->body_len);
            *err = j->body ? NB_ERR_OK : NB_ERR_NOMEM;
        }
        if (*err)
            break;
    }
    if (*err || j->n == 0) {
        nb__job_free(j);
        return NULL;
    }
    return j;
}

/* Takes one record: a job, or finished at once (nothing to deliver, or not a notification,
 * logged and counted). Errors are the tracker's (no memory). */
NB_NODISCARD static nb_err_t nb__take(nb_deliver_t *d, const nb_followed_t *rec, int64_t now)
{
    char why[256];
    nb_err_t err = nb_dispatch_tracker_add(d->tr, rec->partition, rec->offset, now);
    if (err == NB_ERR_INVALID_ARG)
        return NB_ERR_OK; /* read again after a rebalance while still in hand */
    if (err)
        return err;
    nb__job_t *j = NULL;
    err = nb_codec_decode(d->codec, rec->value, rec->len, NB_RECORD_NOTIFICATION, d->rec, why,
                          sizeof(why));
    if (err) {
        NB_LOG(NB_LOG_ERROR, "dispatch",
               "%s [%d] offset %lld: not a notification (%s: %s); "
               "passed over",
               rec->topic, (int)rec->partition, (long long)rec->offset, nb_err_name(err), why);
        nb_metrics_add(d->m, NB_M_DISPATCH_SKIPPED, "undecodable", 1);
    } else {
        j = nb__job_new(d, &d->rec->u.notif, rec, now, &err);
        if (err)
            return err;
    }
    if (!j) {
        (void)nb_dispatch_tracker_done(d->tr, rec->partition, rec->offset);
        return NB_ERR_OK;
    }
    nb__job_t **tail = &d->head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = j;
    return NB_ERR_OK;
}

/* One attempt of a due delivery; its outcome logged and counted. */
static void nb__attempt(nb_deliver_t *d, nb__job_t *j, nb__delivery_t *dl, int64_t now)
{
    char why[256];
    long code = 0;
    nb_dispatch_verdict_t v;
    const char *kind = nb_dispatch_channel_name(dl->t.channel);
    dl->attempts++;
    if (dl->t.channel == NB_DISPATCH_WEBHOOK)
        v = nb__post_webhook(d->curl, d->dc, &d->dc->webhooks[dl->ep], d->secret[dl->ep],
                             d->secret_len[dl->ep], j->id, j->body, j->body_len, now / 1000, &code,
                             why, sizeof(why));
    else
        v = nb__send_email(d->curl, d->dc, d->smtp_password, &d->dc->email[dl->ep], dl->mail.data,
                           dl->mail.len, &code, why, sizeof(why));
    int64_t after = nb__now_ms();
    if (v == NB_DISPATCH_RETRY) {
        int64_t next = nb_dispatch_next_attempt(&d->backoff, dl->attempts, dl->first_ms, after);
        if (next >= 0) {
            NB_LOG(NB_LOG_WARN, "dispatch",
                   "notification %s (%s) to %s:%s: attempt %d failed (%ld%s%s); again in %lld ms",
                   j->id, j->ref, kind, dl->t.endpoint, dl->attempts, code, why[0] ? ", " : "", why,
                   (long long)(next - after));
            nb_metrics_add(d->m, NB_M_DISPATCH_RETRIES, kind, 1);
            dl->next_ms = next;
            return;
        }
    }
    const char *outcome = v == NB_DISPATCH_DELIVERED ? "delivered"
                          : v == NB_DISPATCH_REFUSED ? "refused"
                                                     : "gave_up";
    NB_LOG(v == NB_DISPATCH_DELIVERED ? NB_LOG_INFO : NB_LOG_ERROR, "dispatch",
           "notification %s (%s) to %s:%s: %s after %d attempt%s (%ld%s%s)", j->id, j->ref, kind,
           dl->t.endpoint, outcome, dl->attempts, dl->attempts == 1 ? "" : "s", code,
           why[0] ? ", " : "", why);
    nb_metrics_add_v(d->m, NB_M_DISPATCH_DELIVERIES, (const char *[]){kind, outcome}, 1);
    nb__audit_delivery(d, j, dl, v, code, after);
    dl->finished = true;
}

/* Attempts what is due, for about NB__TURN_BUDGET_MS (an attempt may take dispatch.timeout_ms):
 * the consumer must be polled well within max.poll.interval.ms, or the group would think it
 * dead while many deliveries to a dead endpoint wait. Returns the earliest time something is
 * due next (now when the budget ran out first; now + 1 s when nothing waits). */
static int64_t nb__attempt_due(nb_deliver_t *d, volatile sig_atomic_t *stop)
{
    int64_t now = nb__now_ms(), next = now + 1000, budget_end = now + NB__TURN_BUDGET_MS;
    for (nb__job_t *j = d->head; j && !*stop; j = j->next) {
        for (size_t i = 0; i < j->n && !*stop; i++) {
            nb__delivery_t *dl = &j->d[i];
            if (dl->finished)
                continue;
            if (dl->next_ms <= now && now >= budget_end)
                return now; /* due, but the consumer comes first */
            if (dl->next_ms <= now) {
                nb__attempt(d, j, dl, now);
                now = nb__now_ms();
            }
            if (!dl->finished && dl->next_ms < next)
                next = dl->next_ms;
        }
    }
    return next;
}

/* Finishes the jobs whose deliveries are all finished, then commits each partition's finished
 * prefix. A commit that fails is logged: the offsets stay uncommitted and are sent again. */
static void nb__finish_and_commit(nb_deliver_t *d)
{
    /* Nothing is committed before its deliveries' audit records are stored: one that was not
     * stops the dispatcher (nb_deliver_run()), and what was not committed is sent again. */
    if (nb_publisher_in_flight(d->audit) && nb_publisher_flush(d->audit, NB__AUDIT_TIMEOUT_MS) &&
        !d->audit_failed)
        d->audit_failed = NB_ERR_TIMEOUT;
    if (d->audit_failed)
        return;
    for (nb__job_t **p = &d->head; *p;) {
        nb__job_t *j = *p;
        bool all = true;
        for (size_t i = 0; i < j->n; i++)
            all = all && j->d[i].finished;
        if (!all) {
            p = &j->next;
            continue;
        }
        (void)nb_dispatch_tracker_done(d->tr, j->partition, j->offset);
        *p = j->next;
        nb__job_free(j);
    }
    int32_t parts[1024];
    size_t n = nb_dispatch_tracker_partitions(d->tr, parts, sizeof(parts) / sizeof(parts[0]));
    for (size_t i = 0; i < n; i++) {
        char why[256];
        int64_t next = nb_dispatch_tracker_take(d->tr, parts[i]);
        if (next >= 0 && nb_group_consumer_commit(d->gc, d->conf->notifications_topic, parts[i],
                                                  next, why, sizeof(why)))
            NB_LOG(NB_LOG_WARN, "dispatch", "%s (sent again after a restart)", why);
    }
}

/* After a rebalance: what is held of a partition no longer assigned is dropped (its new owner
 * reads it again from the last commit). */
static void nb__after_rebalance(nb_deliver_t *d)
{
    int32_t parts[1024];
    size_t n = nb_dispatch_tracker_partitions(d->tr, parts, sizeof(parts) / sizeof(parts[0]));
    for (size_t i = 0; i < n; i++) {
        if (nb_group_consumer_owns(d->gc, d->conf->notifications_topic, parts[i]))
            continue;
        nb_dispatch_tracker_drop(d->tr, parts[i]);
        for (nb__job_t **p = &d->head; *p;) {
            nb__job_t *j = *p;
            if (j->partition != parts[i]) {
                p = &j->next;
                continue;
            }
            *p = j->next;
            nb__job_free(j);
        }
    }
}

static void nb__report(nb_deliver_t *d, int64_t now)
{
    int64_t oldest = nb_dispatch_tracker_oldest(d->tr);
    nb_metrics_set(d->m, NB_M_DISPATCH_PENDING, NULL, (double)nb_dispatch_tracker_open(d->tr));
    nb_metrics_set(d->m, NB_M_DISPATCH_OLDEST, NULL,
                   oldest < 0 ? 0.0 : (double)(now - oldest) / 1000.0);
    nb_metrics_heartbeat(d->m, now);
}

nb_err_t nb_deliver_run(nb_deliver_t *d, volatile sig_atomic_t *stop)
{
    char errstr[512];
    const char *topics[] = {d->conf->notifications_topic};
    if (!d->audit && !(d->audit = nb_publisher_new(d->conf, "dispatch-audit", NB__AUDIT_TIMEOUT_MS,
                                                   nb__audit_stored, errstr, sizeof(errstr)))) {
        NB_LOG(NB_LOG_ERROR, "dispatch", "audit producer: %s", errstr);
        return NB_ERR_KAFKA_FATAL;
    }
    d->gc = nb_group_consumer_new(d->conf, d->group, "dispatch", topics, 1, errstr, sizeof(errstr));
    if (!d->gc) {
        NB_LOG(NB_LOG_ERROR, "dispatch", "consumer: %s", errstr);
        return NB_ERR_KAFKA_FATAL;
    }
    NB_LOG(NB_LOG_INFO, "dispatch", "reading %s in group %s (%zu webhook%s, %zu email endpoint%s)",
           topics[0], d->group, d->dc->n_webhooks, d->dc->n_webhooks == 1 ? "" : "s",
           d->dc->n_email, d->dc->n_email == 1 ? "" : "s");
    nb_metrics_set(d->m, NB_M_READY, NULL, 1);
    nb_err_t err = NB_ERR_OK;
    while (!*stop && !err) {
        int64_t next = nb__attempt_due(d, stop);
        nb__finish_and_commit(d);
        if (d->audit_failed) {
            NB_LOG(NB_LOG_ERROR, "dispatch",
                   "stopping without committing: an audit record of a delivery was not stored, "
                   "so the notifications not committed will be sent (and audited) again");
            err = d->audit_failed;
            break;
        }
        nb_group_consumer_pause(d->gc,
                                nb_dispatch_tracker_open(d->tr) >= (size_t)d->dc->max_pending);
        int64_t now = nb__now_ms();
        int wait = next - now < 200 ? (int)(next - now > 0 ? next - now : 0) : 200;
        for (int k = 0; k < 500 && !*stop && !err; k++) {
            nb_followed_t rec;
            nb_err_t perr = nb_group_consumer_poll(d->gc, k ? 0 : wait, &rec);
            if (nb_group_consumer_generation(d->gc) != d->generation) {
                d->generation = nb_group_consumer_generation(d->gc);
                nb__after_rebalance(d);
            }
            if (perr == NB_ERR_KAFKA_FATAL)
                err = perr;
            if (perr)
                break;
            err = nb__take(d, &rec, nb__now_ms());
        }
        nb__report(d, nb__now_ms());
    }
    nb_metrics_set(d->m, NB_M_READY, NULL, 0);
    if (err && err != NB_ERR_KAFKA_FATAL)
        NB_LOG(NB_LOG_ERROR, "dispatch", "stopped: %s", nb_err_str(err));
    nb_group_consumer_destroy(d->gc); /* leaves the group; nothing unfinished was committed */
    d->gc = NULL;
    return err;
}
