/*
 * notbrought - codec: mapping between avro-c generic values (reader schema) and the model's
 * structs (reading here, writing in map_write.c). Field names are those of the schemas/ files; error messages name fields, never values.
 *
 * This is the door for text: every string of every record read is checked here
 * (nb_text_check()) against what its field may hold, so nothing that is not UTF-8, and no
 * control or bidirectional override character, gets into the model, the ledger or a
 * notification (NB_ERR_TEXT_INVALID). The class of each field is documented in docs/schemas.md.
 */
#include "codec/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

nb_err_t nb__xfail(nb__xerr_t *x, nb_err_t err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->errstr, x->errstr_size, fmt, ap);
    va_end(ap);
    x->err = err;
    return err;
}

/* The field of a record by name, through the codec's index cache. @returns 0 or avro-c's
 * error. */
int nb__by_name(avro_value_t *rec, const char *name, avro_value_t *out, nb__xerr_t *x)
{
    avro_schema_t schema = avro_value_get_schema(rec);
    if (!x->fcache || !schema)
        return avro_value_get_by_name(rec, name, out, NULL);
    uintptr_t h = ((uintptr_t)schema >> 4) * 31u + ((uintptr_t)name >> 2);
    nb__fslot_t *slot = &x->fcache[(h ^ (h >> 9)) % NB__FCACHE_SLOTS];
    if (slot->schema != schema || slot->name != name) {
        int index = avro_schema_record_field_get_index(schema, name);
        if (index < 0)
            return EINVAL;
        slot->schema = schema;
        slot->name = name;
        slot->index = index;
    }
    return avro_value_get_by_index(rec, (size_t)slot->index, out, NULL);
}

/* ---- reading ------------------------------------------------------------------------------ */

nb_err_t nb__field(avro_value_t *rec, const char *name, avro_value_t *out, nb__xerr_t *x)
{
    if (nb__by_name(rec, name, out, x))
        return nb__xfail(x, NB_ERR_AVRO_DECODE, "field '%s' is missing from the reader schema",
                         name);
    return NB_ERR_OK;
}

/* Resolves an optional ["null", T] field: *present false for null, else *out is the value. */
nb_err_t nb__optional(avro_value_t *rec, const char *name, avro_value_t *out, bool *present,
                      nb__xerr_t *x)
{
    avro_value_t u;
    int disc;
    if (nb__field(rec, name, &u, x))
        return x->err;
    if (avro_value_get_type(&u) != AVRO_UNION) {
        *out = u;
        *present = true;
        return NB_ERR_OK;
    }
    if (avro_value_get_discriminant(&u, &disc) || avro_value_get_current_branch(&u, out))
        return nb__xfail(x, NB_ERR_AVRO_DECODE, "field '%s': union has no branch", name);
    *present = avro_value_get_type(out) != AVRO_NULL;
    return NB_ERR_OK;
}

/* The text classes of fields (nb_text_class_t), short for the tables of reads below. */
#define NB__ID NB_TEXT_ID
#define NB__NAME NB_TEXT_NAME
#define NB__FREE NB_TEXT_FREE

nb_err_t nb__get_strv(avro_value_t *v, const char *name, char *dst, size_t cap, nb_text_class_t cls,
                      nb__xerr_t *x)
{
    const char *s;
    size_t sz;
    const char *at = x->at ? x->at : "", *dot = x->at ? "." : "";
    if (avro_value_get_string(v, &s, &sz))
        return nb__xfail(x, NB_ERR_AVRO_DECODE, "field '%s%s%s' is not a string", at, dot, name);
    size_t len = sz ? sz - 1 : 0;
    if (memchr(s, '\0', len))
        return nb__xfail(x, NB_ERR_FIELD_TOO_LONG, "field '%s%s%s' contains a NUL byte", at, dot,
                         name);
    if (len >= cap)
        return nb__xfail(x, NB_ERR_FIELD_TOO_LONG, "field '%s%s%s' is longer than %zu bytes", at,
                         dot, name, cap - 1);
    nb_text_fault_t fault = nb_text_check(s, len, cls);
    if (fault != NB_TEXT_OK)
        return nb__xfail(x, NB_ERR_TEXT_INVALID, "field '%s%s%s' %s", at, dot, name,
                         nb_text_fault_str(fault));
    /* It fits (len < cap, above): the copy cannot fail, and would say so if it did. */
    return nb_strlcpy_field(dst, cap, s, len);
}

nb_err_t nb__get_str(avro_value_t *rec, const char *name, char *dst, size_t cap,
                            nb_text_class_t cls, nb__xerr_t *x)
{
    avro_value_t f;
    if (nb__field(rec, name, &f, x))
        return x->err;
    return nb__get_strv(&f, name, dst, cap, cls, x);
}

/* A string field a later version of the schema added (default ""): "" when the record was
 * written without it and is read as written (codec.c, nb__adds_fields()). */
NB_NODISCARD static nb_err_t nb__get_added_str(avro_value_t *rec, const char *name, char *dst,
                                               size_t cap, nb_text_class_t cls, nb__xerr_t *x)
{
    avro_value_t f;
    dst[0] = '\0';
    if (nb__by_name(rec, name, &f, x))
        return NB_ERR_OK;
    return nb__get_strv(&f, name, dst, cap, cls, x);
}

nb_err_t nb__get_opt_str(avro_value_t *rec, const char *name, char *dst, size_t cap,
                         nb_text_class_t cls, nb__xerr_t *x)
{
    avro_value_t f;
    bool present = false;
    dst[0] = '\0';
    if (nb__optional(rec, name, &f, &present, x))
        return x->err;
    return present ? nb__get_strv(&f, name, dst, cap, cls, x) : NB_ERR_OK;
}

nb_err_t nb__get_int(avro_value_t *rec, const char *name, int32_t *out, nb__xerr_t *x)
{
    avro_value_t f;
    if (nb__field(rec, name, &f, x))
        return x->err;
    if (avro_value_get_int(&f, out))
        return nb__xfail(x, NB_ERR_AVRO_DECODE, "field '%s' is not an int", name);
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__get_opt_int(avro_value_t *rec, const char *name, int32_t *out,
                                             int32_t none, nb__xerr_t *x)
{
    avro_value_t f;
    bool present = false;
    *out = none;
    if (nb__optional(rec, name, &f, &present, x))
        return x->err;
    if (present && avro_value_get_int(&f, out))
        return nb__xfail(x, NB_ERR_AVRO_DECODE, "field '%s' is not an int", name);
    /* NB_DATE_NONE (INT32_MIN) means "absent" inside notbrought: sent as a value, it would
     * silently turn a date into "not known". */
    if (present && none == NB_DATE_NONE && *out == NB_DATE_NONE)
        return nb__xfail(x, NB_ERR_DATE_RANGE, "field '%s%s%s' is outside the accepted range",
                         x->at ? x->at : "", x->at ? "." : "", name);
    return NB_ERR_OK;
}

nb_err_t nb__get_long(avro_value_t *rec, const char *name, int64_t *out, nb__xerr_t *x)
{
    avro_value_t f;
    if (nb__field(rec, name, &f, x))
        return x->err;
    if (avro_value_get_long(&f, out))
        return nb__xfail(x, NB_ERR_AVRO_DECODE, "field '%s' is not a long", name);
    return NB_ERR_OK;
}

nb_err_t nb__get_opt_long(avro_value_t *rec, const char *name, int64_t *out,
                                 nb__xerr_t *x)
{
    avro_value_t f;
    bool present = false;
    *out = NB_TIME_NONE;
    if (nb__optional(rec, name, &f, &present, x))
        return x->err;
    if (present && avro_value_get_long(&f, out))
        return nb__xfail(x, NB_ERR_AVRO_DECODE, "field '%s' is not a long", name);
    if (present && *out == NB_TIME_NONE) /* "absent" inside notbrought, as NB_DATE_NONE */
        return nb__xfail(x, NB_ERR_TIMESTAMP_RANGE,
                         "field '%s%s%s' is outside the accepted range", x->at ? x->at : "",
                         x->at ? "." : "", name);
    return NB_ERR_OK;
}

nb_err_t nb__get_bool(avro_value_t *rec, const char *name, bool *out, nb__xerr_t *x)
{
    avro_value_t f;
    int b;
    if (nb__field(rec, name, &f, x))
        return x->err;
    if (avro_value_get_boolean(&f, &b))
        return nb__xfail(x, NB_ERR_AVRO_DECODE, "field '%s' is not a boolean", name);
    *out = b != 0;
    return NB_ERR_OK;
}

nb_err_t nb__get_enum(avro_value_t *rec, const char *name, int count, int *out,
                             nb__xerr_t *x)
{
    avro_value_t f;
    if (nb__field(rec, name, &f, x))
        return x->err;
    if (avro_value_get_enum(&f, out))
        return nb__xfail(x, NB_ERR_AVRO_DECODE, "field '%s' is not an enum", name);
    if (*out < 0 || *out >= count)
        return nb__xfail(x, NB_ERR_AVRO_ENUM_INDEX, "field '%s' has an unknown symbol", name);
    return NB_ERR_OK;
}

#define NB__GET_ENUM(rec, name, count, dst, x)                                                     \
    do {                                                                                           \
        int e_;                                                                                    \
        if (nb__get_enum((rec), (name), (count), &e_, (x)))                                        \
            return (x)->err;                                                                       \
        (dst) = e_;                                                                                \
    } while (0)

/* @p path names the identifier in messages ("subject.local_id"). */
NB_NODISCARD static nb_err_t nb__get_identv(avro_value_t *v, const char *path, nb_identifier_t *id,
                                            nb__xerr_t *x)
{
    const char *outer = x->at;
    x->at = path;
    if (nb__get_str(v, "system", id->system, sizeof(id->system), NB__ID, x) ||
        nb__get_str(v, "value", id->value, sizeof(id->value), NB__ID, x))
        return x->err;
    x->at = outer;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__get_opt_ident(avro_value_t *rec, const char *name,
                                               const char *path, nb_identifier_t *id, nb__xerr_t *x)
{
    avro_value_t f;
    bool present = false;
    memset(id, 0, sizeof(*id));
    if (nb__optional(rec, name, &f, &present, x))
        return x->err;
    return present ? nb__get_identv(&f, path, id, x) : NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__get_ident(avro_value_t *rec, const char *name, nb_identifier_t *id,
                                           nb__xerr_t *x)
{
    avro_value_t f;
    if (nb__field(rec, name, &f, x))
        return x->err;
    return nb__get_identv(&f, name, id, x);
}

nb_err_t nb__get_source(avro_value_t *rec, nb_source_t *src, nb__xerr_t *x)
{
    avro_value_t s;
    const char *outer = x->at;
    if (nb__field(rec, "source", &s, x))
        return x->err;
    NB__GET_ENUM(&s, "agency", NB_AGENCY__COUNT, src->agency, x);
    x->at = "source";
    if (nb__get_str(&s, "system", src->system, sizeof(src->system), NB__NAME, x) ||
        nb__get_str(&s, "organisation_code", src->organisation_code,
                    sizeof(src->organisation_code), NB__ID, x))
        return x->err;
    x->at = outer;
    return NB_ERR_OK;
}

bool nb__nhs_as_received(const char *raw, char dst[NB_NHS_LEN + 1])
{
    dst[0] = '\0';
    if (raw[0] == '\0' || nb_nhs_normalise(raw, dst) == NB_ERR_OK)
        return true;
    size_t len = strlen(raw);
    if (len > NB_NHS_LEN)
        return false;
    memcpy(dst, raw, len + 1);
    return true;
}

/* NHS numbers arrive with or without spaces; the model holds digits only (nb__nhs_as_received). */
NB_NODISCARD static nb_err_t nb__get_opt_nhs(avro_value_t *rec, const char *name, char *dst,
                                             nb__xerr_t *x)
{
    char raw[32];
    if (nb__get_opt_str(rec, name, raw, sizeof(raw), NB__ID, x)) {
        if (x->err == NB_ERR_FIELD_TOO_LONG)
            return nb__xfail(x, NB_ERR_NHS_FORMAT, "field '%s' is not 10 digits", name);
        return x->err;
    }
    if (!nb__nhs_as_received(raw, dst))
        return nb__xfail(x, NB_ERR_NHS_FORMAT, "field '%s' is not 10 digits", name);
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__x_appt(avro_value_t *v, nb_appointment_event_t *a, nb__xerr_t *x)
{
    avro_value_t sub, ap;
    if (nb__get_str(v, "event_id", a->event_id, sizeof(a->event_id), NB__ID, x) ||
        nb__get_source(v, &a->source, x) || nb__field(v, "subject", &sub, x))
        return x->err;
    NB__GET_ENUM(&sub, "kind", NB_SUBJECT__COUNT, a->subject_kind, x);
    x->at = "subject";
    if (nb__get_opt_nhs(&sub, "nhs_number", a->nhs_number, x) ||
        nb__get_opt_ident(&sub, "local_id", "subject.local_id", &a->local_id, x) ||
        nb__get_opt_ident(&sub, "pregnant_person_id", "subject.pregnant_person_id",
                          &a->pregnant_person_id, x) ||
        nb__get_opt_int(&sub, "expected_delivery_date", &a->expected_delivery_date, NB_DATE_NONE,
                        x) ||
        nb__get_opt_int(&sub, "date_of_birth", &a->date_of_birth, NB_DATE_NONE, x) ||
        nb__get_opt_str(&sub, "family_name", a->family_name, sizeof(a->family_name), NB__NAME,
                        x) ||
        nb__get_opt_str(&sub, "postcode", a->postcode, sizeof(a->postcode), NB__ID, x))
        return x->err;
    x->at = "appointment";
    if (nb__field(v, "appointment", &ap, x) ||
        nb__get_str(&ap, "id", a->appointment_id, sizeof(a->appointment_id), NB__ID, x) ||
        nb__get_str(&ap, "type", a->appointment_type, sizeof(a->appointment_type), NB__NAME,
                    x) ||
        nb__get_bool(&ap, "mandated_contact", &a->mandated_contact, x))
        return x->err;
    NB__GET_ENUM(&ap, "contact_mode", NB_CONTACT__COUNT, a->contact_mode, x);
    if (nb__get_long(&ap, "scheduled_start", &a->scheduled_start, x))
        return x->err;
    x->at = NULL;
    NB__GET_ENUM(v, "status", NB_STATUS__COUNT, a->status, x);
    if (nb__get_long(v, "recorded_at", &a->recorded_at, x) ||
        nb__get_int(v, "version", &a->version, x))
        return x->err;
    return NB_ERR_OK;
}

nb_err_t nb__x_link(avro_value_t *v, nb_identity_link_t *l, nb__xerr_t *x)
{
    if (nb__get_str(v, "event_id", l->event_id, sizeof(l->event_id), NB__ID, x))
        return x->err;
    NB__GET_ENUM(v, "kind", NB_LINK__COUNT, l->kind, x);
    if (nb__get_ident(v, "from", &l->from, x) || nb__get_ident(v, "to", &l->to, x) ||
        nb__get_opt_int(v, "expected_delivery_date", &l->expected_delivery_date, NB_DATE_NONE,
                        x) ||
        nb__get_source(v, &l->source, x))
        return x->err;
    NB__GET_ENUM(v, "verification", NB_VERIFICATION__COUNT, l->verification, x);
    return nb__get_long(v, "recorded_at", &l->recorded_at, x);
}

NB_NODISCARD static nb_err_t nb__x_fact(avro_value_t *v, nb_context_fact_t *f, nb__xerr_t *x)
{
    if (nb__get_str(v, "event_id", f->event_id, sizeof(f->event_id), NB__ID, x) ||
        nb__get_opt_nhs(v, "nhs_number", f->nhs_number, x) ||
        nb__get_opt_ident(v, "local_id", "local_id", &f->local_id, x))
        return x->err;
    NB__GET_ENUM(v, "kind", NB_FACT__COUNT, f->kind, x);
    if (nb__get_int(v, "start_date", &f->start_date, x) ||
        nb__get_opt_int(v, "end_date", &f->end_date, NB_DATE_NONE, x))
        return x->err;
    NB__GET_ENUM(v, "status", NB_FACT_STATUS__COUNT, f->status, x);
    if (nb__get_str(v, "source_system", f->source_system, sizeof(f->source_system), NB__NAME,
                    x) ||
        nb__get_str(v, "organisation_code", f->organisation_code, sizeof(f->organisation_code),
                    NB__ID, x) ||
        nb__get_long(v, "recorded_at", &f->recorded_at, x) ||
        nb__get_int(v, "version", &f->version, x))
        return x->err;
    return NB_ERR_OK;
}

/* Iterates an array field, bounded by @p max items. */
nb_err_t nb__array(avro_value_t *rec, const char *name, size_t max, avro_value_t *arr,
                          size_t *n, nb__xerr_t *x)
{
    if (nb__field(rec, name, arr, x))
        return x->err;
    if (avro_value_get_size(arr, n))
        return nb__xfail(x, NB_ERR_AVRO_DECODE, "field '%s' is not an array", name);
    if (*n > max)
        return nb__xfail(x, NB_ERR_FIELD_COUNT, "field '%s' has more than %zu items", name, max);
    return NB_ERR_OK;
}

/* The notification's "child" record: who it is about. */
NB_NODISCARD static nb_err_t nb__x_notif_child(avro_value_t *v, nb_notification_t *n, nb__xerr_t *x)
{
    avro_value_t child;
    x->at = "child";
    if (nb__field(v, "child", &child, x) ||
        nb__get_opt_nhs(&child, "nhs_number", n->nhs_number, x) ||
        nb__get_opt_int(&child, "date_of_birth", &n->date_of_birth, NB_DATE_NONE, x) ||
        nb__get_opt_int(&child, "age_months", &n->age_months, -1, x) ||
        nb__get_str(&child, "child_key", n->child_key, sizeof(n->child_key), NB__ID, x) ||
        nb__get_opt_nhs(&child, "pregnant_person_nhs_number", n->pregnant_person_nhs, x) ||
        nb__get_opt_int(&child, "expected_delivery_date", &n->expected_delivery_date,
                        NB_DATE_NONE, x))
        return x->err;
    x->at = NULL;
    return NB_ERR_OK;
}

/* The "context" array: the facts that were in force when the rule fired. */
NB_NODISCARD static nb_err_t nb__x_notif_context(avro_value_t *v, nb_notification_t *n,
                                                 nb__xerr_t *x)
{
    avro_value_t arr, it;
    size_t cnt;
    if (nb__array(v, "context", NB_NOTIF_MAX_CONTEXT, &arr, &cnt, x))
        return x->err;
    n->n_context = cnt;
    x->at = "context";
    for (size_t i = 0; i < cnt; i++) {
        nb_context_summary_t *c = &n->context[i];
        avro_value_get_by_index(&arr, i, &it, NULL);
        NB__GET_ENUM(&it, "kind", NB_FACT__COUNT, c->kind, x);
        if (nb__get_int(&it, "start_date", &c->start_date, x) ||
            nb__get_opt_int(&it, "end_date", &c->end_date, NB_DATE_NONE, x) ||
            nb__get_str(&it, "source", c->source, sizeof(c->source), NB__NAME, x) ||
            nb__get_long(&it, "as_of", &c->as_of, x))
            return x->err;
    }
    return NB_ERR_OK;
}

/* The "rule" record: which rule of which policy fired. */
NB_NODISCARD static nb_err_t nb__x_notif_rule(avro_value_t *v, nb_notification_t *n, nb__xerr_t *x)
{
    avro_value_t rule;
    /* What comes from the policy (rule text, action, version, routes) is free text there. */
    x->at = "rule";
    if (nb__field(v, "rule", &rule, x) ||
        nb__get_str(&rule, "id", n->rule_id, sizeof(n->rule_id), NB__ID, x) ||
        nb__get_str(&rule, "text", n->rule_text, sizeof(n->rule_text), NB__FREE, x) ||
        nb__get_str(&rule, "policy_name", n->policy_name, sizeof(n->policy_name), NB__NAME, x) ||
        nb__get_str(&rule, "policy_version", n->policy_version, sizeof(n->policy_version),
                    NB__FREE, x) ||
        nb__get_str(&rule, "policy_hash", n->policy_hash, sizeof(n->policy_hash), NB__ID, x))
        return x->err;
    x->at = NULL;
    return NB_ERR_OK;
}

/* The "recipients" array: the roles told and the routes that reach them. */
NB_NODISCARD static nb_err_t nb__x_notif_recipients(avro_value_t *v, nb_notification_t *n,
                                                    nb__xerr_t *x)
{
    avro_value_t arr, it;
    size_t cnt;
    if (nb__array(v, "recipients", NB_NOTIF_MAX_RECIPIENTS, &arr, &cnt, x))
        return x->err;
    n->n_recipients = cnt;
    x->at = "recipients";
    for (size_t i = 0; i < cnt; i++) {
        avro_value_get_by_index(&arr, i, &it, NULL);
        if (nb__get_str(&it, "role", n->recipients[i].role, sizeof(n->recipients[i].role),
                        NB__NAME, x) ||
            nb__get_str(&it, "route", n->recipients[i].route, sizeof(n->recipients[i].route),
                        NB__FREE, x) ||
            nb__get_added_str(&it, "title", n->recipients[i].title,
                              sizeof(n->recipients[i].title), NB__FREE, x))
            return x->err;
    }
    x->at = NULL;
    return NB_ERR_OK;
}

/* The "evidence" array: the appointments the rule counted. */
NB_NODISCARD static nb_err_t nb__x_notif_evidence(avro_value_t *v, nb_notification_t *n,
                                                  nb__xerr_t *x)
{
    avro_value_t arr, it;
    size_t cnt;
    if (nb__array(v, "evidence", NB_NOTIF_MAX_EVIDENCE, &arr, &cnt, x))
        return x->err;
    n->n_evidence = cnt;
    x->at = "evidence";
    for (size_t i = 0; i < cnt; i++) {
        nb_evidence_t *e = &n->evidence[i];
        avro_value_get_by_index(&arr, i, &it, NULL);
        if (nb__get_str(&it, "event_id", e->event_id, sizeof(e->event_id), NB__ID, x) ||
            nb__get_str(&it, "appointment_id", e->appointment_id, sizeof(e->appointment_id),
                        NB__ID, x))
            return x->err;
        NB__GET_ENUM(&it, "agency", NB_AGENCY__COUNT, e->agency, x);
        if (nb__get_str(&it, "appointment_type", e->appointment_type,
                        sizeof(e->appointment_type), NB__NAME, x) ||
            nb__get_long(&it, "scheduled_start", &e->scheduled_start, x))
            return x->err;
        NB__GET_ENUM(&it, "status", NB_STATUS__COUNT, e->status, x);
        if (nb__get_str(&it, "organisation_code", e->organisation_code,
                        sizeof(e->organisation_code), NB__ID, x) ||
            nb__get_long(&it, "recorded_at", &e->recorded_at, x))
            return x->err;
    }
    x->at = NULL;
    return NB_ERR_OK;
}

/* The "counts" array: what the rule counted in each window. */
NB_NODISCARD static nb_err_t nb__x_notif_counts(avro_value_t *v, nb_notification_t *n,
                                                nb__xerr_t *x)
{
    avro_value_t arr, it;
    size_t cnt;
    if (nb__array(v, "counts", NB_NOTIF_MAX_COUNTS, &arr, &cnt, x))
        return x->err;
    n->n_counts = cnt;
    for (size_t i = 0; i < cnt; i++) {
        avro_value_get_by_index(&arr, i, &it, NULL);
        if (nb__get_int(&it, "window_days", &n->counts[i].window_days, x) ||
            nb__get_int(&it, "count", &n->counts[i].count, x) ||
            nb__get_int(&it, "agencies", &n->counts[i].agencies, x) ||
            nb__get_added_str(&it, "counted", n->counts[i].counted,
                              sizeof(n->counts[i].counted), NB__FREE, x))
            return x->err;
    }
    return NB_ERR_OK;
}

/* The "items" array: the notifications a digest gathers. */
NB_NODISCARD static nb_err_t nb__x_notif_items(avro_value_t *v, nb_notification_t *n, nb__xerr_t *x)
{
    avro_value_t arr, it;
    size_t cnt;
    if (nb__array(v, "items", NB_NOTIF_MAX_ITEMS, &arr, &cnt, x))
        return x->err;
    n->n_items = cnt;
    x->at = "items";
    for (size_t i = 0; i < cnt; i++) {
        nb_digest_item_t *d = &n->items[i];
        avro_value_get_by_index(&arr, i, &it, NULL);
        if (nb__get_str(&it, "notification_id", d->notification_id, sizeof(d->notification_id),
                        NB__ID, x) ||
            nb__get_str(&it, "reference", d->reference, sizeof(d->reference), NB__ID, x) ||
            nb__get_str(&it, "child_key", d->child_key, sizeof(d->child_key), NB__ID, x) ||
            nb__get_opt_nhs(&it, "nhs_number", d->nhs_number, x) ||
            nb__get_str(&it, "rule_id", d->rule_id, sizeof(d->rule_id), NB__ID, x))
            return x->err;
        NB__GET_ENUM(&it, "tier", NB_TIER__COUNT, d->tier, x);
        if (nb__get_long(&it, "decided_at", &d->decided_at, x))
            return x->err;
    }
    x->at = NULL;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__x_notif(avro_value_t *v, nb_notification_t *n, nb__xerr_t *x)
{
    if (nb__get_str(v, "notification_id", n->notification_id, sizeof(n->notification_id),
                    NB__ID, x) ||
        nb__get_str(v, "reference", n->reference, sizeof(n->reference), NB__ID, x))
        return x->err;
    NB__GET_ENUM(v, "kind", NB_NOTIFICATION__COUNT, n->kind, x);
    if (nb__x_notif_child(v, n, x) || nb__x_notif_context(v, n, x) ||
        nb__x_notif_rule(v, n, x))
        return x->err;
    NB__GET_ENUM(v, "tier", NB_TIER__COUNT, n->tier, x);
    if (nb__x_notif_recipients(v, n, x) || nb__x_notif_evidence(v, n, x) ||
        nb__x_notif_counts(v, n, x) || nb__x_notif_items(v, n, x))
        return x->err;
    if (nb__get_str(v, "action", n->action, sizeof(n->action), NB__FREE, x) ||
        nb__get_opt_long(v, "respond_by", &n->respond_by, x) ||
        nb__get_int(v, "escalation_level", &n->escalation_level, x) ||
        nb__get_opt_str(v, "supersedes", n->supersedes, sizeof(n->supersedes), NB__ID, x) ||
        nb__get_long(v, "created_at", &n->created_at, x))
        return x->err;
    return NB_ERR_OK;
}

/* The AckAction of a NotificationAck, by its symbol: a version 1 record read as written numbers
 * its symbols otherwise, and its "seen" is read as OTHER (schemas/notification_ack_v2.avsc). */
NB_NODISCARD static nb_err_t nb__get_ack_action(avro_value_t *rec, nb_ack_action_t *out,
                                                nb__xerr_t *x)
{
    avro_value_t f;
    int i;
    if (nb__field(rec, "action", &f, x))
        return x->err;
    if (avro_value_get_enum(&f, &i))
        return nb__xfail(x, NB_ERR_AVRO_DECODE, "field 'action' is not an enum");
    avro_schema_t es = avro_value_get_schema(&f);
    const char *sym = es ? avro_schema_enum_get(es, i) : NULL;
    if (!sym || !nb_ack_action_parse_any(sym, out))
        return nb__xfail(x, NB_ERR_AVRO_ENUM_INDEX, "field 'action' has an unknown symbol");
    return NB_ERR_OK;
}

/* The fields NotificationAck version 2 added take their defaults when the record was written
 * with version 1 and is read as written (codec.c, nb__adds_fields()): intent close, "" else. */
NB_NODISCARD static nb_err_t nb__x_ack_v2(avro_value_t *v, nb_ack_t *a, nb__xerr_t *x)
{
    avro_value_t f;
    a->intent = NB_ACK_INTENT_CLOSE;
    if (nb__by_name(v, "intent", &f, x))
        return NB_ERR_OK; /* version 1: nothing more to read */
    int e;
    if (nb__get_enum(v, "intent", NB_ACK_INTENT__COUNT, &e, x))
        return x->err;
    a->intent = (nb_ack_intent_t)e;
    if (nb__get_str(v, "user_id", a->user_id, sizeof(a->user_id), NB__ID, x) ||
        nb__get_opt_str(v, "reassign_to_queue", a->reassign_to_queue, sizeof(a->reassign_to_queue),
                        NB__ID, x) ||
        nb__get_opt_str(v, "reassign_to_user", a->reassign_to_user, sizeof(a->reassign_to_user),
                        NB__ID, x) ||
        nb__get_opt_str(v, "reason", a->reason, sizeof(a->reason), NB__FREE, x))
        return x->err;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__x_ack(avro_value_t *v, nb_ack_t *a, nb__xerr_t *x)
{
    if (nb__get_str(v, "ack_id", a->ack_id, sizeof(a->ack_id), NB__ID, x) ||
        nb__get_str(v, "notification_id", a->notification_id, sizeof(a->notification_id), NB__ID,
                    x) ||
        nb__get_opt_str(v, "reference", a->reference, sizeof(a->reference), NB__ID, x) ||
        nb__get_str(v, "acknowledged_by", a->acknowledged_by, sizeof(a->acknowledged_by), NB__NAME,
                    x) ||
        nb__get_str(v, "role", a->role, sizeof(a->role), NB__NAME, x) || nb__x_ack_v2(v, a, x) ||
        nb__get_ack_action(v, &a->action, x) ||
        nb__get_opt_str(v, "outcome", a->outcome, sizeof(a->outcome), NB__FREE, x) ||
        nb__get_long(v, "acknowledged_at", &a->acknowledged_at, x))
        return x->err;
    return NB_ERR_OK;
}

nb_err_t nb__extract(nb_record_type_t type, avro_value_t *val, nb_record_t *rec, nb__xerr_t *x)
{
    rec->type = type;
    x->at = NULL;
    switch (type) {
    case NB_RECORD_APPOINTMENT:
        memset(&rec->u.appt, 0, sizeof(rec->u.appt));
        return nb__x_appt(val, &rec->u.appt, x);
    case NB_RECORD_IDENTITY_LINK:
        memset(&rec->u.link, 0, sizeof(rec->u.link));
        return nb__x_link(val, &rec->u.link, x);
    case NB_RECORD_CONTEXT_FACT:
        memset(&rec->u.fact, 0, sizeof(rec->u.fact));
        return nb__x_fact(val, &rec->u.fact, x);
    case NB_RECORD_NOTIFICATION:
        memset(&rec->u.notif, 0, sizeof(rec->u.notif));
        return nb__x_notif(val, &rec->u.notif, x);
    case NB_RECORD_ACK:
        memset(&rec->u.ack, 0, sizeof(rec->u.ack));
        return nb__x_ack(val, &rec->u.ack, x);
    case NB_RECORD_SUGGESTION:
        memset(&rec->u.sugg, 0, sizeof(rec->u.sugg));
        return nb__x_suggestion(val, &rec->u.sugg, x);
    case NB_RECORD_AUDIT:
        nb_audit_init(&rec->u.audit, NB_AUDIT_OTHER, 0);
        return nb__x_audit(val, &rec->u.audit, x);
    default:
        return nb__xfail(x, NB_ERR_SCHEMA_MISMATCH, "unknown record type");
    }
}
