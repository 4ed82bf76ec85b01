/*
 * notbrought - fhir: Bundles, and the notifications of the R4 Subscriptions Backport IG.
 *
 * Entries are read in two passes: first each entry's fullUrl, request and the type and id of
 * its resource, and every Patient; then the Appointments and Encounters, whose references to
 * a Patient are resolved against the entries of the first pass.
 *
 * A notification is a Bundle of type history whose first entry is a SubscriptionStatus (R4B
 * and the backport's later form) or a Parameters resource (the backport's R4 form). The
 * focus references of its notification events mark the entries they name; an event
 * notification that names none marks every other entry with a resource.
 */
#include "fhir/internal.h"

#include <string.h>

#define NB__FHIR_TRY(expr)                                                                         \
    do {                                                                                           \
        nb_err_t nb__e = (expr);                                                                   \
        if (nb__e)                                                                                 \
            return nb__e;                                                                          \
    } while (0)

/* Pass 1 for entry @p c: fullUrl, request, and the resource's type and id (a Patient whole). */
NB_NODISCARD static nb_err_t nb__fhir_entry_head(nb_fhir_doc_t *doc, const nb__fhir_node_t *c,
                                                 nb_fhir_entry_t *e)
{
    size_t count;
    NB__FHIR_TRY(nb__fhir_get_str(doc, c, "fullUrl", &e->full_url));
    NB__FHIR_TRY(nb__fhir_check_list(doc, c, "request", 1, &count));
    nb__fhir_node_t *r = nb__fhir_child(c, "request");
    if (r) {
        size_t mark = nb__fhir_path_push(doc, "request");
        NB__FHIR_TRY(nb__fhir_get_str(doc, r, "method", &e->request_method));
        NB__FHIR_TRY(nb__fhir_get_str(doc, r, "url", &e->request_url));
        nb__fhir_path_pop(doc, mark);
    }
    NB__FHIR_TRY(nb__fhir_check_list(doc, c, "resource", 1, &count));
    nb__fhir_node_t *res = nb__fhir_child(c, "resource");
    if (!res)
        return NB_ERR_OK;
    size_t mark = nb__fhir_path_push(doc, "resource");
    e->resource.resource_type = nb__fhir_rtype(res);
    if (!e->resource.resource_type)
        return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID, "a resource without a resourceType");
    if (strcmp(e->resource.resource_type, "Patient") == 0) {
        nb__fhir_scope_t scope = {.contained_of = res, .path_len = doc->path_len};
        NB__FHIR_TRY(nb__fhir_read_resource(doc, res, &scope, &e->resource));
    } else {
        NB__FHIR_TRY(nb__fhir_get_str(doc, res, "id", &e->resource.id));
    }
    nb__fhir_path_pop(doc, mark);
    return NB_ERR_OK;
}

/* Marks the entry that @p ref names as a focus. */
static void nb__fhir_mark_focus(nb_fhir_entry_t *v, size_t n, const char *ref)
{
    size_t len = strlen(ref);
    for (size_t i = 0; i < n; i++) {
        const nb_fhir_resource_t *r = &v[i].resource;
        bool match = v[i].full_url && strcmp(v[i].full_url, ref) == 0;
        if (!match && r->resource_type && r->id) {
            size_t tl = strlen(r->resource_type), il = strlen(r->id);
            /* "Appointment/123", or a URL that ends with it */
            match = len >= tl + 1 + il && memcmp(ref + len - il, r->id, il) == 0 &&
                    ref[len - il - 1] == '/' &&
                    memcmp(ref + len - il - 1 - tl, r->resource_type, tl) == 0 &&
                    (len == tl + 1 + il || ref[len - il - 2 - tl] == '/');
        }
        if (match)
            v[i].focus = true;
    }
}

/* A focus reference @p f (a Reference node) of a notification event. */
NB_NODISCARD static nb_err_t nb__fhir_focus(nb_fhir_doc_t *doc, const nb__fhir_node_t *holder,
                                            const char *name, nb_fhir_bundle_t *b,
                                            nb_fhir_entry_t *v)
{
    nb_fhir_refs_t refs;
    NB__FHIR_TRY(nb__fhir_get_refs(doc, holder, name, &refs));
    for (size_t i = 0; i < refs.n; i++) {
        if (refs.v[i].reference)
            nb__fhir_mark_focus(v, b->n_entries, refs.v[i].reference);
        b->notification.n_focus++;
    }
    return NB_ERR_OK;
}

/* The backport's R4 form: Parameters with parameter[name=type|subscription|notification-event]. */
NB_NODISCARD static nb_err_t nb__fhir_parameters(nb_fhir_doc_t *doc, const nb__fhir_node_t *res,
                                                 nb_fhir_bundle_t *b, nb_fhir_entry_t *v)
{
    size_t count, i = 0;
    NB__FHIR_TRY(nb__fhir_check_list(doc, res, "parameter", doc->lim.max_list, &count));
    for (nb__fhir_node_t *p = res->child; p; p = p->next) {
        if (strcmp(p->name, "parameter") != 0)
            continue;
        size_t mark = nb__fhir_path_push(doc, "parameter");
        nb__fhir_path_index(doc, i++);
        const char *name;
        NB__FHIR_TRY(nb__fhir_get_str(doc, p, "name", &name));
        if (name && strcmp(name, "type") == 0) {
            NB__FHIR_TRY(nb__fhir_get_str(doc, p, "valueCode", &b->notification.status_type));
        } else if (name && strcmp(name, "subscription") == 0) {
            nb_fhir_ref_t s;
            NB__FHIR_TRY(nb__fhir_get_ref(doc, p, "valueReference", &s));
            b->notification.subscription = s.reference;
        } else if (name && strcmp(name, "notification-event") == 0) {
            size_t k = 0;
            NB__FHIR_TRY(nb__fhir_check_list(doc, p, "part", doc->lim.max_list, &count));
            for (nb__fhir_node_t *part = p->child; part; part = part->next) {
                if (strcmp(part->name, "part") != 0)
                    continue;
                size_t m2 = nb__fhir_path_push(doc, "part");
                nb__fhir_path_index(doc, k++);
                const char *pn;
                NB__FHIR_TRY(nb__fhir_get_str(doc, part, "name", &pn));
                if (pn && strcmp(pn, "focus") == 0)
                    NB__FHIR_TRY(nb__fhir_focus(doc, part, "valueReference", b, v));
                nb__fhir_path_pop(doc, m2);
            }
        }
        nb__fhir_path_pop(doc, mark);
    }
    return NB_ERR_OK;
}

/* R4B / R5 form: SubscriptionStatus.type, .subscription and .notificationEvent[].focus. */
NB_NODISCARD static nb_err_t nb__fhir_status(nb_fhir_doc_t *doc, const nb__fhir_node_t *res,
                                             nb_fhir_bundle_t *b, nb_fhir_entry_t *v)
{
    nb_fhir_ref_t s;
    size_t count, i = 0;
    NB__FHIR_TRY(nb__fhir_get_str(doc, res, "type", &b->notification.status_type));
    NB__FHIR_TRY(nb__fhir_get_ref(doc, res, "subscription", &s));
    b->notification.subscription = s.reference;
    NB__FHIR_TRY(nb__fhir_check_list(doc, res, "notificationEvent", doc->lim.max_list, &count));
    for (nb__fhir_node_t *ev = res->child; ev; ev = ev->next) {
        if (strcmp(ev->name, "notificationEvent") != 0)
            continue;
        size_t mark = nb__fhir_path_push(doc, "notificationEvent");
        nb__fhir_path_index(doc, i++);
        NB__FHIR_TRY(nb__fhir_focus(doc, ev, "focus", b, v));
        nb__fhir_path_pop(doc, mark);
    }
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__fhir_notification(nb_fhir_doc_t *doc, const nb__fhir_node_t *first,
                                                   nb_fhir_bundle_t *b, nb_fhir_entry_t *v)
{
    const char *rt = v[0].resource.resource_type;
    if (!b->type || strcmp(b->type, "history") != 0 || !rt ||
        (strcmp(rt, "SubscriptionStatus") != 0 && strcmp(rt, "Parameters") != 0))
        return NB_ERR_OK;
    b->notification.present = true;
    size_t mark = nb__fhir_path_push(doc, "entry[0].resource");
    const nb__fhir_node_t *res = nb__fhir_child(first, "resource");
    NB__FHIR_TRY(strcmp(rt, "Parameters") == 0 ? nb__fhir_parameters(doc, res, b, v)
                                               : nb__fhir_status(doc, res, b, v));
    nb__fhir_path_pop(doc, mark);
    if (b->notification.n_focus == 0 && b->notification.status_type &&
        strcmp(b->notification.status_type, "event-notification") == 0)
        for (size_t i = 1; i < b->n_entries; i++)
            v[i].focus = v[i].resource.resource_type != NULL;
    return NB_ERR_OK;
}

nb_err_t nb__fhir_read_bundle(nb_fhir_doc_t *doc, const nb__fhir_node_t *n, nb_fhir_bundle_t *b)
{
    size_t count, i = 0;
    NB__FHIR_TRY(nb__fhir_get_meta(doc, n, &b->meta));
    NB__FHIR_TRY(nb__fhir_get_str(doc, n, "type", &b->type));
    if (!b->type) {
        nb__fhir_path_push(doc, "type");
        return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID, "required, and missing");
    }
    NB__FHIR_TRY(nb__fhir_check_list(doc, n, "entry", doc->lim.max_entries, &count));
    if (count == 0)
        return NB_ERR_OK;
    nb_fhir_entry_t *v = nb__fhir_alloc(doc, count * sizeof(*v));
    if (!v)
        return nb__fhir_fail(doc, NB_ERR_NOMEM, "out of memory");
    b->entries = v;
    b->n_entries = count;
    const nb__fhir_node_t *first = NULL;
    for (nb__fhir_node_t *c = n->child; c; c = c->next) {
        if (strcmp(c->name, "entry") != 0)
            continue;
        first = first ? first : c;
        size_t mark = nb__fhir_path_push(doc, "entry");
        nb__fhir_path_index(doc, i);
        NB__FHIR_TRY(nb__fhir_entry_head(doc, c, &v[i++]));
        nb__fhir_path_pop(doc, mark);
    }
    i = 0;
    for (nb__fhir_node_t *c = n->child; c; c = c->next) {
        if (strcmp(c->name, "entry") != 0)
            continue;
        nb_fhir_entry_t *e = &v[i];
        nb__fhir_node_t *res = nb__fhir_child(c, "resource");
        const char *rt = e->resource.resource_type;
        size_t mark = nb__fhir_path_push(doc, "entry");
        nb__fhir_path_index(doc, i++);
        nb__fhir_path_push(doc, "resource");
        if (rt && (strcmp(rt, "Appointment") == 0 || strcmp(rt, "Encounter") == 0)) {
            nb__fhir_scope_t scope = {
                .contained_of = res, .entries = v, .n_entries = count, .path_len = doc->path_len};
            NB__FHIR_TRY(nb__fhir_read_resource(doc, res, &scope, &e->resource));
        } else if (rt && strcmp(rt, "Bundle") == 0) {
            /* A Bundle in a Bundle is listed, not read: its entries are not this one's. */
            e->resource.rtype = NB_FHIR_OTHER;
        }
        nb__fhir_path_pop(doc, mark);
    }
    return nb__fhir_notification(doc, first, b, v);
}
