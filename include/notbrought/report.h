/*
 * notbrought - report: the board's figures over the audit topic (`notbrought report`,
 * docs/reporting.md "Report").
 *
 * A pure aggregation: the caller hands every AuditRecord it read (nb_report_add(), in each
 * partition's order) and every dead letter (nb_report_add_dead_letter()), then
 * nb_report_finish() turns them into tables of figures for a period [from, to) that render as
 * CSV (nb_report_csv()) or as one self-contained HTML page with SVG charts (nb_report_html()).
 * No clock, no I/O, no logging. A report belongs to one thread.
 *
 * For speed it also reads the Avro binary of an AuditRecord written with the schema it was
 * written for (registry id 9) straight into the few fields it needs (nb_report_reader_*),
 * without avro-c's generic values; anything else is the caller's to decode with the codec.
 */
#ifndef NOTBROUGHT_REPORT_H
#define NOTBROUGHT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/codec.h"
#include "notbrought/err.h"
#include "notbrought/event.h"
#include "notbrought/util.h"

/** The breakdown of the notification tables (`--by`). */
#define NB_REPORT_BY_MAP(X)                                                                        \
    X(AGENCY, "agency")                                                                            \
    X(RULE, "rule")                                                                                \
    X(TIER, "tier")                                                                                \
    X(ORGANISATION, "organisation")

#define NB__REPORT_BY_E(sym, str) NB_REPORT_BY_##sym,
typedef enum nb_report_by_e {
    NB_REPORT_BY_MAP(NB__REPORT_BY_E) NB_REPORT_BY__COUNT
} nb_report_by_t;

/** @brief "agency", "rule", ... @returns a static string, "?" outside the enum. */
const char *nb_report_by_name(nb_report_by_t by);
/** @brief Parses a --by value. @returns false when it is none of them. */
bool nb_report_by_parse(const char *s, nb_report_by_t *out);

/** A piece of text that need not end in NUL (a slice of a record being read). */
typedef struct nb_report_str_s {
    const char *p;
    size_t len;
} nb_report_str_t;

/** The parts of an AuditRecord a report reads. The slices are borrowed for one call. Absent
 *  text is {"", 0}; absent times NB_TIME_NONE; tier and agency -1 when absent. */
typedef struct nb_report_rec_s {
    nb_audit_kind_t kind;
    int64_t at;
    nb_report_str_t notification_id;
    nb_report_str_t rule;
    int tier;
    int32_t level;
    int agency;
    nb_report_str_t organisation;
    int64_t respond_by;
    nb_report_str_t reason;
    bool has_event; /**< received, parked */
    nb_report_str_t event_id;
    bool context; /**< a context fact, not an appointment */
    nb_report_str_t appointment_id;
    nb_report_str_t status;
    int64_t scheduled_start;
    int32_t version;
    nb_report_str_t source_system;
    bool nhs_number_known;
} nb_report_rec_t;

/** @brief The report's view of a decoded record. @remark @p out borrows @p a's strings. */
void nb_report_rec_from_audit(const nb_audit_t *a, nb_report_rec_t *out);

/* ---- aggregation ------------------------------------------------------------------------- */

typedef struct nb_report_s nb_report_t;

/**
 * @brief An empty report of the period [@p from_ms, @p to_ms) (UTC instants; the caller turns
 *        local calendar days into them), its notification tables broken down by @p by.
 * @returns NULL on allocation failure.
 */
nb_report_t *nb_report_new(int64_t from_ms, int64_t to_ms, nb_report_by_t by);

/** @brief Frees it. NULL is a no-op. */
void nb_report_destroy(nb_report_t *r);

/**
 * @brief Counts one AuditRecord. Records of each child come in the order they were written;
 *        records before the period still count where a later one refers to them (a verdict on
 *        a notification raised in the period; the latest version of an appointment).
 * @returns NB_ERR_OK, NB_ERR_NOMEM, or NB_ERR_INVALID_ARG after nb_report_finish().
 */
NB_NODISCARD nb_err_t nb_report_add(nb_report_t *r, const nb_report_rec_t *rec);

/** @brief nb_report_add() of a decoded record. */
NB_NODISCARD nb_err_t nb_report_add_audit(nb_report_t *r, const nb_audit_t *a);

/** @brief Counts one dead letter by its error code (nb.error.code; "" when it had none), at its
 *         topic timestamp @p at. */
NB_NODISCARD nb_err_t nb_report_add_dead_letter(nb_report_t *r, const char *code, int64_t at);

/** @brief Computes the tables; nothing more may be added. @returns NB_ERR_OK or NB_ERR_NOMEM. */
NB_NODISCARD nb_err_t nb_report_finish(nb_report_t *r);

/* ---- the figures ------------------------------------------------------------------------- */

#define NB_REPORT_MAX_MEASURES 10

/** One table: rows of figures by a group (an agency, a rule, a rung, ...), in a stable order. */
typedef struct nb_report_table_s {
    const char *name;  /**< stable id, the CSV's "table" column: "appointments", ... */
    const char *title; /**< a heading a board reads */
    const char *group; /**< what a row is: "agency", "rule", "rung", ... */
    size_t n_measures;
    const char *measures[NB_REPORT_MAX_MEASURES]; /**< stable ids, the CSV's "measure" column */
    int decimals[NB_REPORT_MAX_MEASURES];         /**< how each is written: 0 for a count */
    size_t chart;                                 /**< the measure its chart shows */
    size_t n_rows;
    const char **rows;    /**< the groups, sorted; "all" last where there is a total */
    const double *values; /**< n_rows * n_measures, row by row; NAN where undefined (a median
                               of nothing, a rate per no appointments) */
} nb_report_table_t;

/** @brief The number of tables after nb_report_finish(). */
size_t nb_report_n_tables(const nb_report_t *r);
/** @brief Table @p i, valid until nb_report_destroy(); NULL when out of range. */
const nb_report_table_t *nb_report_table(const nb_report_t *r, size_t i);
/** @brief The table named @p name, or NULL. */
const nb_report_table_t *nb_report_find(const nb_report_t *r, const char *name);
/** @brief One figure: NAN when the table, row or measure does not exist or it is undefined. */
double nb_report_value(const nb_report_t *r, const char *table, const char *group,
                       const char *measure);

/** Records counted and skipped while adding, for the caller's summary. */
typedef struct nb_report_counts_s {
    uint64_t records;         /**< AuditRecords added */
    uint64_t dead_letters;    /**< dead letters added */
    uint64_t appointments;    /**< distinct appointments seen (any period) */
    uint64_t notifications;   /**< notifications raised in the period */
    uint64_t orphan_verdicts; /**< verdicts on notifications not raised in the period */
} nb_report_counts_t;
void nb_report_counts(const nb_report_t *r, nb_report_counts_t *out);

/* ---- rendering --------------------------------------------------------------------------- */

/**
 * @brief The figures as CSV (RFC 4180), one figure a line under the fixed header
 *        "from,to,table,group,measure,value"; from and to are the local dates the caller passes.
 *        Undefined figures have an empty value. Appends to @p out (check out->err).
 */
void nb_report_csv(const nb_report_t *r, const char *from, const char *to, nb_buf_t *out);

/**
 * @brief The figures as one self-contained HTML page for a board paper: inline CSS, a bar chart
 *        in inline SVG per table, the tables themselves; no script, no external resource. Every
 *        text is escaped. @p generated is the time it was made (shown as is).
 */
void nb_report_html(const nb_report_t *r, const char *from, const char *to, const char *generated,
                    nb_buf_t *out);

/* ---- the fast reader of AuditRecord binaries --------------------------------------------- */

/** The writer schema the fast reader reads (schemas/registry.tsv). */
#define NB_REPORT_READER_SCHEMA_ID 9

/**
 * @brief Whether the fast reader may read records framed with schema @p id of @p reg: id 9
 *        registered as org.notbrought.v1.AuditRecord whose fields, in order, have exactly the
 *        names and types the reader was written for (checked on the schema's JSON).
 * @returns true when it may; false with why in @p errstr.
 */
bool nb_report_reader_check(const nb_registry_t *reg, int32_t id, char *errstr, size_t errstr_size);

/**
 * @brief Reads one framed AuditRecord of schema NB_REPORT_READER_SCHEMA_ID into @p out, every
 *        read bounds-checked. @p out's slices point into @p buf.
 * @returns NB_ERR_OK; NB_ERR_NOT_FOUND when the frame names another schema; another error for a
 *          malformed record (the caller decodes it with the codec to learn why).
 */
NB_NODISCARD nb_err_t nb_report_read(const void *buf, size_t len, nb_report_rec_t *out);

#endif /* NOTBROUGHT_REPORT_H */
