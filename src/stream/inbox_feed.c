/*
 * notbrought - stream: the inbox's view fed from the topics (docs/inbox.md §2). A thread of
 * its own follows the notifications and audit topics (nb_follower_t), decodes each record and
 * applies it to the view under the caller's lock; the pages read the view under the same
 * lock. A record the view cannot take is logged (where it is and why, never its content),
 * counted and passed over: one bad record must not keep every nurse from the inbox.
 */
#include "stream/internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/inbox.h"
#include "notbrought/ops.h"

struct nb_inbox_feed_s {
    const nb_config_t *conf;
    nb_inbox_t *view;
    pthread_mutex_t *lock;
    nb_registry_t *reg;
    nb_codec_t *codec;
    nb_follower_t *follower;
    nb_record_t *rec; /* large: one, reused */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_bool caught_up;
    atomic_size_t applied, refused;
};

/* One record into the view. Never fails the poll: a refusal is counted and logged. */
NB_NODISCARD static nb_err_t nb__feed_record(void *opaque, const nb_followed_t *r)
{
    nb_inbox_feed_t *f = opaque;
    char errstr[256] = "";
    nb_err_t err;
    bool is_audit = strcmp(r->topic, f->conf->audit_topic) == 0;
    if (is_audit) {
        err = nb_stream_audit_decode(f->codec, r->value, r->len, f->rec, errstr, sizeof(errstr));
        if (!err) {
            pthread_mutex_lock(f->lock);
            err = nb_inbox_audit(f->view, &f->rec->u.audit, errstr, sizeof(errstr));
            pthread_mutex_unlock(f->lock);
        }
    } else {
        err = nb_codec_decode(f->codec, r->value, r->len, NB_RECORD_NOTIFICATION, f->rec, errstr,
                              sizeof(errstr));
        if (!err) {
            nb_inbox_where_t at = {r->partition, r->offset};
            pthread_mutex_lock(f->lock);
            err = nb_inbox_notification(f->view, &f->rec->u.notif, at);
            pthread_mutex_unlock(f->lock);
        }
    }
    if (err == NB_ERR_NOMEM)
        return err; /* the view is not whole: the caller stops */
    if (err) {
        atomic_fetch_add(&f->refused, 1);
        /* Where it is and what kind of fault: a decoder's text may quote the record. */
        NB_LOG(NB_LOG_WARN, "inbox", "%s [%d] offset %lld: not in the view: %s", r->topic,
               (int)r->partition, (long long)r->offset,
               is_audit ? "not an audit record the view reads" : nb_err_name(err));
    } else {
        atomic_fetch_add(&f->applied, 1);
    }
    return NB_ERR_OK;
}

static void *nb__feed_main(void *arg)
{
    nb_inbox_feed_t *f = arg;
    char errstr[256];
    while (!atomic_load(&f->stop)) {
        nb_err_t err =
            nb_follower_poll(f->follower, 200, nb__feed_record, f, NULL, errstr, sizeof(errstr));
        if (err) {
            NB_LOG(NB_LOG_ERROR, "inbox", "the view stopped being fed: %s: %s", nb_err_name(err),
                   errstr);
            break;
        }
        if (!atomic_load(&f->caught_up) && nb_follower_caught_up(f->follower)) {
            atomic_store(&f->caught_up, true);
            NB_LOG(NB_LOG_INFO, "inbox", "the view has read the topics to their end (%zu records)",
                   atomic_load(&f->applied));
        }
    }
    return NULL;
}

nb_inbox_feed_t *nb_inbox_feed_start(const nb_config_t *conf, nb_inbox_t *view,
                                     pthread_mutex_t *lock, char *errstr, size_t errstr_size)
{
    nb_inbox_feed_t *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(errstr, errstr_size, "no memory");
        return NULL;
    }
    f->conf = conf;
    f->view = view;
    f->lock = lock;
    const char *topics[2] = {conf->notifications_topic, conf->audit_topic};
    f->rec = calloc(1, sizeof(*f->rec));
    f->reg = nb_registry_new();
    if (!f->rec || !f->reg || nb_registry_add_builtin(f->reg, errstr, errstr_size) ||
        !(f->codec = nb_codec_new(f->reg, errstr, errstr_size)) ||
        !(f->follower = nb_follower_new(conf, topics, 2, errstr, errstr_size))) {
        if (!f->rec || !f->reg)
            snprintf(errstr, errstr_size, "no memory");
        nb_inbox_feed_stop(f);
        return NULL;
    }
    if (nb_thread_create(&f->thread, nb__feed_main, f) != 0) {
        snprintf(errstr, errstr_size, "cannot start the thread that feeds the view");
        nb_inbox_feed_stop(f);
        return NULL;
    }
    f->started = true;
    return f;
}

bool nb_inbox_feed_caught_up(const nb_inbox_feed_t *f)
{
    return atomic_load(&((nb_inbox_feed_t *)f)->caught_up);
}

void nb_inbox_feed_counts(const nb_inbox_feed_t *f, size_t *applied, size_t *refused)
{
    nb_inbox_feed_t *m = (nb_inbox_feed_t *)f;
    *applied = atomic_load(&m->applied);
    *refused = atomic_load(&m->refused);
}

void nb_inbox_feed_stop(nb_inbox_feed_t *f)
{
    if (!f)
        return;
    atomic_store(&f->stop, true);
    if (f->started)
        pthread_join(f->thread, NULL);
    nb_follower_destroy(f->follower);
    nb_codec_destroy(f->codec);
    nb_registry_destroy(f->reg);
    free(f->rec);
    free(f);
}
