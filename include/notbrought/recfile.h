/*
 * notbrought - recfile: Kafka records as data. The record callbacks that the tools and the
 * stream's produce and consume helpers pass records through, and the record-file format:
 * records as JSON lines with base64 values, the interchange format of sample data, test
 * vectors and replays.
 *
 * It uses no other module: the stream module reads record files to produce them, and the
 * commands write and read them.
 */
#ifndef NOTBROUGHT_RECFILE_H
#define NOTBROUGHT_RECFILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * A record file holds Kafka records as JSON lines, one object per line:
 *   {"topic":"gp.appointments","key":"...","value":"<base64>","timestamp":1700000000000}
 * The value is the framed Avro bytes (or any bytes, for malformed samples). A record read off a
 * topic (`consume --format records`) also keeps its place and headers, so that `produce` puts
 * it back where it was (an internal topic copied for an upgrade test, say):
 *   ..., "partition":3, "headers":[{"name":"nb.kind","value":"<base64>"}]}
 */

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

#endif /* NOTBROUGHT_RECFILE_H */
