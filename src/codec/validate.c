/*
 * notbrought - codec: semantic validation of decoded records.
 *
 * Messages name the field and the rule, never the value: they go into dead-letter headers
 * and logs, where personal data must not appear.
 */
#include "notbrought/codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NB__Y2000_MS 946684800000LL

void nb_validate_opts_default(nb_validate_opts_t *opts)
{
    opts->allow_test_nhs_numbers = true;
    opts->earliest = NB__Y2000_MS;
    opts->future_schedule_ms = 400 * NB_MS_PER_DAY;
    opts->future_record_ms = NB_MS_PER_DAY;
}

typedef struct nb__vctx_s {
    const nb_validate_opts_t *opts;
    int64_t now;
    char *errstr;
    size_t errstr_size;
} nb__vctx_t;

NB_NODISCARD static nb_err_t nb__vfail(nb__vctx_t *v, nb_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static nb_err_t nb__vfail(nb__vctx_t *v, nb_err_t err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->errstr, v->errstr_size, fmt, ap);
    va_end(ap);
    return err;
}

NB_NODISCARD static nb_err_t nb__v_nhs(nb__vctx_t *v, const char *field, const char *nhs)
{
    nb_err_t err = nb_nhs_validate(nhs);
    if (err == NB_ERR_NHS_FORMAT)
        return nb__vfail(v, err, "%s is not 10 digits", field);
    if (err == NB_ERR_NHS_CHECK_DIGIT)
        return nb__vfail(v, err, "%s fails the Modulus 11 check digit", field);
    if (err == NB_ERR_NHS_PLACEHOLDER)
        return nb__vfail(v, err, "%s is a placeholder (one digit ten times), never issued", field);
    if (!v->opts->allow_test_nhs_numbers && nb_nhs_is_test_range(nhs))
        return nb__vfail(v, NB_ERR_NHS_DISALLOWED, "%s is in the 999 test range", field);
    return NB_ERR_OK;
}

/* Identifiers whose system is the NHS number system must hold a valid NHS number. */
NB_NODISCARD static nb_err_t nb__v_ident(nb__vctx_t *v, const char *field,
                                         const nb_identifier_t *id, bool required)
{
    if (!nb_identifier_present(id)) {
        if (required || id->system[0] || id->value[0])
            return nb__vfail(v, NB_ERR_MISSING_IDENTIFIER, "%s needs both system and value",
                             field);
        return NB_ERR_OK;
    }
    if (strcmp(id->system, NB_SYSTEM_NHS_NUMBER) == 0) {
        char norm[NB_NHS_LEN + 1];
        if (nb_nhs_normalise(id->value, norm))
            return nb__vfail(v, NB_ERR_NHS_FORMAT, "%s.value is not 10 digits", field);
        return nb__v_nhs(v, field, norm);
    }
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__v_nonempty(nb__vctx_t *v, const char *field, const char *s)
{
    if (s[0] == '\0')
        return nb__vfail(v, NB_ERR_FIELD_EMPTY, "%s is empty", field);
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__v_time(nb__vctx_t *v, const char *field, int64_t t, int64_t future)
{
    if (t < v->opts->earliest || t > v->now + future)
        return nb__vfail(v, NB_ERR_TIMESTAMP_RANGE,
                         "%s is before 2000-01-01 or more than %lld days ahead", field,
                         (long long)(future / NB_MS_PER_DAY));
    return NB_ERR_OK;
}

/* Versions are kept in 16 bits (the ledger); 0 means "no version" there. */
NB_NODISCARD static nb_err_t nb__v_version(nb__vctx_t *v, int32_t version)
{
    if (version < 1 || version > NB_VERSION_MAX)
        return nb__vfail(v, NB_ERR_FIELD_RANGE, "version must be 1 to %d", NB_VERSION_MAX);
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__v_date(nb__vctx_t *v, const char *field, int32_t d,
                                        int32_t max_ahead_days)
{
    if (d == NB_DATE_NONE)
        return NB_ERR_OK;
    int32_t today = nb_day_of(v->now);
    /* 1900-01-01 is day -25567. */
    if (d < -25567 || d > today + max_ahead_days)
        return nb__vfail(v, NB_ERR_DATE_RANGE, "%s is before 1900 or more than %d days ahead",
                         field, (int)max_ahead_days);
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__v_source(nb__vctx_t *v, const nb_source_t *s)
{
    nb_err_t err;
    if ((err = nb__v_nonempty(v, "source.system", s->system)) ||
        (err = nb__v_nonempty(v, "source.organisation_code", s->organisation_code)))
        return err;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__v_appt(nb__vctx_t *v, const nb_appointment_event_t *a)
{
    nb_err_t err;
    if ((err = nb__v_nonempty(v, "event_id", a->event_id)) || (err = nb__v_source(v, &a->source)) ||
        (err = nb__v_nonempty(v, "appointment.id", a->appointment_id)) ||
        (err = nb__v_nonempty(v, "appointment.type", a->appointment_type)))
        return err;
    if (a->nhs_number[0] && (err = nb__v_nhs(v, "subject.nhs_number", a->nhs_number)))
        return err;
    if ((err = nb__v_ident(v, "subject.local_id", &a->local_id, false)) ||
        (err = nb__v_ident(v, "subject.pregnant_person_id", &a->pregnant_person_id, false)))
        return err;
    if (a->subject_kind == NB_SUBJECT_CHILD) {
        if (!a->nhs_number[0] && !nb_identifier_present(&a->local_id))
            return nb__vfail(v, NB_ERR_MISSING_IDENTIFIER,
                             "subject needs nhs_number or local_id for a child");
    } else {
        if (!nb_identifier_present(&a->pregnant_person_id) ||
            a->expected_delivery_date == NB_DATE_NONE)
            return nb__vfail(v, NB_ERR_MISSING_IDENTIFIER,
                             "subject needs pregnant_person_id and expected_delivery_date for an "
                             "unborn child");
    }
    if ((err = nb__v_time(v, "appointment.scheduled_start", a->scheduled_start,
                          v->opts->future_schedule_ms)) ||
        (err = nb__v_time(v, "recorded_at", a->recorded_at, v->opts->future_record_ms)) ||
        (err = nb__v_date(v, "subject.date_of_birth", a->date_of_birth, 1)) ||
        (err = nb__v_date(v, "subject.expected_delivery_date", a->expected_delivery_date, 300)) ||
        (err = nb__v_version(v, a->version)))
        return err;
    if (a->subject_kind == NB_SUBJECT_CHILD && a->date_of_birth != NB_DATE_NONE &&
        nb_day_of(a->scheduled_start) < a->date_of_birth)
        return nb__vfail(v, NB_ERR_INCONSISTENT,
                         "appointment.scheduled_start is before subject.date_of_birth");
    /* An outcome cannot be recorded more than a day before the appointment was due. */
    if (a->status != NB_STATUS_BOOKED && a->status != NB_STATUS_CANCELLED_BY_PATIENT &&
        a->status != NB_STATUS_CANCELLED_BY_PROVIDER && a->status != NB_STATUS_RESCHEDULED &&
        a->status != NB_STATUS_ENTERED_IN_ERROR &&
        a->recorded_at + NB_MS_PER_DAY < a->scheduled_start)
        return nb__vfail(v, NB_ERR_INCONSISTENT,
                         "status %s recorded more than a day before appointment.scheduled_start",
                         nb_status_name(a->status));
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__v_link(nb__vctx_t *v, const nb_identity_link_t *l)
{
    nb_err_t err;
    if ((err = nb__v_nonempty(v, "event_id", l->event_id)) || (err = nb__v_source(v, &l->source)) ||
        (err = nb__v_ident(v, "from", &l->from, true)) ||
        (err = nb__v_ident(v, "to", &l->to, true)) ||
        (err = nb__v_time(v, "recorded_at", l->recorded_at, v->opts->future_record_ms)))
        return err;
    if ((l->kind == NB_LINK_SUPERSEDES || l->kind == NB_LINK_UNBORN_TO_CHILD) &&
        strcmp(l->to.system, NB_SYSTEM_NHS_NUMBER) != 0)
        return nb__vfail(v, NB_ERR_INCONSISTENT, "to must be an NHS number for %s",
                         nb_link_kind_name(l->kind));
    if (l->kind == NB_LINK_SUPERSEDES && strcmp(l->from.system, NB_SYSTEM_NHS_NUMBER) != 0)
        return nb__vfail(v, NB_ERR_INCONSISTENT, "from must be an NHS number for supersedes");
    if (l->kind == NB_LINK_UNBORN_TO_CHILD && l->expected_delivery_date == NB_DATE_NONE)
        return nb__vfail(v, NB_ERR_MISSING_IDENTIFIER,
                         "expected_delivery_date is required for unborn_to_child");
    if (strcmp(l->from.system, l->to.system) == 0 && strcmp(l->from.value, l->to.value) == 0)
        return nb__vfail(v, NB_ERR_INCONSISTENT, "from and to are the same identifier");
    return nb__v_date(v, "expected_delivery_date", l->expected_delivery_date, 300);
}

NB_NODISCARD static nb_err_t nb__v_fact(nb__vctx_t *v, const nb_context_fact_t *f)
{
    nb_err_t err;
    if ((err = nb__v_nonempty(v, "event_id", f->event_id)) ||
        (err = nb__v_nonempty(v, "source_system", f->source_system)) ||
        (err = nb__v_nonempty(v, "organisation_code", f->organisation_code)))
        return err;
    if (f->nhs_number[0] && (err = nb__v_nhs(v, "nhs_number", f->nhs_number)))
        return err;
    if ((err = nb__v_ident(v, "local_id", &f->local_id, false)))
        return err;
    if (!f->nhs_number[0] && !nb_identifier_present(&f->local_id))
        return nb__vfail(v, NB_ERR_MISSING_IDENTIFIER, "needs nhs_number or local_id");
    /* start_date is required: NB_DATE_NONE (INT32_MIN) there is a value out of range. */
    if (f->start_date == NB_DATE_NONE)
        return nb__vfail(v, NB_ERR_DATE_RANGE, "start_date is before 1900");
    if ((err = nb__v_date(v, "start_date", f->start_date, 300)) ||
        (err = nb__v_date(v, "end_date", f->end_date, 3660)) ||
        (err = nb__v_time(v, "recorded_at", f->recorded_at, v->opts->future_record_ms)))
        return err;
    if (f->end_date != NB_DATE_NONE && f->end_date < f->start_date)
        return nb__vfail(v, NB_ERR_INCONSISTENT, "end_date is before start_date");
    return nb__v_version(v, f->version);
}

NB_NODISCARD static nb_err_t nb__v_ack(nb__vctx_t *v, const nb_ack_t *a)
{
    nb_err_t err;
    if ((err = nb__v_nonempty(v, "ack_id", a->ack_id)) ||
        (err = nb__v_nonempty(v, "notification_id", a->notification_id)) ||
        (err = nb__v_nonempty(v, "acknowledged_by", a->acknowledged_by)) ||
        (err = nb__v_nonempty(v, "role", a->role)) ||
        (err = nb__v_time(v, "acknowledged_at", a->acknowledged_at, v->opts->future_record_ms)))
        return err;
    if ((unsigned)a->intent >= NB_ACK_INTENT__COUNT || (unsigned)a->action >= NB_ACK__COUNT)
        return nb__vfail(v, NB_ERR_FIELD_RANGE, "intent or action is not a symbol of its enum");
    /* Ownership is by a stable staff id: a take or a reassignment without one cannot be
     * told apart from another person's (a close may come from a version 1 record, without). */
    if (a->intent != NB_ACK_INTENT_CLOSE && (err = nb__v_nonempty(v, "user_id", a->user_id)))
        return err;
    if (a->intent == NB_ACK_INTENT_REASSIGN) {
        if (!a->reassign_to_queue[0] && !a->reassign_to_user[0])
            return nb__vfail(v, NB_ERR_FIELD_EMPTY,
                             "a reassignment names neither reassign_to_queue nor reassign_to_user");
        if ((err = nb__v_nonempty(v, "reason (required for a reassignment)", a->reason)))
            return err;
    } else if (a->reassign_to_queue[0] || a->reassign_to_user[0]) {
        return nb__vfail(v, NB_ERR_INCONSISTENT,
                         "reassign_to_queue or reassign_to_user is set on a %s",
                         nb_ack_intent_name(a->intent));
    }
    if (a->intent == NB_ACK_INTENT_CLOSE && a->action == NB_ACK_NO_FURTHER_ACTION &&
        (err = nb__v_nonempty(v, "reason (required to close with no_further_action)", a->reason)))
        return err;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__v_notif(nb__vctx_t *v, const nb_notification_t *n)
{
    nb_err_t err;
    if ((err = nb__v_nonempty(v, "notification_id", n->notification_id)) ||
        (err = nb__v_nonempty(v, "reference", n->reference)) ||
        (err = nb__v_nonempty(v, "child.child_key", n->child_key)) ||
        (err = nb__v_nonempty(v, "rule.id", n->rule_id)))
        return err;
    if (n->nhs_number[0] && (err = nb__v_nhs(v, "child.nhs_number", n->nhs_number)))
        return err;
    if (n->pregnant_person_nhs[0] &&
        (err = nb__v_nhs(v, "child.pregnant_person_nhs_number", n->pregnant_person_nhs)))
        return err;
    return NB_ERR_OK;
}

/* A suggestion must be a statement a reviewer can publish as it is once they confirm it. */
NB_NODISCARD static nb_err_t nb__v_suggestion(nb__vctx_t *v, const nb_suggestion_t *s)
{
    nb_err_t err;
    if ((err = nb__v_nonempty(v, "suggestion_id", s->suggestion_id)) ||
        (err = nb__v_nonempty(v, "candidate_child_key", s->candidate_key)) ||
        (err = nb__v_nonempty(v, "cause.event_id", s->cause_event_id)) ||
        (err = nb__v_link(v, &s->link)))
        return err;
    if (s->link.kind != NB_LINK_LINK || strcmp(s->link.event_id, s->suggestion_id) != 0)
        return nb__vfail(v, NB_ERR_INCONSISTENT,
                         "link is not a link statement whose event_id is the suggestion_id");
    if (s->matched == 0 || s->candidates < 1)
        return nb__vfail(v, NB_ERR_INCONSISTENT, "evidence names no matched field or candidate");
    return nb__v_time(v, "suggested_at", s->suggested_at, v->opts->future_record_ms);
}

/* An audit record names what it is about: a child (every kind but a purge), the notification
 * of a decision or an action, the action of a verdict. */
NB_NODISCARD static nb_err_t nb__v_audit(nb__vctx_t *v, const nb_audit_t *a)
{
    nb_err_t err;
    if ((err = nb__v_nonempty(v, "audit_id", a->audit_id)))
        return err;
    if (a->kind != NB_AUDIT_PURGED && a->kind != NB_AUDIT_DIGEST &&
        (err = nb__v_nonempty(v, "child_key", a->child_key)))
        return err;
    if ((a->kind == NB_AUDIT_RECEIVED || a->kind == NB_AUDIT_PARKED) && !a->has_event)
        return nb__vfail(v, NB_ERR_INCONSISTENT, "a 'received' or 'parked' record has no event");
    bool verdict = a->kind >= NB_AUDIT_TAKEN && a->kind <= NB_AUDIT_ACTION_UNKNOWN;
    if (verdict && !a->has_action)
        return nb__vfail(v, NB_ERR_INCONSISTENT, "a verdict on an action has no action");
    bool decision = a->kind >= NB_AUDIT_FIRED && a->kind <= NB_AUDIT_SHADOW;
    if ((decision || verdict) && (err = nb__v_nonempty(v, "notification_id", a->notification_id)))
        return err;
    /* Written by notbrought at its own (possibly fixed) clock: no bound against the reader's. */
    if (a->at == NB_TIME_NONE)
        return nb__vfail(v, NB_ERR_INCONSISTENT, "at is not set");
    return NB_ERR_OK;
}

nb_err_t nb_codec_validate(const nb_record_t *rec, const nb_validate_opts_t *opts, int64_t now_ms,
                           char *errstr, size_t errstr_size)
{
    nb_validate_opts_t defaults;
    if (!opts) {
        nb_validate_opts_default(&defaults);
        opts = &defaults;
    }
    nb__vctx_t v = {opts, now_ms, errstr, errstr_size};
    switch (rec->type) {
    case NB_RECORD_APPOINTMENT:
        return nb__v_appt(&v, &rec->u.appt);
    case NB_RECORD_IDENTITY_LINK:
        return nb__v_link(&v, &rec->u.link);
    case NB_RECORD_CONTEXT_FACT:
        return nb__v_fact(&v, &rec->u.fact);
    case NB_RECORD_NOTIFICATION:
        return nb__v_notif(&v, &rec->u.notif);
    case NB_RECORD_ACK:
        return nb__v_ack(&v, &rec->u.ack);
    case NB_RECORD_SUGGESTION:
        return nb__v_suggestion(&v, &rec->u.sugg);
    case NB_RECORD_AUDIT:
        return nb__v_audit(&v, &rec->u.audit);
    default:
        return nb__vfail(&v, NB_ERR_INVALID_ARG, "unknown record type");
    }
}
