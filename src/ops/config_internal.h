/*
 * notbrought - ops: configuration internals shared by config.c (the table), config_load.c,
 * config_env.c and config_check.c.
 */
#ifndef NB_OPS_CONFIG_INTERNAL_H
#define NB_OPS_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "notbrought/ops.h"

typedef enum nb__ctype_e {
    NB__C_STR,
    NB__C_INT,
    NB__C_BOOL,
    NB__C_LIST,     /* list of strings */
    NB__C_PROPS,    /* map of librdkafka properties */
    NB__C_MLLP,     /* list of MLLP listeners (config_ingest.c) */
    NB__C_ENDPOINTS /* list of dispatch endpoints (config_dispatch.c) */
} nb__ctype_t;

/* One key of the configuration: its type, default, range, where it lives in nb_config_t and
 * what it means (the generated reference prints it). */
typedef struct nb__cdef_s {
    const char *key;
    nb__ctype_t type;
    const char *def;
    long min, max; /* for ints */
    size_t offset;
    size_t count_offset; /* lists: where the count lives */
    size_t max_items;
    const char *desc;
} nb__cdef_t;

/* The table of keys, and how many it has (config.c). */
extern const nb__cdef_t nb__config_table[];
extern const size_t nb__config_count;

/* Error collection: every error on its own line, so a user sees them all at once. */
typedef struct nb__cerr_s {
    char *buf;
    size_t size, len;
    int count;
} nb__cerr_t;

void nb__cerr(nb__cerr_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * @brief Sets the value of key @p d from text (a default, an environment variable, a YAML
 *        scalar; lists comma-separated).
 * @returns NB_ERR_OK; NB_ERR_CONFIG with the reason in @p why; NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb__set_scalar(nb_config_t *c, const nb__cdef_t *d, const char *v, char *why,
                                     size_t why_size);
/** Sets a librdkafka property, replacing its value when it is set already.
 *  @returns NB_ERR_OK, NB_ERR_LIMIT (too many properties) or NB_ERR_NOMEM. */
NB_NODISCARD nb_err_t nb__set_prop(nb_config_t *c, const char *k, const char *v);

/* ---- the ingest section (config_ingest.c) ---- */

/** @brief Reads ingest.mllp, a list of listener mappings, from the YAML node @p v (a
 *         yaml_node_t of @p doc, a yaml_document_t: void here so that this header needs no
 *         libyaml); errors go to @p e with path:line:column. */
void nb__load_mllp(nb_config_t *c, void *doc, void *v, const char *path, nb__cerr_t *e);
/** @brief ingest.fhir: the same keys as ingest.mllp, into c->fhir. */
void nb__load_fhir_listeners(nb_config_t *c, void *doc, void *v, const char *path, nb__cerr_t *e);

/** @brief Frees the listeners. */
void nb__free_mllp(nb_config_t *c);

/** @brief nb_config_validate()'s checks of the ingest section. */
void nb__check_ingest(const nb_config_t *c, nb__cerr_t *e);

/* ---- the dispatch section (config_dispatch.c) ---- */

/** @brief Reads dispatch.webhooks or dispatch.email (@p key), a list of endpoint mappings,
 *         from the YAML node @p v of @p doc (as nb__load_mllp()). */
void nb__load_dispatch_list(nb_config_t *c, const char *key, void *doc, void *v, const char *path,
                            nb__cerr_t *e);

/** @brief Frees the endpoints. */
void nb__free_dispatch(nb_config_t *c);

/** @brief nb_config_validate()'s checks shared by every command (config_check.c), without
 *         the HMAC key when @p need_key is false. */
NB_NODISCARD nb_err_t nb__config_validate_common(const nb_config_t *c, bool need_key, char *errstr,
                                                 size_t errstr_size);

#endif /* NB_OPS_CONFIG_INTERNAL_H */
