/*
 * notbrought - fhir: reading the data types of FHIR (primitives, Coding, CodeableConcept,
 * Identifier, Reference, meta) from the tree, with the path of each element for errors.
 */
#include "fhir/internal.h"

#include <string.h>

#define NB__FHIR_NOMEM(doc) nb__fhir_fail((doc), NB_ERR_NOMEM, "out of memory")

nb__fhir_node_t *nb__fhir_child(const nb__fhir_node_t *n, const char *name)
{
    for (nb__fhir_node_t *c = n ? n->child : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

size_t nb__fhir_count(const nb__fhir_node_t *n, const char *name)
{
    size_t k = 0;
    for (nb__fhir_node_t *c = n ? n->child : NULL; c; c = c->next)
        k += strcmp(c->name, name) == 0;
    return k;
}

const char *nb__fhir_rtype(const nb__fhir_node_t *n)
{
    nb__fhir_node_t *c = nb__fhir_child(n, "resourceType");
    if (!c || !c->text || c->text_len == 0 || c->text_len > 64 || c->text[0] < 'A' ||
        c->text[0] > 'Z')
        return NULL;
    /* A type name, nothing else: it goes into paths and error texts. */
    for (size_t i = 1; i < c->text_len; i++)
        if (!((c->text[i] >= 'A' && c->text[i] <= 'Z') || (c->text[i] >= 'a' && c->text[i] <= 'z')))
            return NULL;
    return c->text;
}

/* The next sibling of @p c with the same name. */
static nb__fhir_node_t *nb__fhir_next(const nb__fhir_node_t *c)
{
    for (nb__fhir_node_t *s = c->next; s; s = s->next)
        if (strcmp(s->name, c->name) == 0)
            return s;
    return NULL;
}

/* An element that must be complex (have children, no value of its own). */
NB_NODISCARD static nb_err_t nb__fhir_complex(nb_fhir_doc_t *doc, const nb__fhir_node_t *c)
{
    if (c->text)
        return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID,
                             "a value where FHIR has an element with children");
    return NB_ERR_OK;
}

/* The one element @p name, or NULL; refused when it repeats. */
NB_NODISCARD static nb_err_t nb__fhir_once(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                           const char *name, nb__fhir_node_t **out)
{
    *out = nb__fhir_child(n, name);
    if (*out && nb__fhir_next(*out)) {
        nb__fhir_path_push(doc, name); /* the path stays: it says where the fault is */
        return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID, "repeats, but FHIR allows it only once");
    }
    return NB_ERR_OK;
}

nb_err_t nb__fhir_get_str(nb_fhir_doc_t *doc, const nb__fhir_node_t *n, const char *name,
                          const char **out)
{
    nb__fhir_node_t *c;
    nb_err_t err = nb__fhir_once(doc, n, name, &c);
    *out = NULL;
    if (err || !c)
        return err;
    size_t mark = nb__fhir_path_push(doc, name);
    if (!c->text) {
        for (nb__fhir_node_t *k = c->child; k; k = k->next)
            if (strcmp(k->name, "extension") != 0 && strcmp(k->name, "id") != 0)
                return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID,
                                     "an element with children where FHIR has a value");
        nb__fhir_path_pop(doc, mark);
        return NB_ERR_OK; /* a primitive with only extensions: no value */
    }
    if (c->text_len > doc->lim.max_string)
        return nb__fhir_fail(doc, NB_ERR_LIMIT, "a value longer than %zu bytes, the limit",
                             doc->lim.max_string);
    if (c->text_len == 0)
        return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID, "an empty value (FHIR has none)");
    *out = c->text;
    nb__fhir_path_pop(doc, mark);
    return NB_ERR_OK;
}

nb_err_t nb__fhir_get_time(nb_fhir_doc_t *doc, const nb__fhir_node_t *n, const char *name,
                           nb_fhir_ttype_t what, nb_fhir_time_t *out)
{
    const char *s;
    char why[128];
    memset(out, 0, sizeof(*out));
    nb_err_t err = nb__fhir_get_str(doc, n, name, &s);
    if (err || !s)
        return err;
    if (nb_fhir_time_parse(s, strlen(s), what, out, why, sizeof(why)) == NB_ERR_OK)
        return NB_ERR_OK;
    nb__fhir_path_push(doc, name);
    return nb__fhir_fail(doc, NB_ERR_FHIR_TIMESTAMP, "not a valid %s: %s",
                         what == NB_FHIR_T_DATE      ? "date"
                         : what == NB_FHIR_T_INSTANT ? "instant"
                                                     : "dateTime",
                         why);
}

NB_NODISCARD static nb_err_t nb__fhir_coding(nb_fhir_doc_t *doc, const nb__fhir_node_t *c,
                                             nb_fhir_coding_t *out)
{
    nb_err_t err = nb__fhir_complex(doc, c);
    if (!err)
        err = nb__fhir_get_str(doc, c, "system", &out->system);
    if (!err)
        err = nb__fhir_get_str(doc, c, "code", &out->code);
    if (!err)
        err = nb__fhir_get_str(doc, c, "display", &out->display);
    return err;
}

nb_err_t nb__fhir_get_coding(nb_fhir_doc_t *doc, const nb__fhir_node_t *n, const char *name,
                             nb_fhir_coding_t *out)
{
    nb__fhir_node_t *c;
    memset(out, 0, sizeof(*out));
    nb_err_t err = nb__fhir_once(doc, n, name, &c);
    if (err || !c)
        return err;
    size_t mark = nb__fhir_path_push(doc, name);
    err = nb__fhir_coding(doc, c, out);
    if (!err)
        nb__fhir_path_pop(doc, mark);
    return err;
}

nb_err_t nb__fhir_check_list(nb_fhir_doc_t *doc, const nb__fhir_node_t *n, const char *name,
                             size_t max, size_t *count)
{
    size_t k = 0;
    for (nb__fhir_node_t *c = nb__fhir_child(n, name); c; c = nb__fhir_next(c), k++) {
        size_t mark = nb__fhir_path_push(doc, name);
        if (k >= max)
            return nb__fhir_fail(doc, NB_ERR_LIMIT, "more than %zu, the limit", max);
        nb__fhir_path_index(doc, k);
        nb_err_t err = nb__fhir_complex(doc, c);
        if (err)
            return err;
        nb__fhir_path_pop(doc, mark);
    }
    *count = k;
    return NB_ERR_OK;
}

/* Reads one element of a list into @p item (an nb_fhir_identifier_t, an nb_fhir_ref_t, ...). */
typedef NB_NODISCARD nb_err_t (*nb__fhir_item_fn)(nb_fhir_doc_t *doc, const nb__fhir_node_t *c,
                                                  void *item);

/* The list loop the getters share: every element @p name of @p n (at most the document's
 * max_list) read with @p one into an array of @p size-byte items, each at the path
 * "<name>[i]". @returns NB_ERR_OK with *items (NULL for none) and *count, or the first
 * element's error. */
NB_NODISCARD static nb_err_t nb__fhir_get_list(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                               const char *name, size_t size, nb__fhir_item_fn one,
                                               void **items, size_t *count)
{
    size_t reps;
    *items = NULL;
    *count = 0;
    nb_err_t err = nb__fhir_check_list(doc, n, name, doc->lim.max_list, &reps);
    if (err || reps == 0)
        return err;
    char *v = nb__fhir_alloc(doc, reps * size);
    if (!v)
        return NB__FHIR_NOMEM(doc);
    size_t i = 0;
    for (nb__fhir_node_t *c = nb__fhir_child(n, name); c; c = nb__fhir_next(c), i++) {
        size_t mark = nb__fhir_path_push(doc, name);
        nb__fhir_path_index(doc, i);
        if ((err = one(doc, c, v + i * size)) != NB_ERR_OK)
            return err;
        nb__fhir_path_pop(doc, mark);
    }
    *items = v;
    *count = reps;
    return NB_ERR_OK;
}

nb_err_t nb__fhir_get_concepts(nb_fhir_doc_t *doc, const nb__fhir_node_t *n, const char *name,
                               bool many, nb_fhir_codings_t *out)
{
    size_t total = 0, k = 0, reps;
    memset(out, 0, sizeof(*out));
    nb_err_t err = nb__fhir_check_list(doc, n, name, many ? doc->lim.max_list : 1, &reps);
    if (err && !many && err == NB_ERR_LIMIT)
        return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID, "repeats, but FHIR allows it only once");
    if (err || reps == 0)
        return err;
    for (nb__fhir_node_t *c = nb__fhir_child(n, name); c; c = nb__fhir_next(c))
        total += nb__fhir_count(c, "coding");
    if (total > doc->lim.max_list) {
        nb__fhir_path_push(doc, name);
        return nb__fhir_fail(doc, NB_ERR_LIMIT, "more than %zu codings, the limit",
                             doc->lim.max_list);
    }
    nb_fhir_coding_t *v = total ? nb__fhir_alloc(doc, total * sizeof(*v)) : NULL;
    if (total && !v)
        return NB__FHIR_NOMEM(doc);
    size_t r = 0;
    for (nb__fhir_node_t *c = nb__fhir_child(n, name); c; c = nb__fhir_next(c), r++) {
        size_t mark = nb__fhir_path_push(doc, name);
        if (many)
            nb__fhir_path_index(doc, r);
        const char *text;
        if ((err = nb__fhir_get_str(doc, c, "text", &text)) != NB_ERR_OK)
            return err;
        if (text && !out->text)
            out->text = text;
        size_t i = 0;
        for (nb__fhir_node_t *g = nb__fhir_child(c, "coding"); g; g = nb__fhir_next(g), i++) {
            size_t m2 = nb__fhir_path_push(doc, "coding");
            nb__fhir_path_index(doc, i);
            if ((err = nb__fhir_coding(doc, g, &v[k++])) != NB_ERR_OK)
                return err;
            nb__fhir_path_pop(doc, m2);
        }
        nb__fhir_path_pop(doc, mark);
    }
    out->n = total;
    out->v = v;
    return NB_ERR_OK;
}

/* The code of the UK Core (or Care Connect) NHS number verification status extension. */
NB_NODISCARD static nb_err_t nb__fhir_verification(nb_fhir_doc_t *doc, const nb__fhir_node_t *id,
                                                   const char **out)
{
    size_t i = 0;
    for (nb__fhir_node_t *e = nb__fhir_child(id, "extension"); e; e = nb__fhir_next(e), i++) {
        nb__fhir_node_t *u = nb__fhir_child(e, "url");
        if (!u || !u->text || !strstr(u->text, "NHSNumberVerificationStatus"))
            continue;
        size_t mark = nb__fhir_path_push(doc, "extension");
        nb__fhir_path_index(doc, i);
        nb_fhir_codings_t cc;
        nb_fhir_coding_t one;
        nb_err_t err = nb__fhir_get_concepts(doc, e, "valueCodeableConcept", false, &cc);
        if (!err)
            err = nb__fhir_get_coding(doc, e, "valueCoding", &one);
        if (err)
            return err;
        *out = cc.n ? cc.v[0].code : one.code;
        nb__fhir_path_pop(doc, mark);
        return NB_ERR_OK;
    }
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__fhir_identifier(nb_fhir_doc_t *doc, const nb__fhir_node_t *c,
                                                 void *item)
{
    nb_fhir_identifier_t *out = item;
    nb_err_t err = nb__fhir_complex(doc, c);
    if (!err)
        err = nb__fhir_get_str(doc, c, "system", &out->system);
    if (!err)
        err = nb__fhir_get_str(doc, c, "value", &out->value);
    if (!err)
        err = nb__fhir_get_str(doc, c, "use", &out->use);
    if (!err)
        err = nb__fhir_verification(doc, c, &out->verification_status);
    return err;
}

nb_err_t nb__fhir_get_identifiers(nb_fhir_doc_t *doc, const nb__fhir_node_t *n, const char *name,
                                  nb_fhir_identifiers_t *out)
{
    void *v;
    memset(out, 0, sizeof(*out));
    nb_err_t err =
        nb__fhir_get_list(doc, n, name, sizeof(*out->v), nb__fhir_identifier, &v, &out->n);
    out->v = v;
    return err;
}

static const struct {
    const char *name;
    nb_fhir_kind_t kind;
} nb__fhir_kinds[] = {
    {"Patient", NB_FHIR_KIND_PATIENT},
    {"Practitioner", NB_FHIR_KIND_PRACTITIONER},
    {"PractitionerRole", NB_FHIR_KIND_PRACTITIONER_ROLE},
    {"RelatedPerson", NB_FHIR_KIND_RELATED_PERSON},
    {"Location", NB_FHIR_KIND_LOCATION},
    {"HealthcareService", NB_FHIR_KIND_HEALTHCARE_SERVICE},
    {"Device", NB_FHIR_KIND_DEVICE},
    {"Organization", NB_FHIR_KIND_ORGANIZATION},
    {"Appointment", NB_FHIR_KIND_APPOINTMENT},
};

nb_fhir_kind_t nb__fhir_kind_of(const char *type)
{
    if (!type || !type[0])
        return NB_FHIR_KIND_UNKNOWN;
    for (size_t i = 0; i < sizeof(nb__fhir_kinds) / sizeof(nb__fhir_kinds[0]); i++)
        if (strcmp(type, nb__fhir_kinds[i].name) == 0)
            return nb__fhir_kinds[i].kind;
    return NB_FHIR_KIND_OTHER;
}

const char *nb_fhir_kind_name(nb_fhir_kind_t kind)
{
    for (size_t i = 0; i < sizeof(nb__fhir_kinds) / sizeof(nb__fhir_kinds[0]); i++)
        if (nb__fhir_kinds[i].kind == kind)
            return nb__fhir_kinds[i].name;
    return kind == NB_FHIR_KIND_OTHER ? "other" : "unknown";
}

/* The type a literal reference names: "Patient" in "Patient/123", ".../Patient/123" and
 * "Patient/123/_history/2"; NULL for "#p1", "urn:uuid:..." and anything else. */
NB_NODISCARD static nb_err_t nb__fhir_ref_type(nb_fhir_doc_t *doc, const char *ref,
                                               const char **out)
{
    size_t len = strlen(ref);
    *out = NULL;
    const char *h = strstr(ref, "/_history/");
    if (h)
        len = (size_t)(h - ref);
    if (len == 0 || ref[0] == '#' || strncmp(ref, "urn:", 4) == 0)
        return NB_ERR_OK;
    /* back over the id, then over the type */
    size_t e = len;
    while (e > 0 && ref[e - 1] != '/')
        e--;
    if (e == 0 || e == len)
        return NB_ERR_OK;
    size_t t = e - 1;
    while (t > 0 && ref[t - 1] != '/')
        t--;
    if (ref[t] < 'A' || ref[t] > 'Z')
        return NB_ERR_OK;
    for (size_t k = t; k < e - 1; k++)
        if (!((ref[k] >= 'A' && ref[k] <= 'Z') || (ref[k] >= 'a' && ref[k] <= 'z')))
            return NB_ERR_OK;
    *out = nb__fhir_strdup(doc, ref + t, e - 1 - t);
    return *out ? NB_ERR_OK : NB__FHIR_NOMEM(doc);
}

NB_NODISCARD static nb_err_t nb__fhir_ref(nb_fhir_doc_t *doc, const nb__fhir_node_t *c, void *item)
{
    nb_fhir_ref_t *out = item;
    nb__fhir_node_t *idn;
    nb_err_t err = nb__fhir_complex(doc, c);
    if (!err)
        err = nb__fhir_get_str(doc, c, "reference", &out->reference);
    if (!err)
        err = nb__fhir_get_str(doc, c, "type", &out->type);
    if (!err)
        err = nb__fhir_get_str(doc, c, "display", &out->display);
    if (!err)
        err = nb__fhir_once(doc, c, "identifier", &idn);
    if (!err && idn) {
        size_t mark = nb__fhir_path_push(doc, "identifier");
        if ((err = nb__fhir_identifier(doc, idn, &out->identifier)) != NB_ERR_OK)
            return err;
        nb__fhir_path_pop(doc, mark);
    }
    if (err)
        return err;
    if (!out->type && out->reference &&
        (err = nb__fhir_ref_type(doc, out->reference, &out->type)) != NB_ERR_OK)
        return err;
    out->kind = nb__fhir_kind_of(out->type);
    out->present = true;
    return NB_ERR_OK;
}

nb_err_t nb__fhir_get_ref(nb_fhir_doc_t *doc, const nb__fhir_node_t *n, const char *name,
                          nb_fhir_ref_t *out)
{
    nb__fhir_node_t *c;
    memset(out, 0, sizeof(*out));
    nb_err_t err = nb__fhir_once(doc, n, name, &c);
    if (err || !c)
        return err;
    size_t mark = nb__fhir_path_push(doc, name);
    err = nb__fhir_ref(doc, c, out);
    if (!err)
        nb__fhir_path_pop(doc, mark);
    return err;
}

nb_err_t nb__fhir_get_refs(nb_fhir_doc_t *doc, const nb__fhir_node_t *n, const char *name,
                           nb_fhir_refs_t *out)
{
    void *v;
    memset(out, 0, sizeof(*out));
    nb_err_t err = nb__fhir_get_list(doc, n, name, sizeof(*out->v), nb__fhir_ref, &v, &out->n);
    out->v = v;
    return err;
}

nb_err_t nb__fhir_get_meta(nb_fhir_doc_t *doc, const nb__fhir_node_t *n, nb_fhir_meta_t *out)
{
    nb__fhir_node_t *m;
    memset(out, 0, sizeof(*out));
    nb_err_t err = nb__fhir_get_str(doc, n, "id", &out->id);
    if (!err)
        err = nb__fhir_once(doc, n, "meta", &m);
    if (err || !m)
        return err;
    size_t mark = nb__fhir_path_push(doc, "meta");
    err = nb__fhir_complex(doc, m);
    if (!err)
        err = nb__fhir_get_str(doc, m, "versionId", &out->version_id);
    if (!err)
        err = nb__fhir_get_time(doc, m, "lastUpdated", NB_FHIR_T_INSTANT, &out->last_updated);
    if (!err)
        nb__fhir_path_pop(doc, mark);
    return err;
}
