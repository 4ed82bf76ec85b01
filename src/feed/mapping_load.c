/*
 * notbrought - feed: loading a source's mapping from YAML (docs/integration.md, "The mapping
 * file"). Every key is known to the loader: an unknown key, a value of the wrong kind, a name
 * outside its vocabulary or a path that does not read is an error at its line and column, and
 * the sections of mappers not written yet (fhir, csv) are refused, never silently accepted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "feed/internal.h"

#define NB__MAX_FILE_BYTES (1u << 20)
#define NB__MAX_NESTING 16

/* ---- diagnostics ------------------------------------------------------------------------- */

/* Control characters quoted from a file are written \xNN, so that they cannot forge a line. */
static void nb__clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

void nb__feed_report(nb__lctx_t *ctx, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    nb__clean(msg);
    if (ctx->n_errors++ == 0 && ctx->errstr_size) {
        if (line)
            snprintf(ctx->errstr, ctx->errstr_size, "%s:%d:%d: %s", ctx->file, line, col, msg);
        else
            snprintf(ctx->errstr, ctx->errstr_size, "%s: %s", ctx->file, msg);
    }
    if (ctx->cb && ctx->n_errors <= 200) {
        nb_feed_diag_t d = {NB_ERR_CONFIG, false, ctx->file, line, col, msg};
        ctx->cb(ctx->opaque, &d);
    }
}

/* ---- codes ------------------------------------------------------------------------------- */

void nb__feed_norm(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        char c = s[i];
        if (c == ' ' || c == '-' || c == '_' || c == '.' || c == '\t')
            continue;
        out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[o] = '\0';
}

static int nb__code_cmp(const void *a, const void *b)
{
    return strcmp(((const nb__code_t *)a)->code, ((const nb__code_t *)b)->code);
}

bool nb__feed_lookup(const nb__codemap_t *m, const char *norm, int *value)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        /* Most steps are decided by the first byte: strcmp() only when it is the same. */
        int c = (unsigned char)norm[0] - (unsigned char)m->v[mid].code[0];
        if (c == 0)
            c = strcmp(norm, m->v[mid].code);
        if (c == 0) {
            *value = m->v[mid].value;
            return true;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

/* Adds a code; a code already there with another value is an error (the map would depend on
 * the order of the file). The map is sorted once it is complete (nb__feed_codes_sort()). */
void nb__feed_code_add(nb__lctx_t *ctx, yaml_node_t *node, nb__codemap_t *m, const char *s,
                       int value, const char *what)
{
    char norm[NB__FEED_CODE_MAX];
    size_t len = strlen(s);
    if (len == 0 || len >= NB__FEED_CODE_MAX) {
        NB__ERR(ctx, node, "a code of %s must be 1 to %d characters long", what,
                NB__FEED_CODE_MAX - 1);
        return;
    }
    nb__feed_norm(s, len, norm, sizeof(norm));
    if (!norm[0]) {
        NB__ERR(ctx, node, "a code of %s is only spaces and punctuation", what);
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->v[i].code, norm) == 0) {
            if (m->v[i].value != value)
                NB__ERR(ctx, node,
                        "code '%.60s' of %s is listed twice, for different values "
                        "(codes are compared without case, spaces, '-', '_' and '.')",
                        s, what);
            return;
        }
    }
    if (m->n >= NB__FEED_MAX_CODES) {
        NB__ERR(ctx, node, "%s has more than %d codes", what, NB__FEED_MAX_CODES);
        return;
    }
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

void nb__feed_codes_sort(nb__codemap_t *m)
{
    if (m->n > 1)
        qsort(m->v, m->n, sizeof(*m->v), nb__code_cmp);
}

/* ---- nodes ------------------------------------------------------------------------------- */

static const char *nb__kind(const yaml_node_t *node)
{
    return node->type == YAML_MAPPING_NODE    ? "a mapping"
           : node->type == YAML_SEQUENCE_NODE ? "a list"
                                              : "a scalar";
}

const char *nb__feed_scalar(nb__lctx_t *ctx, yaml_node_t *node, const char *key)
{
    if (node->type != YAML_SCALAR_NODE) {
        NB__ERR(ctx, node, "'%s' must be a scalar, not %s", key, nb__kind(node));
        return NULL;
    }
    const char *s = (const char *)node->data.scalar.value;
    if (strlen(s) != node->data.scalar.length) {
        NB__ERR(ctx, node, "'%s' holds a NUL character", key);
        return NULL;
    }
    return s;
}

bool nb__feed_is_map(nb__lctx_t *ctx, yaml_node_t *node, const char *key)
{
    if (node->type != YAML_MAPPING_NODE) {
        NB__ERR(ctx, node, "'%s' must be a mapping, not %s", key, nb__kind(node));
        return false;
    }
    return true;
}

/* The value of @p key in a mapping node, or NULL. */
yaml_node_t *nb__feed_get(nb__lctx_t *ctx, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(ctx->doc, p->value);
    }
    return NULL;
}

/* Reports every key of @p map not in @p keys (NULL-terminated), and keys given twice. */
void nb__feed_known_keys(nb__lctx_t *ctx, yaml_node_t *map, const char *where,
                         const char *const *keys)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) {
            NB__ERR(ctx, k, "a key of %s must be a scalar", where);
            continue;
        }
        const char *s = (const char *)k->data.scalar.value;
        bool known = false;
        for (size_t i = 0; keys[i] && !known; i++)
            known = strcmp(keys[i], s) == 0;
        if (!known)
            NB__ERR(ctx, k, "unknown key '%.60s' in %s", s, where);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = yaml_document_get_node(ctx->doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE &&
                strcmp((const char *)k2->data.scalar.value, s) == 0)
                NB__ERR(ctx, k, "key '%.60s' is given twice in %s", s, where);
        }
    }
}

void nb__feed_each(nb__lctx_t *ctx, yaml_node_t *node, const char *key, nb__feed_each_fn fn,
                   void *arg)
{
    if (node->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = node->data.sequence.items.start;
             i < node->data.sequence.items.top; i++) {
            yaml_node_t *item = yaml_document_get_node(ctx->doc, *i);
            const char *s = item ? nb__feed_scalar(ctx, item, key) : NULL;
            if (s)
                fn(ctx, item, s, arg);
        }
        return;
    }
    const char *s = nb__feed_scalar(ctx, node, key);
    if (s)
        fn(ctx, node, s, arg);
}

/* ---- values ------------------------------------------------------------------------------ */

static void nb__path_one(nb__lctx_t *ctx, yaml_node_t *node, const char *s, void *arg)
{
    nb__paths_t *ps = arg;
    char err[160];
    if (ps->n >= NB__FEED_MAX_PATHS) {
        NB__ERR(ctx, node, "at most %d paths are tried for one value", NB__FEED_MAX_PATHS);
        return;
    }
    if (strlen(s) >= NB__FEED_PATH_TEXT) {
        NB__ERR(ctx, node, "'%.60s' is too long for an HL7 path", s);
        return;
    }
    if (nb_hl7_path_parse(s, &ps->p[ps->n], err, sizeof(err)) != NB_ERR_OK) {
        NB__ERR(ctx, node, "'%.40s' is not an HL7 path such as PID-3[2].1: %s", s, err);
        return;
    }
    nb_str_copy(ps->text[ps->n], sizeof(ps->text[0]), s);
    ps->n++;
}

static void nb__paths(nb__lctx_t *ctx, yaml_node_t *node, const char *key, nb__paths_t *ps)
{
    ps->n = 0;
    nb__feed_each(ctx, node, key, nb__path_one, ps);
}

int nb__feed_status_target(const char *s)
{
    nb_status_t st;
    return nb_status_parse(s, &st) ? (int)st : -100;
}

static int nb__message_name(const char *s)
{
    if (strcmp(s, "status") == 0)
        return NB__FEED_FROM_STATUS;
    if (strcmp(s, "cancelled") == 0)
        return NB__FEED_CANCELLED;
    return nb__feed_status_target(s);
}

static int nb__outcome_name(const char *s)
{
    return strcmp(s, "none") == 0 ? NB__FEED_NONE : nb__feed_status_target(s);
}

int nb__feed_mode_target(const char *s)
{
    nb_contact_mode_t cm;
    return nb_contact_mode_parse(s, &cm) ? (int)cm : -100;
}

static bool nb__type_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NB_TYPE_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* The index of a type name in the mapping's list, added if new; -100 if it is not a name. */
static int nb__type_index(nb__lctx_t *ctx, const char *s)
{
    nb_feed_mapping_t *m = ctx->m;
    if (!nb__type_ok(s))
        return -100;
    for (size_t i = 0; i < m->n_types; i++)
        if (strcmp(m->types[i], s) == 0)
            return (int)i;
    char **t = realloc(m->types, (m->n_types + 1) * sizeof(*t));
    if (!t || !(t[m->n_types] = strdup(s))) {
        if (t)
            m->types = t;
        ctx->nomem = true;
        return -100;
    }
    m->types = t;
    return (int)m->n_types++;
}

typedef struct nb__codes_arg_s {
    nb__codemap_t *map;
    int value;
    const char *what;
} nb__codes_arg_t;

static void nb__code_one(nb__lctx_t *ctx, yaml_node_t *node, const char *s, void *arg)
{
    nb__codes_arg_t *a = arg;
    nb__feed_code_add(ctx, node, a->map, s, a->value, a->what);
}

/* A name of the target vocabulary: @p fn, or a type name when fn is NULL. */
bool nb__feed_target(nb__lctx_t *ctx, yaml_node_t *k, const char *name, nb__feed_name_fn fn,
                     const char *what, int *value)
{
    *value = fn ? fn(name) : nb__type_index(ctx, name);
    if (*value == -100) {
        if (fn)
            NB__ERR(ctx, k, "'%.60s' is not a name %s maps to (docs/integration.md)", name, what);
        else
            NB__ERR(ctx, k, "appointment type '%.60s' must be 1 to %d characters a-z, 0-9, '_'",
                    name, NB_TYPE_MAX);
        return false;
    }
    return true;
}

/* map: {target: [code, ...], ...} */
void nb__feed_codes(nb__lctx_t *ctx, yaml_node_t *node, const char *what, nb__feed_name_fn fn,
                    nb__codemap_t *map)
{
    if (!nb__feed_is_map(ctx, node, what))
        return;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);
        const char *name = k && v ? nb__feed_scalar(ctx, k, what) : NULL;
        int value;
        if (!name || !nb__feed_target(ctx, k, name, fn, what, &value))
            continue;
        nb__codes_arg_t a = {map, value, what};
        nb__feed_each(ctx, v, what, nb__code_one, &a);
    }
    nb__feed_codes_sort(map);
}

/* A list of codes that all map to 1 (a set). */
void nb__feed_set(nb__lctx_t *ctx, yaml_node_t *node, const char *what, nb__codemap_t *map)
{
    nb__codes_arg_t a = {map, 1, what};
    nb__feed_each(ctx, node, what, nb__code_one, &a);
    nb__feed_codes_sort(map);
}

/* {field, map, default}; without a default, a code the map lacks is refused. */
static void nb__coded(nb__lctx_t *ctx, yaml_node_t *node, const char *what, nb__feed_name_fn fn,
                      nb__coded_t *c)
{
    static const char *const keys[] = {"field", "map", "default", NULL};
    if (!nb__feed_is_map(ctx, node, what))
        return;
    nb__feed_known_keys(ctx, node, what, keys);
    yaml_node_t *f = nb__feed_get(ctx, node, "field"), *mp = nb__feed_get(ctx, node, "map"),
                *d = nb__feed_get(ctx, node, "default");
    c->set = true;
    c->dflt = NB__FEED_REFUSE;
    if (!f)
        NB__ERR(ctx, node, "%s needs 'field', the HL7 path(s) of its code", what);
    else
        nb__paths(ctx, f, "field", &c->field);
    if (!mp)
        NB__ERR(ctx, node, "%s needs 'map', from names to the codes the source sends", what);
    else
        nb__feed_codes(ctx, mp, what, fn, &c->map);
    if (d) {
        const char *s = nb__feed_scalar(ctx, d, "default");
        if (s && strcmp(s, "refuse") != 0 && !nb__feed_target(ctx, d, s, fn, what, &c->dflt))
            c->dflt = NB__FEED_REFUSE; /* reported */
    }
}

/* {field, assigning_authority, identifier_type, system} */
static void nb__idsel(nb__lctx_t *ctx, yaml_node_t *node, const char *what, bool need_system,
                      nb__idsel_t *id)
{
    static const char *const keys[] = {"field", "assigning_authority", "identifier_type", "system",
                                       NULL};
    if (!nb__feed_is_map(ctx, node, what))
        return;
    nb__feed_known_keys(ctx, node, what, keys);
    yaml_node_t *f = nb__feed_get(ctx, node, "field"),
                *a = nb__feed_get(ctx, node, "assigning_authority"),
                *t = nb__feed_get(ctx, node, "identifier_type"),
                *s = nb__feed_get(ctx, node, "system");
    id->set = true;
    if (f)
        nb__paths(ctx, f, "field", &id->field);
    else
        NB__ERR(ctx, node, "%s needs 'field' (e.g. PID-3)", what);
    if (a)
        nb__feed_set(ctx, a, "assigning_authority", &id->authorities);
    if (t)
        nb__feed_set(ctx, t, "identifier_type", &id->types);
    const char *sys = s ? nb__feed_scalar(ctx, s, "system") : NULL;
    if (sys) {
        if (!sys[0] || strlen(sys) > NB_SYSTEM_MAX ||
            nb_text_check(sys, strlen(sys), NB_TEXT_ID) != NB_TEXT_OK)
            NB__ERR(ctx, s, "'system' must be 1 to %d characters of an identifier", NB_SYSTEM_MAX);
        else
            nb_str_copy(id->system, sizeof(id->system), sys);
    } else if (need_system && !s) {
        NB__ERR(ctx, node, "%s needs 'system', the URI or name of the identifier system", what);
    }
}

/* ---- sections ---------------------------------------------------------------------------- */

static void nb__source(nb__lctx_t *ctx, yaml_node_t *node)
{
    static const char *const keys[] = {"agency", "system", "organisation_code", NULL};
    nb_source_t *src = &ctx->m->source;
    if (!nb__feed_is_map(ctx, node, "source"))
        return;
    nb__feed_known_keys(ctx, node, "source", keys);
    yaml_node_t *a = nb__feed_get(ctx, node, "agency"), *s = nb__feed_get(ctx, node, "system"),
                *o = nb__feed_get(ctx, node, "organisation_code");
    const char *as = a ? nb__feed_scalar(ctx, a, "agency") : NULL;
    if (!a)
        NB__ERR(ctx, node, "source needs 'agency' (gp, midwifery, health_visiting, ...)");
    else if (as && !nb_agency_parse(as, &src->agency))
        NB__ERR(ctx, a,
                "unknown agency '%.40s' (gp, midwifery, health_visiting, "
                "school_nursing, outpatients, other)",
                as);
    const char *ss = s ? nb__feed_scalar(ctx, s, "system") : NULL;
    if (!s)
        NB__ERR(ctx, node, "source needs 'system', the name of the sending system");
    else if (ss && (!ss[0] || strlen(ss) > NB_SYSTEM_MAX ||
                    nb_text_check(ss, strlen(ss), NB_TEXT_NAME) != NB_TEXT_OK))
        NB__ERR(ctx, s, "'system' must be one line of 1 to %d characters", NB_SYSTEM_MAX);
    else if (ss)
        nb_str_copy(src->system, sizeof(src->system), ss);
    const char *os = o ? nb__feed_scalar(ctx, o, "organisation_code") : NULL;
    if (!o)
        NB__ERR(ctx, node, "source needs 'organisation_code', the ODS code of the organisation");
    else if (os && (!os[0] || strlen(os) > NB_ORG_MAX ||
                    nb_text_check(os, strlen(os), NB_TEXT_ID) != NB_TEXT_OK))
        NB__ERR(ctx, o, "'organisation_code' must be 1 to %d characters of an identifier",
                NB_ORG_MAX);
    else if (os)
        nb_str_copy(src->organisation_code, sizeof(src->organisation_code), os);
}

static void nb__patient(nb__lctx_t *ctx, yaml_node_t *node)
{
    static const char *const keys[] = {"nhs_number",  "local_id", "date_of_birth",
                                       "family_name", "postcode", NULL};
    nb_feed_mapping_t *m = ctx->m;
    if (!nb__feed_is_map(ctx, node, "patient"))
        return;
    nb__feed_known_keys(ctx, node, "patient", keys);
    yaml_node_t *n = nb__feed_get(ctx, node, "nhs_number"),
                *l = nb__feed_get(ctx, node, "local_id"), *v;
    if (n)
        nb__idsel(ctx, n, "nhs_number", false, &m->nhs);
    if (l)
        nb__idsel(ctx, l, "local_id", true, &m->local);
    if (!n && !l)
        NB__ERR(ctx, node, "patient needs 'nhs_number' or 'local_id' (or both)");
    if ((v = nb__feed_get(ctx, node, "date_of_birth")))
        nb__paths(ctx, v, "date_of_birth", &m->dob);
    if ((v = nb__feed_get(ctx, node, "family_name")))
        nb__paths(ctx, v, "family_name", &m->family);
    if ((v = nb__feed_get(ctx, node, "postcode")))
        nb__paths(ctx, v, "postcode", &m->postcode);
}

static void nb__unborn(nb__lctx_t *ctx, yaml_node_t *node)
{
    static const char *const keys[] = {"when", "expected_delivery_date", NULL};
    static const char *const wkeys[] = {"field", "values", NULL};
    nb_feed_mapping_t *m = ctx->m;
    if (!nb__feed_is_map(ctx, node, "unborn"))
        return;
    nb__feed_known_keys(ctx, node, "unborn", keys);
    yaml_node_t *w = nb__feed_get(ctx, node, "when"),
                *e = nb__feed_get(ctx, node, "expected_delivery_date");
    if (!w) {
        NB__ERR(ctx, node, "unborn needs 'when': always, or {field, values}");
    } else if (w->type == YAML_SCALAR_NODE) {
        if (strcmp((const char *)w->data.scalar.value, "always") == 0)
            m->unborn_always = true;
        else
            NB__ERR(ctx, w, "'when' must be 'always' or {field, values}");
    } else if (nb__feed_is_map(ctx, w, "when")) {
        nb__feed_known_keys(ctx, w, "when", wkeys);
        yaml_node_t *f = nb__feed_get(ctx, w, "field"), *vs = nb__feed_get(ctx, w, "values");
        m->unborn_when.set = true;
        m->unborn_when.dflt = 0;
        if (f)
            nb__paths(ctx, f, "field", &m->unborn_when.field);
        if (vs)
            nb__feed_set(ctx, vs, "values", &m->unborn_when.map);
        if (!f || !vs)
            NB__ERR(ctx, w, "'when' needs 'field' and 'values'");
    }
    if (e)
        nb__paths(ctx, e, "expected_delivery_date", &m->edd);
    else
        NB__ERR(ctx, node, "unborn needs 'expected_delivery_date', the path of the EDD");
}

void nb__feed_links(nb__lctx_t *ctx, yaml_node_t *node, bool *local_to_nhs,
                    nb_verification_t *verification)
{
    static const char *const keys[] = {"local_to_nhs", "verification", NULL};
    if (!nb__feed_is_map(ctx, node, "identity_links"))
        return;
    nb__feed_known_keys(ctx, node, "identity_links", keys);
    yaml_node_t *l = nb__feed_get(ctx, node, "local_to_nhs"),
                *v = nb__feed_get(ctx, node, "verification");
    const char *s = l ? nb__feed_scalar(ctx, l, "local_to_nhs") : NULL;
    if (s && strcmp(s, "true") == 0)
        *local_to_nhs = true;
    else if (s && strcmp(s, "false") != 0)
        NB__ERR(ctx, l, "'local_to_nhs' must be true or false");
    s = v ? nb__feed_scalar(ctx, v, "verification") : NULL;
    if (s && !nb_verification_parse(s, verification))
        NB__ERR(ctx, v,
                "unknown verification '%.40s' (unverified, locally_verified, "
                "pds_traced, pds_verified)",
                s);
}

/* Keys of hl7v2 that take a list of paths, and where they go. */
static nb__paths_t *nb__hl7_paths(nb_feed_mapping_t *m, const char *key)
{
    if (strcmp(key, "appointment_id") == 0)
        return &m->appt_id;
    if (strcmp(key, "scheduled_start") == 0)
        return &m->start;
    if (strcmp(key, "recorded_at") == 0)
        return &m->recorded;
    return NULL;
}

static void nb__hl7v2_coded(nb__lctx_t *ctx, yaml_node_t *node)
{
    nb_feed_mapping_t *m = ctx->m;
    yaml_node_t *v;
    if ((v = nb__feed_get(ctx, node, "status")))
        nb__coded(ctx, v, "status", nb__message_name, &m->status);
    if ((v = nb__feed_get(ctx, node, "cancel_reason")))
        nb__coded(ctx, v, "cancel_reason", nb__feed_status_target, &m->reason);
    if ((v = nb__feed_get(ctx, node, "outcome")))
        nb__coded(ctx, v, "outcome", nb__outcome_name, &m->outcome);
    if ((v = nb__feed_get(ctx, node, "appointment_type")))
        nb__coded(ctx, v, "appointment_type", NULL, &m->type);
    else
        NB__ERR(ctx, node, "hl7v2 needs 'appointment_type' {field, map, default}");
    if ((v = nb__feed_get(ctx, node, "contact_mode")))
        nb__coded(ctx, v, "contact_mode", nb__feed_mode_target, &m->mode);
    if (m->status.set && m->status.dflt == NB__FEED_FROM_STATUS)
        NB__ERR(ctx, v, "status's default cannot be 'status'");
    for (size_t i = 0; i < m->status.map.n; i++)
        if (m->status.map.v[i].value == NB__FEED_FROM_STATUS)
            NB__ERR(ctx, nb__feed_get(ctx, node, "status"), "status's map cannot map to 'status'");
}

/* A message type that takes its status from the status field needs one, and a cancellation
 * needs a cancel_reason section: without them every such message would be refused. */
static void nb__hl7v2_needs(nb__lctx_t *ctx, yaml_node_t *node)
{
    const nb_feed_mapping_t *m = ctx->m;
    bool from_status = false, cancelled = m->status.dflt == NB__FEED_CANCELLED;
    for (size_t i = 0; i < m->messages.n; i++) {
        from_status |= m->messages.v[i].value == NB__FEED_FROM_STATUS;
        cancelled |= m->messages.v[i].value == NB__FEED_CANCELLED;
    }
    for (size_t i = 0; i < m->status.map.n; i++)
        cancelled |= m->status.map.v[i].value == NB__FEED_CANCELLED;
    if (from_status && !m->status.set)
        NB__ERR(ctx, nb__feed_get(ctx, node, "messages"),
                "a message type takes its status from the status field, and there is no "
                "'status' section");
    if (cancelled && !m->reason.set)
        NB__ERR(ctx, node,
                "cancellations are mapped, and there is no 'cancel_reason' section "
                "to say by whom (give it at least a default)");
}

static void nb__mandated_one(nb__lctx_t *ctx, yaml_node_t *node, const char *s, void *arg)
{
    if (!nb__type_ok(s))
        NB__ERR(ctx, node, "'%.60s' is not an appointment type name", s);
    else
        nb__feed_code_add(ctx, node, arg, s, 1, "mandated");
}

void nb__feed_mandated(nb__lctx_t *ctx, yaml_node_t *node)
{
    nb__feed_each(ctx, node, "mandated", nb__mandated_one, &ctx->m->mandated);
    nb__feed_codes_sort(&ctx->m->mandated);
}

static void nb__hl7v2(nb__lctx_t *ctx, yaml_node_t *node)
{
    static const char *const keys[] = {
        "messages",        "ignore",      "processing_ids",   "versions",      "appointment_id",
        "scheduled_start", "recorded_at", "status",           "cancel_reason", "outcome",
        "patient",         "unborn",      "appointment_type", "contact_mode",  "mandated",
        "identity_links",  NULL};
    nb_feed_mapping_t *m = ctx->m;
    if (!nb__feed_is_map(ctx, node, "hl7v2"))
        return;
    nb__feed_known_keys(ctx, node, "hl7v2", keys);
    yaml_node_t *v = nb__feed_get(ctx, node, "messages");
    if (!v) {
        NB__ERR(ctx, node, "hl7v2 needs 'messages': each message type and what it means");
    } else if (nb__feed_is_map(ctx, v, "messages")) {
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key),
                        *x = yaml_document_get_node(ctx->doc, p->value);
            const char *ks = k ? nb__feed_scalar(ctx, k, "messages") : NULL;
            const char *xs = x ? nb__feed_scalar(ctx, x, "messages") : NULL;
            int value;
            if (ks && xs && nb__feed_target(ctx, x, xs, nb__message_name, "messages", &value))
                nb__feed_code_add(ctx, k, &m->messages, ks, value, "messages");
        }
        nb__feed_codes_sort(&m->messages);
    }
    if ((v = nb__feed_get(ctx, node, "ignore")))
        nb__feed_set(ctx, v, "ignore", &m->ignore);
    if ((v = nb__feed_get(ctx, node, "processing_ids")))
        nb__feed_set(ctx, v, "processing_ids", &m->proc_ids);
    if ((v = nb__feed_get(ctx, node, "versions")))
        nb__feed_set(ctx, v, "versions", &m->versions);
    for (size_t i = 0; i < m->messages.n; i++) {
        int dummy;
        if (nb__feed_lookup(&m->ignore, m->messages.v[i].code, &dummy))
            NB__ERR(ctx, nb__feed_get(ctx, node, "ignore"),
                    "a message type is both mapped and "
                    "ignored");
    }
    static const char *const pkeys[] = {"appointment_id", "scheduled_start", "recorded_at"};
    for (size_t i = 0; i < 3; i++) {
        if ((v = nb__feed_get(ctx, node, pkeys[i])))
            nb__paths(ctx, v, pkeys[i], nb__hl7_paths(m, pkeys[i]));
        else if (i < 2)
            NB__ERR(ctx, node, "hl7v2 needs '%s', the HL7 path(s) to read it from", pkeys[i]);
    }
    nb__hl7v2_coded(ctx, node);
    if ((v = nb__feed_get(ctx, node, "patient")))
        nb__patient(ctx, v);
    else
        NB__ERR(ctx, node, "hl7v2 needs 'patient', where the identifiers are");
    if ((v = nb__feed_get(ctx, node, "unborn")))
        nb__unborn(ctx, v);
    if ((v = nb__feed_get(ctx, node, "mandated")))
        nb__feed_mandated(ctx, v);
    nb__hl7v2_needs(ctx, node);
    if ((v = nb__feed_get(ctx, node, "identity_links")))
        nb__feed_links(ctx, v, &m->link_local_to_nhs, &m->link_verification);
    if (m->link_local_to_nhs && (!m->nhs.set || !m->local.set))
        NB__ERR(ctx, v,
                "identity_links: local_to_nhs needs both patient.nhs_number and "
                "patient.local_id");
}

static void nb__top(nb__lctx_t *ctx, yaml_node_t *root)
{
    static const char *const keys[] = {"format", "name", "source", "time_zone",
                                       "hl7v2",  "fhir", "csv",    NULL};
    nb_feed_mapping_t *m = ctx->m;
    if (!nb__feed_is_map(ctx, root, "the mapping file"))
        return;
    nb__feed_known_keys(ctx, root, "the mapping file", keys);
    yaml_node_t *v = nb__feed_get(ctx, root, "format");
    const char *s = v ? nb__feed_scalar(ctx, v, "format") : NULL;
    if (!v)
        NB__ERR(ctx, root, "the mapping needs 'format: notbrought-mapping/1'");
    else if (s && strcmp(s, "notbrought-mapping/1") != 0)
        NB__ERR(ctx, v, "unknown format '%.40s': this notbrought reads notbrought-mapping/1", s);
    v = nb__feed_get(ctx, root, "name");
    s = v ? nb__feed_scalar(ctx, v, "name") : NULL;
    if (!v)
        NB__ERR(ctx, root, "the mapping needs 'name'");
    else if (s && (!s[0] || strlen(s) > NB_ID_MAX ||
                   nb_text_check(s, strlen(s), NB_TEXT_ID) != NB_TEXT_OK))
        NB__ERR(ctx, v, "'name' must be 1 to %d characters of an identifier", NB_ID_MAX);
    else if (s)
        nb_str_copy(m->name, sizeof(m->name), s);
    if ((v = nb__feed_get(ctx, root, "source")))
        nb__source(ctx, v);
    else
        NB__ERR(ctx, root, "the mapping needs 'source' {agency, system, organisation_code}");
    v = nb__feed_get(ctx, root, "time_zone");
    s = v ? nb__feed_scalar(ctx, v, "time_zone") : NULL;
    if (s && strcmp(s, "UTC") == 0)
        m->utc = true;
    else if (s && strcmp(s, "Europe/London") != 0)
        NB__ERR(ctx, v, "time_zone must be Europe/London (the default) or UTC");
    yaml_node_t *fhir = nb__feed_get(ctx, root, "fhir");
    if (fhir)
        nb__feed_fhir_section(ctx, fhir);
    yaml_node_t *csv = nb__feed_get(ctx, root, "csv");
    if (csv)
        nb__feed_csv_load(ctx, csv);
    if ((v = nb__feed_get(ctx, root, "hl7v2"))) {
        m->hl7v2 = true;
        nb__hl7v2(ctx, v);
    } else if (!fhir && !csv) {
        NB__ERR(ctx, root, "the mapping needs an 'hl7v2', a 'fhir' or a 'csv' section (or more)");
    }
}

/* ---- loading ----------------------------------------------------------------------------- */

/* Refuses anchors and aliases (a mapping has no use for them, and libyaml's loader expands
 * them) and nesting deeper than NB__MAX_NESTING, before the document is built. A syntax error
 * ends the walk quietly: yaml_parser_load() meets it again and reports it. */
static bool nb__precheck(nb__lctx_t *ctx, const char *data, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int depth = 0;
    bool ok = true, done = false;
    if (!yaml_parser_initialize(&parser)) {
        ctx->nomem = true;
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    while (ok && !done && yaml_parser_parse(&parser, &ev)) {
        const char *what = NULL;
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > NB__MAX_NESTING)
                what = "nests deeper than 16 levels";
            if ((ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
                                                      : ev.data.mapping_start.anchor))
                what = "uses an anchor, which a mapping has no use for";
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (ev.type == YAML_SCALAR_EVENT) {
            if (ev.data.scalar.anchor)
                what = "uses an anchor, which a mapping has no use for";
            else if (nb_text_check((const char *)ev.data.scalar.value, ev.data.scalar.length,
                                   NB_TEXT_NAME) != NB_TEXT_OK)
                what = "holds a control character, a line break or text that is not UTF-8";
        } else if (ev.type == YAML_ALIAS_EVENT) {
            what = "uses an alias, which a mapping has no use for";
        } else if (ev.type == YAML_STREAM_END_EVENT) {
            done = true;
        }
        if (what) {
            nb__feed_report(ctx, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                            "the file %s", what);
            ok = false;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return ok;
}

static void nb__parse_doc(nb__lctx_t *ctx, const char *data, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        ctx->nomem = true;
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        nb__feed_report(ctx, (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
                        "%s", parser.problem ? parser.problem : "malformed YAML");
        yaml_parser_delete(&parser);
        return;
    }
    ctx->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        nb__feed_report(ctx, 1, 1, "the file holds no YAML document");
    } else {
        nb__top(ctx, root);
        yaml_document_t more;
        if (yaml_parser_load(&parser, &more)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&more);
            if (r2)
                NB__ERR(ctx, r2, "a mapping file holds one YAML document; this is a second one");
            yaml_document_delete(&more);
        } else {
            nb__feed_report(ctx, (int)parser.problem_mark.line + 1,
                            (int)parser.problem_mark.column + 1, "%s",
                            parser.problem ? parser.problem : "malformed YAML");
        }
    }
    ctx->doc = NULL;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
}

nb_err_t nb_feed_mapping_load_buffer(const char *name, const char *data, size_t len,
                                     nb_feed_diag_cb_t *cb, void *opaque, nb_feed_mapping_t **mp,
                                     char *errstr, size_t errstr_size)
{
    nb__lctx_t ctx = {name ? name : "-", NULL, cb, opaque, errstr, errstr_size, 0, false, NULL};
    if (!mp || (!data && len))
        return NB_ERR_INVALID_ARG;
    *mp = NULL;
    if (errstr_size)
        errstr[0] = '\0';
    if (!(ctx.m = calloc(1, sizeof(*ctx.m))))
        return NB_ERR_NOMEM;
    ctx.m->source.agency = NB_AGENCY_OTHER;
    ctx.m->link_verification = NB_VERIFICATION_UNVERIFIED;
    if (len > NB__MAX_FILE_BYTES)
        nb__feed_report(&ctx, 0, 0, "the file is larger than 1 MiB");
    else if (nb__precheck(&ctx, data ? data : "", len))
        nb__parse_doc(&ctx, data ? data : "", len);
    nb_feed_mapping_t *m = ctx.m;
    if (m->recorded.n == 0 && !ctx.n_errors) {
        /* EVN-2 (when the source recorded the change) before MSH-7 (when the message was
         * made): docs/integration.md, "Ids and supersession". */
        nb__path_one(&ctx, NULL, "EVN-2", &m->recorded);
        nb__path_one(&ctx, NULL, "MSH-7", &m->recorded);
    }
    if (ctx.nomem || ctx.n_errors) {
        nb_feed_mapping_free(m);
        return ctx.nomem ? NB_ERR_NOMEM : NB_ERR_CONFIG;
    }
    m->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    *mp = m;
    return NB_ERR_OK;
}

nb_err_t nb_feed_mapping_load(const char *path, nb_feed_diag_cb_t *cb, void *opaque,
                              nb_feed_mapping_t **mp, char *errstr, size_t errstr_size)
{
    char *buf = NULL;
    size_t len = 0;
    const char *why = "";
    if (!path || !mp)
        return NB_ERR_INVALID_ARG;
    *mp = NULL;
    nb_file_status_t fs = nb_file_read(path, 0, NB__MAX_FILE_BYTES, &buf, &len, &why);
    if (fs != NB_FILE_OK) {
        char msg[256];
        snprintf(msg, sizeof(msg), "cannot read the mapping: %s",
                 fs == NB_FILE_SIZE    ? "it is larger than 1 MiB"
                 : fs == NB_FILE_NOMEM ? "out of memory"
                                       : why);
        if (errstr_size)
            snprintf(errstr, errstr_size, "%s: %s", path, msg);
        if (cb) {
            nb_feed_diag_t d = {NB_ERR_IO, false, path, 0, 0, msg};
            cb(opaque, &d);
        }
        return fs == NB_FILE_NOMEM ? NB_ERR_NOMEM : NB_ERR_IO;
    }
    nb_err_t err = nb_feed_mapping_load_buffer(path, buf, len, cb, opaque, mp, errstr, errstr_size);
    free(buf);
    return err;
}
