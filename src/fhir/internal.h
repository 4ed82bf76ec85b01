/*
 * notbrought - fhir: what the files of the module share. Not a public header.
 *
 * JSON and XML are both turned into one tree of nb__fhir_node_t first (json.c, xml.c), and
 * read.c, resource.c and bundle.c walk that tree, so the same resource gives the same view in
 * both. In the tree:
 * - an element is a node named as FHIR names it ("participant", "actor", "reference");
 * - a primitive's value is the node's text (JSON's string, number or boolean; XML's `value`
 *   attribute); a primitive may also have children (XML puts its extensions there);
 * - a JSON array is its items one after another, each a node of the array's name, as XML
 *   repeats an element;
 * - a resource is a node with a child "resourceType" (XML's element name becomes that child,
 *   and the wrapper <resource><Appointment>...</Appointment></resource> one node);
 * - JSON's "_element" members (extensions of primitives) and XML's other namespaces (the
 *   narrative's XHTML) are not in the tree; nor are XML attributes other than `value` and `url`.
 * All nodes and strings are in the document's arena and live as long as the view.
 */
#ifndef NOTBROUGHT_FHIR_INTERNAL_H
#define NOTBROUGHT_FHIR_INTERNAL_H

#include "notbrought/fhir.h"

#include <stdio.h>

typedef struct nb__fhir_node_s {
    const char *name;
    const char *text; /**< a primitive's value, or NULL */
    size_t text_len;
    struct nb__fhir_node_s *child, *last, *next;
} nb__fhir_node_t;

/* A chunked arena: nothing is freed until the whole document is. */
typedef struct nb__fhir_chunk_s {
    struct nb__fhir_chunk_s *prev;
    size_t used, cap;
    /* the memory follows, aligned for any object */
    max_align_t data[];
} nb__fhir_chunk_t;

struct nb_fhir_doc_s {
    nb_fhir_limits_t lim;
    nb__fhir_chunk_t *chunk;
    nb_fhir_format_t format;
    const nb_fhir_resource_t *resource;
    size_t n_nodes;  /**< nodes of the tree so far; at most max_bytes / 8 + 64 */
    bool nodes_over; /**< nb__fhir_node_add() refused one for that limit */
    char path[256];  /**< the path of the element being read, then of the fault */
    size_t path_len;
    char error_path[256];
    char *errstr;
    size_t errstr_size;
};

/** @brief @p size bytes from the arena, zeroed. NULL when memory runs out. */
void *nb__fhir_alloc(nb_fhir_doc_t *doc, size_t size);
/** @brief A NUL-terminated copy of @p len bytes in the arena. */
char *nb__fhir_strdup(nb_fhir_doc_t *doc, const char *s, size_t len);
/**
 * @brief A new node, appended to @p parent's children when @p parent is not NULL.
 * @returns NULL when memory runs out or the document has more elements than one per 8 bytes
 *          allows (`[1,1,1,...]` would otherwise cost far more memory than its bytes): report
 *          it with nb__fhir_node_fail().
 */
nb__fhir_node_t *nb__fhir_node_add(nb_fhir_doc_t *doc, nb__fhir_node_t *parent, const char *name);

/** @brief NB_ERR_LIMIT after nb__fhir_node_add() refused a node for the limit, else NOMEM. */
NB_NODISCARD nb_err_t nb__fhir_node_fail(nb_fhir_doc_t *doc);

/* The path of the element being read, for error texts: push returns what to pop back to. */
size_t nb__fhir_path_push(nb_fhir_doc_t *doc, const char *name);
size_t nb__fhir_path_index(nb_fhir_doc_t *doc, size_t i);
void nb__fhir_path_pop(nb_fhir_doc_t *doc, size_t len);

/**
 * @brief Records a refusal at the current path: errstr gets "path: text" and the error path is
 *        kept for nb_fhir_doc_error_path().
 * @returns @p err.
 */
NB_NODISCARD nb_err_t nb__fhir_fail(nb_fhir_doc_t *doc, nb_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** @brief JSON bytes into a tree rooted at *root (the top resource). */
NB_NODISCARD nb_err_t nb__fhir_json_tree(nb_fhir_doc_t *doc, const char *data, size_t len,
                                         nb__fhir_node_t **root);
/** @brief XML bytes into the same tree. */
NB_NODISCARD nb_err_t nb__fhir_xml_tree(nb_fhir_doc_t *doc, const char *data, size_t len,
                                        nb__fhir_node_t **root);

/* ---- walking the tree (read.c) ---- */

/** @brief The first child named @p name, or NULL. */
nb__fhir_node_t *nb__fhir_child(const nb__fhir_node_t *n, const char *name);
/** @brief How many children are named @p name. */
size_t nb__fhir_count(const nb__fhir_node_t *n, const char *name);
/** @brief The resourceType of a resource node, or NULL (also when it is not a type name:
 *         a capital letter, then letters, at most 64). */
const char *nb__fhir_rtype(const nb__fhir_node_t *n);

/* Each reads child @p name of @p n (absent: left zero/NULL, NB_ERR_OK), with the path. */
NB_NODISCARD nb_err_t nb__fhir_get_str(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                       const char *name, const char **out);
NB_NODISCARD nb_err_t nb__fhir_get_time(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                        const char *name, nb_fhir_ttype_t what,
                                        nb_fhir_time_t *out);
NB_NODISCARD nb_err_t nb__fhir_get_coding(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                          const char *name, nb_fhir_coding_t *out);
/** @brief All codings of all repetitions of the CodeableConcept @p name (@p many: may repeat). */
NB_NODISCARD nb_err_t nb__fhir_get_concepts(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                            const char *name, bool many, nb_fhir_codings_t *out);
NB_NODISCARD nb_err_t nb__fhir_get_identifiers(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                               const char *name, nb_fhir_identifiers_t *out);
NB_NODISCARD nb_err_t nb__fhir_get_ref(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                       const char *name, nb_fhir_ref_t *out);
NB_NODISCARD nb_err_t nb__fhir_get_refs(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                        const char *name, nb_fhir_refs_t *out);
/** @brief Checks that a repeated element @p name is at most @p max and each is complex. */
NB_NODISCARD nb_err_t nb__fhir_check_list(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                          const char *name, size_t max, size_t *count);
NB_NODISCARD nb_err_t nb__fhir_get_meta(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                        nb_fhir_meta_t *out);

/* ---- resources (resource.c) and bundles (bundle.c) ---- */

/** The resources a reference may resolve to: the contained ones and a Bundle's entries. */
typedef struct nb__fhir_scope_s {
    const nb__fhir_node_t *contained_of; /**< the resource whose contained[] are searched */
    const nb_fhir_entry_t *entries;      /**< the Bundle's entries read so far, or NULL */
    size_t n_entries;
    size_t path_len; /**< the length of the path of contained_of (for its contained[i]) */
} nb__fhir_scope_t;

/**
 * @brief Reads the resource node @p n into @p out (Appointment, Encounter, Patient; anything
 *        else as NB_FHIR_OTHER when @p top is false, NB_ERR_FHIR_UNSUPPORTED when true).
 *        Bundles are read by nb__fhir_read_bundle().
 */
NB_NODISCARD nb_err_t nb__fhir_read_resource(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                             const nb__fhir_scope_t *scope,
                                             nb_fhir_resource_t *out);
NB_NODISCARD nb_err_t nb__fhir_read_patient(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                            nb_fhir_patient_t *out);
NB_NODISCARD nb_err_t nb__fhir_read_bundle(nb_fhir_doc_t *doc, const nb__fhir_node_t *n,
                                           nb_fhir_bundle_t *out);

/** @brief The kind of a resource type name ("Patient": NB_FHIR_KIND_PATIENT). */
nb_fhir_kind_t nb__fhir_kind_of(const char *type);

#endif /* NOTBROUGHT_FHIR_INTERNAL_H */
