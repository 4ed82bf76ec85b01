"""When a consumer group has drained its input, as the e2e tests and benchmarks judge it from
outside (tests/e2e/cluster.py, bench/e2e_throughput.py, bench/e2e_cluster_scale.py).

Drained: every source offset committed, then every by-child record written before that point
consumed. A record forwarded to another instance's by-child partition is written in the
transaction that commits its source offset, so once the sources are committed the by-child
ends taken then cover everything forwarded. That target is taken once: the by-child
partitions never stop growing (each instance reports its sources' watermarks to the others
once a second), so a moving target would be met only by chance.
"""


class DrainTarget:
    def __init__(self, sources, by_child):
        """@sources and @by_child: TopicPartition-like objects (.topic, .partition)."""
        self.sources, self.by_child = list(sources), list(by_child)
        self.target = None

    def reached(self, ends, committed, expect=None):
        """@ends: end offsets by partition object (read_committed); @committed: the group's
        offsets by (topic, partition); @expect: optionally, the number of records each source
        partition must hold (by partition number) before it counts as committed."""
        ok = all(committed.get((tp.topic, tp.partition), -1) >= ends[tp] and
                 (expect is None or ends[tp] == expect.get(tp.partition, 0))
                 for tp in self.sources)
        if ok and self.target is None:
            self.target = {tp: ends[tp] for tp in self.by_child}
        # The last record before the target may be a transaction marker, which a
        # read_committed consumer never returns: consumed up to it is target - 1.
        return ok and self.target is not None and all(
            self.target[tp] == 0 or
            committed.get((tp.topic, tp.partition), -1) >= self.target[tp] - 1
            for tp in self.by_child)
