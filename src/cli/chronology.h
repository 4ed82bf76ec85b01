/*
 * notbrought chronology: one child's timeline for a practice review, made from the audit
 * topic's records about the child (docs/reporting.md, "Chronology"). This is the pure part:
 * records collected, put in time order, and written as text for a terminal, CSV (RFC 4180) for
 * analysts or a self-contained HTML page. It reads no clock, no topic and no environment; the
 * command (cmd_chronology.c) does the reading and the auditing.
 */
#ifndef NB_CLI_CHRONOLOGY_H
#define NB_CLI_CHRONOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "notbrought/err.h"
#include "notbrought/event.h"
#include "notbrought/notify.h"

typedef enum nb__chron_format_e {
    NB__CHRON_TEXT,
    NB__CHRON_CSV,
    NB__CHRON_HTML,
} nb__chron_format_t;

/** @brief "text", "csv" or "html". @returns false for any other name. */
bool nb__chron_format_parse(const char *s, nb__chron_format_t *out);
const char *nb__chron_format_name(nb__chron_format_t f);

/** One record of the timeline, with its place in the order it was read (ties in time keep it). */
typedef struct nb__chron_entry_s {
    nb_audit_t a;
    size_t seq;
} nb__chron_entry_t;

/** The records of one child. Zero-initialise; free with nb__chron_free(). */
typedef struct nb__chron_s {
    nb__chron_entry_t *e;
    size_t n, cap;
} nb__chron_t;

/** @brief Adds a copy of @p a. @returns NB_ERR_OK or NB_ERR_NOMEM. */
NB_NODISCARD nb_err_t nb__chron_add(nb__chron_t *c, const nb_audit_t *a);

/**
 * @brief When a record happened, for the order of the timeline: an event received, when its
 *        source recorded it (AuditEvent.recorded_at; a record sent late then shows where it
 *        belongs, with its arrival on its "Received" line); any other record, its time
 *        (AuditRecord.at).
 */
int64_t nb__chron_when(const nb_audit_t *a);

/** @brief Puts the records in time order (nb__chron_when()), ties in the order they were
 *         added (the order they were read). */
void nb__chron_sort(nb__chron_t *c);

/** @brief Frees what it holds; it may be used again. */
void nb__chron_free(nb__chron_t *c);

/** What the page says about itself: which child, who read it, why, when. */
typedef struct nb__chron_head_s {
    const char *nhs_number; /**< the number the reader gave (10 digits), or NULL (by reference) */
    bool csv_nhs_number;    /**< CSV: fill the nhs_number column (else it stays empty) */
    const char *child_key;  /**< 64 hex */
    const char *reference;  /**< the reference the child was found by, or NULL */
    const char *reader;     /**< --reader */
    const char *reason;     /**< --reason */
    int64_t read_at;        /**< when it was read (ms, UTC) */
    nb_notify_zone_t zone;  /**< local time of the text and the page (notify.timezone) */
    size_t unreadable;      /**< records of the child that could not be decoded (not shown) */
} nb__chron_head_t;

/** The CSV's header line: the columns, in order (stable; new columns are only ever added at
 *  the end). */
extern const char nb__chron_csv_header[];

/**
 * @brief Writes the timeline in @p fmt to @p out. Every text a record carries is escaped for
 *        its format: control and bidirectional characters made visible (text), quoted and
 *        doubled quotes with a leading = + - @ neutralised (CSV), HTML-escaped (HTML).
 * @returns 0, or -1 when @p out reports a write error.
 */
int nb__chron_write(FILE *out, nb__chron_format_t fmt, const nb__chron_t *c,
                    const nb__chron_head_t *h);

/** @brief A person's words for an audit kind ("Notification raised"). Static. */
const char *nb__chron_kind_words(nb_audit_kind_t kind);

#endif
