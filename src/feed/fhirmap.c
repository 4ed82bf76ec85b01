/*
 * notbrought - feed: the FHIR R4 mapper. One Appointment or Encounter, as the fhir module read
 * it, and its source's mapping in; an appointment event, "ignored", or a refusal naming the
 * FHIR path and an OperationOutcome IssueType out. What each element becomes, and why, is in
 * docs/integration.md ("The fhir section") and docs/schemas.md (the status tables).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "feed/internal.h"

#define NB__MS_PER_DAY 86400000LL

typedef struct nb__fctx_s {
    const nb_feed_mapping_t *m;
    const nb__fhir_t *f;
    nb_feed_out_t *out;
    const char *where; /* the resource's path: "Appointment", "Bundle.entry[2].resource" */
    const nb_fhir_resource_t *res;
} nb__fctx_t;

/* Fills a refusal (or, with NB_ERR_OK, an ignore): expression = where + "." + @p path. */
NB_NODISCARD __attribute__((format(printf, 6, 7))) static nb_err_t
nb__frefuse(const nb__fctx_t *fc, nb_err_t err, const char *code, const char *issue,
            const char *path, const char *fmt, ...)
{
    nb_feed_out_t *out = fc->out;
    char msg[NB_FEED_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(out->expression, sizeof(out->expression), "%s%s%s", fc->where, path[0] ? "." : "",
             path);
    /* "path: msg", cut at the end of out->text rather than formatted (no truncation warning). */
    const char *parts[] = {out->expression, ": ", msg};
    size_t off = 0;
    for (size_t i = 0; i < 3 && off + 1 < sizeof(out->text); i++) {
        nb_str_copy(out->text + off, sizeof(out->text) - off, parts[i]);
        off += strlen(out->text + off);
    }
    nb_str_copy(out->code, sizeof(out->code), code);
    nb_str_copy(out->issue_code, sizeof(out->issue_code), issue);
    out->n_records = 0;
    out->err = err;
    out->outcome = err ? NB_FEED_REFUSED : NB_FEED_IGNORED;
    out->ack = err ? NB_HL7_AE : NB_HL7_AA;
    return err;
}

/* ---- codes ------------------------------------------------------------------------------- */

/* One coding through a map: "system|code" first, then the code alone. */
static bool nb__coding(const nb__codemap_t *map, const nb_fhir_coding_t *c, int *value)
{
    char key[NB__FEED_CODE_MAX * 2], norm[NB__FEED_CODE_MAX];
    if (!c->code)
        return false;
    if (c->system && strlen(c->system) + 1 + strlen(c->code) < NB__FEED_CODE_MAX) {
        snprintf(key, sizeof(key), "%s|%s", c->system, c->code);
        nb__feed_norm(key, strlen(key), norm, sizeof(norm));
        if (nb__feed_lookup(map, norm, value))
            return true;
    }
    if (strlen(c->code) >= NB__FEED_CODE_MAX)
        return false;
    nb__feed_norm(c->code, strlen(c->code), norm, sizeof(norm));
    return nb__feed_lookup(map, norm, value);
}

/* The codings of one element of the resource, and its path. */
static bool nb__element(const nb__fctx_t *fc, unsigned bit, nb_fhir_codings_t *cs,
                        nb_fhir_coding_t *one, const char **path)
{
    const nb_fhir_appointment_t *a = fc->res->appointment;
    const nb_fhir_encounter_t *e = fc->res->encounter;
    memset(cs, 0, sizeof(*cs));
    if (a && bit == NB__FE_APPOINTMENT_TYPE)
        *cs = a->appointment_type, *path = "appointmentType";
    else if (a && bit == NB__FE_SERVICE_TYPE)
        *cs = a->service_type, *path = "serviceType";
    else if (a && bit == NB__FE_SERVICE_CATEGORY)
        *cs = a->service_category, *path = "serviceCategory";
    else if (a && bit == NB__FE_SPECIALTY)
        *cs = a->specialty, *path = "specialty";
    else if (e && bit == NB__FE_SERVICE_TYPE)
        *cs = e->service_type, *path = "serviceType";
    else if (e && bit == NB__FE_TYPE)
        *cs = e->type, *path = "type";
    else if (e && bit == NB__FE_CLASS && e->class.code) {
        *one = e->class;
        cs->n = 1;
        cs->v = one;
        *path = "class";
    }
    return cs->n > 0;
}

/* Looks the codings of the elements in c->from up, in order. @returns 1 found, 0 no coding in
 * any, -1 codings none of which is mapped (*code the first, *path its element). */
static int nb__fcodes(const nb__fctx_t *fc, const nb__fcoded_t *c, int *value, const char **code,
                      const char **path)
{
    int r = 0;
    *code = NULL;
    for (unsigned bit = 1; bit <= NB__FE_TYPE; bit <<= 1) {
        nb_fhir_codings_t cs;
        nb_fhir_coding_t one;
        const char *p = "";
        if (!(c->from & bit) || !nb__element(fc, bit, &cs, &one, &p))
            continue;
        for (size_t i = 0; i < cs.n; i++)
            if (nb__coding(&c->map, &cs.v[i], value))
                return 1;
        if (r == 0) {
            r = -1;
            *path = p;
            *code = cs.v[0].code ? cs.v[0].code : "";
        }
    }
    return r;
}

/* A vocabulary element (type, contact mode): mapped, the default, or refused. */
NB_NODISCARD static nb_err_t nb__fvocab(const nb__fctx_t *fc, const nb__fcoded_t *c,
                                        const char *what, const char *key, int *value)
{
    const char *code = NULL, *path = "";
    char q[40], refusal[NB_FEED_CODE_MAX];
    int r = nb__fcodes(fc, c, value, &code, &path);
    if (r == 1)
        return NB_ERR_OK;
    if (c->dflt != NB__FEED_REFUSE) {
        *value = c->dflt;
        return NB_ERR_OK;
    }
    snprintf(refusal, sizeof(refusal), "%s_%s", key, r == 0 ? "missing" : "unmapped");
    if (r == 0)
        return nb__frefuse(fc, NB_ERR_FEED_UNMAPPED, refusal, "required", "",
                           "no coding the mapping reads the %s from, and no %s default", what, key);
    return nb__frefuse(fc, NB_ERR_FEED_UNMAPPED, refusal, "code-invalid", path,
                       "%s %s is not in the mapping's %s map, which has no default", what,
                       nb__feed_quote(code, q, sizeof(q)), key);
}

/* ---- the status -------------------------------------------------------------------------- */

NB_NODISCARD static nb_err_t nb__fstatus(const nb__fctx_t *fc, nb_status_t *st)
{
    const nb__fhir_t *f = fc->f;
    const nb_fhir_appointment_t *a = fc->res->appointment;
    const char *status = a ? a->status : fc->res->encounter->status;
    const nb__fcoded_t *c = a ? &f->status : &f->enc_status;
    char norm[NB__FEED_CODE_MAX], q[40];
    int value;
    nb__feed_norm(status, strlen(status), norm, sizeof(norm));
    if (strlen(status) >= NB__FEED_CODE_MAX || !nb__feed_lookup(&c->map, norm, &value)) {
        if (c->dflt == NB__FEED_REFUSE)
            return nb__frefuse(fc, NB_ERR_FEED_UNMAPPED, "status_unmapped", "code-invalid",
                               "status", "status %s is not in the mapping's status map",
                               nb__feed_quote(status, q, sizeof(q)));
        value = c->dflt;
    }
    if (value != NB__FEED_CANCELLED) {
        *st = (nb_status_t)value;
        return NB_ERR_OK;
    }
    /* Cancelled: cancelationReason says by whom (Encounters have none: the default). */
    const char *code = NULL, *path = "cancelationReason";
    int r = 0;
    if (a && a->cancelation_reason.n) {
        r = -1;
        code = a->cancelation_reason.v[0].code ? a->cancelation_reason.v[0].code : "";
        for (size_t i = 0; i < a->cancelation_reason.n && r < 0; i++)
            if (nb__coding(&f->reason.map, &a->cancelation_reason.v[i], &value))
                r = 1;
    }
    if (r == 1) {
        *st = (nb_status_t)value;
        return NB_ERR_OK;
    }
    if (f->reason.dflt >= 0) {
        *st = (nb_status_t)f->reason.dflt;
        return NB_ERR_OK;
    }
    if (r == 0)
        return nb__frefuse(fc, NB_ERR_FEED_UNMAPPED, "reason_missing", "required",
                           a ? "cancelationReason" : "status",
                           "a cancellation without a reason, and the mapping has no "
                           "cancel_reason default");
    return nb__frefuse(fc, NB_ERR_FEED_UNMAPPED, "reason_unmapped", "code-invalid", path,
                       "cancellation reason %s is not in the mapping's cancel_reason map",
                       nb__feed_quote(code, q, sizeof(q)));
}

/* ---- the subject ------------------------------------------------------------------------- */

static bool nb__in(const nb__systems_t *s, const char *system)
{
    for (size_t i = 0; system && i < s->n; i++)
        if (strcmp(s->v[i], system) == 0)
            return true;
    return false;
}

/* The id after "Type/" in a reference ("Patient/1", "https://x/Patient/1/_history/2"). */
static bool nb__ref_id(const char *ref, const char *type, char *buf, size_t cap)
{
    size_t tl = strlen(type);
    const char *p = NULL;
    for (const char *s = ref; s && (s = strstr(s, type)) != NULL; s += tl)
        if ((s == ref || s[-1] == '/') && s[tl] == '/')
            p = s + tl + 1;
    if (!p)
        return false;
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= cap)
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return true;
}

/* An NHS number: validated, or refused with the path of its identifier. */
NB_NODISCARD static nb_err_t nb__fnhs(const nb__fctx_t *fc, const char *value, const char *path,
                                      nb_appointment_event_t *ev)
{
    char norm[NB_NHS_LEN + 1];
    if (strlen(value) > 20 || nb_nhs_normalise(value, norm) != NB_ERR_OK)
        return nb__frefuse(fc, NB_ERR_NHS_FORMAT, "nhs_format", "value", path,
                           "NHS number is not 10 digits");
    switch (nb_nhs_validate(norm)) {
    case NB_ERR_OK:
        nb_str_copy(ev->nhs_number, sizeof(ev->nhs_number), norm);
        return NB_ERR_OK;
    case NB_ERR_NHS_PLACEHOLDER:
        return NB_ERR_OK; /* "not known": read as none, as for HL7 v2 */
    case NB_ERR_NHS_CHECK_DIGIT:
        return nb__frefuse(fc, NB_ERR_NHS_CHECK_DIGIT, "nhs_check_digit", "value", path,
                           "NHS number fails the Modulus 11 check");
    default:
        return nb__frefuse(fc, NB_ERR_NHS_FORMAT, "nhs_format", "value", path,
                           "NHS number is not 10 digits");
    }
}

/* A local identifier's value and system into the event, or refused. */
NB_NODISCARD static nb_err_t nb__flocal(const nb__fctx_t *fc, const char *system, const char *value,
                                        const char *path, nb_appointment_event_t *ev)
{
    const char *sys = fc->f->local_system[0] ? fc->f->local_system : system;
    if (strlen(value) > NB_ID_MAX || strlen(sys) > NB_SYSTEM_MAX)
        return nb__frefuse(fc, NB_ERR_FIELD_TOO_LONG, "field_too_long", "too-long", path,
                           "the local identifier is longer than %d bytes", NB_ID_MAX);
    nb_text_fault_t tf = nb_text_check(value, strlen(value), NB_TEXT_ID);
    if (tf != NB_TEXT_OK)
        return nb__frefuse(fc, NB_ERR_TEXT_INVALID, "text_invalid", "value", path,
                           "the local identifier %s", nb_text_fault_str(tf));
    nb_str_copy(ev->local_id.system, sizeof(ev->local_id.system), sys);
    nb_str_copy(ev->local_id.value, sizeof(ev->local_id.value), value);
    return NB_ERR_OK;
}

/* The identifiers of the Patient a reference resolves to, or of the reference itself. */
NB_NODISCARD static nb_err_t nb__fids(const nb__fctx_t *fc, const nb_fhir_ref_t *ref,
                                      const char *rpath, nb_appointment_event_t *ev)
{
    const nb__fhir_t *f = fc->f;
    char path[160];
    nb_err_t err;
    size_t n = ref->patient ? ref->patient->identifiers.n : 1;
    for (size_t i = 0; i < n; i++) {
        const nb_fhir_identifier_t *id =
            ref->patient ? &ref->patient->identifiers.v[i] : &ref->identifier;
        if (ref->patient)
            snprintf(path, sizeof(path), "%s.resolve().identifier[%zu]", rpath, i);
        else
            snprintf(path, sizeof(path), "%s.identifier", rpath);
        if (!id->value || !id->value[0])
            continue;
        if (!ev->nhs_number[0] && nb__in(&f->nhs_systems, id->system) &&
            (err = nb__fnhs(fc, id->value, path, ev)))
            return err;
        if (!ev->local_id.value[0] && nb__in(&f->local_systems, id->system) &&
            (err = nb__flocal(fc, id->system, id->value, path, ev)))
            return err;
    }
    char rid[NB_ID_MAX + 2];
    if (!ev->local_id.value[0] && f->ref_system[0] && ref->reference &&
        nb__ref_id(ref->reference, "Patient", rid, sizeof(rid))) {
        snprintf(path, sizeof(path), "%s.reference", rpath);
        if ((err = nb__flocal(fc, f->ref_system, rid, path, ev)))
            return err;
    }
    if (ref->patient && ref->patient->birth_date.prec == NB_FHIR_PREC_DAY) {
        int64_t ms = ref->patient->birth_date.ms;
        ev->date_of_birth = (int32_t)((ms - (ms < 0 ? NB__MS_PER_DAY - 1 : 0)) / NB__MS_PER_DAY);
    }
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__fsubject(const nb__fctx_t *fc, nb_appointment_event_t *ev)
{
    const nb_fhir_appointment_t *a = fc->res->appointment;
    const nb_fhir_ref_t *ref = NULL;
    char rpath[64] = "subject";
    if (a && a->patient) {
        ref = &a->patient->actor;
        snprintf(rpath, sizeof(rpath), "participant[%zu].actor",
                 (size_t)(a->patient - a->participants));
    } else if (!a && fc->res->encounter->subject.present) {
        ref = &fc->res->encounter->subject;
    }
    if (!ref)
        return nb__frefuse(fc, NB_ERR_MISSING_IDENTIFIER, "missing_identifier", "required",
                           a ? "participant" : "subject", "no Patient %s",
                           a ? "participant" : "subject");
    nb_err_t err = nb__fids(fc, ref, rpath, ev);
    if (err)
        return err;
    if (!ev->nhs_number[0] && !ev->local_id.value[0])
        return nb__frefuse(fc, NB_ERR_MISSING_IDENTIFIER, "missing_identifier", "required", rpath,
                           "no NHS number and no local identifier the mapping picks");
    return NB_ERR_OK;
}

/* ---- the appointment --------------------------------------------------------------------- */

/* An id into the event, checked; @returns NB_ERR_OK, or a refusal. */
NB_NODISCARD static nb_err_t nb__fid_copy(const nb__fctx_t *fc, const char *v, const char *path,
                                          nb_appointment_event_t *ev)
{
    if (strlen(v) > NB_ID_MAX)
        return nb__frefuse(fc, NB_ERR_FIELD_TOO_LONG, "field_too_long", "too-long", path,
                           "the appointment id is longer than %d bytes", NB_ID_MAX);
    nb_text_fault_t tf = nb_text_check(v, strlen(v), NB_TEXT_ID);
    if (tf != NB_TEXT_OK)
        return nb__frefuse(fc, NB_ERR_TEXT_INVALID, "text_invalid", "value", path,
                           "the appointment id %s", nb_text_fault_str(tf));
    nb_str_copy(ev->appointment_id, sizeof(ev->appointment_id), v);
    return NB_ERR_OK;
}

/* The appointment id: of the Appointment, or of the one an Encounter references. @returns
 * NB_ERR_NOT_FOUND for an Encounter without one (the caller decides), or a refusal. */
NB_NODISCARD static nb_err_t nb__fappt_id(const nb__fctx_t *fc, nb_appointment_event_t *ev)
{
    const nb__fhir_t *f = fc->f;
    const nb_fhir_appointment_t *a = fc->res->appointment;
    const nb_fhir_encounter_t *e = fc->res->encounter;
    char path[64], rid[NB_ID_MAX + 2];
    for (size_t k = 0; k < f->ids.n; k++) {
        const char *sys = f->ids.v[k];
        if (a && !sys[0] && a->meta.id)
            return nb__fid_copy(fc, a->meta.id, "id", ev);
        for (size_t i = 0; a && sys[0] && i < a->identifiers.n; i++) {
            const nb_fhir_identifier_t *id = &a->identifiers.v[i];
            snprintf(path, sizeof(path), "identifier[%zu]", i);
            if (id->system && id->value && strcmp(id->system, sys) == 0)
                return nb__fid_copy(fc, id->value, path, ev);
        }
        for (size_t i = 0; e && i < e->appointment.n; i++) {
            const nb_fhir_ref_t *r = &e->appointment.v[i];
            snprintf(path, sizeof(path), "appointment[%zu]", i);
            if (!sys[0] && r->reference &&
                nb__ref_id(r->reference, "Appointment", rid, sizeof(rid)))
                return nb__fid_copy(fc, rid, path, ev);
            if (sys[0] && r->identifier.system && r->identifier.value &&
                strcmp(r->identifier.system, sys) == 0)
                return nb__fid_copy(fc, r->identifier.value, path, ev);
        }
    }
    if (e && !e->appointment.n)
        return NB_ERR_NOT_FOUND;
    return nb__frefuse(fc, NB_ERR_FIELD_EMPTY, "appointment_id_missing", "required",
                       a ? "id" : "appointment",
                       "no appointment id where the mapping reads it (%s)",
                       f->ids.n && f->ids.v[0][0] ? "identifier systems" : "the resource id");
}

/* A time of the resource, at least to the day. */
NB_NODISCARD static nb_err_t nb__ftime(const nb__fctx_t *fc, const nb_fhir_time_t *t,
                                       const char *path, const char *what, const char *missing,
                                       int64_t *ms)
{
    if (t->prec == NB_FHIR_PREC_NONE)
        return nb__frefuse(fc, NB_ERR_FIELD_EMPTY, missing, "required", path, "no %s", what);
    if (t->prec < NB_FHIR_PREC_DAY)
        return nb__frefuse(fc, NB_ERR_FHIR_TIMESTAMP, "timestamp_invalid", "value", path,
                           "the %s is not given to the day", what);
    *ms = t->ms;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__fappointment(const nb__fctx_t *fc, int64_t received_ms,
                                              nb_appointment_event_t *ev)
{
    const nb__fhir_t *f = fc->f;
    const nb_fhir_appointment_t *a = fc->res->appointment;
    const nb_fhir_encounter_t *e = fc->res->encounter;
    const nb_fhir_meta_t *meta = a ? &a->meta : &e->meta;
    nb_err_t err;
    int value;
    if ((err = nb__ftime(fc, a ? &a->start : &e->period_start, a ? "start" : "period.start",
                         "scheduled start", "scheduled_start_missing", &ev->scheduled_start)))
        return err;
    if (meta->last_updated.prec == NB_FHIR_PREC_NONE && f->recorded_received && received_ms > 0)
        ev->recorded_at = received_ms;
    else if ((err = nb__ftime(fc, &meta->last_updated, "meta.lastUpdated", "last update time",
                              "recorded_at_missing", &ev->recorded_at)))
        return err;
    if ((err = nb__fvocab(fc, &f->type, "appointment type", "type", &value)))
        return err;
    const char *tname = fc->m->types[value];
    char norm[NB__FEED_CODE_MAX];
    int dummy;
    nb_str_copy(ev->appointment_type, sizeof(ev->appointment_type), tname);
    nb__feed_norm(tname, strlen(tname), norm, sizeof(norm));
    ev->mandated_contact = nb__feed_lookup(&fc->m->mandated, norm, &dummy);
    ev->contact_mode = NB_CONTACT_FACE_TO_FACE;
    if (f->mode.set) {
        if ((err = nb__fvocab(fc, &f->mode, "contact mode", "mode", &value)))
            return err;
        ev->contact_mode = (nb_contact_mode_t)value;
    } else if (e && e->class.code && strcmp(e->class.code, "HH") == 0) {
        /* v3-ActCode HH, home health: a visit at the child's home. */
        ev->contact_mode = NB_CONTACT_HOME_VISIT;
    }
    return NB_ERR_OK;
}

/* ---- ids --------------------------------------------------------------------------------- */

static bool nb__put(EVP_MD_CTX *mc, const char *s)
{
    return EVP_DigestUpdate(mc, s ? s : "", s ? strlen(s) : 0) && EVP_DigestUpdate(mc, "", 1);
}

/* The event id (nb_feed_fhir() says how it is made) from the first half of the hash, and the
 * identity link's from the second, as HL7 v2's: a resend gives both again. */
NB_NODISCARD static nb_err_t nb__fevent_id(const nb__fctx_t *fc, nb_appointment_event_t *ev,
                                           char link_id[NB_ID_MAX + 1])
{
    const nb_fhir_meta_t *meta =
        fc->res->appointment ? &fc->res->appointment->meta : &fc->res->encounter->meta;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    bool ok = mc && EVP_DigestInit_ex(mc, fc->m->sha256 ? fc->m->sha256 : EVP_sha256(), NULL);
    ok = ok && nb__put(mc, fc->m->source.organisation_code) && nb__put(mc, fc->m->source.system) &&
         nb__put(mc, fc->res->resource_type) && nb__put(mc, meta->id);
    if (meta->id && meta->version_id) {
        ok = ok && nb__put(mc, "version") && nb__put(mc, meta->version_id);
    } else {
        /* The canonical content: every field of the event but its id, as text. */
        char buf[96];
        snprintf(buf, sizeof(buf), "%d|%d|%lld|%lld|%d|%d|%ld", (int)ev->status,
                 (int)ev->contact_mode, (long long)ev->scheduled_start, (long long)ev->recorded_at,
                 (int)ev->date_of_birth, ev->mandated_contact ? 1 : 0, (long)ev->version);
        ok = ok && nb__put(mc, "content") && nb__put(mc, ev->appointment_id) &&
             nb__put(mc, ev->appointment_type) && nb__put(mc, ev->nhs_number) &&
             nb__put(mc, ev->local_id.system) && nb__put(mc, ev->local_id.value) &&
             nb__put(mc, buf);
    }
    ok = ok && EVP_DigestFinal_ex(mc, md, &mdlen);
    EVP_MD_CTX_free(mc);
    if (!ok || mdlen < 32)
        return NB_ERR_NOMEM;
    nb__feed_hex_id(ev->event_id, "fhir-", md);
    nb__feed_hex_id(link_id, "fhir-", md + 16);
    return NB_ERR_OK;
}

/* ---- the mapper -------------------------------------------------------------------------- */

NB_NODISCARD static nb_err_t nb__fmap(const nb__fctx_t *fc, int64_t received_ms)
{
    nb_feed_out_t *out = fc->out;
    nb_record_t *rec = &out->records[0];
    /* Only the event: the union is as large as a notification. */
    memset(&rec->u.appt, 0, sizeof(rec->u.appt));
    rec->type = NB_RECORD_APPOINTMENT;
    rec->schema_id = 1;
    nb_appointment_event_t *ev = &rec->u.appt;
    ev->source = fc->m->source;
    ev->subject_kind = NB_SUBJECT_CHILD;
    ev->expected_delivery_date = NB_DATE_NONE;
    ev->date_of_birth = NB_DATE_NONE;
    ev->version = 1;
    nb_err_t err = nb__fappt_id(fc, ev);
    if (err == NB_ERR_NOT_FOUND && fc->f->enc_own_id) {
        char own[NB_ID_MAX + 12];
        snprintf(own, sizeof(own), "Encounter/%s", fc->res->id ? fc->res->id : "");
        if (!fc->res->id)
            return nb__frefuse(fc, NB_ERR_FIELD_EMPTY, "appointment_id_missing", "required", "id",
                               "an Encounter without an appointment and without an id");
        err = nb__fid_copy(fc, own, "id", ev);
    } else if (err == NB_ERR_NOT_FOUND) {
        return nb__frefuse(fc, NB_ERR_OK, "ignored", "informational", "appointment",
                           "an Encounter without an appointment (the mapping ignores them)");
    }
    if (err || (err = nb__fstatus(fc, &ev->status)) || (err = nb__fsubject(fc, ev)) ||
        (err = nb__fappointment(fc, received_ms, ev)))
        return err;
    /* docs/schemas.md: a no-show on a home visit is a visit where nobody answered. */
    if (ev->status == NB_STATUS_WAS_NOT_BROUGHT && ev->contact_mode == NB_CONTACT_HOME_VISIT)
        ev->status = NB_STATUS_NO_ACCESS_VISIT;
    char link_id[NB_ID_MAX + 1];
    if ((err = nb__fevent_id(fc, ev, link_id)))
        return err;
    out->n_records = 1;
    if (fc->f->link_local_to_nhs &&
        nb__feed_link_add(out, ev, fc->f->link_verification, link_id) != NB_ERR_OK)
        return nb__frefuse(fc, NB_ERR_LIMIT, "limit", "too-costly", "",
                           "the resource maps to more than %d records", NB_FEED_MAX_RECORDS);
    out->outcome = NB_FEED_MAPPED;
    out->ack = NB_HL7_AA;
    nb_str_copy(out->code, sizeof(out->code), "mapped");
    snprintf(out->text, sizeof(out->text), "status %s from %s.status", nb_status_name(ev->status),
             fc->res->resource_type);
    return NB_ERR_OK;
}

nb_err_t nb_feed_fhir(const nb_feed_mapping_t *m, const nb_fhir_resource_t *res, const char *where,
                      int64_t received_ms, nb_feed_out_t *out)
{
    if (!m || !res || !out)
        return NB_ERR_INVALID_ARG;
    out->outcome = NB_FEED_REFUSED;
    out->err = NB_ERR_OK;
    out->ack = NB_HL7_AE;
    out->code[0] = out->text[0] = out->issue_code[0] = out->expression[0] = '\0';
    out->control_id[0] = out->sending_app[0] = out->sending_facility[0] = '\0';
    out->message_type[0] = out->processing_id[0] = out->version[0] = '\0';
    out->n_records = 0;
    const char *type = res->resource_type ? res->resource_type : "Resource";
    nb_str_copy(out->message_type, sizeof(out->message_type), type);
    nb__fctx_t fc = {m, &m->fhir, out, where ? where : type, res};
    if (!m->fhir.set)
        return nb__frefuse(&fc, NB_ERR_FEED_UNSUPPORTED, "resource_type_unsupported",
                           "not-supported", "", "the mapping has no fhir section");
    if ((res->appointment && m->fhir.appointments) || (res->encounter && m->fhir.encounters)) {
        out->err = nb__fmap(&fc, received_ms);
        return out->err;
    }
    if (res->appointment || res->encounter || res->patient)
        return nb__frefuse(&fc, NB_ERR_OK, "ignored", "informational", "",
                           "a %s is not mapped to an event (the mapping's resources)", type);
    return nb__frefuse(&fc, NB_ERR_FEED_UNSUPPORTED, "resource_type_unsupported", "not-supported",
                       "", "the FHIR mapper maps Appointment and Encounter");
}

bool nb_feed_mapping_has_fhir(const nb_feed_mapping_t *m)
{
    return m && m->fhir.set;
}

bool nb_feed_mapping_has_hl7v2(const nb_feed_mapping_t *m)
{
    return m && m->hl7v2;
}
