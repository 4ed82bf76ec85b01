/*
 * notbrought - cli: the `notbrought` subcommands, and the tools they share (the synthetic
 * sample generator and the record-file format).
 */
#ifndef NOTBROUGHT_CLI_H
#define NOTBROUGHT_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "notbrought/codec.h"

/** Exit codes of every subcommand (docs/cli.md). */
#define NB_EXIT_OK 0
#define NB_EXIT_FAILURE 1  /**< the command ran and found a problem (invalid input, failed case) */
#define NB_EXIT_USAGE 2    /**< bad command line */
#define NB_EXIT_SOFTWARE 3 /**< internal or environment error (I/O, broker unreachable) */

/** @brief Runs the command line. @returns the process exit status. */
int nb_cli_main(int argc, char **argv);

/* ---- record files --------------------------------------------------------------------------
 * A record file holds Kafka records as JSON lines, one object per line:
 *   {"topic":"gp.appointments","key":"...","value":"<base64>","timestamp":1700000000000}
 * The value is the framed Avro bytes (or any bytes, for malformed samples). A record read off a
 * topic (`consume --format records`) also keeps its place and headers, so that `produce` puts
 * it back where it was (an internal topic copied for an upgrade test, say):
 *   ..., "partition":3, "headers":[{"name":"nb.kind","value":"<base64>"}]} */

#define NB_RECFILE_MAX_HEADERS 16

/** Where a record was (or is to go) and its headers. */
typedef struct nb_record_meta_s {
    int32_t partition; /**< -1: not known (produce: the partitioner chooses) */
    size_t n_headers;
    struct {
        const char *name;
        const void *value;
        size_t len;
    } headers[NB_RECFILE_MAX_HEADERS];
} nb_record_meta_t;

/** Called once per record. @returns 0 to go on, non-zero to stop (the value is passed back). */
typedef int(nb_record_cb_t)(void *opaque, const char *topic, const char *key, const void *value,
                            size_t value_len, int64_t timestamp);

/** As nb_record_cb_t, with the record's place and headers: @p meta is NULL when the record has
 *  neither. */
typedef int(nb_record_meta_cb_t)(void *opaque, const char *topic, const char *key,
                                 const void *value, size_t value_len, int64_t timestamp,
                                 const nb_record_meta_t *meta);

/**
 * @brief Reads a record file and calls @p cb for each record, in order.
 * @returns 0, the callback's non-zero value, or -1 with "file:line:column: reason" in errstr.
 */
int nb_recfile_read(const char *path, nb_record_cb_t *cb, void *opaque, char *errstr,
                    size_t errstr_size);

/** @brief nb_recfile_read() that also passes each record's partition and headers. */
int nb_recfile_read_meta(const char *path, nb_record_meta_cb_t *cb, void *opaque, char *errstr,
                         size_t errstr_size);

/** @brief Writes one record as a JSON line. @returns 0, or -1 on a write error. */
int nb_recfile_write(void *fp, const char *topic, const char *key, const void *value,
                     size_t value_len, int64_t timestamp);

/** @brief nb_recfile_write() with the record's partition and headers (@p meta may be NULL). */
int nb_recfile_write_meta(void *fp, const char *topic, const char *key, const void *value,
                          size_t value_len, int64_t timestamp, const nb_record_meta_t *meta);

/* ---- synthetic sample data ------------------------------------------------------------------ */

typedef struct nb_sample_opts_s {
    uint64_t seed;
    int children;          /**< children (and pregnancies) to generate */
    double missed_share;   /**< share of past appointments whose outcome is missed */
    double local_id_share; /**< share of events that carry only a local identifier */
    int malformed;         /**< malformed records to mix in */
    int64_t now;           /**< ms since epoch: appointments are spread over the year before */
} nb_sample_opts_t;

/** @brief Defaults: seed 1, 100 children, 12% missed, 20% local ids, 8 malformed. */
void nb_sample_opts_default(nb_sample_opts_t *opts, int64_t now_ms);

/**
 * @brief Generates realistic synthetic records (appointments from GP, midwifery and health
 *        visiting; identity links; context facts; some malformed records), sorted by time, and
 *        passes each to @p cb. NHS numbers are from the 999 test range, with check digits.
 * @returns 0, the callback's non-zero value, or -1 on an encoding failure (errstr says why).
 */
int nb_sample_generate(const nb_sample_opts_t *opts, nb_codec_t *codec, nb_record_cb_t *cb,
                       void *opaque, char *errstr, size_t errstr_size);

#endif /* NOTBROUGHT_CLI_H */
