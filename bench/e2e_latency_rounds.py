#!/usr/bin/env python3
"""Latency runs in a row on one fresh Apache Kafka broker, the daemon alone (no backlog): how
the 99th percentile settles as the broker's JIT warms up, and a quick A/B of a latency change.
Prints one JSON line per run on stdout (progress on stderr). Not a test: no assertions.

  bench/e2e_latency_rounds.py [--rounds 3] [--seconds 20] [--rate 1000] [--heap 768m]

First the broker's and the daemon's CPU over 10 idle seconds (`idle`), then --rounds runs of
bench/e2e_throughput.py's latency phase (each with its own children), with nothing before the
first: it meets a cold JIT. Environment as for bench/e2e_throughput.py (NB_BIN, ...).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_throughput as bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--heap", default="768m")
    args = ap.parse_args()
    bench.METRICS_PORT = bench.free_port()
    bench.COMMAND = " ".join(["bench/e2e_latency_rounds.py"] + sys.argv[1:])
    work = tempfile.mkdtemp(prefix="nb-latency.")
    broker = bench.Broker(work, args.heap)
    now_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    daemon = None
    try:
        bs = broker.start()
        cfg = os.path.join(work, "notbrought.yaml")
        bench.write_config(cfg, bs, 6)
        bench.create_topics(bs, 6, 1)
        daemon = bench.Daemon(work, cfg, bs, "latency")
        bench.wait_for(lambda: daemon.find(r"^assigned \d+ partitions"), 120,
                       "the daemon's assignment")
        time.sleep(3)  # the first fetches and the restore of empty partitions
        win = bench.CpuWindow(broker.pid())
        win.start(daemon.proc.pid)
        time.sleep(10)
        idle = win.stop(1)
        idle.pop("broker_cpu_per_event_us", None)
        bench.emit({"bench": "e2e_latency_idle", "seconds": 10, **idle})
        for r in range(args.rounds):
            res = bench.bench_latency(work, bs, args.rate, args.seconds, now_iso, broker.pid(),
                                      seed=100 + r)
            res.update({"round": r + 1})
            bench.emit(res)
        daemon.stop()
        daemon = None
    finally:
        if daemon is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
