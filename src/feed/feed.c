/*
 * notbrought - feed: the result holder, the names of outcomes and what a mapping says about
 * itself (`mapping check`), and the freeing of a mapping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/internal.h"

nb_feed_out_t *nb_feed_out_new(void)
{
    nb_feed_out_t *out = calloc(1, sizeof(*out));
    if (!out)
        return NULL;
    if (!(out->msg = nb_hl7_msg_new(NULL))) {
        free(out);
        return NULL;
    }
    return out;
}

void nb_feed_out_destroy(nb_feed_out_t *out)
{
    if (!out)
        return;
    nb_hl7_msg_destroy(out->msg);
    EVP_MD_CTX_free(out->sha256);
    free(out);
}

const char *nb_feed_outcome_name(nb_feed_outcome_t o)
{
    switch (o) {
    case NB_FEED_MAPPED:
        return "mapped";
    case NB_FEED_IGNORED:
        return "ignored";
    case NB_FEED_REFUSED:
        return "refused";
    }
    return "unknown";
}

void nb__feed_hex_id(char *dst, const char *prefix, const unsigned char *md)
{
    size_t n = strlen(prefix);
    memcpy(dst, prefix, n);
    for (size_t i = 0; i < 16; i++) {
        dst[n + 2 * i] = "0123456789abcdef"[md[i] >> 4];
        dst[n + 2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    dst[n + 32] = '\0';
}

nb_err_t nb__feed_link_add(nb_feed_out_t *out, const nb_appointment_event_t *ev,
                           nb_verification_t verification, const char *link_id)
{
    if (ev->subject_kind != NB_SUBJECT_CHILD || !ev->nhs_number[0] || !ev->local_id.value[0])
        return NB_ERR_OK;
    if (out->n_records >= NB_FEED_MAX_RECORDS)
        return NB_ERR_LIMIT;
    nb_record_t *rec = &out->records[out->n_records];
    /* Only the link: the union is as large as a notification. */
    memset(&rec->u.link, 0, sizeof(rec->u.link));
    rec->type = NB_RECORD_IDENTITY_LINK;
    rec->schema_id = 2;
    nb_identity_link_t *l = &rec->u.link;
    nb_str_copy(l->event_id, sizeof(l->event_id), link_id);
    l->kind = NB_LINK_LINK;
    l->from = ev->local_id;
    nb_str_copy(l->to.system, sizeof(l->to.system), NB_SYSTEM_NHS_NUMBER);
    nb_str_copy(l->to.value, sizeof(l->to.value), ev->nhs_number);
    l->expected_delivery_date = NB_DATE_NONE;
    l->source = ev->source;
    l->verification = verification;
    l->recorded_at = ev->recorded_at;
    out->n_records++;
    return NB_ERR_OK;
}

const char *nb_feed_mapping_name(const nb_feed_mapping_t *m)
{
    return m ? m->name : "";
}

/* What a vocabulary field does with a code its map lacks. */
static void nb__dflt(const nb__coded_t *c, const char *(*name)(const nb_feed_mapping_t *, int),
                     const nb_feed_mapping_t *m, char *buf, size_t size)
{
    if (!c->set)
        snprintf(buf, size, "not mapped");
    else if (c->dflt == NB__FEED_REFUSE)
        snprintf(buf, size, "%zu codes, unmapped refused", c->map.n);
    else
        snprintf(buf, size, "%zu codes, unmapped -> %s", c->map.n, name(m, c->dflt));
}

static void nb__fdflt(const nb__fcoded_t *c, const char *(*name)(const nb_feed_mapping_t *, int),
                      const nb_feed_mapping_t *m, char *buf, size_t size)
{
    if (c->dflt == NB__FEED_REFUSE)
        snprintf(buf, size, "%zu codes, unmapped refused", c->map.n);
    else
        snprintf(buf, size, "%zu codes, unmapped -> %s", c->map.n, name(m, c->dflt));
}

static const char *nb__type_name(const nb_feed_mapping_t *m, int v)
{
    return v >= 0 && (size_t)v < m->n_types ? m->types[v] : "?";
}

static const char *nb__mode_name(const nb_feed_mapping_t *m, int v)
{
    (void)m;
    return nb_contact_mode_name((nb_contact_mode_t)v);
}

static const char *nb__status_name(const nb_feed_mapping_t *m, int v)
{
    (void)m;
    return v >= 0 ? nb_status_name((nb_status_t)v) : "?";
}

/* "; fhir: ..." appended, when the mapping has the section. */
static void nb__fhir_summary(const nb_feed_mapping_t *m, char *buf, size_t size)
{
    const nb__fhir_t *f = &m->fhir;
    char types[80], modes[80];
    size_t off = strlen(buf);
    if (!f->set || off >= size)
        return;
    nb__fdflt(&f->type, nb__type_name, m, types, sizeof(types));
    if (f->mode.set)
        nb__fdflt(&f->mode, nb__mode_name, m, modes, sizeof(modes));
    else
        snprintf(modes, sizeof(modes), "face_to_face, Encounter.class HH home_visit");
    snprintf(buf + off, size - off,
             "; fhir: %s%s%s, status %zu codes, encounter status %zu codes, cancel reasons %zu "
             "codes; appointment types: %s; contact modes: %s; recorded_at: %s; encounters "
             "without an appointment: %s; identity links: %s",
             f->appointments ? "Appointment" : "", f->appointments && f->encounters ? " and " : "",
             f->encounters ? "Encounter" : "", f->status.map.n, f->enc_status.map.n,
             f->reason.map.n, types, modes, f->recorded_received ? "received" : "last_updated",
             f->enc_own_id ? "own_id" : "ignored", f->link_local_to_nhs ? "local_to_nhs" : "none");
}

/* "; csv: ..." appended, when the mapping has the section. */
static void nb__csv_summary(const nb_feed_mapping_t *m, char *buf, size_t size)
{
    const nb__csv_t *c = m->csv;
    size_t off = strlen(buf);
    if (!c || off >= size)
        return;
    snprintf(buf + off, size - off,
             "; csv: delimiter '%s', encoding %s, recorded_at %s; status %zu codes, unmapped %s; "
             "appointment "
             "types: %zu codes, unmapped %s; contact modes: %zu codes; identity links: %s",
             c->opts.delimiter == '\t' ? "tab" : (char[2]){c->opts.delimiter, 0},
             c->encoding[0] ? c->encoding : "utf-8",
             c->opts.recorded_is_extract ? "the extract time" : "a column", c->status.n,
             c->status_dflt >= 0 ? nb_status_name((nb_status_t)c->status_dflt) : "refused",
             c->type.n, c->type_dflt >= 0 ? nb__type_name(m, c->type_dflt) : "refused", c->mode.n,
             c->link_local_to_nhs ? "local_to_nhs" : "none");
}

void nb_feed_mapping_summary(const nb_feed_mapping_t *m, char *buf, size_t size)
{
    char types[80], modes[80], reasons[80];
    if (!m || !size)
        return;
    nb__dflt(&m->type, nb__type_name, m, types, sizeof(types));
    nb__dflt(&m->mode, nb__mode_name, m, modes, sizeof(modes));
    nb__dflt(&m->reason, nb__status_name, m, reasons, sizeof(reasons));
    if (!m->hl7v2) {
        snprintf(buf, size, "%s: for %s %s (%s)", m->name, nb_agency_name(m->source.agency),
                 m->source.organisation_code, m->source.system);
        nb__fhir_summary(m, buf, size);
        nb__csv_summary(m, buf, size);
        return;
    }
    snprintf(buf, size,
             "%s: hl7v2 for %s %s (%s), %zu message types mapped, %zu ignored; status %zu codes, "
             "outcome %zu codes; cancel reasons: %s; appointment types: %s; contact modes: %s; "
             "subject: %s; identity links: %s",
             m->name, nb_agency_name(m->source.agency), m->source.organisation_code,
             m->source.system, m->messages.n, m->ignore.n, m->status.map.n, m->outcome.map.n,
             reasons, types, modes,
             m->unborn_always     ? "unborn"
             : m->unborn_when.set ? "child or unborn"
                                  : "child",
             m->link_local_to_nhs ? "local_to_nhs" : "none");
    nb__fhir_summary(m, buf, size);
    nb__csv_summary(m, buf, size);
}

static void nb__codes_free(nb__codemap_t *m)
{
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

void nb_feed_mapping_free(nb_feed_mapping_t *m)
{
    if (!m)
        return;
    nb__codemap_t *maps[] = {&m->messages,          &m->ignore,          &m->proc_ids,
                             &m->versions,          &m->status.map,      &m->reason.map,
                             &m->outcome.map,       &m->nhs.authorities, &m->nhs.types,
                             &m->local.authorities, &m->local.types,     &m->unborn_when.map,
                             &m->type.map,          &m->mode.map,        &m->mandated};
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
        nb__codes_free(maps[i]);
    for (size_t i = 0; i < m->n_types; i++)
        free(m->types[i]);
    free(m->types);
    nb__feed_fhir_free(m);
    nb__feed_csv_free(m->csv);
    EVP_MD_free(m->sha256);
    free(m);
}
