/*
 * notbrought - ops: metrics internals shared with the HTTP server and the tests.
 */
#ifndef NB_OPS_METRICS_INTERNAL_H
#define NB_OPS_METRICS_INTERNAL_H

#include <stddef.h>

/**
 * @brief Formats a sample value as Prometheus expects: integers without a decimal point,
 *        others as the shortest text that reads back as the same double, "+Inf", "-Inf",
 *        "NaN".
 */
void nb__metrics_format_value(double v, char *out, size_t size);

#endif /* NB_OPS_METRICS_INTERNAL_H */
