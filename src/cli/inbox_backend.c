/*
 * notbrought inbox: what the web server asks of Kafka (nb_web_backend_t). A notification's
 * whole record is read back by partition and offset for its page; every view of a page is
 * recorded on the audit topic (keyed by the child, as the daemon's audit records are) and the
 * page is shown only once Kafka has the record. Both run on the server's one thread: the
 * publisher is made there, on first use, and belongs to it.
 */
#include "cli/inbox_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/codec.h"
#include "notbrought/stream.h"

#define NB__BACKEND_TIMEOUT_MS 10000

static void nb__delivered(void *opaque, nb_err_t err, const char *reason)
{
    nb__inbox_backend_t *be = opaque;
    be->done = true;
    be->result = err;
    if (err)
        NB_LOG(NB_LOG_WARN, "inbox", "a record was not stored: %s: %s", nb_err_name(err), reason);
}

NB_NODISCARD static nb_err_t nb__fetch(void *opaque, nb_inbox_where_t where, nb_notification_t *out)
{
    nb__inbox_backend_t *be = opaque;
    char errstr[256];
    nb_buf_t value = {0};
    nb_err_t err =
        nb_stream_fetch(be->conf, be->conf->notifications_topic, where.partition, where.offset,
                        NB__BACKEND_TIMEOUT_MS, &value, errstr, sizeof(errstr));
    if (!err) {
        err = nb_codec_decode(be->codec, value.data, value.len, NB_RECORD_NOTIFICATION, be->rec,
                              errstr, sizeof(errstr));
        if (!err)
            *out = be->rec->u.notif;
    }
    if (err) /* where, and the kind of fault: never the record */
        NB_LOG(NB_LOG_WARN, "inbox", "%s [%d] offset %lld: not read for a page: %s",
               be->conf->notifications_topic, (int)where.partition, (long long)where.offset,
               nb_err_name(err));
    nb_buf_free(&value);
    return err;
}

/* Publishes one record keyed by the child and waits for Kafka's acknowledgement (the
 * delivery timeout bounds the wait): the page answers only once it is stored. */
NB_NODISCARD static nb_err_t nb__store(nb__inbox_backend_t *be, const char *topic,
                                       const char *child_key, const void *value, size_t len)
{
    char errstr[256];
    if (!be->pub && !(be->pub = nb_publisher_new(be->conf, "inbox", NB__BACKEND_TIMEOUT_MS,
                                                 nb__delivered, errstr, sizeof(errstr)))) {
        NB_LOG(NB_LOG_WARN, "inbox", "no producer: %s", errstr);
        return NB_ERR_KAFKA;
    }
    be->done = false;
    be->result = NB_ERR_OK;
    nb_err_t err = nb_publisher_publish(be->pub, topic, child_key, strlen(child_key), value, len,
                                        NULL, 0, be, errstr, sizeof(errstr));
    if (err) {
        NB_LOG(NB_LOG_WARN, "inbox", "a record for %s was not queued: %s", topic, errstr);
        return err;
    }
    while (!be->done)
        nb_publisher_poll(be->pub, 100);
    return be->result;
}

/* A person's action as a NotificationAck (version 2) on topics.acks, keyed by the child so
 * that it reaches the partition that owns the child, in order with the child's events. */
NB_NODISCARD static nb_err_t nb__act(void *opaque, const nb_ack_t *ack, const char *child_key,
                                     char *errstr, size_t errstr_size)
{
    nb__inbox_backend_t *be = opaque;
    nb_validate_opts_t opts;
    nb_validate_opts_default(&opts);
    memset(be->rec, 0, sizeof(*be->rec));
    be->rec->type = NB_RECORD_ACK;
    be->rec->u.ack = *ack;
    /* What the daemon would refuse is a form error here, where the person can correct it. */
    if (nb_codec_validate(be->rec, &opts, nb__cli_now(), errstr, errstr_size))
        return NB_ERR_INVALID_ARG;
    nb_buf_t value = {0};
    nb_err_t err = nb_codec_encode(be->codec, be->rec, &value, errstr, errstr_size);
    if (!err)
        err = nb__store(be, be->conf->acks_topic, child_key, value.data, value.len);
    nb_buf_free(&value);
    if (err)
        NB_LOG(NB_LOG_WARN, "inbox", "the %s %s of %s was not stored: %s",
               nb_ack_intent_name(ack->intent), ack->ack_id, ack->notification_id,
               nb_err_name(err));
    else
        NB_LOG(NB_LOG_INFO, "inbox", "stored the %s %s of %s", nb_ack_intent_name(ack->intent),
               ack->ack_id, ack->notification_id);
    return err == NB_ERR_INVALID_ARG ? NB_ERR_KAFKA : err; /* not the person's to correct */
}

NB_NODISCARD static nb_err_t nb__access(void *opaque, const char *what, const char *user_id,
                                        const char *notification_id, const char *child_key)
{
    nb__inbox_backend_t *be = opaque;
    int64_t now = nb__cli_now();
    nb_audit_kind_t kind = NB_AUDIT_VIEWED;
    if (!nb_audit_kind_parse(what, &kind))
        kind = NB_AUDIT_OTHER;
    memset(be->rec, 0, sizeof(*be->rec));
    be->rec->type = NB_RECORD_AUDIT;
    nb_audit_t *a = &be->rec->u.audit;
    nb_audit_init(a, kind, now);
    nb_str_copy(a->child_key, sizeof(a->child_key), child_key);
    nb_str_copy(a->notification_id, sizeof(a->notification_id), notification_id);
    a->has_actor = true;
    nb_str_copy(a->actor.user_id, sizeof(a->actor.user_id), user_id);
    nb_str_copy(a->actor.via, sizeof(a->actor.via), be->conf->instance_id);
    nb_str_copy(a->subject, sizeof(a->subject), "the notification's page");
    nb_audit_set_id(a, notification_id, user_id, now);
    char errstr[256];
    nb_buf_t value = {0};
    nb_err_t err = nb_codec_encode(be->codec, be->rec, &value, errstr, sizeof(errstr));
    /* The page waits for Kafka: an access is recorded before it is shown. */
    if (!err)
        err = nb__store(be, be->conf->audit_topic, child_key, value.data, value.len);
    else
        NB_LOG(NB_LOG_WARN, "inbox", "an access record could not be encoded: %s", nb_err_name(err));
    nb_buf_free(&value);
    return err;
}

/* The roles a notification of @p rule_id would reach at level + 1 that it has not reached at
 * @p level: the next rung's, by title. */
NB_NODISCARD static nb_err_t nb__next_step(void *opaque, const char *rule_id, int level, char *out,
                                           size_t size)
{
    nb__inbox_backend_t *be = opaque;
    const nb_policy_rule_info_t *rule = be->pol ? nb_policy_rule_find(be->pol, rule_id) : NULL;
    if (!rule)
        return NB_ERR_INVALID_ARG;
    const nb_policy_role_t *now[NB_NOTIF_MAX_RECIPIENTS * 4], *next[NB_NOTIF_MAX_RECIPIENTS * 4];
    size_t n_now =
        nb_policy_rule_recipients(be->pol, rule, level, now, NB_NOTIF_MAX_RECIPIENTS * 4);
    size_t n_next =
        nb_policy_rule_recipients(be->pol, rule, level + 1, next, NB_NOTIF_MAX_RECIPIENTS * 4);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n_next; i++) {
        bool told = false;
        for (size_t k = 0; k < n_now && !told; k++)
            told = now[k] == next[i];
        if (told)
            continue;
        int w = snprintf(out + used, size - used, "%s%s", used ? "; " : "",
                         next[i]->title && next[i]->title[0] ? next[i]->title : next[i]->id);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
    return used ? NB_ERR_OK : NB_ERR_NOT_FOUND;
}

/* may_reassign_owned of the ownership block the daemon applies to notifications of the
 * item's rule, matched by the queue's route as the daemon matches it. */
static bool nb__may_reassign(void *opaque, const nb_inbox_item_t *it, const char *queue)
{
    nb__inbox_backend_t *be = opaque;
    const nb_policy_rule_info_t *rule = be->pol ? nb_policy_rule_find(be->pol, it->rule_id) : NULL;
    return rule &&
           nb_policy_ownership_may_reassign(nb_policy_ownership(be->pol, rule->hash), queue);
}

nb_err_t nb__inbox_backend_init(nb__inbox_backend_t *be, const nb_config_t *conf)
{
    memset(be, 0, sizeof(*be));
    be->conf = conf;
    if (nb__cli_codec(&be->reg, &be->codec) != 0)
        return NB_ERR_CONFIG;
    if (!(be->rec = calloc(1, sizeof(*be->rec)))) {
        nb__inbox_backend_free(be);
        return NB_ERR_NOMEM;
    }
    be->web.opaque = be;
    be->web.fetch = nb__fetch;
    be->web.access = nb__access;
    be->web.act = nb__act;
    char errstr[512];
    if (conf->n_policy_files &&
        nb_policy_load((const char *const *)conf->policy_files, conf->n_policy_files, NULL, NULL,
                       &be->pol, errstr, sizeof(errstr)) == NB_ERR_OK) {
        be->web.next_step = nb__next_step;
        be->web.may_reassign = nb__may_reassign;
    } else if (conf->n_policy_files) /* the pages say "the next step" without naming it */
        NB_LOG(NB_LOG_WARN, "inbox",
               "the policy could not be loaded, so pages do not say who "
               "is told next: %s",
               errstr);
    return NB_ERR_OK;
}

void nb__inbox_backend_free(nb__inbox_backend_t *be)
{
    if (be->pub) {
        NB_IGNORE(nb_publisher_flush(be->pub, 5000)); /* every access was waited for already */
        nb_publisher_destroy(be->pub);
    }
    nb_policy_destroy(be->pol);
    nb__cli_codec_free(be->reg, be->codec);
    free(be->rec);
    memset(be, 0, sizeof(*be));
}
