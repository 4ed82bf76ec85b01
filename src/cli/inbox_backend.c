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

static void nb__role_out(nb_recipient_t *out, const nb_policy_role_t *role)
{
    nb_str_copy(out->role, sizeof(out->role), role->id);
    nb_str_copy(out->title, sizeof(out->title), role->title ? role->title : "");
    nb_str_copy(out->route, sizeof(out->route), role->route ? role->route : "");
}

nb_err_t nb__inbox_ladder(const nb_policy_t *pol, const nb_inbox_item_t *it, nb_web_ladder_t *out)
{
    memset(out, 0, sizeof(*out));
    const nb_policy_info_t *info = nb_policy_info(pol);
    nb_str_copy(out->policy_name, sizeof(out->policy_name), info->name ? info->name : "");
    nb_str_copy(out->policy_version, sizeof(out->policy_version),
                info->version ? info->version : "");
    nb_str_copy(out->policy_hash, sizeof(out->policy_hash), info->hash ? info->hash : "");
    const nb_policy_rule_info_t *rule = nb_policy_rule_find(pol, it->rule_id);
    if (!rule)
        return NB_ERR_NOT_FOUND;
    /* The daemon's own reading (nb_policy_ladder() makes its decisions' rungs): the tier and
     * respond-by the notification was raised with, from when it was raised. */
    nb_policy_ladder_t l;
    nb_err_t err =
        nb_policy_ladder(pol, rule, it->raised_tier, it->created_at, it->raised_respond_by, &l);
    if (err)
        return err;
    nb_str_copy(out->id, sizeof(out->id), l.id ? l.id : "");
    nb_str_copy(out->title, sizeof(out->title), l.title ? l.title : "");
    out->of_tier = l.of_tier;
    out->rule_tier = l.rule_tier;
    out->tier = it->raised_tier;
    out->stops_on_take = l.ownership->stops_on_take;
    /* Who was told before each rung: the rule's recipients, then each rung's. */
    const nb_policy_role_t *told[NB_NOTIF_MAX_RECIPIENTS * (NB_POLICY_MAX_RUNGS + 1)];
    size_t n_told = nb_policy_rule_recipients(pol, rule, 0, told, NB_NOTIF_MAX_RECIPIENTS);
    for (size_t i = 0; i < l.n_rungs && i < NB_WEB_LADDER_RUNGS; i++) {
        const nb_policy_rung_t *g = &l.rungs[i];
        nb_web_rung_t *o = &out->rungs[out->n_rungs++];
        o->due = g->due;
        o->tier = g->tier;
        o->early = g->early;
        for (size_t k = 0; k < g->n_roles && k < NB_NOTIF_MAX_RECIPIENTS; k++) {
            nb__role_out(&o->roles[o->n_roles], g->roles[k]);
            for (size_t j = 0; j < n_told && !o->again[o->n_roles]; j++)
                o->again[o->n_roles] = told[j] == g->roles[k];
            o->n_roles++;
        }
        for (size_t k = 0; k < g->n_roles; k++)
            if (n_told < sizeof(told) / sizeof(told[0]))
                told[n_told++] = g->roles[k];
    }
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__ladder(void *opaque, const nb_inbox_item_t *it,
                                        nb_web_ladder_t *out)
{
    nb__inbox_backend_t *be = opaque;
    return nb__inbox_ladder(be->pol, it, out);
}

/* may_reassign_owned of the ownership block the daemon applies to notifications of the
 * item's rule, matched by the queue's route as the daemon matches it. */
static bool nb__may_reassign(void *opaque, const nb_inbox_item_t *it, const char *queue)
{
    nb__inbox_backend_t *be = opaque;
    const nb_policy_rule_info_t *rule = be->pol ? nb_policy_rule_find(be->pol, it->rule_id) : NULL;
    return rule && nb_policy_ownership_may_reassign(
                       nb_policy_ownership_at(be->pol, rule->hash, it->raised_tier), queue);
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
        be->web.ladder = nb__ladder;
        be->web.may_reassign = nb__may_reassign;
    } else if (conf->n_policy_files) /* the pages say the ladder cannot be shown */
        NB_LOG(NB_LOG_WARN, "inbox",
               "the policy could not be loaded, so pages do not show the escalation "
               "ladder: %s",
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
