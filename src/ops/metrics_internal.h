/*
 * notbrought - ops: metrics internals shared with the HTTP server and the tests.
 */
#ifndef NB_OPS_METRICS_INTERNAL_H
#define NB_OPS_METRICS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "notbrought/ops.h"

/**
 * @brief Formats a sample value as Prometheus expects: integers without a decimal point,
 *        others as the shortest text that reads back as the same double, "+Inf", "-Inf",
 *        "NaN".
 */
void nb__metrics_format_value(double v, char *out, size_t size);

/*
 * Batches: several updates a scrape must see together (one librdkafka statistics document),
 * under one hold of the registry's lock. Between begin and end, only the batch functions may
 * be called on the registry (the others take the lock themselves).
 */

/**
 * @brief Takes the lock of a registry of the well-known families (nb_metrics_new()).
 * @returns false, without taking it, when @p m is NULL or was made by nb_metrics_new_from().
 */
bool nb__metrics_batch_begin(nb_metrics_t *m);

/** @brief Releases the lock taken by nb__metrics_batch_begin(). */
void nb__metrics_batch_end(nb_metrics_t *m);

typedef enum nb__metrics_op_e {
    NB__METRICS_SET, /**< the series becomes v */
    NB__METRICS_MAX, /**< an existing series is only ever raised to v: a counter mirrored
                      *   from a cumulative count kept elsewhere never goes down */
    NB__METRICS_ADD  /**< v is added */
} nb__metrics_op_t;

/**
 * @brief Updates a series of a counter or gauge (made on first use, at v) and marks it as
 *        seen. A NaN @p v changes nothing.
 * @locks metrics_lock (held)
 */
void nb__metrics_batch_set(nb_metrics_t *m, int id, const char *const *values, double v,
                           nb__metrics_op_t op);

/**
 * @brief Removes the series of family @p id not marked since the last sweep whose label number
 *        @p label has the value @p value (every unmarked series when @p value is NULL), then
 *        clears the marks of the series it considered.
 * @locks metrics_lock (held)
 */
void nb__metrics_batch_sweep(nb_metrics_t *m, int id, size_t label, const char *value);

#endif /* NB_OPS_METRICS_INTERNAL_H */
