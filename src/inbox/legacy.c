/*
 * notbrought - inbox: audit records as versions before the AuditRecord schema wrote them (JSON,
 * "decision" for the kind), read into the model so that an upgraded inbox still sees who took
 * and closed what before the upgrade (include/notbrought/inbox.h).
 */
#include "inbox/internal.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

static const char *nb__str(json_t *o, const char *key)
{
    json_t *m = json_object_get(o, key);
    return json_is_string(m) ? json_string_value(m) : NULL;
}

static void nb__copy(char *dst, size_t cap, json_t *o, const char *key)
{
    const char *s = nb__str(o, key);
    nb_str_copy(dst, cap, s ? s : "");
}

static int64_t nb__time(json_t *o, const char *key)
{
    int64_t t;
    const char *s = nb__str(o, key);
    return s && nb_parse_time(s, &t) ? t : NB_TIME_NONE;
}

/* The action of a verdict: "intent", "actor", "owner", "target", "close_action", ... */
static void nb__legacy_action(json_t *o, nb_audit_t *a)
{
    json_t *actor = json_object_get(o, "actor"), *owner = json_object_get(o, "owner");
    json_t *target = json_object_get(o, "target");
    a->has_action = true;
    nb__copy(a->action.ack_id, sizeof(a->action.ack_id), o, "ack_id");
    nb_ack_intent_t intent = NB_ACK_INTENT_CLOSE;
    if (nb_ack_intent_parse(nb__str(o, "intent"), &intent))
        a->action.intent = intent;
    a->action.acted_at = a->at;
    if (json_is_object(owner)) {
        nb__copy(a->action.owner_user, sizeof(a->action.owner_user), owner, "user_id");
        nb__copy(a->action.owner_queue, sizeof(a->action.owner_queue), owner, "queue");
    }
    if (json_is_object(target)) {
        nb__copy(a->action.target_queue, sizeof(a->action.target_queue), target, "queue");
        nb__copy(a->action.target_user, sizeof(a->action.target_user), target, "user_id");
    }
    nb_ack_action_t close;
    if (nb_ack_action_parse_any(nb__str(o, "close_action"), &close))
        a->action.close_action = (int)close;
    nb__copy(a->action.closed_by, sizeof(a->action.closed_by), o, "closed_by");
    a->action.closed_at = nb__time(o, "closed_at");
    nb__copy(a->reason, sizeof(a->reason), o, "refused");
    a->respond_by = nb__time(o, "respond_by");
    if (json_is_object(actor)) {
        a->has_actor = true;
        nb__copy(a->actor.user_id, sizeof(a->actor.user_id), actor, "user_id");
        nb__copy(a->actor.queue, sizeof(a->actor.queue), actor, "queue");
    }
}

nb_err_t nb_inbox_audit_legacy(const char *json, size_t len, nb_audit_t *a, char *errstr,
                               size_t errstr_size)
{
    json_error_t jerr;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *decision = o ? nb__str(o, "decision") : NULL;
    if (!decision) {
        snprintf(errstr, errstr_size, "%s",
                 o ? "an audit record without a \"decision\"" : "an audit record that is not JSON");
        json_decref(o);
        return NB_ERR_INVALID_ARG;
    }
    nb_audit_kind_t kind = NB_AUDIT_OTHER;
    if (strcmp(decision, "acknowledged") == 0) /* the oldest close */
        kind = NB_AUDIT_CLOSED;
    else if (!nb_audit_kind_parse(decision, &kind))
        kind = NB_AUDIT_OTHER;
    nb_audit_init(a, kind, nb__time(o, "at"));
    nb__copy(a->child_key, sizeof(a->child_key), o, "child_key");
    nb__copy(a->notification_id, sizeof(a->notification_id), o, "notification_id");
    nb__copy(a->rule_id, sizeof(a->rule_id), o, "rule");
    nb_tier_t tier;
    if (nb_tier_parse(nb__str(o, "tier"), &tier))
        a->tier = (int)tier;
    json_t *level = json_object_get(o, "level");
    a->level = json_is_integer(level) ? (int32_t)json_integer_value(level) : 0;
    json_t *events = json_object_get(o, "events"), *ev;
    size_t i;
    json_array_foreach(events, i, ev)
    {
        if (a->n_evidence < NB_NOTIF_MAX_EVIDENCE && json_is_string(ev))
            nb_str_copy(a->evidence[a->n_evidence++], sizeof(a->evidence[0]),
                        json_string_value(ev));
    }
    if (nb__str(o, "ack_id") || (kind >= NB_AUDIT_TAKEN && kind <= NB_AUDIT_ACTION_UNKNOWN))
        nb__legacy_action(o, a);
    else if (json_is_object(json_object_get(o, "actor"))) { /* a view */
        a->has_actor = true;
        nb__copy(a->actor.user_id, sizeof(a->actor.user_id), json_object_get(o, "actor"),
                 "user_id");
        nb__copy(a->actor.via, sizeof(a->actor.via), o, "via");
    }
    nb_audit_set_id(a, decision, nb__str(o, "ack_id") ? nb__str(o, "ack_id") : a->notification_id,
                    a->at);
    json_decref(o);
    return NB_ERR_OK;
}
