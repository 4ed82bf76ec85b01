/*
 * notbrought - codec: the model's structs written into avro-c generic values (writer side of
 * map.c, which reads them). Field names are those of the schemas/ files; error messages name
 * fields, never values.
 */
#include "codec/internal.h"

#include <stdio.h>
#include <string.h>

/* ---- writing ------------------------------------------------------------------------------ */

/* Each setter records the first failure in x and returns it; calls chain with ||. */
nb_err_t nb__wfield(avro_value_t *rec, const char *name, avro_value_t *out, nb__xerr_t *x)
{
    if (nb__by_name(rec, name, out, x))
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "field '%s' is missing from the writer schema",
                         name);
    return NB_ERR_OK;
}

nb_err_t nb__set_str(avro_value_t *rec, const char *name, const char *s, nb__xerr_t *x)
{
    avro_value_t f;
    if (nb__wfield(rec, name, &f, x))
        return x->err;
    if (avro_value_set_string_len(&f, s, strlen(s) + 1))
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "field '%s': %s", name, avro_strerror());
    return NB_ERR_OK;
}

/* Selects branch 0 (null) or 1 (the value) of an optional field. */
nb_err_t nb__set_branch(avro_value_t *rec, const char *name, bool present, avro_value_t *branch,
                        nb__xerr_t *x)
{
    avro_value_t f;
    if (nb__wfield(rec, name, &f, x))
        return x->err;
    if (avro_value_set_branch(&f, present ? 1 : 0, branch) ||
        (!present && avro_value_set_null(branch)))
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "field '%s': %s", name, avro_strerror());
    return NB_ERR_OK;
}

nb_err_t nb__set_opt_str(avro_value_t *rec, const char *name, const char *s, nb__xerr_t *x)
{
    avro_value_t b;
    if (nb__set_branch(rec, name, s[0] != '\0', &b, x))
        return x->err;
    if (s[0] && avro_value_set_string_len(&b, s, strlen(s) + 1))
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "field '%s': %s", name, avro_strerror());
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__set_opt_int(avro_value_t *rec, const char *name, int32_t v,
                                             int32_t none, nb__xerr_t *x)
{
    avro_value_t b;
    if (nb__set_branch(rec, name, v != none, &b, x))
        return x->err;
    if (v != none && avro_value_set_int(&b, v))
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "field '%s': %s", name, avro_strerror());
    return NB_ERR_OK;
}

nb_err_t nb__set_opt_long(avro_value_t *rec, const char *name, int64_t v,
                                 nb__xerr_t *x)
{
    avro_value_t b;
    if (nb__set_branch(rec, name, v != NB_TIME_NONE, &b, x))
        return x->err;
    if (v != NB_TIME_NONE && avro_value_set_long(&b, v))
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "field '%s': %s", name, avro_strerror());
    return NB_ERR_OK;
}

nb_err_t nb__set_int(avro_value_t *rec, const char *name, int32_t v, nb__xerr_t *x)
{
    avro_value_t f;
    if (nb__wfield(rec, name, &f, x))
        return x->err;
    if (avro_value_set_int(&f, v))
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "field '%s': %s", name, avro_strerror());
    return NB_ERR_OK;
}

nb_err_t nb__set_long(avro_value_t *rec, const char *name, int64_t v, nb__xerr_t *x)
{
    avro_value_t f;
    if (nb__wfield(rec, name, &f, x))
        return x->err;
    if (avro_value_set_long(&f, v))
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "field '%s': %s", name, avro_strerror());
    return NB_ERR_OK;
}

nb_err_t nb__set_bool(avro_value_t *rec, const char *name, bool v, nb__xerr_t *x)
{
    avro_value_t f;
    if (nb__wfield(rec, name, &f, x))
        return x->err;
    if (avro_value_set_boolean(&f, v))
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "field '%s': %s", name, avro_strerror());
    return NB_ERR_OK;
}

nb_err_t nb__set_enum(avro_value_t *rec, const char *name, int v, int count,
                             nb__xerr_t *x)
{
    avro_value_t f;
    if (v < 0 || v >= count)
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "field '%s': enum value %d out of range", name,
                         v);
    if (nb__wfield(rec, name, &f, x))
        return x->err;
    if (avro_value_set_enum(&f, v))
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "field '%s': %s", name, avro_strerror());
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__set_identv(avro_value_t *v, const nb_identifier_t *id,
                                            nb__xerr_t *x)
{
    if (nb__set_str(v, "system", id->system, x) || nb__set_str(v, "value", id->value, x))
        return x->err;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__set_opt_ident(avro_value_t *rec, const char *name,
                                               const nb_identifier_t *id, nb__xerr_t *x)
{
    avro_value_t b;
    bool present = nb_identifier_present(id);
    if (nb__set_branch(rec, name, present, &b, x))
        return x->err;
    return present ? nb__set_identv(&b, id, x) : NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__set_ident(avro_value_t *rec, const char *name,
                                           const nb_identifier_t *id, nb__xerr_t *x)
{
    avro_value_t f;
    if (nb__wfield(rec, name, &f, x))
        return x->err;
    return nb__set_identv(&f, id, x);
}

nb_err_t nb__set_source(avro_value_t *rec, const nb_source_t *src, nb__xerr_t *x)
{
    avro_value_t s;
    if (nb__wfield(rec, "source", &s, x) ||
        nb__set_enum(&s, "agency", (int)src->agency, NB_AGENCY__COUNT, x) ||
        nb__set_str(&s, "system", src->system, x) ||
        nb__set_str(&s, "organisation_code", src->organisation_code, x))
        return x->err;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__f_appt(const nb_appointment_event_t *a, avro_value_t *v,
                                        nb__xerr_t *x)
{
    avro_value_t sub, ap;
    if (nb__set_str(v, "event_id", a->event_id, x) || nb__set_source(v, &a->source, x) ||
        nb__wfield(v, "subject", &sub, x) ||
        nb__set_enum(&sub, "kind", (int)a->subject_kind, NB_SUBJECT__COUNT, x) ||
        nb__set_opt_str(&sub, "nhs_number", a->nhs_number, x) ||
        nb__set_opt_ident(&sub, "local_id", &a->local_id, x) ||
        nb__set_opt_ident(&sub, "pregnant_person_id", &a->pregnant_person_id, x) ||
        nb__set_opt_int(&sub, "expected_delivery_date", a->expected_delivery_date, NB_DATE_NONE,
                        x) ||
        nb__set_opt_int(&sub, "date_of_birth", a->date_of_birth, NB_DATE_NONE, x) ||
        nb__set_opt_str(&sub, "family_name", a->family_name, x) ||
        nb__set_opt_str(&sub, "postcode", a->postcode, x) ||
        nb__wfield(v, "appointment", &ap, x) || nb__set_str(&ap, "id", a->appointment_id, x) ||
        nb__set_str(&ap, "type", a->appointment_type, x) ||
        nb__set_bool(&ap, "mandated_contact", a->mandated_contact, x) ||
        nb__set_enum(&ap, "contact_mode", (int)a->contact_mode, NB_CONTACT__COUNT, x) ||
        nb__set_long(&ap, "scheduled_start", a->scheduled_start, x) ||
        nb__set_enum(v, "status", (int)a->status, NB_STATUS__COUNT, x) ||
        nb__set_long(v, "recorded_at", a->recorded_at, x) ||
        nb__set_int(v, "version", a->version, x))
        return x->err;
    return NB_ERR_OK;
}

nb_err_t nb__f_link(const nb_identity_link_t *l, avro_value_t *v, nb__xerr_t *x)
{
    if (nb__set_str(v, "event_id", l->event_id, x) ||
        nb__set_enum(v, "kind", (int)l->kind, NB_LINK__COUNT, x) ||
        nb__set_ident(v, "from", &l->from, x) || nb__set_ident(v, "to", &l->to, x) ||
        nb__set_opt_int(v, "expected_delivery_date", l->expected_delivery_date, NB_DATE_NONE,
                        x) ||
        nb__set_source(v, &l->source, x) ||
        nb__set_enum(v, "verification", (int)l->verification, NB_VERIFICATION__COUNT, x) ||
        nb__set_long(v, "recorded_at", l->recorded_at, x))
        return x->err;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__f_fact(const nb_context_fact_t *f, avro_value_t *v, nb__xerr_t *x)
{
    if (nb__set_str(v, "event_id", f->event_id, x) ||
        nb__set_opt_str(v, "nhs_number", f->nhs_number, x) ||
        nb__set_opt_ident(v, "local_id", &f->local_id, x) ||
        nb__set_enum(v, "kind", (int)f->kind, NB_FACT__COUNT, x) ||
        nb__set_int(v, "start_date", f->start_date, x) ||
        nb__set_opt_int(v, "end_date", f->end_date, NB_DATE_NONE, x) ||
        nb__set_enum(v, "status", (int)f->status, NB_FACT_STATUS__COUNT, x) ||
        nb__set_str(v, "source_system", f->source_system, x) ||
        nb__set_str(v, "organisation_code", f->organisation_code, x) ||
        nb__set_long(v, "recorded_at", f->recorded_at, x) ||
        nb__set_int(v, "version", f->version, x))
        return x->err;
    return NB_ERR_OK;
}

nb_err_t nb__append(avro_value_t *rec, const char *name, size_t n, size_t max,
                           avro_value_t *arr, nb__xerr_t *x)
{
    if (n > max)
        return nb__xfail(x, NB_ERR_FIELD_COUNT, "field '%s' has more than %zu items", name, max);
    return nb__wfield(rec, name, arr, x);
}

NB_NODISCARD static nb_err_t nb__f_notif(const nb_notification_t *n, avro_value_t *v, nb__xerr_t *x)
{
    avro_value_t child, rule, arr, it;
    if (nb__set_str(v, "notification_id", n->notification_id, x) ||
        nb__set_str(v, "reference", n->reference, x) ||
        nb__set_enum(v, "kind", (int)n->kind, NB_NOTIFICATION__COUNT, x) ||
        nb__wfield(v, "child", &child, x) ||
        nb__set_opt_str(&child, "nhs_number", n->nhs_number, x) ||
        nb__set_opt_int(&child, "date_of_birth", n->date_of_birth, NB_DATE_NONE, x) ||
        nb__set_opt_int(&child, "age_months", n->age_months, -1, x) ||
        nb__set_str(&child, "child_key", n->child_key, x) ||
        nb__set_opt_str(&child, "pregnant_person_nhs_number", n->pregnant_person_nhs, x) ||
        nb__set_opt_int(&child, "expected_delivery_date", n->expected_delivery_date, NB_DATE_NONE,
                        x) ||
        nb__append(v, "context", n->n_context, NB_NOTIF_MAX_CONTEXT, &arr, x))
        return x->err;
    for (size_t i = 0; i < n->n_context; i++) {
        const nb_context_summary_t *c = &n->context[i];
        if (avro_value_append(&arr, &it, NULL))
            return nb__xfail(x, NB_ERR_AVRO_ENCODE, "context: %s", avro_strerror());
        if (nb__set_enum(&it, "kind", (int)c->kind, NB_FACT__COUNT, x) ||
            nb__set_int(&it, "start_date", c->start_date, x) ||
            nb__set_opt_int(&it, "end_date", c->end_date, NB_DATE_NONE, x) ||
            nb__set_str(&it, "source", c->source, x) || nb__set_long(&it, "as_of", c->as_of, x))
            return x->err;
    }
    if (nb__wfield(v, "rule", &rule, x) || nb__set_str(&rule, "id", n->rule_id, x) ||
        nb__set_str(&rule, "text", n->rule_text, x) ||
        nb__set_str(&rule, "policy_name", n->policy_name, x) ||
        nb__set_str(&rule, "policy_version", n->policy_version, x) ||
        nb__set_str(&rule, "policy_hash", n->policy_hash, x) ||
        nb__set_enum(v, "tier", (int)n->tier, NB_TIER__COUNT, x) ||
        nb__append(v, "recipients", n->n_recipients, NB_NOTIF_MAX_RECIPIENTS, &arr, x))
        return x->err;
    for (size_t i = 0; i < n->n_recipients; i++) {
        if (avro_value_append(&arr, &it, NULL))
            return nb__xfail(x, NB_ERR_AVRO_ENCODE, "recipients: %s", avro_strerror());
        if (nb__set_str(&it, "role", n->recipients[i].role, x) ||
            nb__set_str(&it, "route", n->recipients[i].route, x) ||
            nb__set_str(&it, "title", n->recipients[i].title, x))
            return x->err;
    }
    if (nb__append(v, "evidence", n->n_evidence, NB_NOTIF_MAX_EVIDENCE, &arr, x))
        return x->err;
    for (size_t i = 0; i < n->n_evidence; i++) {
        const nb_evidence_t *e = &n->evidence[i];
        if (avro_value_append(&arr, &it, NULL))
            return nb__xfail(x, NB_ERR_AVRO_ENCODE, "evidence: %s", avro_strerror());
        if (nb__set_str(&it, "event_id", e->event_id, x) ||
            nb__set_str(&it, "appointment_id", e->appointment_id, x) ||
            nb__set_enum(&it, "agency", (int)e->agency, NB_AGENCY__COUNT, x) ||
            nb__set_str(&it, "appointment_type", e->appointment_type, x) ||
            nb__set_long(&it, "scheduled_start", e->scheduled_start, x) ||
            nb__set_enum(&it, "status", (int)e->status, NB_STATUS__COUNT, x) ||
            nb__set_str(&it, "organisation_code", e->organisation_code, x) ||
            nb__set_long(&it, "recorded_at", e->recorded_at, x))
            return x->err;
    }
    if (nb__append(v, "counts", n->n_counts, NB_NOTIF_MAX_COUNTS, &arr, x))
        return x->err;
    for (size_t i = 0; i < n->n_counts; i++) {
        if (avro_value_append(&arr, &it, NULL))
            return nb__xfail(x, NB_ERR_AVRO_ENCODE, "counts: %s", avro_strerror());
        if (nb__set_int(&it, "window_days", n->counts[i].window_days, x) ||
            nb__set_int(&it, "count", n->counts[i].count, x) ||
            nb__set_int(&it, "agencies", n->counts[i].agencies, x) ||
            nb__set_str(&it, "counted", n->counts[i].counted, x))
            return x->err;
    }
    if (nb__append(v, "items", n->n_items, NB_NOTIF_MAX_ITEMS, &arr, x))
        return x->err;
    for (size_t i = 0; i < n->n_items; i++) {
        const nb_digest_item_t *d = &n->items[i];
        if (avro_value_append(&arr, &it, NULL))
            return nb__xfail(x, NB_ERR_AVRO_ENCODE, "items: %s", avro_strerror());
        if (nb__set_str(&it, "notification_id", d->notification_id, x) ||
            nb__set_str(&it, "reference", d->reference, x) ||
            nb__set_str(&it, "child_key", d->child_key, x) ||
            nb__set_opt_str(&it, "nhs_number", d->nhs_number, x) ||
            nb__set_str(&it, "rule_id", d->rule_id, x) ||
            nb__set_enum(&it, "tier", (int)d->tier, NB_TIER__COUNT, x) ||
            nb__set_long(&it, "decided_at", d->decided_at, x))
            return x->err;
    }
    if (nb__set_str(v, "action", n->action, x) ||
        nb__set_opt_long(v, "respond_by", n->respond_by, x) ||
        nb__set_int(v, "escalation_level", n->escalation_level, x) ||
        nb__set_opt_str(v, "supersedes", n->supersedes, x) ||
        nb__set_long(v, "created_at", n->created_at, x))
        return x->err;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__f_ack(const nb_ack_t *a, avro_value_t *v, nb__xerr_t *x)
{
    if (nb__set_str(v, "ack_id", a->ack_id, x) ||
        nb__set_str(v, "notification_id", a->notification_id, x) ||
        nb__set_opt_str(v, "reference", a->reference, x) ||
        nb__set_enum(v, "intent", (int)a->intent, NB_ACK_INTENT__COUNT, x) ||
        nb__set_str(v, "acknowledged_by", a->acknowledged_by, x) ||
        nb__set_str(v, "user_id", a->user_id, x) || nb__set_str(v, "role", a->role, x) ||
        nb__set_opt_str(v, "reassign_to_queue", a->reassign_to_queue, x) ||
        nb__set_opt_str(v, "reassign_to_user", a->reassign_to_user, x) ||
        nb__set_opt_str(v, "reason", a->reason, x) ||
        nb__set_enum(v, "action", (int)a->action, NB_ACK__COUNT, x) ||
        nb__set_opt_str(v, "outcome", a->outcome, x) ||
        nb__set_long(v, "acknowledged_at", a->acknowledged_at, x))
        return x->err;
    return NB_ERR_OK;
}

nb_err_t nb__fill(const nb_record_t *rec, avro_value_t *val, nb__xerr_t *x)
{
    switch (rec->type) {
    case NB_RECORD_APPOINTMENT:
        return nb__f_appt(&rec->u.appt, val, x);
    case NB_RECORD_IDENTITY_LINK:
        return nb__f_link(&rec->u.link, val, x);
    case NB_RECORD_CONTEXT_FACT:
        return nb__f_fact(&rec->u.fact, val, x);
    case NB_RECORD_NOTIFICATION:
        return nb__f_notif(&rec->u.notif, val, x);
    case NB_RECORD_ACK:
        return nb__f_ack(&rec->u.ack, val, x);
    case NB_RECORD_SUGGESTION:
        return nb__f_suggestion(&rec->u.sugg, val, x);
    case NB_RECORD_AUDIT:
        return nb__f_audit(&rec->u.audit, val, x);
    default:
        return nb__xfail(x, NB_ERR_INVALID_ARG, "unknown record type");
    }
}
