/*
 * notbrought - fhir: the document handle, its arena, the path of errors, and nb_fhir_read().
 */
#include "fhir/internal.h"

#include <libxml/parser.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define NB__FHIR_CHUNK 16384

void nb_fhir_limits_default(nb_fhir_limits_t *lim)
{
    lim->max_bytes = 4u << 20;
    lim->max_depth = 64;
    lim->max_entries = 1000;
    lim->max_participants = 100;
    lim->max_list = 100;
    lim->max_string = 8192;
}

nb_fhir_doc_t *nb_fhir_doc_new(const nb_fhir_limits_t *lim)
{
    nb_fhir_limits_t l;
    if (lim)
        l = *lim;
    else
        nb_fhir_limits_default(&l);
    if (l.max_bytes == 0 || l.max_bytes > (256u << 20) || l.max_depth == 0 || l.max_depth > 200 ||
        l.max_entries == 0 || l.max_participants == 0 || l.max_list == 0 || l.max_string == 0 ||
        l.max_string > l.max_bytes)
        return NULL;
    nb_fhir_doc_t *doc = calloc(1, sizeof(*doc));
    if (!doc)
        return NULL;
    doc->lim = l;
    /* libxml2's globals are set up once here rather than by the first parse, which may be on
     * any thread (xmlInitParser() may be called again; it does nothing then). */
    xmlInitParser();
    return doc;
}

static void nb__fhir_arena_free(nb_fhir_doc_t *doc)
{
    nb__fhir_chunk_t *c = doc->chunk;
    while (c) {
        nb__fhir_chunk_t *prev = c->prev;
        free(c);
        c = prev;
    }
    doc->chunk = NULL;
}

void nb_fhir_doc_destroy(nb_fhir_doc_t *doc)
{
    if (!doc)
        return;
    nb__fhir_arena_free(doc);
    free(doc);
}

void *nb__fhir_alloc(nb_fhir_doc_t *doc, size_t size)
{
    const size_t align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    if (size == 0)
        size = align;
    nb__fhir_chunk_t *c = doc->chunk;
    if (!c || c->cap - c->used < size) {
        /* A large request gets a chunk of its own, so that the arena never wastes more than
         * one small chunk's tail. */
        size_t cap = size > NB__FHIR_CHUNK / 4 ? size : NB__FHIR_CHUNK;
        nb__fhir_chunk_t *n = malloc(sizeof(*n) + cap);
        if (!n)
            return NULL;
        n->cap = cap;
        n->used = 0;
        if (c && size > NB__FHIR_CHUNK / 4) {
            /* keep filling the current small chunk: put the big one behind it */
            n->prev = c->prev;
            c->prev = n;
        } else {
            n->prev = c;
            doc->chunk = n;
        }
        c = n;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *nb__fhir_strdup(nb_fhir_doc_t *doc, const char *s, size_t len)
{
    char *p = nb__fhir_alloc(doc, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

nb__fhir_node_t *nb__fhir_node_add(nb_fhir_doc_t *doc, nb__fhir_node_t *parent, const char *name)
{
    if (doc->n_nodes >= doc->lim.max_bytes / 8 + 64) {
        doc->nodes_over = true;
        return NULL;
    }
    nb__fhir_node_t *n = nb__fhir_alloc(doc, sizeof(*n));
    if (!n)
        return NULL;
    doc->n_nodes++;
    n->name = name;
    if (parent) {
        if (parent->last)
            parent->last->next = n;
        else
            parent->child = n;
        parent->last = n;
    }
    return n;
}

nb_err_t nb__fhir_node_fail(nb_fhir_doc_t *doc)
{
    if (doc->nodes_over)
        return nb__fhir_fail(doc, NB_ERR_LIMIT,
                             "more elements than %zu, the limit for a document of this size "
                             "(one per 8 bytes of the byte limit)",
                             doc->lim.max_bytes / 8 + 64);
    return nb__fhir_fail(doc, NB_ERR_NOMEM, "out of memory");
}

/* ---- the path ---- */

/* Appends @p text to the path, cut where it does not fit (the part written still says
 * where); names come from the document, so nothing but printable ASCII goes on to a log. */
static size_t nb__fhir_path_add(nb_fhir_doc_t *doc, const char *text)
{
    size_t old = doc->path_len;
    size_t i = old;
    for (const char *c = text; *c && i + 1 < sizeof(doc->path); c++)
        doc->path[i++] = *c >= 0x21 && *c <= 0x7e ? *c : '?';
    doc->path[i] = '\0';
    doc->path_len = i;
    return old;
}

size_t nb__fhir_path_push(nb_fhir_doc_t *doc, const char *name)
{
    size_t old = doc->path_len;
    if (old)
        nb__fhir_path_add(doc, ".");
    nb__fhir_path_add(doc, name);
    return old;
}

size_t nb__fhir_path_index(nb_fhir_doc_t *doc, size_t i)
{
    char b[32];
    snprintf(b, sizeof(b), "[%zu]", i);
    return nb__fhir_path_add(doc, b);
}

void nb__fhir_path_pop(nb_fhir_doc_t *doc, size_t len)
{
    doc->path_len = len;
    doc->path[len] = '\0';
}

nb_err_t nb__fhir_fail(nb_fhir_doc_t *doc, nb_err_t err, const char *fmt, ...)
{
    memcpy(doc->error_path, doc->path, doc->path_len + 1);
    if (doc->errstr && doc->errstr_size) {
        int w = 0;
        if (doc->path_len)
            w = snprintf(doc->errstr, doc->errstr_size, "%s: ", doc->path);
        if (w >= 0 && (size_t)w < doc->errstr_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(doc->errstr + w, doc->errstr_size - (size_t)w, fmt, ap);
            va_end(ap);
        }
    }
    return err;
}

/* ---- reading ---- */

static nb_fhir_format_t nb__fhir_sniff(const char *data, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    return i < len && data[i] == '<' ? NB_FHIR_XML : NB_FHIR_JSON;
}

nb_err_t nb_fhir_read(nb_fhir_doc_t *doc, const char *data, size_t len, nb_fhir_format_t fmt,
                      char *errstr, size_t errstr_size)
{
    nb__fhir_arena_free(doc);
    doc->n_nodes = 0;
    doc->nodes_over = false;
    doc->resource = NULL;
    doc->path_len = 0;
    doc->path[0] = '\0';
    doc->error_path[0] = '\0';
    doc->errstr = errstr;
    doc->errstr_size = errstr_size;
    if (errstr && errstr_size)
        errstr[0] = '\0';
    if (!data && len)
        return nb__fhir_fail(doc, NB_ERR_INVALID_ARG, "no data");
    if (len > doc->lim.max_bytes)
        return nb__fhir_fail(doc, NB_ERR_LIMIT, "the document has more than %zu bytes, the limit",
                             doc->lim.max_bytes);
    if (len == 0)
        return nb__fhir_fail(doc, NB_ERR_FHIR_SYNTAX, "the document is empty");
    doc->format = fmt == NB_FHIR_AUTO ? nb__fhir_sniff(data, len) : fmt;
    /* A UTF-8 byte order mark, as Windows tools write one: libxml2 skips it, jansson does not. */
    if (doc->format == NB_FHIR_JSON && len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        data += 3;
        len -= 3;
    }
    nb__fhir_node_t *root = NULL;
    nb_err_t err = doc->format == NB_FHIR_XML ? nb__fhir_xml_tree(doc, data, len, &root)
                                              : nb__fhir_json_tree(doc, data, len, &root);
    if (err)
        return err;
    nb_fhir_resource_t *res = nb__fhir_alloc(doc, sizeof(*res));
    if (!res)
        return nb__fhir_fail(doc, NB_ERR_NOMEM, "out of memory");
    const char *rt = nb__fhir_rtype(root);
    if (!rt)
        return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID,
                             "not a FHIR resource: no resourceType, or one that is not a "
                             "type name");
    nb__fhir_path_push(doc, rt);
    if (strcmp(rt, "Bundle") == 0) {
        nb_fhir_bundle_t *b = nb__fhir_alloc(doc, sizeof(*b));
        if (!b)
            return nb__fhir_fail(doc, NB_ERR_NOMEM, "out of memory");
        res->rtype = NB_FHIR_BUNDLE;
        res->resource_type = rt;
        res->bundle = b;
        err = nb__fhir_read_bundle(doc, root, b);
        res->id = b->meta.id;
    } else {
        nb__fhir_scope_t scope = {.contained_of = root, .path_len = doc->path_len};
        err = nb__fhir_read_resource(doc, root, &scope, res);
        if (!err && res->rtype == NB_FHIR_OTHER)
            err = nb__fhir_fail(doc, NB_ERR_FHIR_UNSUPPORTED,
                                "this resource type is not read here (Appointment, Encounter, "
                                "Patient and Bundle are)");
    }
    if (err)
        return err;
    nb__fhir_path_pop(doc, 0);
    doc->resource = res;
    return NB_ERR_OK;
}

const nb_fhir_resource_t *nb_fhir_doc_resource(const nb_fhir_doc_t *doc)
{
    return doc->resource;
}

const char *nb_fhir_doc_error_path(const nb_fhir_doc_t *doc)
{
    return doc->error_path;
}

nb_fhir_format_t nb_fhir_doc_format(const nb_fhir_doc_t *doc)
{
    return doc->format;
}
