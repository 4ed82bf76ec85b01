/*
 * notbrought - codec: the AuditRecord (schemas/audit_record.avsc) to and from the model's
 * nb_audit_t, with the field readers and writers of map.c and map_write.c.
 *
 * Enumerations the model keeps as numbers (tier, agency, intent, close action) are strings in
 * the record, so that a review reads them without the schema and a later symbol never stops an
 * older reader; a string the model does not know is refused as an unknown symbol.
 */
#include "codec/internal.h"

#include <string.h>

/* ---- reading ------------------------------------------------------------------------------ */

/* An optional string naming a symbol of an enum: *out -1 when null. */
NB_NODISCARD static nb_err_t nb__get_opt_sym(avro_value_t *v, const char *name,
                                             bool (*parse)(const char *, int *), int *out,
                                             nb__xerr_t *x)
{
    char sym[NB_ID_MAX + 1];
    *out = -1;
    if (nb__get_opt_str(v, name, sym, sizeof(sym), NB_TEXT_ID, x))
        return x->err;
    if (sym[0] && !parse(sym, out))
        return nb__xfail(x, NB_ERR_AVRO_ENUM_INDEX, "field '%s%s%s' has an unknown symbol",
                         x->at ? x->at : "", x->at ? "." : "", name);
    return NB_ERR_OK;
}

static bool nb__tier_sym(const char *s, int *out)
{
    nb_tier_t t;
    return nb_tier_parse(s, &t) ? (*out = (int)t, true) : false;
}

static bool nb__agency_sym(const char *s, int *out)
{
    nb_agency_t a;
    return nb_agency_parse(s, &a) ? (*out = (int)a, true) : false;
}

static bool nb__intent_sym(const char *s, int *out)
{
    nb_ack_intent_t i;
    return nb_ack_intent_parse(s, &i) ? (*out = (int)i, true) : false;
}

static bool nb__close_sym(const char *s, int *out)
{
    nb_ack_action_t a;
    return nb_ack_action_parse(s, &a) ? (*out = (int)a, true) : false;
}

NB_NODISCARD static nb_err_t nb__x_audit_lists(avro_value_t *v, nb_audit_t *a, nb__xerr_t *x)
{
    avro_value_t arr, item;
    if (nb__array(v, "evidence", NB_NOTIF_MAX_EVIDENCE, &arr, &a->n_evidence, x))
        return x->err;
    for (size_t i = 0; i < a->n_evidence; i++)
        if (avro_value_get_by_index(&arr, i, &item, NULL))
            return nb__xfail(x, NB_ERR_AVRO_DECODE, "field 'evidence' is not an array");
        else if (nb__get_strv(&item, "evidence", a->evidence[i], sizeof(a->evidence[i]), NB_TEXT_ID,
                              x))
            return x->err;
    if (nb__array(v, "recipients", NB_NOTIF_MAX_RECIPIENTS, &arr, &a->n_recipients, x))
        return x->err;
    x->at = "recipients";
    for (size_t i = 0; i < a->n_recipients; i++) {
        if (avro_value_get_by_index(&arr, i, &item, NULL))
            return nb__xfail(x, NB_ERR_AVRO_DECODE, "field 'recipients' is not an array");
        if (nb__get_str(&item, "role", a->recipients[i].role, sizeof(a->recipients[i].role),
                        NB_TEXT_ID, x) ||
            nb__get_str(&item, "route", a->recipients[i].route, sizeof(a->recipients[i].route),
                        NB_TEXT_ID, x))
            return x->err;
    }
    x->at = NULL;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__x_audit_event(avro_value_t *e, nb_audit_t *a, nb__xerr_t *x)
{
    char rt[16];
    x->at = "event";
    if (nb__get_str(e, "event_id", a->event.event_id, sizeof(a->event.event_id), NB_TEXT_ID, x) ||
        nb__get_str(e, "record_type", rt, sizeof(rt), NB_TEXT_ID, x) ||
        nb__get_opt_str(e, "appointment_id", a->event.appointment_id,
                        sizeof(a->event.appointment_id), NB_TEXT_ID, x) ||
        nb__get_opt_str(e, "appointment_type", a->event.appointment_type,
                        sizeof(a->event.appointment_type), NB_TEXT_ID, x) ||
        nb__get_str(e, "status", a->event.status, sizeof(a->event.status), NB_TEXT_ID, x) ||
        nb__get_opt_long(e, "scheduled_start", &a->event.scheduled_start, x) ||
        nb__get_opt_long(e, "recorded_at", &a->event.recorded_at, x) ||
        nb__get_int(e, "version", &a->event.version, x) ||
        nb__get_str(e, "source_system", a->event.source_system, sizeof(a->event.source_system),
                    NB_TEXT_ID, x) ||
        nb__get_bool(e, "nhs_number_known", &a->event.nhs_number_known, x))
        return x->err;
    if (strcmp(rt, "appointment") != 0 && strcmp(rt, "context") != 0)
        return nb__xfail(x, NB_ERR_AVRO_ENUM_INDEX,
                         "field 'event.record_type' is neither "
                         "appointment nor context");
    a->event.context = rt[0] == 'c';
    x->at = NULL;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__x_audit_action(avro_value_t *c, nb_audit_t *a, nb__xerr_t *x)
{
    int intent;
    x->at = "action";
    if (nb__get_str(c, "ack_id", a->action.ack_id, sizeof(a->action.ack_id), NB_TEXT_ID, x) ||
        nb__get_opt_sym(c, "intent", nb__intent_sym, &intent, x) ||
        nb__get_long(c, "acted_at", &a->action.acted_at, x) ||
        nb__get_opt_str(c, "owner_user", a->action.owner_user, sizeof(a->action.owner_user),
                        NB_TEXT_ID, x) ||
        nb__get_opt_str(c, "owner_queue", a->action.owner_queue, sizeof(a->action.owner_queue),
                        NB_TEXT_ID, x) ||
        nb__get_opt_str(c, "target_queue", a->action.target_queue, sizeof(a->action.target_queue),
                        NB_TEXT_ID, x) ||
        nb__get_opt_str(c, "target_user", a->action.target_user, sizeof(a->action.target_user),
                        NB_TEXT_ID, x) ||
        nb__get_opt_sym(c, "close_action", nb__close_sym, &a->action.close_action, x) ||
        nb__get_opt_str(c, "closed_by", a->action.closed_by, sizeof(a->action.closed_by),
                        NB_TEXT_ID, x) ||
        nb__get_opt_long(c, "closed_at", &a->action.closed_at, x))
        return x->err;
    if (intent < 0)
        return nb__xfail(x, NB_ERR_AVRO_ENUM_INDEX, "field 'action.intent' is missing");
    a->action.intent = (nb_ack_intent_t)intent;
    x->at = NULL;
    return NB_ERR_OK;
}

/* The optional nested records: actor, delivery, policy. */
NB_NODISCARD static nb_err_t nb__x_audit_who(avro_value_t *v, nb_audit_t *a, nb__xerr_t *x)
{
    avro_value_t r;
    if (nb__optional(v, "actor", &r, &a->has_actor, x))
        return x->err;
    x->at = "actor";
    if (a->has_actor &&
        (nb__get_str(&r, "user_id", a->actor.user_id, sizeof(a->actor.user_id), NB_TEXT_ID, x) ||
         nb__get_opt_str(&r, "queue", a->actor.queue, sizeof(a->actor.queue), NB_TEXT_ID, x) ||
         nb__get_opt_str(&r, "via", a->actor.via, sizeof(a->actor.via), NB_TEXT_ID, x)))
        return x->err;
    x->at = NULL;
    if (nb__optional(v, "delivery", &r, &a->has_delivery, x))
        return x->err;
    x->at = "delivery";
    if (a->has_delivery &&
        (nb__get_str(&r, "channel", a->delivery.channel, sizeof(a->delivery.channel), NB_TEXT_ID,
                     x) ||
         nb__get_str(&r, "route", a->delivery.route, sizeof(a->delivery.route), NB_TEXT_ID, x) ||
         nb__get_int(&r, "attempt", &a->delivery.attempt, x)))
        return x->err;
    x->at = NULL;
    if (nb__get_opt_str(v, "subject", a->subject, sizeof(a->subject), NB_TEXT_FREE, x) ||
        nb__optional(v, "policy", &r, &a->has_policy, x))
        return x->err;
    x->at = "policy";
    if (a->has_policy &&
        (nb__get_str(&r, "name", a->policy.name, sizeof(a->policy.name), NB_TEXT_ID, x) ||
         nb__get_str(&r, "version", a->policy.version, sizeof(a->policy.version), NB_TEXT_ID, x) ||
         nb__get_str(&r, "hash", a->policy.hash, sizeof(a->policy.hash), NB_TEXT_ID, x)))
        return x->err;
    x->at = NULL;
    return NB_ERR_OK;
}

nb_err_t nb__x_audit(avro_value_t *v, nb_audit_t *a, nb__xerr_t *x)
{
    avro_value_t r;
    int kind;
    x->at = NULL;
    if (nb__get_str(v, "audit_id", a->audit_id, sizeof(a->audit_id), NB_TEXT_ID, x) ||
        nb__get_enum(v, "kind", NB_AUDIT__COUNT, &kind, x) || nb__get_long(v, "at", &a->at, x) ||
        nb__get_str(v, "child_key", a->child_key, sizeof(a->child_key), NB_TEXT_ID, x) ||
        nb__get_opt_str(v, "notification_id", a->notification_id, sizeof(a->notification_id),
                        NB_TEXT_ID, x) ||
        nb__get_opt_str(v, "reference", a->reference, sizeof(a->reference), NB_TEXT_ID, x) ||
        nb__get_opt_str(v, "rule", a->rule_id, sizeof(a->rule_id), NB_TEXT_ID, x) ||
        nb__get_opt_sym(v, "tier", nb__tier_sym, &a->tier, x) ||
        nb__get_int(v, "level", &a->level, x) ||
        nb__get_opt_sym(v, "agency", nb__agency_sym, &a->agency, x) ||
        nb__get_opt_str(v, "organisation", a->organisation, sizeof(a->organisation), NB_TEXT_ID,
                        x) ||
        nb__x_audit_lists(v, a, x) || nb__get_opt_long(v, "respond_by", &a->respond_by, x) ||
        nb__get_opt_str(v, "reason", a->reason, sizeof(a->reason), NB_TEXT_FREE, x))
        return x->err;
    a->kind = (nb_audit_kind_t)kind;
    if (nb__optional(v, "event", &r, &a->has_event, x) ||
        (a->has_event && nb__x_audit_event(&r, a, x)) ||
        nb__optional(v, "action", &r, &a->has_action, x) ||
        (a->has_action && nb__x_audit_action(&r, a, x)))
        return x->err;
    return nb__x_audit_who(v, a, x);
}

/* ---- writing ------------------------------------------------------------------------------ */

NB_NODISCARD static nb_err_t nb__f_audit_lists(const nb_audit_t *a, avro_value_t *v, nb__xerr_t *x)
{
    avro_value_t arr, item;
    if (nb__append(v, "evidence", a->n_evidence, NB_NOTIF_MAX_EVIDENCE, &arr, x))
        return x->err;
    for (size_t i = 0; i < a->n_evidence; i++)
        if (avro_value_append(&arr, &item, NULL) ||
            avro_value_set_string_len(&item, a->evidence[i], strlen(a->evidence[i]) + 1))
            return nb__xfail(x, NB_ERR_AVRO_ENCODE, "evidence: %s", avro_strerror());
    if (nb__append(v, "recipients", a->n_recipients, NB_NOTIF_MAX_RECIPIENTS, &arr, x))
        return x->err;
    for (size_t i = 0; i < a->n_recipients; i++) {
        if (avro_value_append(&arr, &item, NULL))
            return nb__xfail(x, NB_ERR_AVRO_ENCODE, "recipients: %s", avro_strerror());
        if (nb__set_str(&item, "role", a->recipients[i].role, x) ||
            nb__set_str(&item, "route", a->recipients[i].route, x))
            return x->err;
    }
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__f_audit_event(const nb_audit_t *a, avro_value_t *v, nb__xerr_t *x)
{
    avro_value_t e;
    if (nb__set_branch(v, "event", a->has_event, &e, x) || !a->has_event)
        return x->err;
    if (nb__set_str(&e, "event_id", a->event.event_id, x) ||
        nb__set_str(&e, "record_type", a->event.context ? "context" : "appointment", x) ||
        nb__set_opt_str(&e, "appointment_id", a->event.appointment_id, x) ||
        nb__set_opt_str(&e, "appointment_type", a->event.appointment_type, x) ||
        nb__set_str(&e, "status", a->event.status, x) ||
        nb__set_opt_long(&e, "scheduled_start", a->event.scheduled_start, x) ||
        nb__set_opt_long(&e, "recorded_at", a->event.recorded_at, x) ||
        nb__set_int(&e, "version", a->event.version, x) ||
        nb__set_str(&e, "source_system", a->event.source_system, x) ||
        nb__set_bool(&e, "nhs_number_known", a->event.nhs_number_known, x))
        return x->err;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__f_audit_action(const nb_audit_t *a, avro_value_t *v, nb__xerr_t *x)
{
    avro_value_t c;
    if (nb__set_branch(v, "action", a->has_action, &c, x) || !a->has_action)
        return x->err;
    const char *close = a->action.close_action >= 0
                            ? nb_ack_action_name((nb_ack_action_t)a->action.close_action)
                            : "";
    if (nb__set_str(&c, "ack_id", a->action.ack_id, x) ||
        nb__set_str(&c, "intent", nb_ack_intent_name(a->action.intent), x) ||
        nb__set_long(&c, "acted_at", a->action.acted_at, x) ||
        nb__set_opt_str(&c, "owner_user", a->action.owner_user, x) ||
        nb__set_opt_str(&c, "owner_queue", a->action.owner_queue, x) ||
        nb__set_opt_str(&c, "target_queue", a->action.target_queue, x) ||
        nb__set_opt_str(&c, "target_user", a->action.target_user, x) ||
        nb__set_opt_str(&c, "close_action", close, x) ||
        nb__set_opt_str(&c, "closed_by", a->action.closed_by, x) ||
        nb__set_opt_long(&c, "closed_at", a->action.closed_at, x))
        return x->err;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__f_audit_who(const nb_audit_t *a, avro_value_t *v, nb__xerr_t *x)
{
    avro_value_t r;
    if (nb__set_branch(v, "actor", a->has_actor, &r, x) ||
        (a->has_actor && (nb__set_str(&r, "user_id", a->actor.user_id, x) ||
                          nb__set_opt_str(&r, "queue", a->actor.queue, x) ||
                          nb__set_opt_str(&r, "via", a->actor.via, x))) ||
        nb__set_branch(v, "delivery", a->has_delivery, &r, x) ||
        (a->has_delivery && (nb__set_str(&r, "channel", a->delivery.channel, x) ||
                             nb__set_str(&r, "route", a->delivery.route, x) ||
                             nb__set_int(&r, "attempt", a->delivery.attempt, x))) ||
        nb__set_opt_str(v, "subject", a->subject, x) ||
        nb__set_branch(v, "policy", a->has_policy, &r, x) ||
        (a->has_policy && (nb__set_str(&r, "name", a->policy.name, x) ||
                           nb__set_str(&r, "version", a->policy.version, x) ||
                           nb__set_str(&r, "hash", a->policy.hash, x))))
        return x->err;
    return NB_ERR_OK;
}

nb_err_t nb__f_audit(const nb_audit_t *a, avro_value_t *v, nb__xerr_t *x)
{
    const char *tier = a->tier >= 0 ? nb_tier_name((nb_tier_t)a->tier) : "";
    const char *agency = a->agency >= 0 ? nb_agency_name((nb_agency_t)a->agency) : "";
    if ((unsigned)a->kind >= NB_AUDIT__COUNT)
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "kind: not an audit kind");
    if (nb__set_str(v, "audit_id", a->audit_id, x) ||
        nb__set_enum(v, "kind", (int)a->kind, NB_AUDIT__COUNT, x) ||
        nb__set_long(v, "at", a->at, x) || nb__set_str(v, "child_key", a->child_key, x) ||
        nb__set_opt_str(v, "notification_id", a->notification_id, x) ||
        nb__set_opt_str(v, "reference", a->reference, x) ||
        nb__set_opt_str(v, "rule", a->rule_id, x) || nb__set_opt_str(v, "tier", tier, x) ||
        nb__set_int(v, "level", a->level, x) || nb__set_opt_str(v, "agency", agency, x) ||
        nb__set_opt_str(v, "organisation", a->organisation, x) || nb__f_audit_lists(a, v, x) ||
        nb__set_opt_long(v, "respond_by", a->respond_by, x) ||
        nb__set_opt_str(v, "reason", a->reason, x) || nb__f_audit_event(a, v, x) ||
        nb__f_audit_action(a, v, x) || nb__f_audit_who(a, v, x))
        return x->err;
    return NB_ERR_OK;
}
