/*
 * notbrought - stream: the stream's counters, handed to the metrics registry (ops) through
 * ops' own API. ops knows nothing of the stream: the dependency goes one way, stream to ops.
 */
#include "notbrought/ops.h"
#include "notbrought/stream.h"

#include <stddef.h>

void nb_stream_collect_metrics(void *opaque, nb_metrics_t *m)
{
    nb_stream_stats_t s;
    if (!opaque)
        return;
    nb_stream_stats((const nb_stream_t *)opaque, &s);
    nb_metrics_totals_t t = {
        .ready = s.ready,
        .dead_letters = s.dead_letters,
        .repartitioned = s.repartitioned,
        .parked = s.parked,
        .released = s.released,
        .links = s.links,
        .notifications = s.notifications,
        .restored = s.restored,
        .commits = s.commits,
        .aborts = s.aborts,
    };
    nb_metrics_set_totals(m, &t);
}
