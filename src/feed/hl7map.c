/*
 * notbrought - feed: the HL7 v2 mapper. One message and its source's mapping in; an appointment
 * event (and an identity link where the mapping asks), "ignored", or a refusal out. The order
 * of the decisions, and why, is in docs/integration.md ("How a status is decided").
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "feed/internal.h"

/* ---- the header -------------------------------------------------------------------------- */

static void nb__hdr(const nb__mctx_t *ctx, size_t field, size_t comp, char *buf, size_t cap)
{
    nb_hl7_value_t v = nb_hl7_get(ctx->msg, 0, field, comp ? 1 : 0, comp, 0);
    if (!nb__feed_text(ctx, v, buf, cap))
        buf[0] = '\0';
    /* Only what an ACK and a log line may carry: a control character becomes '?'. */
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static void nb__headers(const nb__mctx_t *ctx)
{
    nb_feed_out_t *out = ctx->out;
    char a[8], b[8];
    nb__hdr(ctx, 10, 0, out->control_id, sizeof(out->control_id));
    nb__hdr(ctx, 3, 0, out->sending_app, sizeof(out->sending_app));
    nb__hdr(ctx, 4, 0, out->sending_facility, sizeof(out->sending_facility));
    nb__hdr(ctx, 9, 1, a, sizeof(a));
    nb__hdr(ctx, 9, 2, b, sizeof(b));
    if (a[0]) {
        size_t na = strlen(a), nb = strlen(b);
        memcpy(out->message_type, a, na);
        out->message_type[na] = b[0] ? '^' : '\0';
        memcpy(out->message_type + na + 1, b, nb + 1); /* 7 + 1 + 7 + 1 bytes at most */
    }
    nb__hdr(ctx, 11, 1, out->processing_id, sizeof(out->processing_id));
    nb__hdr(ctx, 12, 1, out->version, sizeof(out->version));
}

/* Checks MSH-11 and MSH-12 against the mapping's lists (an empty list takes any). */
NB_NODISCARD static nb_err_t nb__accepts(const nb__mctx_t *ctx)
{
    const nb_feed_mapping_t *m = ctx->m;
    nb_feed_out_t *out = ctx->out;
    char norm[NB__FEED_CODE_MAX], q[40];
    int dummy;
    nb__feed_norm(out->processing_id, strlen(out->processing_id), norm, sizeof(norm));
    if (m->proc_ids.n && !nb__feed_lookup(&m->proc_ids, norm, &dummy))
        return nb__feed_refuse(out, NB_ERR_FEED_UNSUPPORTED, NB_HL7_AR, "processing_id_unsupported",
                               "MSH-11: processing id %s is not one this mapping takes",
                               nb__feed_quote(out->processing_id, q, sizeof(q)));
    nb__feed_norm(out->version, strlen(out->version), norm, sizeof(norm));
    if (m->versions.n && !nb__feed_lookup(&m->versions, norm, &dummy))
        return nb__feed_refuse(out, NB_ERR_FEED_UNSUPPORTED, NB_HL7_AR, "version_unsupported",
                               "MSH-12: version %s is not one this mapping takes",
                               nb__feed_quote(out->version, q, sizeof(q)));
    return NB_ERR_OK;
}

/* ---- the status -------------------------------------------------------------------------- */

/* A cancellation: the reason field says by whom (or that it was a no-show, or an error). */
NB_NODISCARD static nb_err_t nb__cancelled(const nb__mctx_t *ctx, nb_status_t *st, const char **by)
{
    const nb__coded_t *c = &ctx->m->reason;
    char code[NB__FEED_CODE_MAX], q[40];
    int value = NB__FEED_REFUSE, pi = -1,
        r = c->set ? nb__feed_code(ctx, c, &value, code, sizeof(code), &pi) : 0;
    if (r == 1) {
        *st = (nb_status_t)value;
        *by = c->field.text[pi];
        return NB_ERR_OK;
    }
    if (c->set && c->dflt >= 0) {
        *st = (nb_status_t)c->dflt;
        *by = "the cancel_reason default";
        return NB_ERR_OK;
    }
    if (r == 0)
        return nb__feed_refuse(ctx->out, NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "reason_missing",
                               "%s: a cancellation without a reason, and the mapping has no "
                               "cancel_reason default",
                               c->set ? c->field.text[0] : "cancel_reason");
    return nb__feed_refuse(ctx->out, NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "reason_unmapped",
                           "%s: cancellation reason %s is not in the mapping's cancel_reason map",
                           c->field.text[pi], nb__feed_quote(code, q, sizeof(q)));
}

/* The status field, through the status map. */
NB_NODISCARD static nb_err_t nb__status_field(const nb__mctx_t *ctx, int *value, const char **by)
{
    const nb__coded_t *c = &ctx->m->status;
    char code[NB__FEED_CODE_MAX], q[40];
    int pi = -1, r = c->set ? nb__feed_code(ctx, c, value, code, sizeof(code), &pi) : 0;
    if (r == 1) {
        *by = c->field.text[pi];
        return NB_ERR_OK;
    }
    if (c->set && c->dflt != NB__FEED_REFUSE) {
        *value = c->dflt;
        *by = "the status default";
        return NB_ERR_OK;
    }
    if (r == 0)
        return nb__feed_refuse(ctx->out, NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "status_missing",
                               "%s: no status, and the message type takes its status from it",
                               c->set ? c->field.text[0] : "status");
    return nb__feed_refuse(ctx->out, NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "status_unmapped",
                           "%s: status %s is not in the mapping's status map", c->field.text[pi],
                           nb__feed_quote(code, q, sizeof(q)));
}

/*
 * The status, in this order: a deletion (a message type mapped to entered_in_error) wins; then
 * the outcome field (a Z-segment attendance code), when it holds a code the map does not call
 * "none"; then the message type's own status; then the status field, for message types mapped
 * to "status". A cancellation, however reached, is resolved by the reason field.
 */
NB_NODISCARD static nb_err_t nb__status(const nb__mctx_t *ctx, int trig, nb_status_t *st,
                                        const char **by)
{
    const nb_feed_mapping_t *m = ctx->m;
    char code[NB__FEED_CODE_MAX], q[40];
    int value = trig, pi = -1;
    nb_err_t err;
    *by = "the message type";
    if (trig != NB_STATUS_ENTERED_IN_ERROR && m->outcome.set) {
        int ov, r = nb__feed_code(ctx, &m->outcome, &ov, code, sizeof(code), &pi);
        if (r < 0)
            return nb__feed_refuse(ctx->out, NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "outcome_unmapped",
                                   "%s: outcome code %s is not in the mapping's outcome map",
                                   m->outcome.field.text[pi], nb__feed_quote(code, q, sizeof(q)));
        if (r == 1 && ov != NB__FEED_NONE) {
            value = ov;
            *by = m->outcome.field.text[pi];
        }
    }
    if (value == NB__FEED_FROM_STATUS && (err = nb__status_field(ctx, &value, by)))
        return err;
    if (value == NB__FEED_CANCELLED)
        return nb__cancelled(ctx, st, by);
    *st = (nb_status_t)value;
    return NB_ERR_OK;
}

/* ---- the subject ------------------------------------------------------------------------- */

NB_NODISCARD static nb_err_t nb__nhs(const nb__mctx_t *ctx, nb_appointment_event_t *ev, char *where,
                                     size_t wcap)
{
    char raw[NB_ID_MAX + 1], norm[NB_NHS_LEN + 1];
    nb_err_t err = nb__feed_pick_id(ctx, &ctx->m->nhs, "NHS number", raw, sizeof(raw), where, wcap);
    if (err == NB_ERR_NOT_FOUND)
        return NB_ERR_OK;
    if (err)
        return err;
    if (nb_nhs_normalise(raw, norm) != NB_ERR_OK)
        return nb__feed_refuse(ctx->out, NB_ERR_NHS_FORMAT, NB_HL7_AE, "nhs_format",
                               "%s: NHS number is not 10 digits", where);
    switch (nb_nhs_validate(norm)) {
    case NB_ERR_OK:
        nb_str_copy(ev->nhs_number, sizeof(ev->nhs_number), norm);
        return NB_ERR_OK;
    case NB_ERR_NHS_PLACEHOLDER:
        /* One digit ten times: systems send it for "not known". Read as no NHS number, so the
         * local identifier is used. */
        return NB_ERR_OK;
    case NB_ERR_NHS_CHECK_DIGIT:
        return nb__feed_refuse(ctx->out, NB_ERR_NHS_CHECK_DIGIT, NB_HL7_AE, "nhs_check_digit",
                               "%s: NHS number fails the Modulus 11 check", where);
    default:
        return nb__feed_refuse(ctx->out, NB_ERR_NHS_FORMAT, NB_HL7_AE, "nhs_format",
                               "%s: NHS number is not 10 digits", where);
    }
}

/* Whether the subject is a pregnancy (maternity feeds). */
static bool nb__is_unborn(const nb__mctx_t *ctx)
{
    const nb_feed_mapping_t *m = ctx->m;
    char code[NB__FEED_CODE_MAX];
    int v, pi;
    if (m->unborn_always)
        return true;
    return m->unborn_when.set &&
           nb__feed_code(ctx, &m->unborn_when, &v, code, sizeof(code), &pi) == 1;
}

NB_NODISCARD static nb_err_t nb__subject(const nb__mctx_t *ctx, nb_appointment_event_t *ev)
{
    const nb_feed_mapping_t *m = ctx->m;
    char where[64] = "", lwhere[64] = "";
    nb_err_t err;
    if ((err = nb__nhs(ctx, ev, where, sizeof(where))))
        return err;
    err = nb__feed_pick_id(ctx, &m->local, "local identifier", ev->local_id.value,
                           sizeof(ev->local_id.value), lwhere, sizeof(lwhere));
    if (err == NB_ERR_OK)
        nb_str_copy(ev->local_id.system, sizeof(ev->local_id.system), m->local.system);
    else if (err != NB_ERR_NOT_FOUND)
        return err;
    if (!ev->nhs_number[0] && !ev->local_id.value[0])
        return nb__feed_refuse(ctx->out, NB_ERR_MISSING_IDENTIFIER, NB_HL7_AE, "missing_identifier",
                               "%s: no NHS number and no local identifier the mapping picks",
                               m->nhs.set ? m->nhs.field.text[0] : m->local.field.text[0]);
    if (nb__is_unborn(ctx)) {
        /* The patient of a maternity message is the pregnant person: their identifier is the
         * pregnancy's, the child has none yet. */
        ev->subject_kind = NB_SUBJECT_UNBORN;
        if (ev->nhs_number[0]) {
            nb_str_copy(ev->pregnant_person_id.system, sizeof(ev->pregnant_person_id.system),
                        NB_SYSTEM_NHS_NUMBER);
            nb_str_copy(ev->pregnant_person_id.value, sizeof(ev->pregnant_person_id.value),
                        ev->nhs_number);
        } else {
            ev->pregnant_person_id = ev->local_id;
        }
        ev->nhs_number[0] = '\0';
        memset(&ev->local_id, 0, sizeof(ev->local_id));
        err = nb__feed_date(ctx, &m->edd, "expected delivery date", &ev->expected_delivery_date);
        if (err == NB_ERR_NOT_FOUND)
            return nb__feed_refuse(ctx->out, NB_ERR_MISSING_IDENTIFIER, NB_HL7_AE, "edd_missing",
                                   "%s: a pregnancy without an expected delivery date",
                                   m->edd.text[0]);
        return err;
    }
    if (m->dob.n && (err = nb__feed_date(ctx, &m->dob, "date of birth", &ev->date_of_birth)) &&
        err != NB_ERR_NOT_FOUND)
        return err;
    return NB_ERR_OK;
}

/* ---- the appointment --------------------------------------------------------------------- */

/* Copies the text at the first valued path into a field of @p cap bytes, or refuses. */
NB_NODISCARD static nb_err_t nb__string(const nb__mctx_t *ctx, const nb__paths_t *ps,
                                        const char *what, nb_text_class_t cls, char *dst,
                                        size_t cap)
{
    nb_hl7_value_t v;
    char buf[256];
    int pi = nb__feed_first(ctx, ps, &v);
    dst[0] = '\0';
    if (pi < 0)
        return NB_ERR_NOT_FOUND;
    size_t len = nb__feed_text_len(ctx, v, buf, sizeof(buf));
    if (len == SIZE_MAX || len >= cap)
        return nb__feed_refuse(ctx->out, NB_ERR_FIELD_TOO_LONG, NB_HL7_AE, "field_too_long",
                               "%s: the %s is longer than %zu bytes", ps->text[pi], what, cap - 1);
    nb_text_fault_t tf = nb_text_check(buf, len, cls);
    if (tf != NB_TEXT_OK)
        return nb__feed_refuse(ctx->out, NB_ERR_TEXT_INVALID, NB_HL7_AE, "text_invalid",
                               "%s: the %s %s", ps->text[pi], what, nb_text_fault_str(tf));
    memcpy(dst, buf, len + 1);
    return len ? NB_ERR_OK : NB_ERR_NOT_FOUND;
}

/* A coded vocabulary field (type, contact mode): its code through the map, or the default. */
NB_NODISCARD static nb_err_t nb__vocab(const nb__mctx_t *ctx, const nb__coded_t *c,
                                       const char *what, const char *key, int *value)
{
    char code[NB__FEED_CODE_MAX], q[40], refusal[NB_FEED_CODE_MAX];
    int pi = -1, r = nb__feed_code(ctx, c, value, code, sizeof(code), &pi);
    if (r == 1)
        return NB_ERR_OK;
    if (c->dflt != NB__FEED_REFUSE) {
        *value = c->dflt;
        return NB_ERR_OK;
    }
    snprintf(refusal, sizeof(refusal), "%s_%s", key, r == 0 ? "missing" : "unmapped");
    if (r == 0)
        return nb__feed_refuse(ctx->out, NB_ERR_FEED_UNMAPPED, NB_HL7_AE, refusal,
                               "%s: no %s, and the mapping has no %s default", c->field.text[0],
                               what, key);
    return nb__feed_refuse(ctx->out, NB_ERR_FEED_UNMAPPED, NB_HL7_AE, refusal,
                           "%s: %s %s is not in the mapping's %s map, which has no default",
                           c->field.text[pi], what, nb__feed_quote(code, q, sizeof(q)), key);
}

NB_NODISCARD static nb_err_t nb__appointment(const nb__mctx_t *ctx, nb_appointment_event_t *ev)
{
    const nb_feed_mapping_t *m = ctx->m;
    nb_err_t err;
    int value;
    err = nb__string(ctx, &m->appt_id, "appointment id", NB_TEXT_ID, ev->appointment_id,
                     sizeof(ev->appointment_id));
    if (err == NB_ERR_NOT_FOUND)
        return nb__feed_refuse(ctx->out, NB_ERR_FIELD_EMPTY, NB_HL7_AE, "appointment_id_missing",
                               "%s: no appointment id", m->appt_id.text[0]);
    if (err)
        return err;
    err = nb__feed_time(ctx, &m->start, "scheduled start", &ev->scheduled_start);
    if (err == NB_ERR_NOT_FOUND)
        return nb__feed_refuse(ctx->out, NB_ERR_FIELD_EMPTY, NB_HL7_AE, "scheduled_start_missing",
                               "%s: no scheduled start", m->start.text[0]);
    if (err)
        return err;
    err = nb__feed_time(ctx, &m->recorded, "recording time", &ev->recorded_at);
    if (err == NB_ERR_NOT_FOUND)
        return nb__feed_refuse(ctx->out, NB_ERR_FIELD_EMPTY, NB_HL7_AE, "recorded_at_missing",
                               "%s: no message or event time", m->recorded.text[0]);
    if (err)
        return err;
    if ((err = nb__vocab(ctx, &m->type, "appointment type", "type", &value)))
        return err;
    nb_str_copy(ev->appointment_type, sizeof(ev->appointment_type), m->types[value]);
    char norm[NB__FEED_CODE_MAX];
    int dummy;
    nb__feed_norm(m->types[value], strlen(m->types[value]), norm, sizeof(norm));
    ev->mandated_contact = nb__feed_lookup(&m->mandated, norm, &dummy);
    ev->contact_mode = NB_CONTACT_FACE_TO_FACE;
    if (m->mode.set) {
        if ((err = nb__vocab(ctx, &m->mode, "contact mode", "mode", &value)))
            return err;
        ev->contact_mode = (nb_contact_mode_t)value;
    }
    if (m->family.n &&
        (err = nb__string(ctx, &m->family, "family name", NB_TEXT_NAME, ev->family_name,
                          sizeof(ev->family_name))) &&
        err != NB_ERR_NOT_FOUND)
        return err;
    if (m->postcode.n &&
        (err = nb__string(ctx, &m->postcode, "postcode", NB_TEXT_ID, ev->postcode,
                          sizeof(ev->postcode))) &&
        err != NB_ERR_NOT_FOUND)
        return err;
    return NB_ERR_OK;
}

/* ---- ids --------------------------------------------------------------------------------- */

/* The ids of a message's records: one SHA-256 over MSH-3, MSH-4, MSH-9 and MSH-10 as sent,
 * each followed by a NUL; the event id is "hl7-" and the hex of its first 16 bytes, the
 * identity link's "hl7-" and the hex of the last 16. MSH-9 is there because senders reuse
 * control ids across message types (Barts' samples send an S15 and an S26 with one MSH-10); a
 * resend carries the same type, so it still gets the same ids. */
NB_NODISCARD static nb_err_t nb__ids(const nb__mctx_t *ctx, char ev_id[NB_ID_MAX + 1],
                                     char link_id[NB_ID_MAX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    nb_feed_out_t *out = ctx->out;
    if (!out->sha256 && !(out->sha256 = EVP_MD_CTX_new()))
        return NB_ERR_NOMEM;
    EVP_MD_CTX *mc = out->sha256;
    bool ok = EVP_DigestInit_ex(mc, ctx->m->sha256 ? ctx->m->sha256 : EVP_sha256(), NULL);
    static const size_t fields[] = {3, 4, 9, 10};
    for (size_t i = 0; i < 4 && ok; i++) {
        nb_hl7_value_t v = nb_hl7_get(ctx->msg, 0, fields[i], 0, 0, 0);
        ok = EVP_DigestUpdate(mc, v.p, v.len) && EVP_DigestUpdate(mc, "", 1);
    }
    ok = ok && EVP_DigestFinal_ex(mc, md, &mdlen);
    if (!ok || mdlen < 32)
        return NB_ERR_NOMEM;
    char *ids[2] = {ev_id, link_id};
    for (size_t k = 0; k < 2; k++) {
        memcpy(ids[k], "hl7-", 4);
        for (size_t i = 0; i < 16; i++) {
            ids[k][4 + 2 * i] = "0123456789abcdef"[md[16 * k + i] >> 4];
            ids[k][5 + 2 * i] = "0123456789abcdef"[md[16 * k + i] & 15];
        }
        ids[k][36] = '\0';
    }
    return NB_ERR_OK;
}

/* The identity link local identifier -> NHS number, where the mapping asks and both are known. */
NB_NODISCARD static nb_err_t nb__link(const nb__mctx_t *ctx, const nb_appointment_event_t *ev,
                                      const char *link_id)
{
    if (!ctx->m->link_local_to_nhs ||
        nb__feed_link_add(ctx->out, ev, ctx->m->link_verification, link_id) == NB_ERR_OK)
        return NB_ERR_OK;
    return nb__feed_refuse(ctx->out, NB_ERR_LIMIT, NB_HL7_AE, "limit",
                           "the message maps to more than %d records", NB_FEED_MAX_RECORDS);
}

/* ---- the mapper -------------------------------------------------------------------------- */

/* The message type: mapped (*trig), ignored, or refused. @returns NB_ERR_OK with *trig, or
 * NB_ERR_NOT_FOUND when ignored (out says so), or a refusal. */
NB_NODISCARD static nb_err_t nb__message_type(const nb__mctx_t *ctx, int *trig)
{
    nb_feed_out_t *out = ctx->out;
    char norm[NB__FEED_CODE_MAX], q[40];
    int dummy;
    nb__feed_norm(out->message_type, strlen(out->message_type), norm, sizeof(norm));
    if (nb__feed_lookup(&ctx->m->ignore, norm, &dummy)) {
        out->outcome = NB_FEED_IGNORED;
        out->ack = NB_HL7_AA;
        nb_str_copy(out->code, sizeof(out->code), "ignored");
        snprintf(out->text, sizeof(out->text),
                 "MSH-9: %s is not about an appointment (the mapping's ignore list)",
                 nb__feed_quote(out->message_type, q, sizeof(q)));
        return NB_ERR_NOT_FOUND;
    }
    if (!out->message_type[0] || !nb__feed_lookup(&ctx->m->messages, norm, trig))
        return nb__feed_refuse(
            out, NB_ERR_FEED_UNSUPPORTED, NB_HL7_AR, "message_type_unsupported",
            "MSH-9: message type %s is not one this mapping takes",
            out->message_type[0] ? nb__feed_quote(out->message_type, q, sizeof(q)) : "(none)");
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__map(const nb__mctx_t *ctx)
{
    const nb_feed_mapping_t *m = ctx->m;
    nb_feed_out_t *out = ctx->out;
    nb_err_t err;
    int trig;
    if ((err = nb__accepts(ctx)))
        return err;
    if ((err = nb__message_type(ctx, &trig)))
        return err == NB_ERR_NOT_FOUND ? NB_ERR_OK : err;
    if (!out->control_id[0])
        return nb__feed_refuse(out, NB_ERR_FIELD_EMPTY, NB_HL7_AE, "control_id_missing",
                               "MSH-10: no message control id, without which a resend cannot be "
                               "told from a new message");
    nb_record_t *rec = &out->records[0];
    /* Only the event: the union is as large as a notification (tens of kilobytes). */
    memset(&rec->u.appt, 0, sizeof(rec->u.appt));
    rec->type = NB_RECORD_APPOINTMENT;
    rec->schema_id = 1;
    nb_appointment_event_t *ev = &rec->u.appt;
    ev->source = m->source;
    ev->subject_kind = NB_SUBJECT_CHILD;
    ev->expected_delivery_date = NB_DATE_NONE;
    ev->date_of_birth = NB_DATE_NONE;
    ev->version = 1;
    const char *by = "";
    char link_id[NB_ID_MAX + 1];
    if ((err = nb__status(ctx, trig, &ev->status, &by)) || (err = nb__subject(ctx, ev)) ||
        (err = nb__appointment(ctx, ev)) || (err = nb__ids(ctx, ev->event_id, link_id)))
        return err;
    /* docs/schemas.md: a no-show on a home visit is a visit where nobody answered. */
    if (ev->status == NB_STATUS_WAS_NOT_BROUGHT && ev->contact_mode == NB_CONTACT_HOME_VISIT)
        ev->status = NB_STATUS_NO_ACCESS_VISIT;
    out->n_records = 1;
    if ((err = nb__link(ctx, ev, link_id)))
        return err;
    out->outcome = NB_FEED_MAPPED;
    out->ack = NB_HL7_AA;
    nb_str_copy(out->code, sizeof(out->code), "mapped");
    /* "status <name> from <field>", without the formatting machinery (per message). */
    const char *parts[] = {"status ", nb_status_name(ev->status), " from ", by};
    size_t off = 0;
    for (size_t i = 0; i < 4; i++) {
        nb_str_copy(out->text + off, sizeof(out->text) - off, parts[i]);
        off += strlen(out->text + off);
    }
    return NB_ERR_OK;
}

nb_err_t nb_feed_hl7(const nb_feed_mapping_t *m, const char *data, size_t len, nb_feed_out_t *out)
{
    char err_text[160];
    if (!m || !out || !out->msg || (!data && len))
        return NB_ERR_INVALID_ARG;
    out->outcome = NB_FEED_REFUSED;
    out->err = NB_ERR_OK;
    out->ack = NB_HL7_AE;
    out->code[0] = out->text[0] = '\0';
    out->control_id[0] = out->sending_app[0] = out->sending_facility[0] = '\0';
    out->message_type[0] = out->processing_id[0] = out->version[0] = '\0';
    out->n_records = 0;
    nb__mctx_t ctx = {m, out->msg, NULL, out};
    nb_err_t err = nb_hl7_msg_parse(out->msg, data ? data : "", len, err_text, sizeof(err_text));
    ctx.d = nb_hl7_msg_delims(out->msg);
    if (nb_hl7_segment_count(out->msg) > 0)
        nb__headers(&ctx);
    if (err)
        return nb__feed_refuse(out, err, nb_hl7_segment_count(out->msg) ? NB_HL7_AE : NB_HL7_AR,
                               err == NB_ERR_LIMIT ? "limit" : "hl7_syntax", "%s", err_text);
    out->err = nb__map(&ctx);
    return out->err;
}
