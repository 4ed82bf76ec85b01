#!/usr/bin/env python3
"""How the daemon scales over 1, 2 and 3 instances of one group on a three-node Apache Kafka
cluster (issue 25). Prints one JSON line per figure on stdout (progress on stderr). Not a
test: no assertions.

  bench/e2e_cluster_scale.py [--children 40000] [--instances 1,2,3] [--dynamic] [--keep]

The cluster is tests/e2e/cluster.py's (`ops/kafka start --nodes 3`: three KRaft processes,
each broker and controller); every topic has replication factor 3 and min.insync.replicas 2,
made by `notbrought topics --source-partitions 6`. The input is `notbrought generate
--children C` (no malformed records): the identity links on `identity.links`, every
appointment event and context fact on one six-partition topic `events`, keyed by child as
tests/e2e/cluster.py's make_sample keys it (generate keys an event by its appointment id, not
by child). Both are produced with `notbrought produce` before the instances start: a
backlog.

Each round (N instances) has a fresh cluster: the same sample produced again, its own
group, topics made afresh. (One cluster for every round, with a group and topics per round,
was tried first: a round then ran beside the earlier rounds' replicated partitions and after
their broker warm-up; 3 instances drained 10,000 children's backlog in 58 s after the other
rounds against 22 s on a fresh cluster, neither run on a quiet machine.) The brokers' group.initial.rebalance.delay.ms is Kafka's
default, 3 s (ops/kafka sets 0), so that the instances of a round, started together, join the
group's first generation. Each instance has its own NB_KAFKA_INSTANCE_ID,
NB_KAFKA_GROUP_INSTANCE_ID (static membership) and NB_OPS_HTTP_PORT, as tests/e2e/cluster.py's
Instance; the clock is fixed at the sample's "now" (NB_PROCESSING_FIXED_NOW), so every round
makes the same decisions.

  1. throughput  the N instances start together; timed from the moment every one of them
                 has its partitions (the group's assignments add up to every partition of
                 `events`, the by-child topic and the acknowledgements) until the group's
                 committed offsets reach the end of `events` and of the by-child topic. Events committed before that
                 moment (an instance that got everything before the others joined) are left
                 out of the rate. CPU seconds over the same window: the daemons' (summed, and
                 each with its main thread), the three brokers' (summed, and each), the share
                 of the machine's CPU time that was busy and the share stolen, the CPU
                 seconds of everything else on the machine (others_cpu_seconds); each
                 instance's transactions over the window from its /metrics (commits, mean
                 commit time, the bucket of the 99th percentile).
  2. restore     (N >= 2) after the drain, SIGTERM to one instance; from the signal until
                 every remaining instance has logged "assigned N partitions" again: the
                 rebalance wait (signal -> the start of their restore, from the log's times)
                 and the restore ("restored K partitions in T ms", the partitions the eager
                 protocol gives each remaining instance, all restored again from the
                 changelog). With static membership a member that stops does not leave the
                 group: the group notices at session.timeout.ms (--session-ms). With
                 --dynamic the instances have no group instance id: one that stops leaves
                 the group and the others rebalance at once.

Environment: NB_BIN (default build-release/notbrought), NB_SOURCE_DIR. The machine's other
load skews every figure: run it alone.
"""
import argparse
import calendar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.environ.get("NB_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("NB_BIN", os.path.join(ROOT, "build-release", "notbrought"))
os.environ["NB_SOURCE_DIR"] = ROOT
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import e2e_throughput as tp  # noqa: E402  (CPU, host gauges, offsets, restore_figures)
import cluster as cl  # noqa: E402  (the three-node cluster, instances, keys by child)

NB_BIN = tp.NB_BIN
tp.GROUP = "notbrought-scale"  # tp.Offsets names the group prefix + tp.GROUP
SOURCE_PARTITIONS = PARTITIONS = 6
EVENTS, LINKS = tp.EVENTS, tp.LINKS
POLL_S = 0.2
COMMAND = " ".join(["bench/e2e_cluster_scale.py"] + sys.argv[1:])


def log(msg):
    print(f"e2e_cluster_scale: {msg}", file=sys.stderr, flush=True)


cl.say = cl.e2e.say = log


def emit(obj):
    obj["command"] = COMMAND
    print(json.dumps(obj), flush=True)


def prefix_of(n):
    return f"n{n}."


def write_config(path, bootstrap, prefix, session_ms):
    """tests/e2e/cluster.py's configuration with a prefix for the group and the internal and
    output topics (bench/e2e_throughput.py's names) and logs at info (the restore lines)."""
    cl.write_config(path, bootstrap, group=f"{prefix}{tp.GROUP}", instance_id=f"{prefix}nb-0",
                    outputs={k: f"{prefix}{k.replace('_', '-')}"
                             for k in tp.OUTPUTS + ["identity_suggestions"]},
                    session_ms=session_ms, heartbeat_ms=min(1000, session_ms // 3),
                    log_level="info", writer="bench/e2e_cluster_scale.py")


def make_topics(cfg, bs):
    """`notbrought topics`; again when a topic the previous round's call made had not yet
    reached every broker's metadata ("made meanwhile: run `notbrought topics` again to check
    it", or "reading the settings of topic events: Broker: Unknown topic or partition")."""
    for attempt in range(10):
        r = subprocess.run([NB_BIN, "topics", "--config", cfg, "--bootstrap", bs,
                            "--source-partitions", str(SOURCE_PARTITIONS)], capture_output=True,
                           text=True, timeout=180)
        if r.returncode == 0:
            return
        if "made meanwhile" not in r.stderr and "Unknown topic" not in r.stderr:
            break
        time.sleep(1)
    raise RuntimeError(f"notbrought topics: exit {r.returncode}: {r.stderr[-1500:]}")


def make_sample(work, children, now_iso):
    """generate's records: the links as they are, the events keyed by child
    (cluster.child_keys, from `notbrought decode`) on `events`. Returns the two files and
    their counts."""
    recs, _, keys = cl.keyed_sample(work, now_iso, ["--children", str(children), "--seed", "7",
                                                    "--malformed", "0"])
    links_path = os.path.join(work, "links.rec")
    events_path = os.path.join(work, "events.rec")
    links = [r for r in recs if r["topic"] == LINKS]
    events = [dict(r, topic=EVENTS, key=keys.get(n, r.get("key")))
              for n, r in enumerate(recs, start=1) if r["topic"] != LINKS]
    cl.write_recs(links_path, links)
    cl.write_recs(events_path, events)
    return links_path, events_path, len(links), len(events)


def produce(cfg, bs, path):
    t = time.monotonic()
    subprocess.run([NB_BIN, "produce", "--config", cfg, "--bootstrap", bs, path], check=True,
                   capture_output=True, env=dict(os.environ, NB_HMAC_KEY=tp.HMAC_KEY))
    return time.monotonic() - t


# ---- the instances' logs -------------------------------------------------------------------

def log_lines(d):
    out = []
    try:
        with open(d.log, "rb") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return out


def assignments(d):
    """[(log line, partitions)] of each "assigned N partitions" of the current incarnation."""
    return [(o, int(m.group(1))) for o in log_lines(d)
            for m in [re.match(r"assigned (\d+) partitions$", o.get("msg", ""))] if m]


def log_time(o):
    """A log line's time as seconds since the epoch (its "ts", ISO 8601 UTC), or None."""
    ts = o.get("ts") or o.get("time")
    if not isinstance(ts, str):
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z?$", ts)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + float(
        m.group(2) or 0)


# ---- CPU over a window, summed over processes -----------------------------------------------

class CpuSum:
    """tp.CpuWindow's figures for several processes: the brokers' and the daemons' CPU
    seconds (summed and each; the daemons' main threads), the machine's busy and stolen
    shares."""

    def __init__(self, brokers, daemons):
        self.brokers, self.daemons = brokers, daemons  # {name: pid}

    def start(self):
        self.b0 = {k: tp.proc_cpu(p) for k, p in self.brokers.items()}
        self.d0 = {k: tp.proc_cpu(p) for k, p in self.daemons.items()}
        self.m0 = {k: tp.proc_cpu(p, p) for k, p in self.daemons.items()}
        self.busy0, self.total0, self.steal0 = tp.machine_cpu()
        self.own0 = os.times()
        self.load0 = float(open("/proc/loadavg").read().split()[0])

    def stop(self, n_events):
        busy, total, steal = tp.machine_cpu()
        span = max(total - self.total0, 1e-9)
        b = {k: tp.proc_cpu(p) - self.b0[k] for k, p in self.brokers.items()}
        d = {k: tp.proc_cpu(p) - self.d0[k] for k, p in self.daemons.items()}
        m = {k: tp.proc_cpu(p, p) - self.m0[k] for k, p in self.daemons.items()}
        own = os.times()
        n = max(n_events, 1)
        mine = sum(b.values()) + sum(d.values()) + sum(own[:2]) - sum(self.own0[:2])
        return {"daemon_cpu_seconds": round(sum(d.values()), 1),
                "daemon_cpu_per_event_us": round(sum(d.values()) / n * 1e6, 1),
                "daemon_cpu_seconds_each": {k: round(v, 1) for k, v in d.items()},
                "main_thread_cpu_seconds_each": {k: round(v, 1) for k, v in m.items()},
                "brokers_cpu_seconds": round(sum(b.values()), 1),
                "brokers_cpu_per_event_us": round(sum(b.values()) / n * 1e6, 1),
                "brokers_cpu_seconds_each": {k: round(v, 1) for k, v in b.items()},
                "machine_busy_share": round((busy - self.busy0) / span, 3),
                "machine_steal_share": round((steal - self.steal0) / span, 3),
                "machine_cpu_seconds": round(span, 1),
                # Busy CPU time of everything else on the machine (other people's work, the
                # kernel's threads): what the figures shared the two cores with.
                "others_cpu_seconds": round(max(0.0, busy - self.busy0 - mine), 1),
                "loadavg_1min_after": float(open("/proc/loadavg").read().split()[0]),
                "bench_cpu_seconds": round(sum(own[:2]) - sum(self.own0[:2]), 1),
                "loadavg_1min_before": self.load0}


# ---- one round -----------------------------------------------------------------------------

def scrape(d):
    """An instance's commit figures from its /metrics (tp.scrape_commits reads tp's port)."""
    tp.METRICS_PORT = d.port
    return tp.scrape_commits()


def run_round(work, n, sample, now_iso, session_ms, dynamic):
    """A fresh cluster, the backlog, N instances: the throughput and (N >= 2) the restore."""
    links_path, events_path, n_links, n_events = sample
    prefix = prefix_of(n)
    rdir = os.path.join(work, f"n{n}")
    os.makedirs(rdir, exist_ok=True)
    cluster = cl.Cluster(work, f"n{n}")
    # Kafka's default (ops/kafka sets 0 for the tests): a new group's first rebalance waits
    # 3 s for more members, so that N instances started together share the backlog from the
    # first assignment rather than one of them taking everything until the others join.
    cluster.env["NB_KAFKA_SERVER_PROPS"] = "group.initial.rebalance.delay.ms=3000"
    try:
        bs = cluster.start()
        cfg = os.path.join(rdir, "notbrought.yaml")
        write_config(cfg, bs, prefix, session_ms)
        make_topics(cfg, bs)
        s_links = produce(cfg, bs, links_path)
        s_events = produce(cfg, bs, events_path)
        log(f"backlog produced: {n_links} links in {s_links:.1f}s, {n_events} events in "
            f"{s_events:.1f}s ({n_events / s_events:.0f}/s)")
        backlog = {"links": n_links, "produce_events_seconds": round(s_events, 1)}
        run_instances(rdir, cluster, cfg, bs, n, n_events, now_iso, session_ms, backlog,
                      dynamic)
    finally:
        cluster.stop()


def run_instances(rdir, cluster, cfg, bs, n, n_events, now_iso, session_ms, backlog, dynamic):
    prefix = prefix_of(n)
    brokers = {f"node{i}": int(cluster.run("node", str(i), "pid").stdout.split()[0])
               for i in range(1, 4)}
    gauges = tp.host_gauges()
    off = tp.Offsets(bs, PARTITIONS, prefix)
    inst = [cl.Instance(rdir, cfg, bs, f"{prefix}nb-{i}", now_iso) for i in range(1, n + 1)]
    if dynamic:
        for d in inst:
            d.env.pop("NB_KAFKA_GROUP_INSTANCE_ID", None)
    # What the group consumes: `events`, the by-child topic and the acknowledgements.
    total_parts = sum(len(off.c.partitions_for_topic(t) or ())
                      for t in (EVENTS, prefix + "by-child", prefix + "acks"))
    try:
        for d in inst:
            d.start()
        t_exec = time.monotonic()

        def all_assigned():
            for d in inst:
                if not d.alive():
                    raise RuntimeError(f"{d.name} exited {d.proc.returncode}; see {d.log}")
            last = [assignments(d) for d in inst]
            return all(last) and sum(a[-1][1] for a in last) == total_parts
        tp.wait_for(all_assigned, 300, f"{n} instances to share the partitions", 0.02)
        t_start = time.monotonic()
        win = CpuSum(brokers, {d.name: d.proc.pid for d in inst})
        win.start()
        scrape0 = {d.name: scrape(d) for d in inst}
        _, done0 = off.drained()
        rebalances = sum(len(assignments(d)) for d in inst)
        while True:
            for d in inst:
                if not d.alive():
                    raise RuntimeError(f"{d.name} exited {d.proc.returncode}; see {d.log}")
            ok, done = off.drained()
            if ok:
                break
            if time.monotonic() - t_start > 1800:
                raise RuntimeError("backlog not drained in 30 minutes")
            time.sleep(POLL_S)
        t_done = time.monotonic()
        timed = n_events - done0
        shares = win.stop(timed)
        commits = {d.name: tp.commit_figures(scrape0[d.name], scrape(d)) for d in inst}
        busy = t_done - t_start
        res = {"bench": "e2e_cluster_throughput", "instances": n, "events": n_events,
               "events_timed": timed, "events_before_all_assigned": done0,
               "seconds": round(busy, 2), "events_per_sec": round(timed / busy),
               "exec_to_all_assigned_s": round(t_start - t_exec, 2),
               "assignments_before_start": rebalances,
               "partitions": {"events": SOURCE_PARTITIONS, "by_child": PARTITIONS,
                              "group_total": total_parts},
               "replication_factor": 3, "min_insync_replicas": 2,
               "assigned_each": {d.name: assignments(d)[-1][1] for d in inst},
               "peak_rss_mb_each": {d.name: round((tp_peak_rss(d.proc.pid) or 0) / 1024, 1)
                                    for d in inst},
               "commits_each": commits, "poll_interval_s": POLL_S, **backlog, **gauges,
               **shares}
        log(f"n={n} throughput: {res}")
        emit(res)

        if n >= 2:
            emit(leave_and_restore(inst, n, session_ms, dynamic))
        for d in inst:
            if d.alive():
                rc = d.term()
                log(f"{d.name}: SIGTERM, exit {rc}")
    finally:
        off.close()
        for d in inst:
            if d.proc and d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait(timeout=30)


def tp_peak_rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def leave_and_restore(inst, n, session_ms, dynamic):
    """SIGTERM to the last instance; the others take its partitions and restore them."""
    leaver, rest = inst[-1], inst[:-1]
    before = {d.name: len(assignments(d)) for d in rest}
    restored_before = {d.name: len(restores(d)) for d in rest}
    t_wall = time.time()
    t0 = time.monotonic()
    leaver.proc.send_signal(signal.SIGTERM)
    seen = {}
    exit_s = None
    while len(seen) < len(rest):
        now = time.monotonic()
        if exit_s is None and leaver.proc.poll() is not None:
            exit_s = now - t0
        for d in rest:
            if d.name not in seen and len(assignments(d)) > before[d.name]:
                seen[d.name] = now - t0
            if not d.alive():
                raise RuntimeError(f"{d.name} exited {d.proc.returncode}; see {d.log}")
        if now - t0 > 300:
            raise RuntimeError(f"the remaining instances were not all assigned again in 300 s "
                               f"(seen {seen})")
        time.sleep(0.02)
    rc = leaver.proc.wait(timeout=120)
    if exit_s is None:
        exit_s = time.monotonic() - t0
    each = {}
    for d in rest:
        new = restores(d)[restored_before[d.name]:]
        parts = [p for p in new if p[0] == "partition"]
        passes = [p for p in new if p[0] == "pass"]
        a = assignments(d)[-1]
        t_assigned_log = log_time(a[0])
        restore_ms = sum(p[2] for p in passes)
        each[d.name] = {
            "assigned_partitions": a[1],
            "restored_partitions": sum(p[1] for p in passes),
            "restore_ms": restore_ms,
            "children_restored": sum(p[2] for p in parts),
            "changelog_records": sum(p[3] for p in parts),
            "seen_assigned_after_s": round(seen[d.name], 2),
            # signal -> the start of its restore: the log's time of "assigned" less the restore
            "rebalance_wait_s": (round(t_assigned_log - restore_ms / 1000 - t_wall, 2)
                                 if t_assigned_log else None),
            "rebalances": len(assignments(d)) - before[d.name]}
    waits = [e["rebalance_wait_s"] for e in each.values() if e["rebalance_wait_s"] is not None]
    res = {"bench": "e2e_cluster_restore", "instances": n, "stopped": leaver.name,
           "stopped_exit": rc, "stopped_exit_s": round(exit_s, 2),
           "session_timeout_ms": session_ms, "static_membership": not dynamic,
           "sigterm_to_all_assigned_s": round(max(seen.values()), 2),
           "rebalance_wait_s": max(waits) if waits else None,
           "restore_ms_max": max(e["restore_ms"] for e in each.values()),
           "children_restored": sum(e["children_restored"] for e in each.values()),
           "remaining": each}
    log(f"n={n} restore: {res}")
    return res


def restores(d):
    """The restore lines of an instance's log in order: ("partition", P, children, records,
    ms) and ("pass", K, ms)."""
    out = []
    for o in log_lines(d):
        msg = o.get("msg", "")
        m = re.match(r"restored partition (\d+): (\d+) children from (\d+) changelog records "
                     r"in (\d+) ms", msg)
        if m:
            out.append(("partition", *map(int, m.groups())))
            continue
        m = re.match(r"restored (\d+) partitions in (\d+) ms", msg)
        if m:
            out.append(("pass", *map(int, m.groups())))
    return out


# ---- main ----------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--children", type=int, default=40000)
    ap.add_argument("--instances", default="1,2,3",
                    help="comma-separated instance counts, one round each (at most 6: the "
                    "partitions)")
    ap.add_argument("--session-ms", type=int, default=6000,
                    help="the instances' session.timeout.ms (static members: how long the group "
                    "waits for one that stopped)")
    ap.add_argument("--dynamic", action="store_true",
                    help="no group instance ids: a stopped instance leaves the group at once")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    counts = [int(x) for x in args.instances.split(",") if x.strip()]
    if not counts or any(c < 1 or c > PARTITIONS for c in counts):
        sys.exit(f"e2e_cluster_scale: --instances: between 1 and {PARTITIONS} each")
    if not os.access(NB_BIN, os.X_OK):
        sys.exit(f"e2e_cluster_scale: {NB_BIN} missing (build notbrought, or set NB_BIN)")
    work = tempfile.mkdtemp(prefix="nb-bench-cluster.")
    now_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t_all = time.monotonic()
    try:
        subprocess.run([tp.KAFKA, "fetch"], check=True, capture_output=True)
        t = time.monotonic()
        sample = make_sample(work, args.children, now_iso)
        log(f"sample: {sample[3]} events, {sample[2]} links for {args.children} children "
            f"({time.monotonic() - t:.0f}s)")
        for n in counts:
            t = time.monotonic()
            log(f"===== {n} instance{'s' if n > 1 else ''} =====")
            run_round(work, n, sample, now_iso, args.session_ms, args.dynamic)
            log(f"round n={n} took {time.monotonic() - t:.0f}s")
        log(f"done in {time.monotonic() - t_all:.0f}s")
    finally:
        if args.keep:
            log(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
