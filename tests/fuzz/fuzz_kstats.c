/*
 * libFuzzer harness: librdkafka statistics documents into the metrics registry
 * (nb_metrics_kafka_stats) over arbitrary bytes. Each input is applied twice, so that the
 * second pass meets the series the first made (counters kept at their maximum, gauges swept),
 * then the registry is rendered.
 *
 *   ./fuzz_kstats corpus/   (seed corpus: tests/fuzz/corpus/kstats, statistics documents cut
 *                            down from tests/data/rdkafka-stats-*.json)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "notbrought/ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nb_metrics_t *m = nb_metrics_new();
    if (!m)
        return 0;
    nb_metrics_kafka_stats(m, (const char *)data, size);
    nb_metrics_kafka_stats(m, (const char *)data, size);
    free(nb_metrics_render(m, NULL));
    nb_metrics_destroy(m);
    return 0;
}
