#!/usr/bin/env python3
"""End-to-end proof of exactly-once processing on a real Apache Kafka broker (KRaft).

The daemon (`notbrought run`) is SIGKILLed at random points, many times, while it processes a
sample; its outputs, read back with an independent client (kafka-python, read_committed) and
decoded with an independent Avro implementation (fastavro), must hold every notification and
every dead letter exactly once, and must equal the outputs of an undisturbed run over the
same input on a fresh broker.

Why one single-partition input topic ("events"): a stateful stream's outputs depend on the
order in which each child's events reach it. With every appointment event and context fact in
one partition, each child's input order is fixed, so the undisturbed run is a valid reference
for the disturbed one (tests/integration/test_stream.c explains the same choice).

Steps, for each of the two runs (a fresh broker each, via ops/kafka, on free ports):
  1. `notbrought topics` with a test configuration (events on one topic, 4 by-child and
     changelog partitions, 100 ms commit interval, the Cardiff and Vale policy).
  2. Early identity links (kafka-python), then the daemon, then every event and some poison
     records of our own; then the late links (their events were parked until now).
  3. Faulted run only: kill -9 at random (seeded) points at least 10 times while events are
     processed -- some while the daemon starts, joins or restores its state, some mid-batch --
     restarting at once each time; then a couple more kills after the late links.
  4. Wait (polling, with a deadline) until the daemon has consumed everything and the output
     topics stop changing; SIGTERM, which must exit 0.
  5. Read `notifications` and `notbrought.dead-letters` read_committed: every
     (notification_id, kind) exactly once; every malformed or poisoned record dead-lettered
     exactly once with its original bytes, the right error code and the source headers.
  6. The consumer group's committed offset on `events` equals its end offset (Kafka's own
     ConsumerGroupCommand and kafka-python's admin client).
Finally the two runs' multisets of (notification_id, kind) and of dead letters (source offset,
error code) must be equal.

Environment: NB_BIN (the notbrought binary), NB_SOURCE_DIR (the repository), NB_PYTHON (not
needed here: this script runs under it), NB_E2E_SEED (kill schedule seed, default 20250605),
NB_E2E_KILLS (kills while events flow, default 12), NB_E2E_KEEP=1 (keep the work dir).
Prints `exactly_once: N passed, N failed` last; exit status 0 only if nothing failed.
"""
import base64
import collections
import copy
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import fastavro
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

ROOT = os.environ.get("NB_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NB_BIN = os.environ.get("NB_BIN") or os.path.join(ROOT, "build", "notbrought")
KAFKA = os.path.join(ROOT, "ops", "kafka")
SEED = int(os.environ.get("NB_E2E_SEED", "20250605"))
KILLS = int(os.environ.get("NB_E2E_KILLS", "12"))
KEEP = os.environ.get("NB_E2E_KEEP") == "1"

sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
from avro_interop import load_registry, unframe  # noqa: E402  (fastavro helpers)

DAY_MS = 86400 * 1000
GROUP = "notbrought-e2e"
INSTANCE = "nb-e2e-1"
HMAC_KEY = "e2e-exactly-once-hmac-key-0123456789"
PARTITIONS = 4
TOPIC_EVENTS = "events"
TOPIC_LINKS = "identity.links"
TOPIC_BY_CHILD = "notbrought.by-child"
TOPIC_CHANGELOG = "notbrought.changelog"
TOPIC_NOTIFS = "notifications"
TOPIC_DEAD = "notbrought.dead-letters"
NOTIFICATION_SCHEMA_ID = None  # the newest Notification in schemas/registry.tsv (set in main)
PLAIN_NOTIFICATION = None  # its schema without its logical types (set in main)
DL_HEADERS = ("nb.error.code", "nb.error.message", "nb.source.topic", "nb.source.partition",
              "nb.source.offset")

PASSED = 0
FAILED = 0


def say(msg):
    print(f"exactly_once: {msg}", file=sys.stderr, flush=True)


def check(cond, msg, detail=None):
    """Records one assertion; never stops the test (the final line counts them)."""
    global PASSED, FAILED
    if cond:
        PASSED += 1
        say(f"ok - {msg}")
    else:
        FAILED += 1
        say(f"FAIL - {msg}" + (f": {detail}" if detail else ""))
    return cond


class Fatal(Exception):
    """A step that the rest of the test cannot go on without failed."""


def wait_for(cond, deadline_s, what, interval=0.1):
    """Polls cond() until it returns a true value or the deadline passes (then raises)."""
    end = time.monotonic() + deadline_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise Fatal(f"timed out after {deadline_s}s waiting for {what}")
        time.sleep(interval)


def strip_logical(schema):
    if isinstance(schema, dict):
        return {k: strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical(v) for v in schema]
    return schema


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the sample ------------------------------------------------------------------------------

def generate_sample(work, now_iso):
    path = os.path.join(work, "sample.jsonl")
    subprocess.run([NB_BIN, "generate", "--children", "400", "--seed", "5", "--missed-share",
                    "0.3", "--malformed", "20", "--now", now_iso, "-o", path], check=True)
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    for r in recs:
        r["bytes"] = base64.b64decode(r["value"])
    return path, recs


def decode_verdicts(sample_path, now_iso):
    """notbrought's own verdict per record of the sample (1-based record number -> error code
    or None): the expected dead letters among the generated (deliberately malformed) records."""
    out = subprocess.run([NB_BIN, "decode", "--format", "json", "--now", now_iso, sample_path],
                         check=False, capture_output=True, text=True)
    verdicts = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            o = json.loads(line)
            verdicts[o["record"]] = o.get("error") if o["result"] != "ok" else None
    return verdicts


def nhs_check_digit_ok(nhs):
    if not re.fullmatch(r"\d{10}", nhs):
        return False
    total = sum(int(d) * (10 - i) for i, d in enumerate(nhs[:9]))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(nhs[9])


def make_poison(reg, events, link):
    """Our own bad records, with the error code each must be dead-lettered with."""
    appt = next(e for e in events
                if e["bytes"][:5] == b"\x00\x00\x00\x00\x01" and _nhs_of(reg, e["bytes"]))
    value = unframe(reg, appt["bytes"])
    nhs = value["subject"]["nhs_number"]
    bad = None
    for d in "0123456789":
        cand = nhs[:9] + d
        if cand != nhs and not nhs_check_digit_ok(cand):
            bad = cand
            break
    v2 = copy.deepcopy(value)
    v2["subject"]["nhs_number"] = bad
    v2["event_id"] = value["event_id"] + "-poison-check-digit"
    body = io.BytesIO()
    fastavro.schemaless_writer(body, reg[1], value)
    bad_body = io.BytesIO()
    fastavro.schemaless_writer(bad_body, reg[1], v2)
    ts = appt["timestamp"]
    return [
        # Garbage bytes (not a Confluent frame).
        ({"key": "poison-garbage", "bytes": b"\xde\xad\xbe\xef this is not avro \xff\x00",
          "timestamp": ts}, "frame_magic"),
        # A Confluent frame with a schema id the registry does not know.
        ({"key": "poison-unknown-schema", "bytes": b"\x00" + struct.pack(">i", 999)
          + body.getvalue(), "timestamp": ts}, "schema_unknown"),
        # Valid Avro (written by fastavro) with invalid content: the NHS check digit.
        ({"key": "poison-check-digit", "bytes": b"\x00" + struct.pack(">i", 1)
          + bad_body.getvalue(), "timestamp": ts}, "nhs_check_digit"),
        # A record with no value at all.
        ({"key": "poison-null", "bytes": None, "timestamp": ts}, "frame_truncated"),
        # A valid identity link on the events topic, which takes events and facts only.
        ({"key": "poison-link-on-events", "bytes": link["bytes"], "timestamp": ts},
         "schema_mismatch"),
    ]


def _nhs_of(reg, data):
    try:
        v = unframe(reg, data)
    except Exception:
        return None
    subj = v.get("subject") or {}
    return subj.get("nhs_number") if subj.get("kind") == "child" else None


def split_sample(recs, verdicts, now_ms, reg):
    """early links, events (re-targeted to `events`, with poison mixed in), late links, and the
    expected dead letters by position in `events`."""
    split = now_ms - 25 * DAY_MS
    early, events, late = [], [], []
    expect_codes = []  # parallel to events
    for i, r in enumerate(recs, start=1):
        if r["topic"] == TOPIC_LINKS:
            (early if r["timestamp"] < split else late).append(r)
        else:
            events.append({"key": r["key"], "bytes": r["bytes"], "timestamp": r["timestamp"],
                           "origin": r["topic"]})
            expect_codes.append(verdicts.get(i))
    poison = make_poison(reg, events, early[0])
    # Spread the poison through the stream at fixed positions.
    step = len(events) // (len(poison) + 1)
    for k, (rec, code) in reversed(list(enumerate(poison, start=1))):
        events.insert(k * step, dict(rec, origin="poison"))
        expect_codes.insert(k * step, code)
    return early, events, late, expect_codes, len(poison)


# ---- the broker --------------------------------------------------------------------------------

class Broker:
    def __init__(self, work, label):
        self.state = os.path.join(work, f"kafka-{label}")
        self.port = free_port()
        cport = free_port()
        while cport == self.port:
            cport = free_port()
        self.env = dict(os.environ, NB_KAFKA_STATE=self.state, NB_KAFKA_PORT=str(self.port),
                        NB_KAFKA_CONTROLLER_PORT=str(cport),
                        NB_KAFKA_HEAP=os.environ.get("NB_KAFKA_HEAP", "512m"))
        self.bootstrap = None

    def start(self):
        t = time.monotonic()
        out = subprocess.run([KAFKA, "start", "--fresh"], env=self.env, check=True,
                             capture_output=True, text=True)
        self.bootstrap = out.stdout.strip().splitlines()[0]
        say(f"broker up at {self.bootstrap} in {time.monotonic() - t:.1f}s (state {self.state})")
        return self.bootstrap

    def tool(self, *args):
        return subprocess.run([KAFKA, *args], env=self.env, check=False, capture_output=True,
                              text=True, timeout=120)

    def stop(self):
        r = subprocess.run([KAFKA, "stop"], env=self.env, check=False, capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            say(f"warning: ops/kafka stop: {r.stderr.strip()}")


# ---- the daemon --------------------------------------------------------------------------------

class Daemon:
    """One `notbrought run` process after another (restarts after kills)."""

    def __init__(self, work, cfg, bootstrap):
        self.work, self.cfg, self.bootstrap = work, cfg, bootstrap
        self.proc = None
        self.n = 0
        self.log = None
        self.kills = []  # one dict per kill
        self.kind = "?"
        self.env = dict(os.environ, NB_HMAC_KEY=HMAC_KEY,
                        # info, so that the log shows the phase each kill hit (start, links,
                        # join/restore, processing); the config file itself says warn.
                        NB_OPS_LOG_LEVEL="info")

    def start(self):
        self.n += 1
        self.log = os.path.join(self.work, f"daemon-{self.n:02d}.log")
        self.t0 = time.monotonic()
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen([NB_BIN, "run", "--config", self.cfg, "--bootstrap",
                                          self.bootstrap], stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, env=self.env)

    def text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def phase(self):
        """Where the current incarnation is, from its own log."""
        t = self.text()
        if re.search(r'"assigned \d+ partitions"', t):
            return "processing"
        if "restored partition" in t:
            return "restoring"
        if "identity table loaded" in t:
            return "joining"
        if "starting instance" in t:
            return "init-transactions"
        return "exec"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self, oracle=None):
        """SIGKILL; then asks the broker whether the killed process left a transaction holding
        data open (some output partition's high watermark above its last stable offset)."""
        phase = self.phase()
        after = time.monotonic() - self.t0
        if not self.alive():
            raise Fatal(f"daemon exited by itself (status {self.proc.returncode}); log "
                        f"{self.log}:\n{self.text()[-3000:]}")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        open_txn = oracle.open_transaction() if oracle else []
        self.kills.append({"kind": self.kind, "incarnation": self.n, "phase": phase, "after": after,
                           "open_txn": open_txn})
        say(f"kill -9 #{len(self.kills)} ({self.kind}; incarnation {self.n}, {after:.2f}s after exec, "
            f"{phase}" + (f", open transaction with data in {', '.join(open_txn)}"
                          if open_txn else "") + ")")
        return phase

    def term(self, deadline_s=60):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


# ---- kafka-python helpers ----------------------------------------------------------------------

def produce(bootstrap, topic, recs, pace=None):
    """Produces in order (idempotent, acks=all) and waits for every acknowledgement. pace:
    (records per chunk, seconds between chunks) to spread production over time."""
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                      linger_ms=5)
    futures = []
    for i, r in enumerate(recs):
        key = r["key"].encode() if r.get("key") else None
        futures.append(p.send(topic, key=key, value=r["bytes"], timestamp_ms=r["timestamp"],
                              partition=0))
        if pace and (i + 1) % pace[0] == 0:
            p.flush(timeout=60)
            time.sleep(pace[1])
    p.flush(timeout=120)
    offsets = [f.get(timeout=60).offset for f in futures]
    p.close(timeout=30)
    return offsets


def consumer(bootstrap, isolation="read_committed"):
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         auto_offset_reset="earliest", isolation_level=isolation,
                         consumer_timeout_ms=1000, fetch_max_wait_ms=100)


def end_offsets(c, topic, n):
    tps = [TopicPartition(topic, p) for p in range(n)]
    return c.end_offsets(tps)


def read_all(bootstrap, topic, isolation="read_committed", deadline_s=60):
    """Every record of a topic from the beginning up to its end offset (the last stable offset
    for read_committed)."""
    c = consumer(bootstrap, isolation)
    try:
        parts = wait_for(lambda: c.partitions_for_topic(topic), 20, f"topic {topic}")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        ends = c.end_offsets(tps)
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out = []
        end = time.monotonic() + deadline_s
        while any(c.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > end:
                raise Fatal(f"reading {topic}: positions "
                            f"{[c.position(tp) for tp in tps]} never reached {ends}")
            for tp, msgs in c.poll(timeout_ms=500).items():
                out.extend(msgs)
        return sorted(out, key=lambda m: (m.partition, m.offset))
    finally:
        c.close()


def group_offsets(admin):
    try:
        res = admin.list_group_offsets(GROUP).get(GROUP) or {}
    except Exception as e:  # the group may not exist yet
        say(f"(group offsets not available yet: {e})")
        return {}
    return {(tp.topic, tp.partition): om.offset for tp, om in res.items()}


class TxnOracle:
    """Watches the daemon's output partitions: where the high watermark (read_uncommitted end
    offset) is above the last stable offset (read_committed end offset), a transaction holding
    records there is open (or its markers are being written)."""

    def __init__(self, bootstrap):
        self.ru = consumer(bootstrap, "read_uncommitted")
        self.rc = consumer(bootstrap, "read_committed")
        self.tps = ([TopicPartition(TOPIC_NOTIFS, 0), TopicPartition(TOPIC_DEAD, 0)]
                    + [TopicPartition(TOPIC_BY_CHILD, p) for p in range(PARTITIONS)]
                    + [TopicPartition(TOPIC_CHANGELOG, p) for p in range(PARTITIONS)])

    def open_transaction(self):
        hw = self.ru.end_offsets(self.tps)
        lso = self.rc.end_offsets(self.tps)
        return [f"{tp.topic}[{tp.partition}]" for tp in self.tps if hw[tp] > lso[tp]]

    def close(self):
        self.ru.close()
        self.rc.close()


def wait_quiet(bootstrap, daemon, n_events, deadline_s=150, stable_s=3.0):
    """Waits until the daemon has committed every `events` offset and every by-child record,
    and the end offsets of all its output topics stay unchanged for stable_s seconds."""
    c = consumer(bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    watch = ([TopicPartition(TOPIC_EVENTS, 0), TopicPartition(TOPIC_NOTIFS, 0),
              TopicPartition(TOPIC_DEAD, 0)]
             + [TopicPartition(TOPIC_BY_CHILD, p) for p in range(PARTITIONS)]
             + [TopicPartition(TOPIC_CHANGELOG, p) for p in range(PARTITIONS)])
    try:
        end = time.monotonic() + deadline_s
        last, since = None, None
        while True:
            if not daemon.alive():
                raise Fatal(f"daemon exited (status {daemon.proc.returncode}) while waiting; "
                            f"log {daemon.log}:\n{daemon.text()[-3000:]}")
            ends = c.end_offsets(watch)
            committed = group_offsets(admin)
            caught_up = committed.get((TOPIC_EVENTS, 0), -1) == ends[watch[0]] == n_events
            for p in range(PARTITIONS):
                hw = ends[TopicPartition(TOPIC_BY_CHILD, p)]
                # The last record of a by-child partition is a transaction marker, which a
                # read_committed consumer never returns: caught up is hw - 1.
                if hw > 0 and committed.get((TOPIC_BY_CHILD, p), -1) < hw - 1:
                    caught_up = False
            snap = tuple(ends[tp] for tp in watch)
            now = time.monotonic()
            if snap != last or not caught_up:
                last, since = snap, now
            elif now - since >= stable_s:
                return dict(zip([f"{tp.topic}[{tp.partition}]" for tp in watch], snap))
            if now > end:
                raise Fatal(f"outputs did not settle within {deadline_s}s: caught_up="
                            f"{caught_up}, committed={committed}, ends={snap}")
            time.sleep(0.25)
    finally:
        c.close()
        admin.close()


# ---- one run ------------------------------------------------------------------------------------

def write_config(path, bootstrap):
    pol = os.path.join(ROOT, "config", "policy")
    with open(path, "w") as f:
        f.write(f"""# Written by tests/e2e/exactly_once.py
kafka:
  bootstrap_servers: {bootstrap}
  group_id: {GROUP}
  instance_id: {INSTANCE}
  # Static membership: a restart after kill -9 takes the partitions back at once instead of
  # waiting for the dead member's session to time out.
  group_instance_id: {INSTANCE}
  assignment_strategy: range
  properties:
    reconnect.backoff.ms: "50"
    reconnect.backoff.max.ms: "500"
topics:
  appointments: [{TOPIC_EVENTS}]
  context: {TOPIC_EVENTS}
  links: {TOPIC_LINKS}
  by_child: {TOPIC_BY_CHILD}
  changelog: {TOPIC_CHANGELOG}
  notifications: {TOPIC_NOTIFS}
  dead_letters: {TOPIC_DEAD}
  partitions: {PARTITIONS}
processing:
  commit_interval_ms: 100
policy:
  files: [{pol}/wnb-wales-base.yaml, {pol}/cardiff-and-vale.yaml]
ops:
  log_level: warn
""")


def create_topics(bootstrap, cfg, label):
    r = subprocess.run([NB_BIN, "topics", "--config", cfg, "--bootstrap", bootstrap,
                        "--source-partitions", "1"], capture_output=True, text=True, timeout=120)
    ok = check(r.returncode == 0, f"[{label}] notbrought topics created the topics",
               f"exit {r.returncode}: {r.stderr.strip()[-500:]}")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        have = set(admin.list_topics())
        if not ok:
            # Go on with the same layout made by kafka-python, so that the exactly-once proof
            # still runs; the failure above is already counted.
            want = [NewTopic(TOPIC_EVENTS, 1, 1), NewTopic("notification.acks", 1, 1),
                    NewTopic(TOPIC_LINKS, 1, 1, topic_configs={"cleanup.policy": "compact"}),
                    NewTopic(TOPIC_BY_CHILD, PARTITIONS, 1),
                    NewTopic(TOPIC_CHANGELOG, PARTITIONS, 1,
                             topic_configs={"cleanup.policy": "compact"}),
                    NewTopic(TOPIC_NOTIFS, 1, 1), NewTopic(TOPIC_DEAD, 1, 1),
                    NewTopic("notbrought.audit", 1, 1)]
            missing = [t for t in want if t.name not in have]
            if missing:
                say(f"[{label}] creating {[t.name for t in missing]} with kafka-python instead")
                admin.create_topics(missing)
        c = consumer(bootstrap)
        layout = {t: len(wait_for(lambda t=t: c.partitions_for_topic(t), 20, t) or ())
                  for t in (TOPIC_EVENTS, TOPIC_LINKS, TOPIC_BY_CHILD, TOPIC_CHANGELOG,
                            TOPIC_NOTIFS, TOPIC_DEAD)}
        c.close()
        check(layout == {TOPIC_EVENTS: 1, TOPIC_LINKS: 1, TOPIC_BY_CHILD: PARTITIONS,
                         TOPIC_CHANGELOG: PARTITIONS, TOPIC_NOTIFS: 1, TOPIC_DEAD: 1},
              f"[{label}] topic layout (events single-partition, {PARTITIONS} by-child and "
              f"changelog partitions)", str(layout))
        # The sample's Kafka timestamps are event times, years in the past: with the default
        # retention.ms (7 days) the broker would delete closed segments of `events` at its
        # first retention check (30 s after start), under a restarting daemon's feet.
        # On KRaft the controller applies the change and the broker that answers DescribeConfigs
        # learns it from the metadata log a moment later: the first describe can still show the
        # defaults (seen once in CI), so wait for the broker to show the values.
        keep = {"retention.ms": "-1", "segment.ms": str(10 * 365 * DAY_MS)}
        res = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, TOPIC_EVENTS, configs=dict(keep))],
            raise_on_unknown=False)
        status = res.get("topic", {}).get(TOPIC_EVENTS)
        if status != "OK":
            raise Fatal(f"alter_configs {keep} on {TOPIC_EVENTS} answered {res}")
        got = {}

        def applied():
            nonlocal got
            d = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC_EVENTS)])
            got = d.get("topic", {}).get(TOPIC_EVENTS, {})
            return all((got.get(k) or {}).get("value") == v for k, v in keep.items())
        try:
            wait_for(applied, 20, f"{keep} on {TOPIC_EVENTS}", interval=0.2)
        except Fatal:
            raise Fatal(f"could not set {keep} on {TOPIC_EVENTS}: still {got} after 20 s")
    finally:
        admin.close()


def kill_schedule(rng, n):
    """n kills: a few in start-up and restore, most mid-batch, some at random moments."""
    fixed = ["midbatch", "restore", "start", "midbatch-state", "restore-late", "midbatch",
             "midbatch-state", "restore"]
    pool = ["start", "restore", "restore-late", "midbatch", "midbatch-state", "midbatch",
            "random"]
    return fixed[:n] + [rng.choice(pool) for _ in range(max(0, n - len(fixed)))]


def kill_once(daemon, kind, rng, oracle):
    """Waits for the moment `kind` names in the current incarnation (with a random delay),
    kills it with SIGKILL and starts the next incarnation at once.
      start         a random point 20-400 ms after exec (init_transactions, links, join)
      restore       just after the first changelog partition is restored (the others are
                    being read), or 50-500 ms after the identity table is loaded (joining)
      restore-late  0-60 ms after the identity table is loaded (group join and restore)
      midbatch      0-500 ms after the partitions are assigned, then as soon as the broker
                    shows a transaction of this incarnation holding records
      midbatch-state  the same, for a transaction holding changelog records (state changes,
                    and with them the notifications the same batch raised)
      random        150-2000 ms after the partitions are assigned"""
    alive = daemon.alive
    if kind == "start":
        time.sleep(rng.uniform(0.02, 0.4))  # the random point itself, measured from exec
    elif kind == "restore":
        wait_for(lambda: "restored partition" in daemon.text() or daemon.phase() == "processing"
                 or not alive(), 60, "the daemon to restore a partition", 0.003)
        time.sleep(rng.uniform(0.0, 0.03))
    elif kind == "restore-late":
        wait_for(lambda: "identity table loaded" in daemon.text() or not alive(), 60,
                 "the daemon to load the identity table", 0.005)
        time.sleep(rng.uniform(0.0, 0.06))
    elif kind in ("midbatch", "midbatch-state"):
        wait_for(lambda: daemon.phase() == "processing" or not alive(), 60,
                 "the daemon to be assigned its partitions", 0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        want = TOPIC_CHANGELOG if kind == "midbatch-state" else ""
        end = time.monotonic() + 20
        while time.monotonic() < end and alive() and not any(
                t.startswith(want) for t in oracle.open_transaction()):
            time.sleep(0.002)
    else:
        wait_for(lambda: daemon.phase() == "processing" or not alive(), 60,
                 "the daemon to be assigned its partitions", 0.01)
        time.sleep(rng.uniform(0.15, 2.0))
    daemon.kind = kind
    phase = daemon.kill9(oracle)
    daemon.start()
    return phase


def run(work, label, faulted, early, events, late, rng):
    """One complete run on a fresh broker; returns what it read back."""
    say(f"===== {label} run =====")
    rdir = os.path.join(work, label)
    os.makedirs(rdir)
    broker = Broker(work, label)
    daemon = None
    t_run = time.monotonic()
    try:
        bs = broker.start()
        cfg = os.path.join(rdir, "notbrought.yaml")
        write_config(cfg, bs)
        create_topics(bs, cfg, label)
        produce(bs, TOPIC_LINKS, early)
        daemon = Daemon(rdir, cfg, bs)
        daemon.start()
        if not faulted:
            offsets = produce(bs, TOPIC_EVENTS, events)
        else:
            # Events trickle in (~20 s) while the kills go on.
            box = {}

            def producer():
                try:
                    box["offsets"] = produce(bs, TOPIC_EVENTS, events, pace=(40, 0.25))
                except Exception as e:  # reported by the main thread
                    box["error"] = e
            th = threading.Thread(target=producer, daemon=True)
            th.start()
            oracle = TxnOracle(bs)
            for kind in kill_schedule(rng, KILLS):
                kill_once(daemon, kind, rng, oracle)
            th.join(timeout=120)
            if "error" in box or "offsets" not in box:
                raise Fatal(f"producing events failed: {box.get('error')}")
            offsets = box["offsets"]
            say(f"[{label}] all {len(events)} events produced; {len(daemon.kills)} kills so far")
        check(offsets == list(range(len(events))),
              f"[{label}] events produced in order at offsets 0..{len(events) - 1}")
        t = time.monotonic()
        quiet = wait_quiet(bs, daemon, len(events))
        say(f"[{label}] events processed (settled after {time.monotonic() - t:.1f}s): {quiet}")
        produce(bs, TOPIC_LINKS, late)
        if faulted:
            # Late links release parked events: kill while that happens, and once more while
            # the next incarnation restores.
            time.sleep(rng.uniform(0.05, 0.6))
            daemon.kind = "late links"
            daemon.kill9(oracle)
            daemon.start()
            kill_once(daemon, "restore", rng, oracle)
            kill_once(daemon, "midbatch", rng, oracle)
            oracle.close()
        t = time.monotonic()
        quiet = wait_quiet(bs, daemon, len(events))
        say(f"[{label}] late links processed (settled after {time.monotonic() - t:.1f}s): "
            f"{quiet}")
        rc = daemon.term()
        check(rc == 0, f"[{label}] SIGTERM: the daemon finished and exited 0", f"status {rc}")
        return collect(bs, broker, label, len(events), daemon, t_run)
    finally:
        if daemon and daemon.alive():
            daemon.proc.kill()
            daemon.proc.wait()
        broker.stop()


def collect(bs, broker, label, n_events, daemon, t_run):
    reg = load_registry(os.path.join(ROOT, "schemas"))
    res = {"kills": daemon.kills, "incarnations": daemon.n}
    # Notifications, read_committed, decoded with fastavro.
    notifs = read_all(bs, TOPIC_NOTIFS)
    ids, bad, logical_bad = collections.Counter(), [], []
    for m in notifs:
        try:
            (sid,) = struct.unpack(">i", m.value[1:5])
            if m.value[0] != 0 or sid != NOTIFICATION_SCHEMA_ID:
                raise ValueError(f"schema id {sid}")
            # Counted from the plain Avro values (logical types off), so that the proof does
            # not depend on every timestamp being representable as a Python datetime...
            buf = io.BytesIO(m.value[5:])
            v = fastavro.schemaless_reader(buf, PLAIN_NOTIFICATION)
            if buf.tell() != len(m.value) - 5:
                raise ValueError("trailing bytes")
            if m.key is None or m.key.decode() != v["child"]["child_key"]:
                raise ValueError("record key is not the child key")
            ids[(v["notification_id"], v["kind"])] += 1
        except Exception as e:
            bad.append((m.offset, str(e)))
            continue
        try:  # ... which is checked on its own: what a consumer using fastavro would see.
            unframe(reg, m.value)
        except Exception as e:
            logical_bad.append((m.offset, v["kind"], str(e),
                                {k: v[k] for k in ("respond_by", "created_at")}))
    check(not bad, f"[{label}] every notification is Avro schema {NOTIFICATION_SCHEMA_ID} "
          f"(Confluent frame, fastavro) keyed by its child key", str(bad[:5]))
    check(not logical_bad, f"[{label}] every notification decodes with fastavro's logical types "
          f"(dates, timestamp-millis)", f"{len(logical_bad)} do not, e.g. {logical_bad[:3]}")
    dups = {k: n for k, n in ids.items() if n > 1}
    check(not dups, f"[{label}] no duplicate notification: {len(notifs)} records, "
          f"{len(ids)} distinct (notification_id, kind)",
          f"{len(dups)} duplicated, e.g. {list(dups.items())[:10]}")
    res["notifications"] = ids
    res["kinds"] = collections.Counter(k for (_, k) in ids.elements())
    # Dead letters.
    dead = read_all(bs, TOPIC_DEAD)
    res["dead"] = []
    for m in dead:
        h = {k: v.decode("utf-8", "replace") for k, v in (m.headers or [])}
        res["dead"].append((m, h))
    # What aborted transactions left behind (visible read_uncommitted only): evidence that the
    # kills hit open transactions, and that read_committed readers never saw those records.
    res["uncommitted"] = {}
    for t in (TOPIC_NOTIFS, TOPIC_DEAD, TOPIC_BY_CHILD, TOPIC_CHANGELOG):
        committed = len(notifs) if t == TOPIC_NOTIFS else len(dead) if t == TOPIC_DEAD else \
            len(read_all(bs, t))
        res["uncommitted"][t] = (committed, len(read_all(bs, t, "read_uncommitted")))
    # The group's committed offsets on `events`: kafka-python's admin client...
    admin = KafkaAdminClient(bootstrap_servers=bs)
    try:
        committed = group_offsets(admin)
    finally:
        admin.close()
    check(committed.get((TOPIC_EVENTS, 0)) == n_events,
          f"[{label}] group {GROUP} committed offset on {TOPIC_EVENTS}[0] = end offset "
          f"{n_events} (kafka-python admin)", f"committed {committed.get((TOPIC_EVENTS, 0))}")
    # ... and Kafka's own ConsumerGroupCommand.
    r = broker.tool("consumer-groups", "--bootstrap-server", bs, "--describe", "--group", GROUP)
    row = None
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 6 and f[0] == GROUP and f[1] == TOPIC_EVENTS and f[2] == "0":
            row = f
    check(row is not None and row[3] == row[4] == str(n_events) and row[5] == "0",
          f"[{label}] ConsumerGroupCommand: {TOPIC_EVENTS} 0 CURRENT-OFFSET = LOG-END-OFFSET = "
          f"{n_events}, LAG 0", r.stdout.strip()[-800:] + r.stderr.strip()[-400:])
    res["seconds"] = time.monotonic() - t_run
    return res


def check_dead_letters(label, res, events, expect_codes):
    """Every expected dead letter exactly once, with its original bytes and headers."""
    want = {i: c for i, c in enumerate(expect_codes) if c}
    seen = collections.Counter()
    problems = []
    for m, h in res["dead"]:
        missing = [k for k in DL_HEADERS if not h.get(k)]
        if missing:
            problems.append(f"dead letter at {m.offset}: headers {missing} missing")
            continue
        if h["nb.source.topic"] != TOPIC_EVENTS or h["nb.source.partition"] != "0":
            problems.append(f"dead letter at {m.offset} from {h['nb.source.topic']}"
                            f"[{h['nb.source.partition']}] (code {h['nb.error.code']})")
            continue
        off = int(h["nb.source.offset"])
        seen[(off, h["nb.error.code"])] += 1
        if not 0 <= off < len(events) or m.value != events[off]["bytes"]:
            problems.append(f"dead letter for offset {off}: value differs from the original")
    dups = {k: n for k, n in seen.items() if n > 1}
    check(not dups, f"[{label}] no duplicate dead letter: {len(res['dead'])} records",
          f"{dups}")
    got = {off: code for (off, code) in seen}
    wrong = {o: (got.get(o), c) for o, c in want.items() if got.get(o) != c}
    extra = {o: c for o, c in got.items() if o not in want}
    check(not wrong and not extra,
          f"[{label}] each of the {len(want)} malformed/poisoned records dead-lettered once "
          f"with the right code", f"wrong or missing {wrong}; unexpected {extra}")
    check(not problems, f"[{label}] dead letters carry the original bytes and the headers "
          f"{', '.join(DL_HEADERS)}", "; ".join(problems[:10]))
    res["dead_set"] = collections.Counter(seen)


def main():
    for path in (NB_BIN, KAFKA):
        if not os.access(path, os.X_OK):
            print(f"exactly_once: {path} is missing or not executable", file=sys.stderr)
            print("exactly_once: 0 passed, 1 failed")
            return 1
    now_ms = int(time.time()) * 1000
    now_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ms // 1000))
    work = tempfile.mkdtemp(prefix="nb-e2e-eo.")
    rng = random.Random(SEED)
    t0 = time.monotonic()
    say(f"seed {SEED}, now {now_iso}, work dir {work}, binary {NB_BIN}")
    try:
        subprocess.run([KAFKA, "fetch"], check=True, capture_output=True)
        reg = load_registry(os.path.join(ROOT, "schemas"))
        # The notifications are written with the newest version of the Notification subject
        # in the registry (schemas/registry.tsv), as its reader schema.
        global PLAIN_NOTIFICATION, NOTIFICATION_SCHEMA_ID
        newest = (0, None, None)
        with open(os.path.join(ROOT, "schemas", "registry.tsv")) as f:
            for line in f:
                if not line.strip() or line.startswith("#"):
                    continue
                sid, subject, version, fname = line.split()
                if subject == "org.notbrought.v1.Notification" and int(version) > newest[0]:
                    newest = (int(version), int(sid), fname)
        NOTIFICATION_SCHEMA_ID = newest[1]
        with open(os.path.join(ROOT, "schemas", newest[2])) as f:
            PLAIN_NOTIFICATION = fastavro.parse_schema(strip_logical(json.load(f)))
        sample_path, recs = generate_sample(work, now_iso)
        verdicts = decode_verdicts(sample_path, now_iso)
        early, events, late, expect_codes, n_poison = split_sample(recs, verdicts, now_ms, reg)
        n_bad = sum(1 for c in expect_codes if c)
        say(f"sample: {len(recs)} records -> {len(early)} early links, {len(events)} events "
            f"({n_bad} to dead-letter: {n_bad - n_poison} generated malformed + {n_poison} "
            f"poison of ours), {len(late)} late links")
        check(n_bad == 20 + n_poison, f"{n_bad} bad records expected (20 generated malformed "
              f"+ {n_poison} poison)")
        ref = run(work, "undisturbed", False, early, events, late, rng)
        check_dead_letters("undisturbed", ref, events, expect_codes)
        check(len(ref["notifications"]) > 0, "the undisturbed run raised notifications",
              str(len(ref["notifications"])))
        flt = run(work, "faulted", True, early, events, late, rng)
        check_dead_letters("faulted", flt, events, expect_codes)

        kills = flt["kills"]
        phases = collections.Counter(k["phase"] for k in kills)
        mid = [k for k in kills if k["open_txn"]]
        early_kills = [k for k in kills if k["phase"] != "processing"]
        check(len(kills) >= 10, f"{len(kills)} kill -9 (>= 10) over {flt['incarnations']} "
              f"incarnations; phases hit: {dict(phases)}")
        check(len(mid) >= 3, f"{len(mid)} kills (>= 3) left a transaction holding records open "
              f"on the broker (mid-batch)")
        check(len(early_kills) >= 2 and any(k["phase"] in ("restoring", "joining")
                                            for k in early_kills),
              f"{len(early_kills)} kills (>= 2) before processing began, at least one while "
              f"joining or restoring: {collections.Counter(k['phase'] for k in early_kills)}")
        aborted = {t: u - c for t, (c, u) in flt["uncommitted"].items()}
        check(sum(aborted.values()) > 0,
              "kills left aborted transactions behind (records visible read_uncommitted only): "
              f"{aborted}")

        # Faulted run = undisturbed run.
        a, b = ref["notifications"], flt["notifications"]
        only_ref = sorted(set(a) - set(b))
        only_flt = sorted(set(b) - set(a))
        check(+a == +b and set(a) == set(b),
              f"notifications equal: {sum(a.values())} undisturbed vs {sum(b.values())} faulted "
              f"(by kind {dict(ref['kinds'])} vs {dict(flt['kinds'])})",
              f"{len(only_ref)} lost in the faulted run, e.g. {only_ref[:8]}; "
              f"{len(only_flt)} extra, e.g. {only_flt[:8]}")
        check(ref["dead_set"] == flt["dead_set"],
              f"dead letters equal (source offset, code): {sum(ref['dead_set'].values())} vs "
              f"{sum(flt['dead_set'].values())}",
              f"only undisturbed {sorted(set(ref['dead_set']) - set(flt['dead_set']))}; "
              f"only faulted {sorted(set(flt['dead_set']) - set(ref['dead_set']))}")
        say(f"counts: undisturbed {sum(a.values())} notifications, "
            f"{len(ref['dead'])} dead letters, {ref['seconds']:.0f}s; faulted {sum(b.values())} "
            f"notifications, {len(flt['dead'])} dead letters, {len(kills)} kills, "
            f"{flt['seconds']:.0f}s; aborted records filtered {aborted}")
    except Exception as e:
        global FAILED
        FAILED += 1
        say(f"FAIL - {type(e).__name__}: {e}")
        if not isinstance(e, Fatal):
            traceback.print_exc()
    finally:
        if KEEP or FAILED:
            say(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    say(f"total {time.monotonic() - t0:.0f}s")
    print(f"exactly_once: {PASSED} passed, {FAILED} failed", flush=True)
    return 0 if FAILED == 0 and PASSED > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
