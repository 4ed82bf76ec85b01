/*
 * notbrought - feed: the mapping as the loader builds it and the mappers read it. Private to
 * src/feed.
 */
#ifndef NB_FEED_INTERNAL_H
#define NB_FEED_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <yaml.h>

#include "notbrought/feed.h"
#include "notbrought/fhir.h"

#define NB__FEED_MAX_PATHS 6   /**< paths of one key: the first valued one is read */
#define NB__FEED_PATH_TEXT 24  /**< "PID-3[2].4.2" as written */
#define NB__FEED_CODE_MAX 64   /**< a code of a map, normalised */
#define NB__FEED_MAX_CODES 512 /**< codes of one map */

/* Values of the message map beyond the nb_status_t ones. */
#define NB__FEED_FROM_STATUS (-1) /**< the status field decides */
#define NB__FEED_CANCELLED (-2)   /**< a cancellation: the reason field decides by whom */
#define NB__FEED_NONE (-3)        /**< an outcome code meaning "not set": look further */
#define NB__FEED_REFUSE (-4)      /**< a default that refuses */

/** Paths of one key, in the order they are tried. */
typedef struct nb__paths_s {
    size_t n;
    nb_hl7_path_t p[NB__FEED_MAX_PATHS];
    char text[NB__FEED_MAX_PATHS][NB__FEED_PATH_TEXT];
} nb__paths_t;

/** A code of a map, normalised (nb__feed_norm()), and what it maps to. */
typedef struct nb__code_s {
    char code[NB__FEED_CODE_MAX];
    int value;
} nb__code_t;

/** Codes sorted by code, found by binary search. */
typedef struct nb__codemap_s {
    size_t n;
    nb__code_t *v;
} nb__codemap_t;

/** How an identifier is picked out of a CX field (PID-3, PID-2, ...). */
typedef struct nb__idsel_s {
    bool set;
    nb__paths_t field;
    nb__codemap_t authorities; /**< CX-4 (HD-1 or HD-2); empty: any */
    nb__codemap_t types;       /**< CX-5; empty: any */
    char system[NB_SYSTEM_MAX + 1];
} nb__idsel_t;

/** A field, a map of its codes, and what a value the map lacks becomes. */
typedef struct nb__coded_s {
    bool set;
    nb__paths_t field;
    nb__codemap_t map;
    int dflt; /**< a value, or NB__FEED_REFUSE */
} nb__coded_t;

/* FHIR: the elements codings are read from (bits of nb__fcoded_t.from), in this order. */
#define NB__FE_APPOINTMENT_TYPE 0x01u /**< Appointment.appointmentType */
#define NB__FE_SERVICE_TYPE 0x02u     /**< Appointment.serviceType, Encounter.serviceType */
#define NB__FE_SERVICE_CATEGORY 0x04u /**< Appointment.serviceCategory */
#define NB__FE_SPECIALTY 0x08u        /**< Appointment.specialty */
#define NB__FE_CLASS 0x10u            /**< Encounter.class */
#define NB__FE_TYPE 0x20u             /**< Encounter.type */
#define NB__FHIR_MAX_SYSTEMS 8        /**< identifier systems of one key */

/** A FHIR code or codings, a map of them (by "system|code" or by code), and a default. */
typedef struct nb__fcoded_s {
    bool set;
    unsigned from; /**< NB__FE_* bits; 0 for a plain code (status) */
    nb__codemap_t map;
    int dflt; /**< a value, or NB__FEED_REFUSE */
} nb__fcoded_t;

/** A list of identifier systems, compared exactly. "" in ids stands for Resource.id. */
typedef struct nb__systems_s {
    size_t n;
    char v[NB__FHIR_MAX_SYSTEMS][NB_SYSTEM_MAX + 1];
} nb__systems_t;

/** The fhir section (docs/integration.md, "The fhir section"). */
typedef struct nb__fhir_s {
    bool set;
    bool appointments, encounters;        /**< the resources taken */
    nb__systems_t ids;                    /**< where the appointment id is read, in order */
    bool recorded_received;               /**< no meta.lastUpdated: the time it was received */
    nb__systems_t nhs_systems;            /**< default: the NHS number's */
    nb__systems_t local_systems;          /**< identifier systems of the local identifier */
    char local_system[NB_SYSTEM_MAX + 1]; /**< recorded as; "" as sent */
    char ref_system[NB_SYSTEM_MAX + 1];   /**< "Patient/<id>" is a local id of it; "" no */
    nb__fcoded_t status;                  /**< Appointment.status (defaults of docs/schemas.md) */
    nb__fcoded_t enc_status;              /**< Encounter.status */
    nb__fcoded_t reason;                  /**< Appointment.cancelationReason */
    nb__fcoded_t type;                    /**< value: index into types */
    nb__fcoded_t mode;                    /**< value: nb_contact_mode_t */
    bool enc_own_id;                      /**< an Encounter without appointment: its own id */
    bool link_local_to_nhs;               /**< identity_links.local_to_nhs */
    nb_verification_t link_verification;  /**< identity_links.verification */
} nb__fhir_t;

struct nb_feed_mapping_s {
    char name[NB_ID_MAX + 1];
    nb_source_t source;
    bool utc; /**< time_zone UTC; otherwise Europe/London */

    /* hl7v2 */
    nb__codemap_t messages; /**< "SIU^S12" -> status / NB__FEED_FROM_STATUS / _CANCELLED */
    nb__codemap_t ignore;   /**< message types taken and ignored */
    nb__codemap_t proc_ids; /**< MSH-11 accepted; empty: any */
    nb__codemap_t versions; /**< MSH-12 accepted; empty: any */
    nb__paths_t appt_id;    /**< SCH-2.1, ... */
    nb__paths_t start;      /**< SCH-11.4, ... */
    nb__paths_t recorded;   /**< EVN-2, MSH-7 */
    nb__coded_t status;     /**< SCH-25 */
    nb__coded_t reason;     /**< SCH-6: who cancelled */
    nb__coded_t outcome;    /**< a Z-segment attendance code */
    nb__idsel_t nhs;        /**< the NHS number */
    nb__idsel_t local;      /**< the local identifier */
    nb__paths_t dob, family, postcode;
    /* unborn subjects (maternity) */
    bool unborn_always;
    nb__coded_t unborn_when; /**< value 1: the subject is a pregnancy */
    nb__paths_t edd;
    /* vocabulary */
    nb__coded_t type; /**< value: index into types */
    nb__coded_t mode; /**< value: nb_contact_mode_t */
    char **types;     /**< type names, owned */
    size_t n_types;
    nb__codemap_t mandated; /**< type names that are mandated contacts */
    bool link_local_to_nhs;
    struct nb__csv_s *csv; /**< the csv section (csv_load.c), NULL without one. Owned. */
    nb_verification_t link_verification;
    /** SHA-256 fetched once at load: OpenSSL 3 looks EVP_sha256() up (under a lock) on every
     *  use. NULL when the fetch failed (EVP_sha256() is used then). Owned. */
    EVP_MD *sha256;
    /* fhir */
    bool hl7v2; /**< the mapping has an hl7v2 section */
    nb__fhir_t fhir;
};

/* The csv section (csv_load.c, csvmap.c). */
#define NB__FEED_CSV_FMT 32 /**< a date/time format as written, "DD/MM/YYYY hh:mm" */
typedef struct nb__csv_s {
    nb_feed_csv_opts_t opts;
    /** The column of each key (nb_feed_csv_key_t) as written, "" when the key is not read, and
     *  normalised as codes are. */
    char col[NB_FEED_CSV__KEYS][NB__FEED_CODE_MAX];
    char col_norm[NB_FEED_CSV__KEYS][NB__FEED_CODE_MAX];
    /** Formats of the time keys (NB_FEED_CSV_START, _START_TIME, _RECORDED, _DOB). */
    char fmt[NB_FEED_CSV__KEYS][NB__FEED_CSV_FMT];
    char local_system[NB_SYSTEM_MAX + 1];
    nb__codemap_t status; /**< nb_status_t values */
    int status_dflt;      /**< a status, or NB__FEED_REFUSE */
    nb__codemap_t type;   /**< indices into the mapping's types */
    int type_dflt;        /**< an index, or NB__FEED_REFUSE */
    nb__codemap_t mode;   /**< nb_contact_mode_t values */
    int mode_dflt;        /**< a mode, or NB__FEED_REFUSE; face_to_face without the key */
    bool link_local_to_nhs;              /**< identity_links.local_to_nhs */
    nb_verification_t link_verification; /**< identity_links.verification */
    char encoding[NB__FEED_CSV_FMT];     /**< an iconv name; "" for UTF-8 */
} nb__csv_t;

/* mapping_load.c */
/** @brief Normalises a code: ASCII lower case, without spaces, '-', '_' and '.'. */
void nb__feed_norm(const char *s, size_t len, char *out, size_t cap);
/** @brief The value of a normalised code, or false. */
bool nb__feed_lookup(const nb__codemap_t *m, const char *norm, int *value);

/* The loader's state and the YAML helpers the sections share (mapping_load.c); the fhir
 * section is loaded in mapping_fhir.c, the csv section in csv_load.c. */
typedef struct nb__lctx_s {
    const char *file;
    yaml_document_t *doc;
    nb_feed_diag_cb_t *cb;
    void *opaque;
    char *errstr;
    size_t errstr_size;
    int n_errors;
    bool nomem;
    nb_feed_mapping_t *m;
} nb__lctx_t;

/** @brief Reports an error at a position (0: none): the first goes to errstr, each to cb. */
void nb__feed_report(nb__lctx_t *ctx, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define NB__ERR(ctx, node, ...)                                                                    \
    nb__feed_report((ctx), (node) ? (int)(node)->start_mark.line + 1 : 0,                          \
                    (node) ? (int)(node)->start_mark.column + 1 : 0, __VA_ARGS__)
/** @brief Adds a code (an error if listed before for another value). */
void nb__feed_code_add(nb__lctx_t *ctx, yaml_node_t *node, nb__codemap_t *m, const char *s,
                       int value, const char *what);
void nb__feed_codes_sort(nb__codemap_t *m);
/** @brief The scalar's text, or NULL (reported) when the node is not a scalar. */
const char *nb__feed_scalar(nb__lctx_t *ctx, yaml_node_t *node, const char *key);
bool nb__feed_is_map(nb__lctx_t *ctx, yaml_node_t *node, const char *key);
/** @brief The value of @p key in a mapping node, or NULL. */
yaml_node_t *nb__feed_get(nb__lctx_t *ctx, yaml_node_t *map, const char *key);
/** @brief Reports every key of @p map not in @p keys (NULL-terminated), and keys given twice. */
void nb__feed_known_keys(nb__lctx_t *ctx, yaml_node_t *map, const char *where,
                         const char *const *keys);
/** Calls @p fn for each scalar of a scalar or a list of scalars. */
typedef void (*nb__feed_each_fn)(nb__lctx_t *ctx, yaml_node_t *node, const char *s, void *arg);
void nb__feed_each(nb__lctx_t *ctx, yaml_node_t *node, const char *key, nb__feed_each_fn fn,
                   void *arg);
/** A target name of a map: a status, a contact mode, or a word of the section; -100: none. */
typedef int (*nb__feed_name_fn)(const char *s);
int nb__feed_status_target(const char *s);
int nb__feed_mode_target(const char *s);
/** @brief @p name through @p fn, or a type name's index when fn is NULL; reports if neither. */
bool nb__feed_target(nb__lctx_t *ctx, yaml_node_t *k, const char *name, nb__feed_name_fn fn,
                     const char *what, int *value);
/** @brief map: {target: [code, ...], ...} into @p map, sorted. */
void nb__feed_codes(nb__lctx_t *ctx, yaml_node_t *node, const char *what, nb__feed_name_fn fn,
                    nb__codemap_t *map);
/** @brief A list of codes that all map to 1 (a set), sorted. */
void nb__feed_set(nb__lctx_t *ctx, yaml_node_t *node, const char *what, nb__codemap_t *map);
/** @brief Loads a `mandated` list of type names into the mapping, sorted. */
void nb__feed_mandated(nb__lctx_t *ctx, yaml_node_t *node);

/** @brief Loads an `identity_links` map {local_to_nhs, verification} (any section's). */
void nb__feed_links(nb__lctx_t *ctx, yaml_node_t *node, bool *local_to_nhs,
                    nb_verification_t *verification);

/* feed.c: what the mappers share. */
/** @brief @p prefix and the hex of md[0..15] into @p dst (NB_ID_MAX + 1 bytes). */
void nb__feed_hex_id(char *dst, const char *prefix, const unsigned char *md);
/**
 * @brief Appends the identity link local identifier -> NHS number to out's records when the
 *        event is a child's and carries both (the HL7 v2, FHIR and CSV mappers' rule).
 * @returns NB_ERR_OK (a link added, or none due); NB_ERR_LIMIT (nothing added) when out holds
 *          NB_FEED_MAX_RECORDS records already: the caller refuses.
 */
NB_NODISCARD nb_err_t nb__feed_link_add(nb_feed_out_t *out, const nb_appointment_event_t *ev,
                                        nb_verification_t verification, const char *link_id);

/* csv_load.c */
/** @brief Loads the csv section into ctx->m->csv. */
void nb__feed_csv_load(nb__lctx_t *ctx, yaml_node_t *node);
/** @brief Frees a csv section. NULL is a no-op. */
void nb__feed_csv_free(nb__csv_t *c);

/* csv_decode.c */
/** @brief Whether @p name means UTF-8 ("" too). */
bool nb__feed_csv_is_utf8(const char *name);
/** @brief Whether iconv converts @p name to UTF-8 and it is ASCII-compatible; why not. */
bool nb__feed_csv_encoding_check(const char *name, char *why, size_t why_size);

/* mapping_fhir.c */
/** @brief Loads the `fhir` section into ctx->m->fhir. */
void nb__feed_fhir_section(nb__lctx_t *ctx, yaml_node_t *node);
/** @brief Frees what the fhir section holds. */
void nb__feed_fhir_free(nb_feed_mapping_t *m);

/* The mapper's state for one message (hl7map.c, hl7pick.c). */
typedef struct nb__mctx_s {
    const nb_feed_mapping_t *m;
    const nb_hl7_msg_t *msg;
    const nb_hl7_delims_t *d;
    nb_feed_out_t *out;
} nb__mctx_t;

/* hl7pick.c: reading values the mapping points at. Each refusal fills ctx->out and returns
 * its error. */
NB_NODISCARD nb_err_t nb__feed_refuse(nb_feed_out_t *out, nb_err_t err, nb_hl7_ack_code_t ack,
                                      const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/** @brief The first path of @p ps whose value is valued (not absent, not ""): its index, or
 *         -1 (*v is then absent). */
int nb__feed_first(const nb__mctx_t *ctx, const nb__paths_t *ps, nb_hl7_value_t *v);
/** @brief @p v unescaped, spaces around it removed, into @p buf. @returns false when it does
 *         not fit. */
bool nb__feed_text(const nb__mctx_t *ctx, nb_hl7_value_t v, char *buf, size_t cap);
/** @brief As nb__feed_text(). @returns strlen() of the text, or SIZE_MAX when it does not
 *         fit. */
size_t nb__feed_text_len(const nb__mctx_t *ctx, nb_hl7_value_t v, char *buf, size_t cap);
/** @brief A code as a refusal may quote it: one word of at most 20 letters, digits and
 *         - _ . / ^, quoted; anything else (free text could name someone) "a value". */
const char *nb__feed_quote(const char *code, char *buf, size_t cap);
/** @brief Looks a field's code up in @p c. @returns 1 found (*value), 0 not valued, -1 valued
 *         and not in the map (*code holds it, for the refusal). *path_i is the path read. */
int nb__feed_code(const nb__mctx_t *ctx, const nb__coded_t *c, int *value, char *code, size_t cap,
                  int *path_i);
/** @brief The time at the first valued path, in UTC. @returns NB_ERR_OK, NB_ERR_NOT_FOUND
 *         (none valued, nothing refused), or a refusal. */
NB_NODISCARD nb_err_t nb__feed_time(const nb__mctx_t *ctx, const nb__paths_t *ps, const char *what,
                                    int64_t *ms);
/** @brief The date at the first valued path. @returns as nb__feed_time(). */
NB_NODISCARD nb_err_t nb__feed_date(const nb__mctx_t *ctx, const nb__paths_t *ps, const char *what,
                                    int32_t *days);
/** @brief The identifier @p sel picks. @returns NB_ERR_OK (found), NB_ERR_NOT_FOUND, or a
 *         refusal (too long). @p where receives "PID-3 repetition 2". */
NB_NODISCARD nb_err_t nb__feed_pick_id(const nb__mctx_t *ctx, const nb__idsel_t *sel,
                                       const char *what, char *value, size_t cap, char *where,
                                       size_t wcap);

#endif /* NB_FEED_INTERNAL_H */
