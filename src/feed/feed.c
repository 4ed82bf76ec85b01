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

static const char *nb__type_name(const nb_feed_mapping_t *m, int v)
{
    return v >= 0 && (size_t)v < m->n_types ? m->types[v] : "?";
}

static const char *nb__sum_mode(const nb_feed_mapping_t *m, int v)
{
    (void)m;
    return nb_contact_mode_name((nb_contact_mode_t)v);
}

static const char *nb__sum_status(const nb_feed_mapping_t *m, int v)
{
    (void)m;
    return v >= 0 ? nb_status_name((nb_status_t)v) : "?";
}

void nb_feed_mapping_summary(const nb_feed_mapping_t *m, char *buf, size_t size)
{
    char types[80], modes[80], reasons[80];
    if (!m || !size)
        return;
    if (m->csv && !m->messages.n) {
        const nb__csv_t *c = m->csv;
        snprintf(
            buf, size,
            "%s: csv for %s %s (%s), delimiter '%s', recorded_at %s; status %zu codes, "
            "unmapped %s; appointment types: %zu codes, unmapped %s; contact modes: %zu "
            "codes",
            m->name, nb_agency_name(m->source.agency), m->source.organisation_code,
            m->source.system, c->opts.delimiter == '\t' ? "tab" : (char[2]){c->opts.delimiter, 0},
            c->opts.recorded_is_extract ? "the extract time" : "a column", c->status.n,
            c->status_dflt >= 0 ? nb_status_name((nb_status_t)c->status_dflt) : "refused",
            c->type.n, c->type_dflt >= 0 ? nb__type_name(m, c->type_dflt) : "refused", c->mode.n);
        return;
    }
    nb__dflt(&m->type, nb__type_name, m, types, sizeof(types));
    nb__dflt(&m->mode, nb__sum_mode, m, modes, sizeof(modes));
    nb__dflt(&m->reason, nb__sum_status, m, reasons, sizeof(reasons));
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
    nb__feed_csv_free(m->csv);
    EVP_MD_free(m->sha256);
    free(m);
}
