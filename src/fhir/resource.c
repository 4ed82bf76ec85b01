/*
 * notbrought - fhir: Appointment, Encounter and Patient, and the references to a Patient
 * resolved against the contained resources and a Bundle's entries.
 *
 * Only what a mapping needs is read, and nothing personal beyond what identifies the child:
 * a Patient's identifiers and birth date, never its names, addresses or contacts. Elements
 * not read are not checked either (FHIR readers may ignore what they do not use).
 */
#include "fhir/internal.h"

#include <string.h>

#define NB__FHIR_TRY(expr)                                                                         \
    do {                                                                                           \
        nb_err_t nb__e = (expr);                                                                   \
        if (nb__e)                                                                                 \
            return nb__e;                                                                          \
    } while (0)

nb_err_t nb__fhir_read_patient(nb_fhir_doc_t *doc, const nb__fhir_node_t *n, nb_fhir_patient_t *out)
{
    NB__FHIR_TRY(nb__fhir_get_meta(doc, n, &out->meta));
    NB__FHIR_TRY(nb__fhir_get_identifiers(doc, n, "identifier", &out->identifiers));
    return nb__fhir_get_time(doc, n, "birthDate", NB_FHIR_T_DATE, &out->birth_date);
}

/* Whether @p full (a fullUrl) names the resource that the literal reference @p ref names. */
static bool nb__fhir_url_matches(const char *full, const char *ref, size_t ref_len)
{
    size_t flen = strlen(full);
    if (flen == ref_len && memcmp(full, ref, ref_len) == 0)
        return true;
    /* "Patient/123" against "https://server/fhir/Patient/123" */
    return memchr(ref, ':', ref_len) == NULL && flen > ref_len && full[flen - ref_len - 1] == '/' &&
           memcmp(full + flen - ref_len, ref, ref_len) == 0;
}

/* Resolves @p ref in @p scope: its type from what it points at, and the Patient. */
NB_NODISCARD static nb_err_t nb__fhir_resolve(nb_fhir_doc_t *doc, const nb__fhir_scope_t *scope,
                                              nb_fhir_ref_t *ref)
{
    const char *r = ref->reference;
    if (!r)
        return NB_ERR_OK;
    if (r[0] == '#') {
        size_t i = 0;
        for (nb__fhir_node_t *c = nb__fhir_child(scope->contained_of, "contained"); c;
             c = c->next) {
            if (strcmp(c->name, "contained") != 0)
                continue;
            i++;
            nb__fhir_node_t *id = nb__fhir_child(c, "id");
            const char *rt = nb__fhir_rtype(c);
            if (!rt || !id || !id->text || strcmp(id->text, r + 1) != 0)
                continue;
            ref->type = rt;
            ref->kind = nb__fhir_kind_of(rt);
            if (ref->kind != NB_FHIR_KIND_PATIENT)
                return NB_ERR_OK;
            /* the path of the contained Patient, from the resource that holds it */
            char saved[sizeof(doc->path)];
            size_t saved_len = doc->path_len;
            memcpy(saved, doc->path, saved_len + 1);
            nb_fhir_patient_t *p = nb__fhir_alloc(doc, sizeof(*p));
            if (!p)
                return nb__fhir_fail(doc, NB_ERR_NOMEM, "out of memory");
            nb__fhir_path_pop(doc, scope->path_len);
            nb__fhir_path_push(doc, "contained");
            nb__fhir_path_index(doc, i - 1);
            NB__FHIR_TRY(nb__fhir_read_patient(doc, c, p));
            memcpy(doc->path, saved, saved_len + 1);
            doc->path_len = saved_len;
            ref->patient = p;
            return NB_ERR_OK;
        }
        return NB_ERR_OK;
    }
    size_t len = strlen(r);
    const char *h = strstr(r, "/_history/");
    if (h)
        len = (size_t)(h - r);
    for (size_t i = 0; i < scope->n_entries; i++) {
        const nb_fhir_entry_t *e = &scope->entries[i];
        const nb_fhir_resource_t *res = &e->resource;
        bool match = e->full_url && nb__fhir_url_matches(e->full_url, r, len);
        if (!match && res->resource_type && res->id && memchr(r, ':', len) == NULL) {
            size_t tl = strlen(res->resource_type), il = strlen(res->id);
            match = tl + 1 + il == len && memcmp(r, res->resource_type, tl) == 0 && r[tl] == '/' &&
                    memcmp(r + tl + 1, res->id, il) == 0;
        }
        if (!match || !res->resource_type)
            continue;
        ref->type = res->resource_type;
        ref->kind = nb__fhir_kind_of(res->resource_type);
        ref->patient = res->patient;
        return NB_ERR_OK;
    }
    return NB_ERR_OK;
}

/* Resolves every reference of @p refs (read by nb__fhir_get_refs() into the arena). */
NB_NODISCARD static nb_err_t nb__fhir_resolve_all(nb_fhir_doc_t *doc, const nb__fhir_scope_t *scope,
                                                  const char *name, nb_fhir_refs_t *refs)
{
    nb_fhir_ref_t *v = (nb_fhir_ref_t *)refs->v; /* the arena's, written only here */
    for (size_t i = 0; i < refs->n; i++) {
        size_t mark = nb__fhir_path_push(doc, name);
        nb__fhir_path_index(doc, i);
        NB__FHIR_TRY(nb__fhir_resolve(doc, scope, &v[i]));
        nb__fhir_path_pop(doc, mark);
    }
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__fhir_participants(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                                   const nb__fhir_scope_t *scope,
                                                   nb_fhir_appointment_t *a)
{
    size_t count;
    NB__FHIR_TRY(nb__fhir_check_list(doc, n, "participant", doc->lim.max_participants, &count));
    if (count == 0)
        return NB_ERR_OK;
    nb_fhir_participant_t *v = nb__fhir_alloc(doc, count * sizeof(*v));
    if (!v)
        return nb__fhir_fail(doc, NB_ERR_NOMEM, "out of memory");
    size_t i = 0;
    for (nb__fhir_node_t *c = n->child; c; c = c->next) {
        if (strcmp(c->name, "participant") != 0)
            continue;
        size_t mark = nb__fhir_path_push(doc, "participant");
        nb__fhir_path_index(doc, i);
        nb_fhir_participant_t *p = &v[i++];
        NB__FHIR_TRY(nb__fhir_get_ref(doc, c, "actor", &p->actor));
        size_t m2 = nb__fhir_path_push(doc, "actor");
        NB__FHIR_TRY(nb__fhir_resolve(doc, scope, &p->actor));
        nb__fhir_path_pop(doc, m2);
        NB__FHIR_TRY(nb__fhir_get_str(doc, c, "status", &p->status));
        NB__FHIR_TRY(nb__fhir_get_str(doc, c, "required", &p->required));
        NB__FHIR_TRY(nb__fhir_get_concepts(doc, c, "type", true, &p->type));
        if (!a->patient && p->actor.kind == NB_FHIR_KIND_PATIENT)
            a->patient = p;
        nb__fhir_path_pop(doc, mark);
    }
    a->n_participants = count;
    a->participants = v;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__fhir_required(nb_fhir_doc_t *doc, const char *value,
                                               const char *name)
{
    if (value)
        return NB_ERR_OK;
    nb__fhir_path_push(doc, name);
    return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID, "required, and missing");
}

NB_NODISCARD static nb_err_t nb__fhir_appointment(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                                  const nb__fhir_scope_t *scope,
                                                  nb_fhir_appointment_t *a)
{
    const char *dur = NULL;
    NB__FHIR_TRY(nb__fhir_get_meta(doc, n, &a->meta));
    NB__FHIR_TRY(nb__fhir_get_identifiers(doc, n, "identifier", &a->identifiers));
    NB__FHIR_TRY(nb__fhir_get_str(doc, n, "status", &a->status));
    NB__FHIR_TRY(nb__fhir_required(doc, a->status, "status"));
    NB__FHIR_TRY(nb__fhir_get_concepts(doc, n, "cancelationReason", false, &a->cancelation_reason));
    NB__FHIR_TRY(nb__fhir_get_concepts(doc, n, "appointmentType", false, &a->appointment_type));
    NB__FHIR_TRY(nb__fhir_get_concepts(doc, n, "serviceType", true, &a->service_type));
    NB__FHIR_TRY(nb__fhir_get_concepts(doc, n, "serviceCategory", true, &a->service_category));
    NB__FHIR_TRY(nb__fhir_get_concepts(doc, n, "specialty", true, &a->specialty));
    NB__FHIR_TRY(nb__fhir_get_time(doc, n, "start", NB_FHIR_T_INSTANT, &a->start));
    NB__FHIR_TRY(nb__fhir_get_time(doc, n, "end", NB_FHIR_T_INSTANT, &a->end));
    NB__FHIR_TRY(nb__fhir_get_time(doc, n, "created", NB_FHIR_T_DATETIME, &a->created));
    NB__FHIR_TRY(nb__fhir_get_str(doc, n, "minutesDuration", &dur));
    if (dur) {
        int64_t v = 0;
        const char *c = dur;
        for (; *c >= '0' && *c <= '9' && v < 100000000; c++)
            v = v * 10 + (*c - '0');
        if (*c || v == 0) {
            nb__fhir_path_push(doc, "minutesDuration");
            return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID,
                                 "not a positiveInt (a whole number from 1) that fits");
        }
        a->has_minutes_duration = true;
        a->minutes_duration = v;
    }
    NB__FHIR_TRY(nb__fhir_get_refs(doc, n, "basedOn", &a->based_on));
    NB__FHIR_TRY(nb__fhir_resolve_all(doc, scope, "basedOn", &a->based_on));
    NB__FHIR_TRY(nb__fhir_get_refs(doc, n, "supportingInformation", &a->supporting_information));
    NB__FHIR_TRY(
        nb__fhir_resolve_all(doc, scope, "supportingInformation", &a->supporting_information));
    return nb__fhir_participants(doc, n, scope, a);
}

NB_NODISCARD static nb_err_t nb__fhir_encounter(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                                const nb__fhir_scope_t *scope,
                                                nb_fhir_encounter_t *e)
{
    NB__FHIR_TRY(nb__fhir_get_meta(doc, n, &e->meta));
    NB__FHIR_TRY(nb__fhir_get_identifiers(doc, n, "identifier", &e->identifiers));
    NB__FHIR_TRY(nb__fhir_get_str(doc, n, "status", &e->status));
    NB__FHIR_TRY(nb__fhir_required(doc, e->status, "status"));
    NB__FHIR_TRY(nb__fhir_get_coding(doc, n, "class", &e->class));
    NB__FHIR_TRY(nb__fhir_get_concepts(doc, n, "type", true, &e->type));
    NB__FHIR_TRY(nb__fhir_get_concepts(doc, n, "serviceType", false, &e->service_type));
    size_t count;
    NB__FHIR_TRY(nb__fhir_check_list(doc, n, "period", 1, &count));
    nb__fhir_node_t *p = nb__fhir_child(n, "period");
    if (p) {
        size_t mark = nb__fhir_path_push(doc, "period");
        NB__FHIR_TRY(nb__fhir_get_time(doc, p, "start", NB_FHIR_T_DATETIME, &e->period_start));
        NB__FHIR_TRY(nb__fhir_get_time(doc, p, "end", NB_FHIR_T_DATETIME, &e->period_end));
        nb__fhir_path_pop(doc, mark);
    }
    NB__FHIR_TRY(nb__fhir_get_ref(doc, n, "subject", &e->subject));
    size_t mark = nb__fhir_path_push(doc, "subject");
    NB__FHIR_TRY(nb__fhir_resolve(doc, scope, &e->subject));
    nb__fhir_path_pop(doc, mark);
    NB__FHIR_TRY(nb__fhir_get_refs(doc, n, "appointment", &e->appointment));
    NB__FHIR_TRY(nb__fhir_resolve_all(doc, scope, "appointment", &e->appointment));
    NB__FHIR_TRY(nb__fhir_get_ref(doc, n, "serviceProvider", &e->service_provider));
    mark = nb__fhir_path_push(doc, "serviceProvider");
    NB__FHIR_TRY(nb__fhir_resolve(doc, scope, &e->service_provider));
    nb__fhir_path_pop(doc, mark);
    NB__FHIR_TRY(nb__fhir_check_list(doc, n, "hospitalization", 1, &count));
    nb__fhir_node_t *h = nb__fhir_child(n, "hospitalization");
    if (h) {
        mark = nb__fhir_path_push(doc, "hospitalization");
        e->has_hospitalization = true;
        NB__FHIR_TRY(nb__fhir_get_concepts(doc, h, "admitSource", false, &e->admit_source));
        NB__FHIR_TRY(nb__fhir_get_concepts(doc, h, "dischargeDisposition", false,
                                           &e->discharge_disposition));
        nb__fhir_path_pop(doc, mark);
    }
    return NB_ERR_OK;
}

nb_err_t nb__fhir_read_resource(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                const nb__fhir_scope_t *scope, nb_fhir_resource_t *out)
{
    memset(out, 0, sizeof(*out));
    out->resource_type = nb__fhir_rtype(n);
    if (!out->resource_type)
        return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID, "a resource without a resourceType");
    if (strcmp(out->resource_type, "Appointment") == 0) {
        nb_fhir_appointment_t *a = nb__fhir_alloc(doc, sizeof(*a));
        if (!a)
            return nb__fhir_fail(doc, NB_ERR_NOMEM, "out of memory");
        out->rtype = NB_FHIR_APPOINTMENT;
        out->appointment = a;
        NB__FHIR_TRY(nb__fhir_appointment(doc, n, scope, a));
        out->id = a->meta.id;
    } else if (strcmp(out->resource_type, "Encounter") == 0) {
        nb_fhir_encounter_t *e = nb__fhir_alloc(doc, sizeof(*e));
        if (!e)
            return nb__fhir_fail(doc, NB_ERR_NOMEM, "out of memory");
        out->rtype = NB_FHIR_ENCOUNTER;
        out->encounter = e;
        NB__FHIR_TRY(nb__fhir_encounter(doc, n, scope, e));
        out->id = e->meta.id;
    } else if (strcmp(out->resource_type, "Patient") == 0) {
        nb_fhir_patient_t *p = nb__fhir_alloc(doc, sizeof(*p));
        if (!p)
            return nb__fhir_fail(doc, NB_ERR_NOMEM, "out of memory");
        out->rtype = NB_FHIR_PATIENT;
        out->patient = p;
        NB__FHIR_TRY(nb__fhir_read_patient(doc, n, p));
        out->id = p->meta.id;
    } else {
        out->rtype = NB_FHIR_OTHER;
        NB__FHIR_TRY(nb__fhir_get_str(doc, n, "id", &out->id));
    }
    return NB_ERR_OK;
}
