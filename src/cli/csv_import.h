/*
 * notbrought ingest csv: shared by its files (cmd_ingest_csv.c, csv_state.c). Private to
 * src/cli.
 */
#ifndef NB_CLI_CSV_IMPORT_H
#define NB_CLI_CSV_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"
#include "notbrought/event.h"
#include "notbrought/util.h"

#define NB__CSV_STATE_FORMAT "notbrought-csv-state/1"

/** What recognises an extract file: its size, mtime and the SHA-256 of its first KiB. */
typedef struct nb__csv_ident_s {
    uint64_t size;
    int64_t mtime_ns;
    char head_sha256[65];
} nb__csv_ident_t;

/** An import's progress. */
typedef struct nb__csv_state_s {
    nb__csv_ident_t id;
    int64_t extracted_at;   /**< the extract time the events carry (0: a column gave it) */
    uint64_t acked_through; /**< every record of rows 1..acked_through is acknowledged */
    bool complete;          /**< every row was read, and acknowledged */
} nb__csv_state_t;

/** @brief The file's identity from an open descriptor. */
NB_NODISCARD nb_err_t nb__csv_ident(int fd, nb__csv_ident_t *id, char *errstr, size_t errstr_size);
/** @brief DIR/<mapping>.<16 hex of the first KiB's hash>.state. */
NB_NODISCARD nb_err_t nb__csv_state_path(const char *dir, const char *mapping,
                                         const nb__csv_ident_t *id, char *path, size_t cap);
/** @returns NB_ERR_OK, NB_ERR_NOT_FOUND (no state yet), NB_ERR_IO, NB_ERR_CONFIG (not a state
 *           file of this format). */
NB_NODISCARD nb_err_t nb__csv_state_read(const char *path, nb__csv_state_t *st);
/** @brief Writes the state atomically (temporary file, fsync, rename). */
NB_NODISCARD nb_err_t nb__csv_state_write(const char *path, const nb__csv_state_t *st, char *errstr,
                                          size_t errstr_size);

/** What --metrics-file says of an import that read the whole file and had every record
 *  acknowledged. */
typedef struct nb__csv_metrics_s {
    const char *source;  /**< the mapping's name, the series' source label */
    int64_t imported_at; /**< when the import finished (ms since the epoch) */
    uint64_t read, published, refused, skipped;
    int64_t stale_after_ms; /**< how long after it the next import is overdue */
} nb__csv_metrics_t;

/** @brief Writes the metrics in Prometheus' text format (for node_exporter's textfile
 *         collector) atomically: a temporary file PATH.tmp, synced, renamed over PATH. */
NB_NODISCARD nb_err_t nb__csv_metrics_write(const char *path, const nb__csv_metrics_t *mt,
                                            char *errstr, size_t errstr_size);

#endif /* NB_CLI_CSV_IMPORT_H */
