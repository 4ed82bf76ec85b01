/*
 * notbrought - cli: records as JSON (jansson), with dates and times in ISO 8601 and enums as
 * their symbols, for people and integration engines.
 *
 * Every string of a record goes through nb__s(): jansson refuses text that is not UTF-8
 * (json_string() gives NULL, and a json_pack() holding one fails whole, so a record or its
 * evidence used to vanish from the output). The codec refuses such text at the door; records
 * built elsewhere still print, with the bad bytes shown as \xNN.
 */
#include "cli/commands.h"

#include <string.h>

static json_t *nb__date(int32_t d)
{
    char buf[16];
    if (d == NB_DATE_NONE)
        return json_null();
    nb_format_date(d, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *nb__time(int64_t t)
{
    char buf[32];
    if (t == NB_TIME_NONE)
        return json_null();
    nb_format_time(t, buf, sizeof(buf));
    return json_string(buf);
}

/* A string of a record as JSON (see the top of the file). Never NULL but out of memory. */
static json_t *nb__s(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char buf[NB_TEXT_ESCAPED_MAX(NB_TEXT_MAX)];
    return json_string(nb_text_escape(buf, sizeof(buf), s));
}

static json_t *nb__opt(const char *s)
{
    return s[0] ? nb__s(s) : json_null();
}

static json_t *nb__ident(const nb_identifier_t *id)
{
    if (!nb_identifier_present(id))
        return json_null();
    return json_pack("{s:o, s:o}", "system", nb__s(id->system), "value", nb__s(id->value));
}

static json_t *nb__source(const nb_source_t *s)
{
    return json_pack("{s:s, s:o, s:o}", "agency", nb_agency_name(s->agency), "system",
                     nb__s(s->system), "organisation_code", nb__s(s->organisation_code));
}

static json_t *nb__link(const nb_identity_link_t *l)
{
    return json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:o}", "event_id", nb__s(l->event_id),
                     "kind", nb_link_kind_name(l->kind), "from", nb__ident(&l->from), "to",
                     nb__ident(&l->to), "expected_delivery_date",
                     nb__date(l->expected_delivery_date), "source", nb__source(&l->source),
                     "verification", nb_verification_name(l->verification), "recorded_at",
                     nb__time(l->recorded_at));
}

static json_t *nb__suggestion(const nb_suggestion_t *s)
{
    json_t *fields = json_array();
    for (int f = 0; f < NB_DEMO__COUNT; f++)
        if ((s->matched >> f) & 1u)
            json_array_append_new(fields, json_string(nb_demo_field_name((nb_demo_field_t)f)));
    return json_pack("{s:o, s:o, s:o, s:{s:o, s:o, s:o}, s:{s:o, s:i}, s:o}", "suggestion_id",
                     nb__s(s->suggestion_id), "link", nb__link(&s->link), "candidate_child_key",
                     nb__s(s->candidate_key), "cause", "event_id", nb__s(s->cause_event_id),
                     "source", nb__source(&s->cause_source), "recorded_at",
                     nb__time(s->cause_recorded_at), "evidence", "matched_fields", fields,
                     "candidates", (int)s->candidates, "suggested_at",
                     nb__time(s->suggested_at));
}

/* An appointment event. */
static json_t *nb__appointment(const nb_appointment_event_t *a)
{
    return json_pack(
        "{s:o, s:o, s:{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}, s:{s:o, s:o, s:b, s:s, s:o},"
        " s:s, s:o, s:i}",
        "event_id", nb__s(a->event_id), "source", nb__source(&a->source), "subject", "kind",
        nb_subject_kind_name(a->subject_kind), "nhs_number", nb__opt(a->nhs_number),
        "local_id", nb__ident(&a->local_id), "pregnant_person_id",
        nb__ident(&a->pregnant_person_id), "expected_delivery_date",
        nb__date(a->expected_delivery_date), "date_of_birth", nb__date(a->date_of_birth),
        "family_name", nb__opt(a->family_name), "postcode", nb__opt(a->postcode),
        "appointment", "id", nb__s(a->appointment_id), "type", nb__s(a->appointment_type),
        "mandated_contact", a->mandated_contact, "contact_mode",
        nb_contact_mode_name(a->contact_mode), "scheduled_start", nb__time(a->scheduled_start),
        "status", nb_status_name(a->status), "recorded_at", nb__time(a->recorded_at),
        "version", (int)a->version);
}

/* A context fact. */
static json_t *nb__fact(const nb_context_fact_t *f)
{
    return json_pack("{s:o, s:o, s:o, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:i}", "event_id",
                     nb__s(f->event_id), "nhs_number", nb__opt(f->nhs_number), "local_id",
                     nb__ident(&f->local_id), "kind", nb_fact_kind_name(f->kind),
                     "start_date", nb__date(f->start_date), "end_date",
                     nb__date(f->end_date), "status", nb_fact_status_name(f->status),
                     "source_system", nb__s(f->source_system), "organisation_code",
                     nb__s(f->organisation_code), "recorded_at", nb__time(f->recorded_at),
                     "version", (int)f->version);
}

/* A digest's "items": the notifications it gathers. */
static json_t *nb__digest_items(const nb_notification_t *n)
{
    json_t *items = json_array();
    for (size_t i = 0; i < n->n_items; i++) {
        const nb_digest_item_t *d = &n->items[i];
        json_array_append_new(
            items, json_pack("{s:o, s:o, s:o, s:o, s:o, s:s, s:o}", "notification_id",
                             nb__s(d->notification_id), "reference", nb__s(d->reference),
                             "child_key", nb__s(d->child_key), "nhs_number",
                             nb__opt(d->nhs_number), "rule_id", nb__s(d->rule_id), "tier",
                             nb_tier_name(d->tier), "decided_at", nb__time(d->decided_at)));
    }
    return items;
}

/* A notification's "context": the facts in force when the rule fired. */
static json_t *nb__context(const nb_notification_t *n)
{
    json_t *ctx = json_array();
    for (size_t i = 0; i < n->n_context; i++)
        json_array_append_new(
            ctx, json_pack("{s:s, s:o, s:o, s:o, s:o}", "kind",
                           nb_fact_kind_name(n->context[i].kind), "start_date",
                           nb__date(n->context[i].start_date), "end_date",
                           nb__date(n->context[i].end_date), "source",
                           nb__s(n->context[i].source), "as_of",
                           nb__time(n->context[i].as_of)));
    return ctx;
}

/* A notification's "recipients". */
static json_t *nb__recipients(const nb_notification_t *n)
{
    json_t *rcp = json_array();
    for (size_t i = 0; i < n->n_recipients; i++)
        json_array_append_new(rcp, json_pack("{s:o, s:o, s:o}", "role",
                                             nb__s(n->recipients[i].role), "route",
                                             nb__s(n->recipients[i].route), "title",
                                             nb__s(n->recipients[i].title)));
    return rcp;
}

/* A notification's "evidence": the appointments the rule counted. */
static json_t *nb__evidence(const nb_notification_t *n)
{
    json_t *ev = json_array();
    for (size_t i = 0; i < n->n_evidence; i++) {
        const nb_evidence_t *e = &n->evidence[i];
        json_array_append_new(
            ev, json_pack("{s:o, s:o, s:s, s:o, s:o, s:s, s:o, s:o}", "event_id",
                          nb__s(e->event_id), "appointment_id", nb__s(e->appointment_id),
                          "agency", nb_agency_name(e->agency), "appointment_type",
                          nb__s(e->appointment_type), "scheduled_start",
                          nb__time(e->scheduled_start), "status", nb_status_name(e->status),
                          "organisation_code", nb__s(e->organisation_code), "recorded_at",
                          nb__time(e->recorded_at)));
    }
    return ev;
}

/* A notification's "counts": what the rule counted in each window. */
static json_t *nb__counts(const nb_notification_t *n)
{
    json_t *cnt = json_array();
    for (size_t i = 0; i < n->n_counts; i++)
        json_array_append_new(cnt, json_pack("{s:i, s:i, s:i, s:o}", "window_days",
                                             (int)n->counts[i].window_days, "count",
                                             (int)n->counts[i].count, "agencies",
                                             (int)n->counts[i].agencies, "counted",
                                             nb__s(n->counts[i].counted)));
    return cnt;
}

/* A notification, or a digest of notifications. */
static json_t *nb__notification(const nb_notification_t *n)
{
    json_t *items = nb__digest_items(n), *ctx = nb__context(n), *rcp = nb__recipients(n),
           *ev = nb__evidence(n), *cnt = nb__counts(n);
    return json_pack(
        "{s:o, s:o, s:s, s:{s:o, s:o, s:o, s:o, s:o, s:o}, s:o, s:{s:o, s:o, s:o, s:o, s:o}, s:s,"
        " s:o,"
        " s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o}",
        "notification_id", nb__s(n->notification_id), "reference", nb__s(n->reference), "kind",
        nb_notification_kind_name(n->kind), "child", "nhs_number", nb__opt(n->nhs_number),
        "date_of_birth", nb__date(n->date_of_birth), "age_months",
        n->age_months < 0 ? json_null() : json_integer(n->age_months), "child_key",
        nb__s(n->child_key), "pregnant_person_nhs_number", nb__opt(n->pregnant_person_nhs),
        "expected_delivery_date", nb__date(n->expected_delivery_date), "context", ctx, "rule",
        "id", nb__s(n->rule_id), "text", nb__s(n->rule_text), "policy_name",
        nb__s(n->policy_name), "policy_version", nb__s(n->policy_version), "policy_hash",
        nb__s(n->policy_hash), "tier", nb_tier_name(n->tier), "recipients", rcp, "evidence",
        ev, "counts", cnt, "action", nb__s(n->action), "respond_by", nb__time(n->respond_by),
        "escalation_level", (int)n->escalation_level, "supersedes", nb__opt(n->supersedes),
        "created_at", nb__time(n->created_at), "items", items);
}

/* An action on a notification (NotificationAck version 2's fields). */
static json_t *nb__ack(const nb_ack_t *a)
{
    return json_pack("{s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o}", "ack_id",
                     nb__s(a->ack_id), "notification_id", nb__s(a->notification_id), "reference",
                     nb__opt(a->reference), "intent", nb_ack_intent_name(a->intent),
                     "acknowledged_by", nb__s(a->acknowledged_by), "user_id", nb__s(a->user_id),
                     "role", nb__s(a->role), "reassign_to_queue", nb__opt(a->reassign_to_queue),
                     "reassign_to_user", nb__opt(a->reassign_to_user), "reason", nb__opt(a->reason),
                     "action", nb_ack_action_name(a->action), "outcome", nb__opt(a->outcome),
                     "acknowledged_at", nb__time(a->acknowledged_at));
}

/* An audit record, with the field names of schemas/audit_record.avsc. */
static json_t *nb__audit(const nb_audit_t *a)
{
    json_t *o = json_object(), *ev = json_array(), *rc = json_array();
    for (size_t i = 0; i < a->n_evidence; i++)
        json_array_append_new(ev, json_string(a->evidence[i]));
    for (size_t i = 0; i < a->n_recipients; i++)
        json_array_append_new(rc, json_pack("{s:s, s:s}", "role", a->recipients[i].role, "route",
                                            a->recipients[i].route));
    json_object_set_new(o, "audit_id", nb__s(a->audit_id));
    json_object_set_new(o, "kind", json_string(nb_audit_kind_name(a->kind)));
    json_object_set_new(o, "at", nb__time(a->at));
    json_object_set_new(o, "child_key", nb__s(a->child_key));
    json_object_set_new(o, "notification_id", nb__opt(a->notification_id));
    json_object_set_new(o, "reference", nb__opt(a->reference));
    json_object_set_new(o, "rule", nb__opt(a->rule_id));
    json_object_set_new(o, "tier",
                        a->tier >= 0 ? json_string(nb_tier_name((nb_tier_t)a->tier)) : json_null());
    json_object_set_new(o, "level", json_integer(a->level));
    json_object_set_new(o, "agency",
                        a->agency >= 0 ? json_string(nb_agency_name((nb_agency_t)a->agency))
                                       : json_null());
    json_object_set_new(o, "organisation", nb__opt(a->organisation));
    json_object_set_new(o, "evidence", ev);
    json_object_set_new(o, "recipients", rc);
    json_object_set_new(o, "respond_by", nb__time(a->respond_by));
    json_object_set_new(o, "reason", nb__opt(a->reason));
    json_object_set_new(
        o, "event",
        !a->has_event
            ? json_null()
            : json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:b}", "event_id",
                        nb__s(a->event.event_id), "record_type",
                        a->event.context ? "context" : "appointment", "appointment_id",
                        nb__opt(a->event.appointment_id), "appointment_type",
                        nb__opt(a->event.appointment_type), "status", nb__s(a->event.status),
                        "scheduled_start", nb__time(a->event.scheduled_start), "recorded_at",
                        nb__time(a->event.recorded_at), "version", (int)a->event.version,
                        "source_system", nb__s(a->event.source_system), "nhs_number_known",
                        (int)a->event.nhs_number_known));
    json_object_set_new(
        o, "action",
        !a->has_action
            ? json_null()
            : json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "ack_id",
                        nb__s(a->action.ack_id), "intent", nb_ack_intent_name(a->action.intent),
                        "acted_at", nb__time(a->action.acted_at), "owner_user",
                        nb__opt(a->action.owner_user), "owner_queue",
                        nb__opt(a->action.owner_queue), "target_queue",
                        nb__opt(a->action.target_queue), "target_user",
                        nb__opt(a->action.target_user), "close_action",
                        a->action.close_action >= 0
                            ? json_string(nb_ack_action_name(a->action.close_action))
                            : json_null(),
                        "closed_by", nb__opt(a->action.closed_by), "closed_at",
                        nb__time(a->action.closed_at)));
    json_object_set_new(
        o, "actor",
        !a->has_actor ? json_null()
                      : json_pack("{s:o, s:o, s:o}", "user_id", nb__s(a->actor.user_id), "queue",
                                  nb__opt(a->actor.queue), "via", nb__opt(a->actor.via)));
    json_object_set_new(o, "delivery",
                        !a->has_delivery
                            ? json_null()
                            : json_pack("{s:o, s:o, s:i}", "channel", nb__s(a->delivery.channel),
                                        "route", nb__s(a->delivery.route), "attempt",
                                        (int)a->delivery.attempt));
    json_object_set_new(o, "subject", nb__opt(a->subject));
    json_object_set_new(o, "policy",
                        !a->has_policy
                            ? json_null()
                            : json_pack("{s:o, s:o, s:o}", "name", nb__s(a->policy.name), "version",
                                        nb__s(a->policy.version), "hash", nb__s(a->policy.hash)));
    return o;
}

json_t *nb__record_to_json(const nb_record_t *rec)
{
    switch (rec->type) {
    case NB_RECORD_APPOINTMENT:
        return nb__appointment(&rec->u.appt);
    case NB_RECORD_IDENTITY_LINK:
        return nb__link(&rec->u.link);
    case NB_RECORD_SUGGESTION:
        return nb__suggestion(&rec->u.sugg);
    case NB_RECORD_CONTEXT_FACT:
        return nb__fact(&rec->u.fact);
    case NB_RECORD_NOTIFICATION:
        return nb__notification(&rec->u.notif);
    case NB_RECORD_ACK:
        return nb__ack(&rec->u.ack);
    case NB_RECORD_AUDIT:
        return nb__audit(&rec->u.audit);
    default:
        return json_null();
    }
}
