#!/usr/bin/env python3
"""End-to-end benchmarks of the daemon on a real Apache Kafka broker (ops/kafka, KRaft).
Prints one JSON line per figure on stdout (progress on stderr). Not a test: no assertions.

  bench/e2e_throughput.py [--children 130000] [--partitions 6] [--latency-rate 1000]
                          [--latency-seconds 30] [--restore-children 1000000] [--heap 768m]
                          [--rounds 3]

  1. throughput  `notbrought generate` (~1,000,000 events for 130,000 children, no malformed
                 records), all links and every event (on one topic `events`, 6 partitions)
                 produced first as a backlog; then the daemon starts and is timed until the
                 backlog is drained: the group's committed offsets reach the end of `events`
                 and of the by-child topic. CPU seconds and peak RSS of the daemon from
                 /proc/<pid>/stat and /proc/<pid>/status (VmHWM); over the same window
                 the broker's CPU seconds, the daemon's main thread's, and the share of the
                 machine's CPU time that was busy (who saturates the cores), the share
                 the hypervisor stole, and the CPU of the broker's and the daemon's threads
                 by thread name. Each figure also gives two gauges of the host taken just
                 before it: host_sha256_64mib_ms (one core hashing 64 MiB) and
                 host_memory_load_ns (bench/bench_memlat.c: a random pointer chase through
                 256 MiB, the kind of wait the daemon's main thread has).
  2. passthrough bench/bench_passthrough.c (librdkafka only: consume, produce unchanged, a
                 transaction every 100 ms with send_offsets_to_transaction) over the same
                 `events` topic; the ratio daemon / pass-through. --rounds timed runs of
                 each, alternating (a daemon round after the first has its own group and
                 internal and output topics); e2e_summary gives the medians, their ratio and
                 each round's.
  3. latency     with the daemon caught up: new appointment events (mostly "was not brought",
                 for new children) offered by kafka-python at --latency-rate per second for
                 --latency-seconds (linger 5 ms, as librdkafka's default; the send time is
                 taken before it); a read_committed kafka-python consumer of `notifications`,
                 in a process of its own, stamps each notification when it becomes visible;
                 latency = visible time - send time of the latest event of its evidence.
                 Default commit interval 100 ms. Unless --cold, an untimed run of the same
                 kind (other children, 40 s) comes first: the broker's JIT compiles the
                 trickle's request paths only when it meets them.
  4. restore     the changelog topped up with synthetic children (real child states copied
                 under new keys, each to the partition the daemon would use) to
                 --restore-children keys in all; a new daemon instance in the same group is
                 timed from exec until its partitions are assigned, and its own log gives each
                 partition's restore time ("restored partition P: N children from R changelog
                 records in T ms").

Environment: NB_BIN (default build/notbrought), NB_PASSTHROUGH (default next to NB_BIN:
bench/bench_passthrough), NB_SOURCE_DIR. The machine's other load skews every figure: run it
alone.
"""
import argparse
import base64
import collections
import hashlib
import io
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import fastavro
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

ROOT = os.environ.get("NB_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
NB_BIN = os.path.abspath(os.environ.get("NB_BIN") or os.path.join(ROOT, "build", "notbrought"))
PASSTHROUGH = os.environ.get("NB_PASSTHROUGH") or os.path.join(
    os.path.dirname(NB_BIN), "bench", "bench_passthrough")
MEMLAT = os.path.join(os.path.dirname(PASSTHROUGH), "bench_memlat")
KAFKA = os.path.join(ROOT, "ops", "kafka")
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from avro_interop import load_registry  # noqa: E402
from drain import DrainTarget  # noqa: E402

GROUP = "notbrought-bench"
HMAC_KEY = "bench-hmac-key-0123456789abcdef"
EVENTS, LINKS = "events", "identity.links"
BY_CHILD, CHANGELOG = "notbrought.by-child", "notbrought.changelog"
POLL_S = 0.2  # the throughput clock's resolution: its start and end are found by polling
LATENCY_WARMUP_S = 40  # the untimed latency run before the timed one (unless --cold)
NOTIFS, DEAD = "notifications", "notbrought.dead-letters"
CLK_TCK = os.sysconf("SC_CLK_TCK")
COMMAND = " ".join(["bench/e2e_throughput.py"] + sys.argv[1:])


def log(msg):
    print(f"e2e_throughput: {msg}", file=sys.stderr, flush=True)


def emit(obj):
    obj["command"] = COMMAND
    print(json.dumps(obj), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, deadline_s, what, interval=0.1):
    end = time.monotonic() + deadline_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise RuntimeError(f"timed out after {deadline_s}s waiting for {what}")
        time.sleep(interval)


def proc_cpu(pid, tid=None, kernel=False):
    """CPU seconds (utime + stime) of a process, or of one of its threads; with @kernel, the
    system (kernel) part alone."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[12]) + (0 if kernel else int(fields[11]))) / CLK_TCK


def thread_cpu(pid):
    """CPU seconds of a process's threads, summed by thread name with digits folded ("G1 Conc#0"
    and "G1 Conc#1" are one group): which of the broker's threads worked."""
    by = collections.Counter()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return by
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = re.sub(r"[0-9]+", "N", text[text.index("(") + 1:text.rindex(")")])
        fields = text.rsplit(")", 1)[1].split()
        by[name] += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return by


def run_delay(pid, tid):
    """Seconds a thread has waited on a run queue (ready, but no core free): schedstat."""
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_cpu():
    """(busy, total, steal) CPU seconds of the whole machine since boot, from /proc/stat.
    Steal is time the hypervisor gave this machine's virtual CPUs to someone else."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle, iowait
    steal = v[7] if len(v) > 7 else 0
    return (sum(v) - idle) / CLK_TCK, sum(v) / CLK_TCK, steal / CLK_TCK


def host_gauges():
    """The host's speed just before a figure, for comparing figures taken in different
    periods: host_sha256_64mib_ms and host_memory_load_ns."""
    return {"host_sha256_64mib_ms": host_speed_ms(), "host_memory_load_ns": host_memory_ns()}


def host_memory_ns():
    """Nanoseconds per load of a random pointer chase through 256 MiB (bench_memlat, next to
    bench_passthrough), or None where it was not built: the daemon's main thread waits on
    cache misses, which a compute-bound gauge does not see."""
    if not os.access(MEMLAT, os.X_OK):
        return None
    out = subprocess.run([MEMLAT], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["ns_per_load"]


def host_speed_ms():
    """Milliseconds one core takes to hash 64 MiB with SHA-256 (best of three), taken with the
    machine otherwise quiet: the same code on the same machine ran at half speed in some
    periods, so each run records how fast the host was while it ran."""
    data = b"\x5a" * (64 << 20)
    best = None
    for _ in range(3):
        t = time.perf_counter()
        hashlib.sha256(data).digest()
        dt = (time.perf_counter() - t) * 1000
        best = dt if best is None else min(best, dt)
    return round(best, 1)


class CpuWindow:
    """CPU used by the broker, by a daemon (all threads, and its main thread) and by the whole
    machine between start() and stop(): who saturates the cores."""

    def __init__(self, broker_pid):
        self.broker_pid = broker_pid

    def start(self, pid=None):
        self.pid = pid
        self.b0 = proc_cpu(self.broker_pid)
        self.bs0 = proc_cpu(self.broker_pid, kernel=True)
        self.bt0 = thread_cpu(self.broker_pid)
        self.d0 = proc_cpu(pid) if pid else 0.0
        self.dt0 = thread_cpu(pid) if pid else None
        self.m0 = proc_cpu(pid, pid) if pid else 0.0
        self.q0 = run_delay(pid, pid) if pid else 0.0
        self.busy0, self.total0, self.steal0 = machine_cpu()

    def stop(self, n_events):
        busy, total, steal = machine_cpu()
        span = max(total - self.total0, 1e-9)
        res = {"broker_cpu_seconds": round(proc_cpu(self.broker_pid) - self.b0, 1),
               "machine_busy_share": round((busy - self.busy0) / span, 3),
               "machine_steal_share": round((steal - self.steal0) / span, 3)}
        res["broker_cpu_per_event_us"] = round(res["broker_cpu_seconds"] / n_events * 1e6, 1)
        res["broker_kernel_cpu_seconds"] = round(proc_cpu(self.broker_pid, kernel=True) - self.bs0, 1)
        bt = thread_cpu(self.broker_pid)
        bt.subtract(self.bt0)
        res["broker_threads_cpu_seconds"] = {k: round(v, 2) for k, v in bt.most_common(6)
                                             if v >= 0.05}
        if self.pid:
            res["main_thread_cpu_seconds"] = round(proc_cpu(self.pid, self.pid) - self.m0, 1)
            res["main_thread_runqueue_seconds"] = round(run_delay(self.pid, self.pid) - self.q0,
                                                        1)
            dt = thread_cpu(self.pid)
            dt.subtract(self.dt0)
            res["daemon_threads_cpu_seconds"] = {k: round(v, 2) for k, v in dt.most_common(6)
                                                 if v >= 0.05}
        return res


def topic_bytes(data_dir):
    """Bytes on the broker's disk by topic (segment files), e.g. what the daemon wrote."""
    out = {}
    for d in os.listdir(data_dir):
        m = re.match(r"(.+)-\d+$", d)
        p = os.path.join(data_dir, d)
        if not m or not os.path.isdir(p) or d.startswith("__cluster_metadata"):
            continue
        n = sum(os.path.getsize(os.path.join(p, f)) for f in os.listdir(p) if f.endswith(".log"))
        out[m.group(1)] = out.get(m.group(1), 0) + n
    return out


class Broker:
    def __init__(self, work, heap):
        port, cport = free_port(), free_port()
        self.state = os.path.join(work, "kafka")
        self.env = dict(os.environ, NB_KAFKA_STATE=self.state,
                        NB_KAFKA_PORT=str(port), NB_KAFKA_CONTROLLER_PORT=str(cport),
                        NB_KAFKA_HEAP=heap)

    def start(self):
        out = subprocess.run([KAFKA, "start", "--fresh"], env=self.env, check=True,
                             capture_output=True, text=True)
        return out.stdout.split()[0]

    def pid(self):
        with open(os.path.join(self.state, "kafka.pid")) as f:
            return int(f.read().split()[0])

    def stop(self):
        subprocess.run([KAFKA, "stop"], env=self.env, check=False, capture_output=True)


class Daemon:
    def __init__(self, work, cfg, bootstrap, name):
        self.log = os.path.join(work, f"daemon-{name}.log")
        self.t0 = time.monotonic()
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [NB_BIN, "run", "--config", cfg, "--bootstrap", bootstrap],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                env=dict(os.environ, NB_HMAC_KEY=HMAC_KEY))

    def lines(self):
        out = []
        with open(self.log, "rb") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def find(self, pattern):
        for o in self.lines():
            m = re.search(pattern, o.get("msg", ""))
            if m:
                return o, m
        return None

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def peak_rss_kb(self, field="VmHWM:"):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
        return None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


WARMUP = "warmup."  # prefix of the warm-up run's group and internal/output topics
OUTPUTS = ["by_child", "changelog", "notifications", "dead_letters", "audit", "acks"]


def write_config(path, bootstrap, partitions, prefix=""):
    """The daemon's configuration; with a prefix, its own group and internal and output
    topics (same inputs), for a run that must not touch the measured one's."""
    pol = os.path.join(ROOT, "config", "policy")
    topics = "".join(f"\n  {k}: {prefix}{k.replace('_', '-')}" for k in OUTPUTS) if prefix else ""
    with open(path, "w") as f:
        f.write(f"""kafka:
  bootstrap_servers: {bootstrap}
  group_id: {prefix}{GROUP}
  instance_id: {prefix}bench-1
  assignment_strategy: range
topics:
  appointments: [{EVENTS}]
  context: {EVENTS}
  partitions: {partitions}{topics}
processing:
  commit_interval_ms: 100{PROCESSING}
policy:
  files: [{pol}/wnb-wales-base.yaml, {pol}/cardiff-and-vale.yaml]
ops:
  log_level: info
  http_port: {METRICS_PORT if not prefix else 0}
""")


METRICS_PORT = 0  # set in main(): the daemon's /metrics, scraped for its commit figures
PROCESSING = ""  # --processing KEY=VALUE: more processing.* keys for every daemon run


def scrape_commits():
    """The daemon's commit latency histogram and commit count from /metrics (cumulative)."""
    out = {"buckets": {}, "sum": 0.0, "count": 0, "commits": 0, "aborts": 0}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        m = re.match(r'notbrought_commit_latency_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            out["buckets"][m.group(1)] = float(m.group(2))
        elif line.startswith("notbrought_commit_latency_seconds_sum "):
            out["sum"] = float(line.split()[1])
        elif line.startswith("notbrought_commit_latency_seconds_count "):
            out["count"] = int(float(line.split()[1]))
        elif line.startswith('notbrought_transactions_total{result="commit"}'):
            out["commits"] = int(float(line.split()[1]))
        elif line.startswith('notbrought_transactions_total{result="abort"}'):
            out["aborts"] = int(float(line.split()[1]))
    return out


def commit_figures(a, b):
    """Commit figures between two scrapes: count, mean, and the 99th percentile's bucket."""
    if not a or not b or b["count"] <= a["count"]:
        return {}
    n = b["count"] - a["count"]
    p99 = None
    for le in sorted(b["buckets"], key=lambda x: float("inf") if x == "+Inf" else float(x)):
        if b["buckets"][le] - a["buckets"].get(le, 0) >= 0.99 * n:
            p99 = le
            break
    return {"commits": n, "commit_mean_ms": round((b["sum"] - a["sum"]) / n * 1000, 1),
            "commit_p99_le_s": p99, "commit_seconds": round(b["sum"] - a["sum"], 2)}


def round_prefix(r):
    """Prefix of the group and internal/output topics of throughput round @r (r >= 2)."""
    return f"round{r}."


def create_topics(bootstrap, partitions, rounds):
    # Made here rather than with `notbrought topics`: one topic for appointments and context
    # is listed twice in its CreateTopics request (see docs/benchmarks.md).
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    compact = {"cleanup.policy": "compact"}
    admin.create_topics([
        NewTopic(EVENTS, partitions, 1), NewTopic(LINKS, 1, 1, topic_configs=compact),
        NewTopic(BY_CHILD, partitions, 1),
        NewTopic(CHANGELOG, partitions, 1, topic_configs=compact),
        NewTopic(NOTIFS, partitions, 1), NewTopic(DEAD, 1, 1), NewTopic("notbrought.audit", 1, 1),
        NewTopic("notification.acks", 1, 1), NewTopic("passthrough.out", partitions, 1),
        NewTopic("warmup.out", partitions, 1)] + [
        t for r in range(2, rounds + 1)
        for t in [NewTopic(f"passthrough{r}.out", partitions, 1)]] + [
        t for prefix in [WARMUP] + [round_prefix(r) for r in range(2, rounds + 1)]
        for t in [NewTopic(prefix + "by-child", partitions, 1),
                  NewTopic(prefix + "changelog", partitions, 1, topic_configs=compact),
                  NewTopic(prefix + "notifications", partitions, 1),
                  NewTopic(prefix + "dead-letters", 1, 1), NewTopic(prefix + "audit", 1, 1),
                  NewTopic(prefix + "acks", 1, 1)]])
    keep_old(admin)
    admin.close()


def keep_old(admin):
    """Sample events carry their event time as the Kafka timestamp, years in the past: with
    the default retention.ms (7 days) and segment.ms, the broker rolls a segment whenever the
    timestamps jump by a week and deletes closed segments at its first retention check (30 s
    after start), under the daemon's feet. Keep everything."""
    res = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, EVENTS, configs={
        "retention.ms": "-1", "segment.ms": str(10 * 365 * 86400 * 1000)})],
        raise_on_unknown=False)
    if res.get("topic", {}).get(EVENTS) != "OK":
        raise SystemExit(f"e2e_throughput: could not keep {EVENTS}'s records: {res}")


def split_sample(src, links_path, events_path):
    """Record file -> links file and events file (every other record, re-targeted to
    `events`). Returns (links, events)."""
    n_links = n_events = 0
    with open(src) as f, open(links_path, "w") as fl, open(events_path, "w") as fe:
        for line in f:
            if line.startswith('{"topic":"identity.links"'):
                fl.write(line)
                n_links += 1
            else:
                fe.write('{"topic":"events"' + line[line.index('",') + 1:])
                n_events += 1
    return n_links, n_events


def notbrought_produce(cfg, bootstrap, path):
    t = time.monotonic()
    subprocess.run([NB_BIN, "produce", "--config", cfg, "--bootstrap", bootstrap, path],
                   check=True, capture_output=True, env=dict(os.environ, NB_HMAC_KEY=HMAC_KEY))
    return time.monotonic() - t


class Offsets:
    """End offsets (read_committed) and the group's committed offsets."""

    def __init__(self, bootstrap, partitions, prefix=""):
        self.c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                               isolation_level="read_committed")
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self.group = prefix + GROUP
        by_child = prefix + "by-child" if prefix else BY_CHILD
        self.ev = [TopicPartition(EVENTS, p) for p in range(partitions)]
        self.bc = [TopicPartition(by_child, p) for p in range(partitions)]
        self.drain = DrainTarget(self.ev, self.bc)

    def drained(self):
        """Whether the backlog is drained (tests/e2e/drain.py), and how many `events` offsets
        are committed."""
        ends = self.c.end_offsets(self.ev + self.bc)
        try:
            got = self.admin.list_group_offsets(self.group).get(self.group) or {}
        except Exception:
            return False, 0
        com = {(tp.topic, tp.partition): om.offset for tp, om in got.items()}
        done = sum(max(0, com.get((tp.topic, tp.partition), 0)) for tp in self.ev)
        return self.drain.reached(ends, com), done

    def close(self):
        self.c.close()
        self.admin.close()


# ---- 1. throughput ------------------------------------------------------------------------

def bench_throughput(work, cfg, bs, partitions, n_events, broker_pid, prefix="",
                     name="throughput"):
    gauges = host_gauges()
    off = Offsets(bs, partitions, prefix)
    d = Daemon(work, cfg, bs, name)
    win = CpuWindow(broker_pid)
    t_assigned = None
    progress = []
    while True:
        if d.proc.poll() is not None:
            raise RuntimeError(f"daemon exited {d.proc.returncode}; see {d.log}")
        now = time.monotonic()
        if t_assigned is None and d.find(r"^assigned \d+ partitions"):
            t_assigned = now
            win.start(d.proc.pid)
            own0 = os.times()
        ok, done = off.drained()
        progress.append((now - d.t0, done))
        if ok:
            break
        if now - d.t0 > 900:
            raise RuntimeError("backlog not drained in 15 minutes")
        time.sleep(POLL_S)
    t_done = time.monotonic()
    cpu, rss = d.cpu_seconds(), d.peak_rss_kb()
    shares = win.stop(n_events) if t_assigned is not None else {}
    if t_assigned is not None:
        # This script's own CPU over the window (it polls the group's offsets): it shares
        # the two cores with the daemon and the broker.
        shares["bench_cpu_seconds"] = round(sum(os.times()[:2]) - sum(own0[:2]), 1)
    written = topic_bytes(os.path.join(work, "kafka", "data"))
    shares["topic_mb"] = {t: round(n / 1e6, 1) for t, n in sorted(written.items())
                          if not t.startswith("__")}
    commits = commit_figures({"buckets": {}, "sum": 0.0, "count": 0},
                             scrape_commits()) if not prefix else {}
    off.close()
    # When the first transaction committed (processing under way) and the links load time.
    links = d.find(r"identity table loaded: (\d+) links in (\d+) ms")
    busy = t_done - (t_assigned or d.t0)
    res = {"bench": "e2e_throughput", "events": n_events, "partitions": partitions,
           "seconds": round(busy, 2), "seconds_from_exec": round(t_done - d.t0, 2),
           "events_per_sec": round(n_events / busy),
           "cpu_seconds": round(cpu, 1), "cpu_per_event_us": round(cpu / n_events * 1e6, 1),
           "peak_rss_mb": round(rss / 1024, 1),
           "identity_links": int(links[1].group(1)) if links else None,
           "identity_load_ms": int(links[1].group(2)) if links else None,
           "poll_interval_s": POLL_S, **gauges, **commits, **shares}
    log(f"{name}: {res}")
    return d, res


# ---- 2. pass-through -----------------------------------------------------------------------

def bench_passthrough(bs, n, broker_pid, group="bench-passthrough", output="passthrough.out"):
    gauges = host_gauges()
    win = CpuWindow(broker_pid)
    win.start()
    out = subprocess.run([PASSTHROUGH, "--bootstrap", bs, "--input", EVENTS, "--output",
                          output, "--group", group, "--commit-ms",
                          "100"], check=True, capture_output=True, text=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(win.stop(n))
    res.update(gauges)
    log(f"passthrough: {res}")
    return res


# ---- 3. latency ----------------------------------------------------------------------------

def bench_latency(work, bs, rate, seconds, now_iso, broker_pid, seed=99):
    reg = load_registry(os.path.join(ROOT, "schemas"))
    path = os.path.join(work, f"latency{seed}.jsonl")
    children = max(200, int(rate * seconds / 7))
    subprocess.run([NB_BIN, "generate", "--children", str(children), "--seed", str(seed),
                    "--missed-share", "0.8", "--local-id-share", "0", "--malformed", "0",
                    "--now", now_iso, "-o", path], check=True)
    recs = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["topic"] in ("identity.links",):
                continue
            data = base64.b64decode(r["value"])
            (sid,) = struct.unpack(">i", data[1:5])
            v = fastavro.schemaless_reader(io.BytesIO(data[5:]), reg[sid], reg[sid])
            recs.append((r["key"].encode(), data, evidence_id(v["event_id"]),
                         (v.get("subject") or {}).get("nhs_number") or v.get("nhs_number")))
    recs = recs[: int(rate * seconds)]
    sent = {}
    # The reader runs in a process of its own: in a thread of this one it shared the GIL with
    # the producer's loop and its sender thread, and its stamps waited for them.
    stop = multiprocessing.Event()
    ready = multiprocessing.Event()
    count = multiprocessing.Value("l", 0)
    got, give = multiprocessing.Pipe(duplex=False)
    th = multiprocessing.Process(target=latency_reader, args=(bs, stop, ready, count, give),
                                 daemon=True)
    th.start()
    give.close()
    if not ready.wait(60):
        raise RuntimeError("the latency reader did not start")
    p = KafkaProducer(bootstrap_servers=bs, acks="all", linger_ms=5)
    gauges = host_gauges()
    before = scrape_commits()
    win = CpuWindow(broker_pid)
    win.start()
    gen0 = os.times()
    t0 = time.time()
    child_sends = collections.defaultdict(list)  # NHS number -> send times, in order
    for i, (key, data, eid, nhs) in enumerate(recs):
        due = t0 + i / rate
        d = due - time.time()
        if d > 0:
            time.sleep(d)
        sent[eid] = time.time()
        if nhs:
            child_sends[nhs].append(sent[eid])
        p.send(EVENTS, key=key, value=data)
    p.flush()
    offered = len(recs) / (time.time() - t0)
    end = time.time() + 10
    last = -1
    while time.time() < end and count.value != last:  # until no new notification for 2 s
        last = count.value
        time.sleep(2)
    stop.set()
    seen = got.recv()
    th.join()
    shares = win.stop(len(recs))
    gen1 = os.times()
    # The load generator's own CPU (this process and the reader): it shares the two cores.
    shares["load_generator_cpu_seconds"] = round(
        sum(gen1[:4]) - sum(gen0[:4]), 1)
    p.close()
    commits = commit_figures(before, scrape_commits())
    lat, lat_ts, slow = [], [], []
    for t_vis, ts, value in seen:
        v = _notification(value)
        ids = [e["event_id"] for e in v["evidence"] if e["event_id"] in sent]
        if not ids or v["kind"] != "new":
            continue
        trigger = max(sent[e] for e in ids)
        lat.append((t_vis - trigger) * 1000)
        lat_ts.append(ts - trigger * 1000)
        # The child's records sent after its latest evidence and before the notification was
        # seen (a correction or a context fact may be what raised it): the latest one's time.
        nhs = v["child"].get("nhs_number") or v["child"].get("pregnant_person_nhs_number")
        later = [t for t in child_sends.get(nhs, ()) if trigger < t < t_vis]
        slow.append((lat[-1], v["rule"]["id"], v["tier"], len(v["evidence"]),
                     round(trigger - t0, 2), len(later),
                     round(later[-1] - t0, 2) if later else None,
                     (t_vis - (later[-1] if later else trigger)) * 1000))
    # What the slowest waited for: the rule (an absence rule fires at the sources' watermark,
    # not at its latest evidence), and when in the round its latest evidence was sent.
    slow.sort(reverse=True)
    slowest = [{"ms": round(ms, 1), "rule": rule, "tier": tier, "evidence": n,
                "sent_at_s": at, "child_records_after": k, "last_child_record_at_s": last,
                "ms_from_last_child_record": round(last_ms, 1)}
               for ms, rule, tier, n, at, k, last, last_ms in slow[:5]]
    # An absence rule (one with `expect:`) fires when the sources' least watermark passes its
    # deadline, which the send of its evidence does not cause: its latency from that send
    # measures the feed's order, not the daemon. The stall goal reads the other rules'.
    absence = absence_rules()
    by_evidence = sorted(ms for ms, rule, *_ in slow if rule not in absence)
    at_watermark = sorted(ms for ms, rule, *_ in slow if rule in absence)
    # A notification of a rule decided on its evidence may be raised by a later record of its
    # child that is not evidence (the rule decided again over it): from the latest record of
    # the child sent before it was seen, the daemon's own delay (a lower bound).
    by_record = sorted(x[-1] for x in slow if x[1] not in absence)
    log(f"latency: {len(recs)} events sent, {len(seen)} notifications seen, {len(lat)} "
        f"with evidence among the events sent")
    if seen and not lat:
        v = _notification(seen[0][2])
        log(f"latency: e.g. {v['kind']} evidence {[e['event_id'] for e in v['evidence']]}; "
            f"sent e.g. {list(sent)[:3]}")
    lat.sort()
    lat_ts.sort()

    def pct(a, q):
        return round(a[min(len(a) - 1, int(q * len(a)))], 1) if a else None
    res = {"bench": "e2e_latency", "offered_events": len(recs),
           "offered_per_sec": round(offered), "notifications_measured": len(lat),
           "commit_interval_ms": 100, "p50_ms": pct(lat, 0.5), "p90_ms": pct(lat, 0.9),
           "p99_ms": pct(lat, 0.99), "max_ms": round(lat[-1], 1) if lat else None,
           "slowest": slowest,
           "evidence_rules": {"n": len(by_evidence), "p99_ms": pct(by_evidence, 0.99),
                              "max_ms": round(by_evidence[-1], 1) if by_evidence else None,
                              "p99_ms_from_last_child_record": pct(by_record, 0.99),
                              "max_ms_from_last_child_record":
                                  round(by_record[-1], 1) if by_record else None},
           "absence_rules": {"n": len(at_watermark), "p50_ms": pct(at_watermark, 0.5),
                             "max_ms": round(at_watermark[-1], 1) if at_watermark else None},
           "p50_produced_ms": pct(lat_ts, 0.5), "p99_produced_ms": pct(lat_ts, 0.99),
           "measure": "send of the latest evidence event -> notification visible to a "
                      "read_committed consumer (same host clock); *_produced_ms: -> the "
                      "notification record's CreateTime",
           **gauges, **commits, **shares}
    log(f"latency: {res}")
    return res


def absence_rules():
    """The ids of the benchmark policy's absence rules (a rule with an `expect:` block), by a
    scan of its YAML lines (no YAML library in the benchmark's environment)."""
    ids, rule = set(), None
    for name in ("wnb-wales-base.yaml", "cardiff-and-vale.yaml"):
        with open(os.path.join(ROOT, "config", "policy", name)) as f:
            for line in f:
                m = re.match(r"^  - id: *([A-Za-z0-9_]+)", line)
                if m:
                    rule = m.group(1)
                elif re.match(r"^[A-Za-z_]", line):
                    rule = None  # a new top-level section: no longer in a rule
                elif rule and re.match(r"^    expect:", line):
                    ids.add(rule)
    return ids


def latency_reader(bs, stop, ready, count, give):
    """The latency phase's read_committed consumer of the notifications (its own process):
    counts what it reads in @count and, once stopped, sends [(time seen, record CreateTime,
    value)]."""
    c = KafkaConsumer(bootstrap_servers=bs, group_id=None, isolation_level="read_committed",
                      fetch_max_wait_ms=100, fetch_min_bytes=1)
    parts = [TopicPartition(NOTIFS, p) for p in sorted(c.partitions_for_topic(NOTIFS))]
    c.assign(parts)
    c.seek_to_end(*parts)
    for tp in parts:
        c.position(tp)
    ready.set()
    seen = []
    while not stop.is_set():
        for tp, msgs in c.poll(timeout_ms=50).items():
            t = time.time()
            seen.extend((t, m.timestamp, m.value) for m in msgs)
        count.value = len(seen)
    c.close()
    give.send(seen)


_PLAIN = {}


def evidence_id(event_id):
    """How a notification's evidence names an event: nb_ledger_id_hash() (the first 8 bytes
    of SHA-256, little-endian) as "sha256:%016x"."""
    h = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:8], "little")
    return f"sha256:{h:016x}"


def _notification(value):
    """A notification record decoded with the schema its framing names (Notification v1 is
    id 4, v2 id 7: the daemon writes the newest version in schemas/registry.tsv)."""
    (sid,) = struct.unpack(">i", value[1:5])
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), _plain(sid), _plain(sid))


def _plain(sid):
    """Schema @sid of schemas/registry.tsv without logical types (some fields carry
    sentinels fastavro cannot turn into datetimes; see docs/benchmarks.md)."""
    if sid not in _PLAIN:
        fname = None
        with open(os.path.join(ROOT, "schemas", "registry.tsv")) as f:
            for line in f:
                if line.strip() and not line.startswith("#") and int(line.split()[0]) == sid:
                    fname = line.split()[3]
        if fname is None:
            raise RuntimeError(f"a notification names schema id {sid}, not in the registry")
        with open(os.path.join(ROOT, "schemas", fname)) as f:
            raw = json.load(f)

        def strip(x):
            if isinstance(x, dict):
                return {k: strip(v) for k, v in x.items() if k != "logicalType"}
            if isinstance(x, list):
                return [strip(v) for v in x]
            return x
        _PLAIN[sid] = fastavro.parse_schema(strip(raw))
    return _PLAIN[sid]


# ---- 4. restore ----------------------------------------------------------------------------

def restore_figures(d):
    """Per-partition counts ("restored partition P: N children from R changelog records") and
    the time of the one pass that restores every assigned partition together ("restored K
    partitions in T ms"), summed over the passes (one per rebalance); the last pass's memory
    ("the state holds N keys in B bytes": the daemon's own count of what it allocated)."""
    parts, total_ms, state = [], 0, None
    for o in d.lines():
        msg = o.get("msg", "")
        m = re.match(r"restored partition (\d+): (\d+) children from (\d+) changelog records",
                     msg)
        if m:
            parts.append(tuple(int(x) for x in m.groups()))
        m = re.match(r"restored (\d+) partitions in (\d+) ms", msg)
        if m:
            total_ms += int(m.group(2))
        m = re.search(r"the state holds (\d+) keys in (\d+) bytes", msg)
        if m:
            state = (int(m.group(1)), int(m.group(2)))
    return parts, total_ms, state


def run_restore(work, cfg, bs, name):
    d = Daemon(work, cfg, bs, name)
    wait_for(lambda: d.find(r"^assigned \d+ partitions") or d.proc.poll() is not None, 600,
             "the partitions to be assigned", 0.02)
    t_assigned = time.monotonic() - d.t0
    parts, restore_ms, state = restore_figures(d)
    links = d.find(r"identity table loaded: (\d+) links in (\d+) ms")
    rss, rss_now = d.peak_rss_kb(), d.peak_rss_kb("VmRSS:")
    rc = d.stop()
    return {"children": sum(p[1] for p in parts), "records": sum(p[2] for p in parts),
            "restore_ms": restore_ms, "partitions": len(parts),
            "state_keys": state[0] if state else None,
            "state_bytes_per_key": round(state[1] / state[0], 1) if state and state[0] else None,
            "rss_after_restore_mb": round(rss_now / 1024, 1) if rss_now else None,
            "exec_to_assigned_s": round(t_assigned, 2),
            "identity_load_ms": int(links[1].group(2)) if links else None,
            "peak_rss_mb": round(rss / 1024, 1) if rss else None, "exit": rc}


def top_up_changelog(bs, partitions, want):
    """Copies real child states (sampled from the changelog) under new random keys, each to
    the partition the daemon's own partitioner gives it, until `want` keys."""
    c = KafkaConsumer(bootstrap_servers=bs, group_id=None, isolation_level="read_committed",
                      auto_offset_reset="earliest", consumer_timeout_ms=3000)
    tp = TopicPartition(CHANGELOG, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    samples = []
    for m in c:
        if m.value and m.value[:5] == b"NBS\x01\x01":  # a child's state
            samples.append(m.value)
        if len(samples) >= 5000:
            break
    c.close()
    if not samples:
        raise RuntimeError("no child state in the changelog to copy")
    rng = random.Random(3)
    p = KafkaProducer(bootstrap_servers=bs, acks=1, linger_ms=50, batch_size=512 * 1024,
                      max_request_size=4 * 1024 * 1024)
    t = time.monotonic()
    for i in range(want):
        key = rng.getrandbits(256).to_bytes(32, "big")
        part = int.from_bytes(key[:4], "big") % partitions  # nb__partition_of()
        p.send(CHANGELOG, key=key.hex().encode(), value=samples[i % len(samples)],
               partition=part)
    p.flush()
    p.close()
    size = sum(len(s) for s in samples) / len(samples)
    log(f"changelog topped up with {want} synthetic children (mean state {size:.0f} bytes) in "
        f"{time.monotonic() - t:.0f}s")
    return size


# ---- main ----------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--children", type=int, default=130000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--latency-rate", type=int, default=1000)
    ap.add_argument("--latency-seconds", type=int, default=30)
    ap.add_argument("--restore-children", type=int, default=1000000)
    ap.add_argument("--heap", default="768m")
    ap.add_argument("--rounds", type=int, default=3,
                    help="timed daemon and pass-through runs, alternating (each daemon round "
                    "after the first with its own group and internal/output topics); the "
                    "ratio is that of their medians")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--processing", action="append", default=[], metavar="KEY=VALUE",
                    help="a processing.* setting for every daemon run (repeatable), e.g. "
                    "decode_ahead=false for an A/B of one setting")
    ap.add_argument("--cold", action="store_true",
                    help="no untimed warm-up of the broker (backlog and latency runs) before the "
                    "timed runs")
    ap.add_argument("--only", choices=["throughput", "latency", "passthrough", "restore"],
                    action="append", help="run only these figures (repeatable; the backlog "
                    "is always produced; latency needs throughput's daemon)")
    args = ap.parse_args()
    global METRICS_PORT, PROCESSING
    METRICS_PORT = free_port()
    for kv in args.processing:
        k, sep, v = kv.partition("=")
        if not sep or not re.fullmatch(r"[a-z_]+", k):
            sys.exit(f"e2e_throughput: --processing wants KEY=VALUE, not {kv!r}")
        PROCESSING += f"\n  {k}: {v}"
    want = set(args.only or ["throughput", "latency", "passthrough", "restore"])
    if "latency" in want:
        want.add("throughput")
    for path in (NB_BIN, PASSTHROUGH):
        if not os.access(path, os.X_OK):
            sys.exit(f"e2e_throughput: {path} missing (build notbrought and bench_passthrough)")
    work = tempfile.mkdtemp(prefix="nb-bench.")
    broker = Broker(work, args.heap)
    now_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    daemon = None
    t_all = time.monotonic()
    try:
        subprocess.run([KAFKA, "fetch"], check=True, capture_output=True)
        t = time.monotonic()
        sample = os.path.join(work, "sample.jsonl")
        subprocess.run([NB_BIN, "generate", "--children", str(args.children), "--seed", "7",
                        "--malformed", "0", "--now", now_iso, "-o", sample], check=True)
        links_path, events_path = os.path.join(work, "links.jsonl"), os.path.join(work,
                                                                                 "events.jsonl")
        n_links, n_events = split_sample(sample, links_path, events_path)
        os.unlink(sample)
        log(f"sample: {n_events} events, {n_links} links ({time.monotonic() - t:.0f}s)")
        bs = broker.start()
        cfg = os.path.join(work, "notbrought.yaml")
        write_config(cfg, bs, args.partitions)
        create_topics(bs, args.partitions, args.rounds)
        s_links = notbrought_produce(cfg, bs, links_path)
        s_events = notbrought_produce(cfg, bs, events_path)
        log(f"backlog produced: {n_links} links in {s_links:.1f}s, {n_events} events in "
            f"{s_events:.1f}s ({n_events / s_events:.0f}/s)")
        os.unlink(events_path)

        thr = lat = pt = None
        if not args.cold:
            # The broker's JVM compiles its hot paths during the first minutes (its C2
            # compiler threads took more CPU than its request handlers in the first timed
            # run): untimed runs of both kinds over the backlog first, the pass-through and
            # the daemon (own group, own internal and output topics), so that neither timed
            # run pays for the broker's warm-up. A long-running broker is warm.
            t = time.monotonic()
            bench_passthrough(bs, n_events, broker.pid(), "bench-warmup", "warmup.out")
            wcfg = os.path.join(work, "warmup.yaml")
            write_config(wcfg, bs, args.partitions, WARMUP)
            warm = Daemon(work, wcfg, bs, "warmup")
            woff = Offsets(bs, args.partitions, WARMUP)
            wait_for(lambda: warm.proc.poll() is not None or woff.drained()[0], 900,
                     "the warm-up daemon to drain the backlog", interval=0.5)
            woff.close()
            warm.stop()
            log(f"broker warmed up ({time.monotonic() - t:.0f}s)")
        if "throughput" in want:
            daemon, thr = bench_throughput(work, cfg, bs, args.partitions, n_events,
                                           broker.pid())
            if "latency" in want:
                if not args.cold:
                    # The broker's JIT compiles the paths of a trickle of small requests only
                    # when it meets them: in a first latency run after the backlogs its
                    # compiler threads took 8-14 CPU seconds and the 99th percentile doubled.
                    # An untimed run of the same kind (other children) first.
                    t = time.monotonic()
                    bench_latency(work, bs, args.latency_rate, LATENCY_WARMUP_S, now_iso,
                                  broker.pid(), seed=98)
                    log(f"latency path warmed up ({time.monotonic() - t:.0f}s)")
                lat = bench_latency(work, bs, args.latency_rate, args.latency_seconds, now_iso,
                                    broker.pid())
            thr["exit"] = daemon.stop()
            daemon = None
            emit(thr)
            if lat:
                emit(lat)

        if "passthrough" in want:
            pt = bench_passthrough(bs, n_events, broker.pid())
            pt["bench"] = "e2e_passthrough"
            if thr:
                ratio = thr["events_per_sec"] / pt["events_per_sec"]
                pt.update({"daemon_events_per_sec": thr["events_per_sec"],
                           "ratio": round(ratio, 3)})
            emit(pt)
        # More rounds of both, alternating: the pass-through's figure rests on a dozen commits
        # and spreads by +-10 % from run to run, so the ratio compares medians.
        d_eps = [thr["events_per_sec"]] if thr else []
        p_eps = [pt["events_per_sec"]] if pt else []
        for r in range(2, args.rounds + 1):
            if thr:
                rcfg = os.path.join(work, f"round{r}.yaml")
                write_config(rcfg, bs, args.partitions, round_prefix(r))
                rd, rthr = bench_throughput(work, rcfg, bs, args.partitions, n_events,
                                            broker.pid(), round_prefix(r), f"round{r}")
                rthr["exit"] = rd.stop()
                rthr["round"] = r
                d_eps.append(rthr["events_per_sec"])
                emit(rthr)
            if pt:
                rpt = bench_passthrough(bs, n_events, broker.pid(), f"bench-passthrough-{r}",
                                        f"passthrough{r}.out")
                rpt.update({"bench": "e2e_passthrough", "round": r})
                if thr:
                    rpt.update({"daemon_events_per_sec": d_eps[-1],
                                "ratio": round(d_eps[-1] / rpt["events_per_sec"], 3)})
                p_eps.append(rpt["events_per_sec"])
                emit(rpt)
        if thr and pt:
            d_med, p_med = statistics.median(d_eps), statistics.median(p_eps)
            summary = {"bench": "e2e_summary", "events": n_events, "rounds": len(d_eps),
                       "events_per_sec": round(d_med),
                       "events_per_sec_rounds": d_eps,
                       "passthrough_events_per_sec": round(p_med),
                       "passthrough_events_per_sec_rounds": p_eps,
                       "ratio": round(d_med / p_med, 3),
                       "ratio_rounds": [round(a / b, 3) for a, b in zip(d_eps, p_eps)]}
            if lat:
                summary.update({"p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"]})
            emit(summary)
        if "restore" not in want or not thr:
            # The restore figures restore what the throughput run left behind.
            log(f"done in {time.monotonic() - t_all:.0f}s")
            return

        # 4. restore: first what the run left, then topped up to --restore-children keys.
        r1 = run_restore(work, cfg, bs, "restore-1")
        r1.update({"bench": "e2e_restore", "synthetic_children": 0})
        emit(r1)
        add = args.restore_children - r1["children"]
        if add > 0:
            size = top_up_changelog(bs, args.partitions, add)
            r2 = run_restore(work, cfg, bs, "restore-2")
            r2.update({"bench": "e2e_restore", "synthetic_children": add,
                       "synthetic_state_bytes": round(size)})
            emit(r2)
        log(f"done in {time.monotonic() - t_all:.0f}s")
    finally:
        if daemon is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
        broker.stop()
        if args.keep:
            log(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
