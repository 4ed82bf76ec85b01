/*
 * The FHIR reader's tests share these: a dump of a whole view as text (to compare the view of
 * a JSON resource with that of the same resource in XML, and to print what was read), and
 * the checks "same view" and "refused at this path". Included by tests/unit/test_fhir*.c.
 */
#ifndef NB_TEST_FHIR_VIEW_H
#define NB_TEST_FHIR_VIEW_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/fhir.h"

#define NB_TEST_UNUSED __attribute__((unused))

/* ---- a dump of the whole view, to compare JSON with XML ---- */

NB_TEST_UNUSED static void put(nb_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
NB_TEST_UNUSED static void put(nb_buf_t *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    nb_buf_add(b, tmp, n < 0 ? 0 : (size_t)n);
}

#define S(x) ((x) ? (x) : "-")

NB_TEST_UNUSED static void dump_time(nb_buf_t *b, const char *k, nb_fhir_time_t t)
{
    put(b, " %s=%lld/%d/%d/%d", k, (long long)t.ms, (int)t.prec, t.has_zone, t.zone_minutes);
}

NB_TEST_UNUSED static void dump_codings(nb_buf_t *b, const char *k, nb_fhir_codings_t c)
{
    put(b, " %s[%s](", k, S(c.text));
    for (size_t i = 0; i < c.n; i++)
        put(b, "%s|%s|%s;", S(c.v[i].system), S(c.v[i].code), S(c.v[i].display));
    put(b, ")");
}

NB_TEST_UNUSED static void dump_ids(nb_buf_t *b, nb_fhir_identifiers_t ids)
{
    for (size_t i = 0; i < ids.n; i++)
        put(b, " id(%s|%s|%s|%s)", S(ids.v[i].system), S(ids.v[i].value), S(ids.v[i].use),
            S(ids.v[i].verification_status));
}

NB_TEST_UNUSED static void dump_patient(nb_buf_t *b, const nb_fhir_patient_t *p)
{
    if (!p)
        return;
    put(b, " patient{%s", S(p->meta.id));
    dump_ids(b, p->identifiers);
    dump_time(b, "birth", p->birth_date);
    put(b, "}");
}

NB_TEST_UNUSED static void dump_ref(nb_buf_t *b, const char *k, const nb_fhir_ref_t *r)
{
    put(b, " %s<%d|%s|%s|%s|%s|%s|%s>", k, r->present, S(r->reference), S(r->type),
        nb_fhir_kind_name(r->kind), S(r->identifier.system), S(r->identifier.value), S(r->display));
    dump_patient(b, r->patient);
}

NB_TEST_UNUSED static void dump_meta(nb_buf_t *b, const nb_fhir_meta_t *m)
{
    put(b, " meta(%s|%s", S(m->id), S(m->version_id));
    dump_time(b, "lu", m->last_updated);
    put(b, ")");
}

NB_TEST_UNUSED static void dump_resource(nb_buf_t *b, const nb_fhir_resource_t *r)
{
    put(b, "\n%d %s %s", (int)r->rtype, S(r->resource_type), S(r->id));
    if (r->appointment) {
        const nb_fhir_appointment_t *a = r->appointment;
        dump_meta(b, &a->meta);
        dump_ids(b, a->identifiers);
        put(b, " status=%s", S(a->status));
        dump_codings(b, "cr", a->cancelation_reason);
        dump_codings(b, "at", a->appointment_type);
        dump_codings(b, "st", a->service_type);
        dump_codings(b, "sc", a->service_category);
        dump_codings(b, "sp", a->specialty);
        dump_time(b, "start", a->start);
        dump_time(b, "end", a->end);
        dump_time(b, "created", a->created);
        put(b, " dur=%d/%lld", a->has_minutes_duration, (long long)a->minutes_duration);
        for (size_t i = 0; i < a->n_participants; i++) {
            const nb_fhir_participant_t *p = &a->participants[i];
            put(b, "\n  part %s %s", S(p->status), S(p->required));
            dump_codings(b, "type", p->type);
            dump_ref(b, "actor", &p->actor);
        }
        for (size_t i = 0; i < a->based_on.n; i++)
            dump_ref(b, "basedOn", &a->based_on.v[i]);
        for (size_t i = 0; i < a->supporting_information.n; i++)
            dump_ref(b, "si", &a->supporting_information.v[i]);
        put(b, " patient=%td", a->patient ? a->patient - a->participants : -1);
    }
    if (r->encounter) {
        const nb_fhir_encounter_t *e = r->encounter;
        dump_meta(b, &e->meta);
        dump_ids(b, e->identifiers);
        put(b, " status=%s class=%s|%s", S(e->status), S(e->class.system), S(e->class.code));
        dump_codings(b, "type", e->type);
        dump_codings(b, "stype", e->service_type);
        dump_time(b, "ps", e->period_start);
        dump_time(b, "pe", e->period_end);
        dump_ref(b, "subject", &e->subject);
        for (size_t i = 0; i < e->appointment.n; i++)
            dump_ref(b, "appt", &e->appointment.v[i]);
        dump_ref(b, "sp", &e->service_provider);
        put(b, " hosp=%d", e->has_hospitalization);
        dump_codings(b, "as", e->admit_source);
        dump_codings(b, "dd", e->discharge_disposition);
    }
    dump_patient(b, r->patient);
    if (r->bundle) {
        const nb_fhir_bundle_t *bu = r->bundle;
        dump_meta(b, &bu->meta);
        put(b, " type=%s notif=%d|%s|%s|%zu", S(bu->type), bu->notification.present,
            S(bu->notification.status_type), S(bu->notification.subscription),
            bu->notification.n_focus);
        for (size_t i = 0; i < bu->n_entries; i++) {
            const nb_fhir_entry_t *e = &bu->entries[i];
            put(b, "\n entry %s %s %s focus=%d", S(e->full_url), S(e->request_method),
                S(e->request_url), e->focus);
            dump_resource(b, &e->resource);
        }
    }
}

/* Reads @p text and returns the dump (malloc'd), or NULL with the error in *err. */
NB_TEST_UNUSED static char *read_dump(nb_fhir_doc_t *doc, const char *text, nb_fhir_format_t fmt,
                                      nb_err_t *err)
{
    char errstr[512];
    *err = nb_fhir_read(doc, text, strlen(text), fmt, errstr, sizeof(errstr));
    if (*err) {
        print_message("refused: %s: %s\n", nb_err_name(*err), errstr);
        return NULL;
    }
    nb_buf_t b = {0};
    dump_resource(&b, nb_fhir_doc_resource(doc));
    nb_buf_add(&b, "", 1);
    assert_int_equal(b.err, NB_ERR_OK);
    return (char *)b.data;
}

/* JSON and XML must give the same view; returns the JSON's view read again for checks. */
NB_TEST_UNUSED static const nb_fhir_resource_t *same_view(nb_fhir_doc_t *doc, const char *json,
                                                          const char *xml)
{
    nb_err_t err;
    char *x = read_dump(doc, xml, NB_FHIR_AUTO, &err);
    assert_int_equal(err, NB_ERR_OK);
    assert_int_equal(nb_fhir_doc_format(doc), NB_FHIR_XML);
    char *j = read_dump(doc, json, NB_FHIR_AUTO, &err);
    assert_int_equal(err, NB_ERR_OK);
    assert_int_equal(nb_fhir_doc_format(doc), NB_FHIR_JSON);
    if (strcmp(j, x) != 0)
        print_message("JSON view:%s\nXML view:%s\n", j, x);
    assert_string_equal(j, x);
    free(j);
    free(x);
    return nb_fhir_doc_resource(doc);
}

/* Reading @p text must fail with @p want at @p path, and the text must not hold @p secret. */
NB_TEST_UNUSED static void refused(nb_fhir_doc_t *doc, const char *text, nb_err_t want,
                                   const char *path, const char *secret)
{
    char errstr[512];
    nb_err_t err = nb_fhir_read(doc, text, strlen(text), NB_FHIR_AUTO, errstr, sizeof(errstr));
    if (err != want || strcmp(nb_fhir_doc_error_path(doc), path) != 0)
        print_message("got %s at '%s': %s\n", nb_err_name(err), nb_fhir_doc_error_path(doc),
                      errstr);
    assert_int_equal(err, want);
    assert_string_equal(nb_fhir_doc_error_path(doc), path);
    assert_null(nb_fhir_doc_resource(doc));
    if (path[0])
        assert_memory_equal(errstr, path, strlen(path)); /* "path: what is wrong" */
    if (secret)
        assert_null(strstr(errstr, secret));
}

NB_TEST_UNUSED static int setup(void **state)
{
    *state = nb_fhir_doc_new(NULL);
    return *state ? 0 : -1;
}

NB_TEST_UNUSED static int teardown(void **state)
{
    nb_fhir_doc_destroy(*state);
    return 0;
}

#endif /* NB_TEST_FHIR_VIEW_H */
