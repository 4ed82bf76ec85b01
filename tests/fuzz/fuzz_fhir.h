/*
 * What fuzz_fhir_json.c and fuzz_fhir_xml.c share: the FHIR reader over arbitrary bytes, in
 * one syntax. Whatever is read is walked to every string and time of the view and its
 * promises checked (include/notbrought/fhir.h): strings end, times are in range and have a
 * zone exactly when they have a time, lists keep their limits, the patient participant is one
 * of the participants, focus marks only in notifications; a second handle reading the same
 * bytes gives the same outcome and the same view; a refusal's path and text are printable
 * and fit; an OperationOutcome made from the outcome parses back. The first bytes are also
 * read as a date, a dateTime and an instant.
 *
 * Each abort() is a broken promise, not a refused input.
 */
#ifndef NB_FUZZ_FHIR_H
#define NB_FUZZ_FHIR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/fhir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FNV-1a over the view, so that two reads can be compared. */
static void mix(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ c[i]) * 1099511628211ULL;
}

static void str(uint64_t *h, const char *s, size_t max)
{
    if (!s) {
        mix(h, "\xff", 1);
        return;
    }
    size_t n = strlen(s);
    if (n == 0 || n > max) /* strings of the view are never empty, nor longer than the limit */
        abort();
    mix(h, s, n + 1);
}

static void tm(uint64_t *h, nb_fhir_time_t t)
{
    if (t.prec > NB_FHIR_PREC_MILLI || t.has_zone != (t.prec >= NB_FHIR_PREC_SECOND) ||
        t.zone_minutes < -840 || t.zone_minutes > 840 || (t.prec == 0 && t.ms != 0))
        abort();
    mix(h, &t.ms, sizeof(t.ms));
    mix(h, &t.prec, sizeof(t.prec));
}

static void codings(uint64_t *h, nb_fhir_codings_t c, const nb_fhir_limits_t *lim)
{
    if (c.n > lim->max_list || (c.n && !c.v))
        abort();
    for (size_t i = 0; i < c.n; i++) {
        str(h, c.v[i].system, lim->max_string);
        str(h, c.v[i].code, lim->max_string);
        str(h, c.v[i].display, lim->max_string);
    }
    str(h, c.text, lim->max_string);
}

static void ident(uint64_t *h, const nb_fhir_identifier_t *id, const nb_fhir_limits_t *lim)
{
    str(h, id->system, lim->max_string);
    str(h, id->value, lim->max_string);
    str(h, id->use, lim->max_string);
    str(h, id->verification_status, lim->max_string);
}

static void patient(uint64_t *h, const nb_fhir_patient_t *p, const nb_fhir_limits_t *lim)
{
    if (!p)
        return;
    str(h, p->meta.id, lim->max_string);
    tm(h, p->meta.last_updated);
    if (p->identifiers.n > lim->max_list)
        abort();
    for (size_t i = 0; i < p->identifiers.n; i++)
        ident(h, &p->identifiers.v[i], lim);
    tm(h, p->birth_date);
    if (p->birth_date.prec > NB_FHIR_PREC_DAY)
        abort(); /* a date */
}

static void ref(uint64_t *h, const nb_fhir_ref_t *r, const nb_fhir_limits_t *lim)
{
    str(h, r->reference, lim->max_string);
    str(h, r->display, lim->max_string);
    ident(h, &r->identifier, lim);
    mix(h, &r->kind, sizeof(r->kind));
    if (r->patient && r->kind != NB_FHIR_KIND_PATIENT)
        abort();
    if (r->type)
        mix(h, r->type, strlen(r->type));
    patient(h, r->patient, lim);
}

static void refs(uint64_t *h, nb_fhir_refs_t rs, const nb_fhir_limits_t *lim)
{
    if (rs.n > lim->max_list)
        abort();
    for (size_t i = 0; i < rs.n; i++)
        ref(h, &rs.v[i], lim);
}

static void resource(uint64_t *h, const nb_fhir_resource_t *r, const nb_fhir_limits_t *lim)
{
    mix(h, &r->rtype, sizeof(r->rtype));
    if ((r->appointment != NULL) + (r->encounter != NULL) + (r->patient != NULL) +
            (r->bundle != NULL) >
        1)
        abort();
    if (r->appointment) {
        const nb_fhir_appointment_t *a = r->appointment;
        if (!a->status || a->n_participants > lim->max_participants ||
            (a->patient &&
             (a->patient < a->participants || a->patient >= a->participants + a->n_participants ||
              a->patient->actor.kind != NB_FHIR_KIND_PATIENT)))
            abort();
        str(h, a->status, lim->max_string);
        codings(h, a->cancelation_reason, lim);
        codings(h, a->appointment_type, lim);
        codings(h, a->service_type, lim);
        codings(h, a->service_category, lim);
        codings(h, a->specialty, lim);
        tm(h, a->start);
        tm(h, a->end);
        tm(h, a->created);
        for (size_t i = 0; i < a->n_participants; i++) {
            ref(h, &a->participants[i].actor, lim);
            str(h, a->participants[i].status, lim->max_string);
            codings(h, a->participants[i].type, lim);
        }
        refs(h, a->based_on, lim);
        refs(h, a->supporting_information, lim);
    }
    if (r->encounter) {
        const nb_fhir_encounter_t *e = r->encounter;
        if (!e->status)
            abort();
        str(h, e->class.code, lim->max_string);
        codings(h, e->type, lim);
        tm(h, e->period_start);
        tm(h, e->period_end);
        ref(h, &e->subject, lim);
        refs(h, e->appointment, lim);
        ref(h, &e->service_provider, lim);
        codings(h, e->admit_source, lim);
    }
    patient(h, r->patient, lim);
    if (r->bundle) {
        const nb_fhir_bundle_t *b = r->bundle;
        if (!b->type || b->n_entries > lim->max_entries)
            abort();
        for (size_t i = 0; i < b->n_entries; i++) {
            const nb_fhir_entry_t *e = &b->entries[i];
            if (e->focus && !b->notification.present)
                abort();
            str(h, e->full_url, lim->max_string);
            str(h, e->request_method, lim->max_string);
            if (e->resource.bundle)
                abort(); /* a Bundle in a Bundle is listed, never read */
            resource(h, &e->resource, lim);
        }
    }
}

static void printable(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n == max)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
            abort();
}

static void outcome(nb_err_t err, const char *text, const char *path)
{
    nb_fhir_issue_t is = {"error", nb_fhir_issue_code(err), text, path};
    nb_buf_t b = {0};
    if (nb_fhir_outcome_write(&is, 1, NB_FHIR_JSON, &b) != NB_ERR_OK)
        abort();
    json_t *j = json_loadb((const char *)b.data, b.len, 0, NULL);
    if (!j)
        abort();
    json_decref(j);
    b.len = 0;
    if (nb_fhir_outcome_write(&is, 1, NB_FHIR_XML, &b) != NB_ERR_OK || b.len == 0)
        abort();
    nb_buf_free(&b);
}

static void times(const uint8_t *data, size_t size)
{
    const nb_fhir_ttype_t types[] = {NB_FHIR_T_DATE, NB_FHIR_T_DATETIME, NB_FHIR_T_INSTANT};
    size_t n = size < 48 ? size : 48;
    for (size_t i = 0; i < 3; i++) {
        nb_fhir_time_t t;
        char why[128];
        uint64_t h = 0;
        nb_err_t err = nb_fhir_time_parse((const char *)data, n, types[i], &t, why, sizeof(why));
        if (err == NB_ERR_OK)
            tm(&h, t);
        else if (err != NB_ERR_FHIR_TIMESTAMP)
            abort();
        else
            printable(why, sizeof(why));
    }
}

static int fuzz_fhir(const uint8_t *data, size_t size, nb_fhir_format_t fmt)
{
    nb_fhir_limits_t lim;
    nb_fhir_limits_default(&lim);
    lim.max_list = 20;
    lim.max_string = 256;
    nb_fhir_doc_t *doc = nb_fhir_doc_new(&lim), *again = nb_fhir_doc_new(&lim);
    if (!doc || !again)
        abort();
    char errstr[256], errstr2[256];
    nb_err_t err = nb_fhir_read(doc, (const char *)data, size, fmt, errstr, sizeof(errstr));
    nb_err_t err2 = nb_fhir_read(again, (const char *)data, size, fmt, errstr2, sizeof(errstr2));
    if (err != err2 || strcmp(errstr, errstr2) != 0)
        abort();
    if (err) {
        if (err != NB_ERR_FHIR_SYNTAX && err != NB_ERR_FHIR_INVALID &&
            err != NB_ERR_FHIR_TIMESTAMP && err != NB_ERR_FHIR_UNSUPPORTED && err != NB_ERR_LIMIT)
            abort();
        if (nb_fhir_doc_resource(doc) || !errstr[0])
            abort();
        printable(errstr, sizeof(errstr));
        const char *path = nb_fhir_doc_error_path(doc);
        for (const char *c = path; *c; c++)
            if (*c < 0x21 || *c > 0x7e)
                abort();
        outcome(err, errstr, path);
    } else {
        uint64_t h1 = 14695981039346656037ULL, h2 = h1;
        resource(&h1, nb_fhir_doc_resource(doc), &lim);
        resource(&h2, nb_fhir_doc_resource(again), &lim);
        if (h1 != h2 || nb_fhir_doc_error_path(doc)[0])
            abort();
    }
    times(data, size);
    nb_fhir_doc_destroy(doc);
    nb_fhir_doc_destroy(again);
    return 0;
}

#endif /* NB_FUZZ_FHIR_H */
