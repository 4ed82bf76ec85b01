/*
 * notbrought - feed: the `fhir` section of a mapping (docs/integration.md, "The fhir section").
 * The status and cancellation-reason maps start from the table of docs/schemas.md; what the
 * file lists is added to them, and a code the file lists for another name replaces the
 * default (a source whose `noshow` means something else can say so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/internal.h"

/* ---- the defaults of docs/schemas.md ----------------------------------------------------- */

static const struct {
    const char *code;
    int value;
} nb__appt_status[] =
    {
        {"proposed", NB_STATUS_BOOKED},    {"pending", NB_STATUS_BOOKED},
        {"booked", NB_STATUS_BOOKED},      {"waitlist", NB_STATUS_BOOKED},
        {"arrived", NB_STATUS_ATTENDED},   {"checked-in", NB_STATUS_ATTENDED},
        {"fulfilled", NB_STATUS_ATTENDED}, {"noshow", NB_STATUS_WAS_NOT_BROUGHT},
        {"cancelled", NB__FEED_CANCELLED}, {"entered-in-error", NB_STATUS_ENTERED_IN_ERROR},
},
  nb__enc_status[] =
      {
          /* An Encounter is a contact that happened or is planned: planned is a booking; from
           * arrival on, the child was there. R4 has no "did not attend" Encounter status. */
          {"planned", NB_STATUS_BOOKED},     {"arrived", NB_STATUS_ATTENDED},
          {"triaged", NB_STATUS_ATTENDED},   {"in-progress", NB_STATUS_ATTENDED},
          {"onleave", NB_STATUS_ATTENDED},   {"finished", NB_STATUS_ATTENDED},
          {"cancelled", NB__FEED_CANCELLED}, {"entered-in-error", NB_STATUS_ENTERED_IN_ERROR},
},
  nb__reasons[] = {
      /* http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason */
      {"pat", NB_STATUS_CANCELLED_BY_PATIENT},
      {"pat-crs", NB_STATUS_CANCELLED_BY_PATIENT},
      {"pat-cpp", NB_STATUS_CANCELLED_BY_PATIENT},
      {"pat-dec", NB_STATUS_CANCELLED_BY_PATIENT},
      {"pat-fb", NB_STATUS_CANCELLED_BY_PATIENT},
      {"pat-lt", NB_STATUS_CANCELLED_BY_PATIENT},
      {"pat-mt", NB_STATUS_CANCELLED_BY_PATIENT},
      {"pat-mv", NB_STATUS_CANCELLED_BY_PATIENT},
      {"pat-preg", NB_STATUS_CANCELLED_BY_PATIENT},
      {"pat-swl", NB_STATUS_CANCELLED_BY_PATIENT},
      {"pat-ucp", NB_STATUS_CANCELLED_BY_PATIENT},
      {"prov", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"prov-pers", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"prov-dch", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"prov-edu", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"prov-hosp", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"prov-labs", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"prov-mri", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"prov-onc", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"maint", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"meds-inc", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"other", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"oth-cms", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"oth-err", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"oth-fin", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"oth-iv", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"oth-int", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"oth-mu", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"oth-room", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"oth-oerr", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"oth-swie", NB_STATUS_CANCELLED_BY_PROVIDER},
      {"oth-weath", NB_STATUS_CANCELLED_BY_PROVIDER},
};

#define NB__N(a) (sizeof(a) / sizeof((a)[0]))

/* Adds a default code unless the file listed it (the file's value wins). */
static void nb__default_code(nb__lctx_t *ctx, nb__codemap_t *m, const char *code, int value)
{
    char norm[NB__FEED_CODE_MAX];
    nb__feed_norm(code, strlen(code), norm, sizeof(norm));
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].code, norm) == 0)
            return;
    nb__code_t *v = realloc(m->v, (m->n + 1) * sizeof(*v));
    if (!v) {
        ctx->nomem = true;
        return;
    }
    m->v = v;
    nb_str_copy(v[m->n].code, sizeof(v[m->n].code), norm);
    v[m->n].value = value;
    m->n++;
}

/* ---- values ------------------------------------------------------------------------------ */

static int nb__fstatus_target(const char *s)
{
    return strcmp(s, "cancelled") == 0 ? NB__FEED_CANCELLED : nb__feed_status_target(s);
}

static const struct {
    const char *name;
    unsigned bit;
} nb__elements[] = {
    {"appointmentType", NB__FE_APPOINTMENT_TYPE},
    {"serviceType", NB__FE_SERVICE_TYPE},
    {"serviceCategory", NB__FE_SERVICE_CATEGORY},
    {"specialty", NB__FE_SPECIALTY},
    {"class", NB__FE_CLASS},
    {"type", NB__FE_TYPE},
};

static void nb__from_one(nb__lctx_t *ctx, yaml_node_t *node, const char *s, void *arg)
{
    unsigned *from = arg;
    for (size_t i = 0; i < NB__N(nb__elements); i++) {
        if (strcmp(nb__elements[i].name, s) == 0) {
            *from |= nb__elements[i].bit;
            return;
        }
    }
    NB__ERR(ctx, node,
            "'%.40s' is not an element codes are read from (appointmentType, serviceType, "
            "serviceCategory, specialty, class, type)",
            s);
}

/* {from, map, default} (from only where @p from_dflt is not 0: the codings' elements). */
static void nb__fcoded(nb__lctx_t *ctx, yaml_node_t *node, const char *what, nb__feed_name_fn fn,
                       unsigned from_dflt, nb__fcoded_t *c)
{
    static const char *const keys[] = {"from", "map", "default", NULL};
    static const char *const keys_plain[] = {"map", "default", NULL};
    if (!nb__feed_is_map(ctx, node, what))
        return;
    nb__feed_known_keys(ctx, node, what, from_dflt ? keys : keys_plain);
    yaml_node_t *f = nb__feed_get(ctx, node, "from"), *mp = nb__feed_get(ctx, node, "map"),
                *d = nb__feed_get(ctx, node, "default");
    c->set = true;
    c->dflt = NB__FEED_REFUSE;
    c->from = from_dflt;
    if (f && from_dflt) {
        c->from = 0;
        nb__feed_each(ctx, f, "from", nb__from_one, &c->from);
    }
    if (mp)
        nb__feed_codes(ctx, mp, what, fn, &c->map);
    if (d) {
        const char *s = nb__feed_scalar(ctx, d, "default");
        if (s && strcmp(s, "refuse") != 0 && !nb__feed_target(ctx, d, s, fn, what, &c->dflt))
            c->dflt = NB__FEED_REFUSE; /* reported */
    }
}

/* Adds the defaults to a status or reason map (the file's codes first) and sorts it. */
static void nb__with_defaults(nb__lctx_t *ctx, nb__fcoded_t *c, const void *table, size_t n)
{
    const struct {
        const char *code;
        int value;
    } *t = table;
    if (!c->set) {
        c->set = true;
        c->dflt = NB__FEED_REFUSE;
    }
    for (size_t i = 0; i < n; i++)
        nb__default_code(ctx, &c->map, t[i].code, t[i].value);
    nb__feed_codes_sort(&c->map);
}

typedef struct nb__sys_arg_s {
    nb__systems_t *sys;
    bool id_word; /**< "id" stands for Resource.id */
} nb__sys_arg_t;

static void nb__system_one(nb__lctx_t *ctx, yaml_node_t *node, const char *s, void *arg)
{
    nb__sys_arg_t *a = arg;
    if (a->sys->n >= NB__FHIR_MAX_SYSTEMS) {
        NB__ERR(ctx, node, "at most %d identifier systems are tried", NB__FHIR_MAX_SYSTEMS);
        return;
    }
    if (a->id_word && strcmp(s, "id") == 0) {
        a->sys->v[a->sys->n++][0] = '\0';
        return;
    }
    if (!s[0] || strlen(s) > NB_SYSTEM_MAX ||
        nb_text_check(s, strlen(s), NB_TEXT_ID) != NB_TEXT_OK) {
        NB__ERR(ctx, node, "an identifier system must be 1 to %d characters of a URI",
                NB_SYSTEM_MAX);
        return;
    }
    nb_str_copy(a->sys->v[a->sys->n++], NB_SYSTEM_MAX + 1, s);
}

static void nb__system_key(nb__lctx_t *ctx, yaml_node_t *node, const char *key, char *dst)
{
    const char *s = nb__feed_scalar(ctx, node, key);
    if (s && (!s[0] || strlen(s) > NB_SYSTEM_MAX ||
              nb_text_check(s, strlen(s), NB_TEXT_ID) != NB_TEXT_OK))
        NB__ERR(ctx, node, "'%s' must be 1 to %d characters of a URI", key, NB_SYSTEM_MAX);
    else if (s)
        nb_str_copy(dst, NB_SYSTEM_MAX + 1, s);
}

/* ---- sections ---------------------------------------------------------------------------- */

static void nb__fpatient(nb__lctx_t *ctx, yaml_node_t *node)
{
    static const char *const keys[] = {"nhs_number_systems", "local_id", NULL};
    static const char *const lkeys[] = {"systems", "reference_system", "system", NULL};
    nb__fhir_t *f = &ctx->m->fhir;
    if (!nb__feed_is_map(ctx, node, "patient"))
        return;
    nb__feed_known_keys(ctx, node, "patient", keys);
    yaml_node_t *n = nb__feed_get(ctx, node, "nhs_number_systems"),
                *l = nb__feed_get(ctx, node, "local_id"), *v;
    if (n) {
        nb__sys_arg_t a = {&f->nhs_systems, false};
        f->nhs_systems.n = 0;
        nb__feed_each(ctx, n, "nhs_number_systems", nb__system_one, &a);
    }
    if (!l || !nb__feed_is_map(ctx, l, "local_id"))
        return;
    nb__feed_known_keys(ctx, l, "local_id", lkeys);
    if ((v = nb__feed_get(ctx, l, "systems"))) {
        nb__sys_arg_t a = {&f->local_systems, false};
        nb__feed_each(ctx, v, "systems", nb__system_one, &a);
    }
    if ((v = nb__feed_get(ctx, l, "reference_system")))
        nb__system_key(ctx, v, "reference_system", f->ref_system);
    if ((v = nb__feed_get(ctx, l, "system")))
        nb__system_key(ctx, v, "system", f->local_system);
    if (!f->local_systems.n && !f->ref_system[0])
        NB__ERR(ctx, l, "local_id needs 'systems' or 'reference_system' (or both)");
}

static void nb__resource_one(nb__lctx_t *ctx, yaml_node_t *node, const char *s, void *arg)
{
    nb__fhir_t *f = arg;
    if (strcmp(s, "Appointment") == 0)
        f->appointments = true;
    else if (strcmp(s, "Encounter") == 0)
        f->encounters = true;
    else
        NB__ERR(ctx, node,
                "'%.40s' is not a resource the FHIR mapper maps (Appointment, "
                "Encounter)",
                s);
}

/* The keys that are one word each. */
static void nb__fwords(nb__lctx_t *ctx, yaml_node_t *node)
{
    nb__fhir_t *f = &ctx->m->fhir;
    yaml_node_t *v;
    const char *s;
    if ((v = nb__feed_get(ctx, node, "recorded_at")) &&
        (s = nb__feed_scalar(ctx, v, "recorded_at"))) {
        if (strcmp(s, "received") == 0)
            f->recorded_received = true;
        else if (strcmp(s, "last_updated") != 0)
            NB__ERR(ctx, v, "recorded_at must be last_updated (the default) or received");
    }
    if ((v = nb__feed_get(ctx, node, "encounter_without_appointment")) &&
        (s = nb__feed_scalar(ctx, v, "encounter_without_appointment"))) {
        if (strcmp(s, "own_id") == 0)
            f->enc_own_id = true;
        else if (strcmp(s, "ignore") != 0)
            NB__ERR(ctx, v, "encounter_without_appointment must be ignore (the default) or own_id");
    }
}

static void nb__fcodes(nb__lctx_t *ctx, yaml_node_t *node)
{
    nb__fhir_t *f = &ctx->m->fhir;
    yaml_node_t *v;
    if ((v = nb__feed_get(ctx, node, "status")))
        nb__fcoded(ctx, v, "status", nb__fstatus_target, 0, &f->status);
    nb__with_defaults(ctx, &f->status, nb__appt_status, NB__N(nb__appt_status));
    if ((v = nb__feed_get(ctx, node, "encounter_status")))
        nb__fcoded(ctx, v, "encounter_status", nb__fstatus_target, 0, &f->enc_status);
    nb__with_defaults(ctx, &f->enc_status, nb__enc_status, NB__N(nb__enc_status));
    if ((v = nb__feed_get(ctx, node, "cancel_reason")))
        nb__fcoded(ctx, v, "cancel_reason", nb__feed_status_target, 0, &f->reason);
    nb__with_defaults(ctx, &f->reason, nb__reasons, NB__N(nb__reasons));
    if ((v = nb__feed_get(ctx, node, "appointment_type")))
        nb__fcoded(ctx, v, "appointment_type", NULL,
                   NB__FE_APPOINTMENT_TYPE | NB__FE_SERVICE_TYPE | NB__FE_TYPE, &f->type);
    else
        NB__ERR(ctx, node, "fhir needs 'appointment_type' {from, map, default}");
    if ((v = nb__feed_get(ctx, node, "contact_mode")))
        nb__fcoded(ctx, v, "contact_mode", nb__feed_mode_target,
                   NB__FE_APPOINTMENT_TYPE | NB__FE_SERVICE_TYPE | NB__FE_CLASS, &f->mode);
    if (f->status.dflt == NB__FEED_CANCELLED || f->enc_status.dflt == NB__FEED_CANCELLED)
        NB__ERR(ctx, node, "a status default cannot be 'cancelled': give the status it means");
}

void nb__feed_fhir_section(nb__lctx_t *ctx, yaml_node_t *node)
{
    static const char *const keys[] = {"resources",
                                       "appointment_id",
                                       "recorded_at",
                                       "patient",
                                       "status",
                                       "encounter_status",
                                       "cancel_reason",
                                       "appointment_type",
                                       "contact_mode",
                                       "mandated",
                                       "encounter_without_appointment",
                                       "identity_links",
                                       NULL};
    nb__fhir_t *f = &ctx->m->fhir;
    if (!nb__feed_is_map(ctx, node, "fhir"))
        return;
    f->set = true;
    nb__feed_known_keys(ctx, node, "fhir", keys);
    nb_str_copy(f->nhs_systems.v[0], sizeof(f->nhs_systems.v[0]), NB_SYSTEM_NHS_NUMBER);
    f->nhs_systems.n = 1;
    yaml_node_t *v;
    if ((v = nb__feed_get(ctx, node, "resources")))
        nb__feed_each(ctx, v, "resources", nb__resource_one, f);
    else
        f->appointments = f->encounters = true;
    if ((v = nb__feed_get(ctx, node, "appointment_id"))) {
        nb__sys_arg_t a = {&f->ids, true};
        nb__feed_each(ctx, v, "appointment_id", nb__system_one, &a);
    } else {
        f->ids.n = 1; /* Resource.id */
        f->ids.v[0][0] = '\0';
    }
    nb__fwords(ctx, node);
    if ((v = nb__feed_get(ctx, node, "patient")))
        nb__fpatient(ctx, v);
    nb__fcodes(ctx, node);
    if ((v = nb__feed_get(ctx, node, "mandated")))
        nb__feed_mandated(ctx, v);
    f->link_verification = NB_VERIFICATION_UNVERIFIED;
    if ((v = nb__feed_get(ctx, node, "identity_links")))
        nb__feed_links(ctx, v, &f->link_local_to_nhs, &f->link_verification);
    if (f->link_local_to_nhs && !f->local_systems.n && !f->ref_system[0])
        NB__ERR(ctx, v,
                "identity_links: local_to_nhs needs patient.local_id (its systems or "
                "reference_system): the NHS number systems are there by default");
}

void nb__feed_fhir_free(nb_feed_mapping_t *m)
{
    nb__fcoded_t *cs[] = {&m->fhir.status, &m->fhir.enc_status, &m->fhir.reason, &m->fhir.type,
                          &m->fhir.mode};
    for (size_t i = 0; i < NB__N(cs); i++) {
        free(cs[i]->map.v);
        cs[i]->map.v = NULL;
        cs[i]->map.n = 0;
    }
}
