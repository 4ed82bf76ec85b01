#!/usr/bin/env python3
"""Several instances on a three-node Apache Kafka cluster, exactly once under failure (issue 25).

A three-node KRaft cluster (ops/kafka start --nodes 3: three processes, each broker and
controller) holds every topic with replication factor 3 and min.insync.replicas 2, made by
`notbrought topics` (topics.replication_factor, topics.min_insync_replicas). The input is
`notbrought generate`'s record file with every appointment event and context fact moved to
one six-partition topic, `events`, keyed by child: each record's key is the child it is about
as the sample's identity links know it (a local identifier and a pregnancy resolve to the
child's NHS number), so each child's events keep their order in one partition, as
docs/architecture.md asks of a deployment ("each agency's feed on one topic keyed by child").
Records go to Kafka with `notbrought produce`.

Two runs over the same input, each on a fresh cluster, with the same fixed clock
(NB_PROCESSING_FIXED_NOW) and the same topic layout:
  undisturbed  one instance; all events, then (once they are handled) the late identity links.
  faulted      three instances of one group (each its own instance id, transactional id and
               metrics port; static membership) while the events trickle in, chunk by chunk:
               - kill -9 of instances, restarted at once, >= 10 times in all (mid-batch, while
                 restoring, while the late links are handled);
               - an instance stopped (SIGTERM, exit 0) until the group has rebalanced without
                 it, then started again (a second rebalance);
               - the broker leading an `events` partition killed with SIGKILL, then restarted
                 over its state; the same for the active controller (quorum leader);
               - a broker paused with SIGSTOP for longer than the broker and consumer
                 sessions (it is fenced, leaders move), then resumed;
               - a zombie: an instance is paused with SIGSTOP while its transaction is
                 filling (records on the brokers, its offsets not yet sent) until the group
                 has given its partitions to the others, then resumed. Its producer id's
                 batches of that transaction and any appended after the move are found in the
                 partitions' log segments (Kafka's DumpLogSegments); each must be closed by an
                 ABORT marker (the group coordinator refuses offsets sent for an old
                 generation, and the daemon sends offsets with every transaction, a tick's
                 too), and none may be returned to a read_committed reader.
An instance that stops by itself with exit 3 and a fatal Kafka error in its log (librdkafka
2.0.2 fences a static member whose JoinGroup a stalled coordinator answered late:
FENCED_INSTANCE_ID) is started again, as an orchestrator would, and listed; any other exit
fails the test.

An independent reader (kafka-python, read_committed; fastavro) then compares the runs. The
two runs handle each child's events in the same order, but not in the same interleaving with
other children nor with the same batch and tick boundaries (one instance against three,
rebalances, restarts). Absence deadlines are judged at the fixed clock
(processing.watermark_max_hold_ms 0: not held for the sources' watermark, which depends on
how long each partition has been idle). The checks are order-independent:
  - in each run: each (notification_id, kind) exactly once; each audit_id exactly once; each
    malformed record dead-lettered once with its original bytes and `decode`'s error code;
    the group's committed offset on every `events` partition equal to its end offset; every
    instance's identity table digest (its /metrics), once it covers every link, the same;
  - across the runs: the same identity table digest; each child's final state equal (the notification ids raised and not
    withdrawn; the notification's key is its child key); any other difference in a child's
    (notification_id, kind) set must be a notification raised and withdrawn in one run only;
    the same audit ids of events received and parked; the same dead letters (source
    partition, offset, code). A difference is reported child by child.
Zero lost, zero duplicated.

Budget: at most 8 minutes on this 2-core machine (3 brokers + 3 sanitizer daemons; about 2.5
minutes measured); the input is small (~2,400 events), the sessions short (6 s), and every wait
polls a condition with a deadline, except the broker's SIGSTOP pause, which must outlast the
sessions.

Environment: NB_BIN, NB_SOURCE_DIR, NB_E2E_SEED (default 20251207), NB_E2E_KEEP=1 (keep the
work dir). Prints `cluster: N passed, N failed` last; exit status 0 only if nothing failed.
"""
import base64
import calendar
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import exactly_once as e2e  # noqa: E402  (daemon and kafka-python helpers)
from exactly_once import Daemon, Fatal, check, wait_for, read_all  # noqa: E402
from avro_interop import load_registry, unframe  # noqa: E402
from drain import DrainTarget  # noqa: E402

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition  # noqa: E402
from kafka.admin import ConfigResource, ConfigResourceType  # noqa: E402
from kafka.errors import KafkaError  # noqa: E402

e2e.say = lambda msg: print(f"cluster: {msg}", file=sys.stderr, flush=True)
say = e2e.say
e2e.GROUP = GROUP = "notbrought-cluster"
ROOT, NB_BIN, KAFKA = e2e.ROOT, e2e.NB_BIN, e2e.KAFKA
SEED = int(os.environ.get("NB_E2E_SEED", "20251207"))
KEEP = os.environ.get("NB_E2E_KEEP") == "1"
HMAC_KEY = e2e.HMAC_KEY
NODES = 3
SOURCE_PARTITIONS = 6
PARTITIONS = 6  # by-child and changelog
SESSION_MS = 6000
T_EVENTS, T_LINKS = "events", "identity.links"
T_BY_CHILD, T_CHANGELOG = "notbrought.by-child", "notbrought.changelog"
T_NOTIFS, T_DEAD, T_AUDIT = "notifications", "notbrought.dead-letters", "notbrought.audit"
OUTPUTS = (T_NOTIFS, T_AUDIT, T_DEAD, T_BY_CHILD, T_CHANGELOG)
NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# ---- the cluster -------------------------------------------------------------------------------

class Cluster:
    """ops/kafka's cluster mode: start, per-node control, leaders, log segments."""

    def __init__(self, work, label):
        self.state = os.path.join(work, f"kafka-{label}")
        self.env = dict(os.environ, NB_KAFKA_STATE=self.state,
                        NB_KAFKA_CLUSTER_PORTS=",".join(map(str, free_ports(2 * NODES))))
        self.bootstrap = None

    def run(self, *args, timeout=150):
        return subprocess.run([KAFKA, *args], env=self.env, check=False, capture_output=True,
                              text=True, timeout=timeout)

    def start(self):
        t = time.monotonic()
        r = self.run("start", "--nodes", str(NODES), "--fresh", timeout=240)
        if r.returncode != 0:
            raise Fatal(f"ops/kafka start --nodes {NODES} failed: {r.stderr[-3000:]}")
        self.bootstrap = r.stdout.strip().splitlines()[-1]
        say(f"cluster up at {self.bootstrap} in {time.monotonic() - t:.1f}s")
        return self.bootstrap

    def node(self, i, action):
        t = time.monotonic()
        r = self.run("node", str(i), action)
        if r.returncode != 0:
            raise Fatal(f"ops/kafka node {i} {action}: {r.stderr[-2000:]}")
        say(f"node {i} {action} ({time.monotonic() - t:.1f}s)")
        return r.stdout.strip()

    def ask(self, *args):
        r = self.run(*args)
        out = r.stdout.strip()
        return int(out) if r.returncode == 0 and re.fullmatch(r"-?\d+", out) else None

    def controller(self):
        return self.ask("controller")

    def leader(self, topic, partition):
        return self.ask("leader", topic, str(partition))

    def node_bootstrap(self, i):
        return f"127.0.0.1:{self.env['NB_KAFKA_CLUSTER_PORTS'].split(',')[2 * i - 2]}"

    def stop(self):
        r = self.run("stop", timeout=240)
        if r.returncode != 0:
            say(f"warning: ops/kafka stop: {r.stderr.strip()[-1000:]}")

    def batches(self, node, tps):
        """Every batch of the given partitions' log segments on a node (DumpLogSegments), as
        dicts: tp, base, last, pid, control, marker (COMMIT/ABORT for a control batch)."""
        files = []
        for tp in tps:
            d = os.path.join(self.state, f"node-{node}", "data", f"{tp.topic}-{tp.partition}")
            files += sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".log"))
        r = self.run("dump-log", "--deep-iteration", "--files", ",".join(files), timeout=240)
        if r.returncode != 0:
            raise Fatal(f"DumpLogSegments failed: {r.stderr[-2000:]}")
        out, cur, tp = [], None, None
        for line in r.stdout.splitlines():
            m = re.match(r"Dumping (.*)/([^/]+)-(\d+)/\d+\.log$", line.strip())
            if m:
                tp = TopicPartition(m.group(2), int(m.group(3)))
                continue
            if line.startswith("baseOffset:"):
                f = dict(re.findall(r"(\w+): (\S+)", line))
                cur = {"tp": tp, "base": int(f["baseOffset"]), "last": int(f["lastOffset"]),
                       "pid": int(f["producerId"]), "epoch": int(f["producerEpoch"]),
                       "control": f["isControl"] == "true", "marker": None}
                out.append(cur)
            elif cur is not None and cur["control"] and "endTxnMarker:" in line:
                cur["marker"] = re.search(r"endTxnMarker: (\w+)", line).group(1)
        return out


# ---- the sample --------------------------------------------------------------------------------

def child_keys(decoded):
    """The child each record is about, from the sample's own identity links: local id -> NHS
    number (link), (mother's NHS number, EDD) -> child's NHS number (unborn_to_child)."""
    local, unborn = {}, {}
    for o in decoded.values():
        if o.get("type", "").endswith("IdentityLink") and o["result"] == "ok":
            v = o["value"]
            if v["kind"] == "link" and v["to"]["system"] == NHS_SYSTEM:
                local[(v["from"]["system"], v["from"]["value"])] = v["to"]["value"]
            elif v["kind"] == "unborn_to_child":
                unborn[(v["from"]["value"], v["expected_delivery_date"])] = v["to"]["value"]
    keys = {}
    for n, o in decoded.items():
        if o["result"] != "ok" or o.get("type", "").endswith("IdentityLink"):
            continue
        v = o["value"]
        s = v.get("subject")
        if s is None:  # a context fact
            s = {"kind": "child", "nhs_number": v.get("nhs_number"), "local_id": v.get("local_id")}
        if s.get("nhs_number"):
            keys[n] = s["nhs_number"]
        elif s.get("local_id"):
            lid = (s["local_id"]["system"], s["local_id"]["value"])
            keys[n] = local.get(lid, "|".join(lid))
        elif s.get("pregnant_person_id"):
            mother = s["pregnant_person_id"]["value"]
            keys[n] = unborn.get((mother, s.get("expected_delivery_date")),
                                 f"{mother}|{s.get('expected_delivery_date')}")
    return keys


def keyed_sample(work, now_iso, generate_args):
    """`notbrought generate` with @generate_args, decoded (`notbrought decode`): the records in
    file order, and by record number (from 1) each one's decoded form and child key
    (child_keys). generate keys an event by its appointment id; the architecture keys each
    agency's feed by child, so both the test and bench/e2e_cluster_scale.py key them so."""
    path = os.path.join(work, "sample.rec")
    subprocess.run([NB_BIN, "generate", *generate_args, "--now", now_iso, "-o", path],
                   check=True)
    out = subprocess.run([NB_BIN, "decode", "--format", "json", "--now", now_iso, path],
                         check=False, capture_output=True, text=True)
    decoded = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            o = json.loads(line)
            decoded[o["record"]] = o
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    os.unlink(path)
    return recs, decoded, child_keys(decoded)


def make_sample(work, now_iso):
    recs, decoded, keys = keyed_sample(work, now_iso, [
        "--children", "300", "--seed", "5", "--missed-share", "0.3", "--malformed", "10"])
    now_ms = calendar.timegm(time.strptime(now_iso, "%Y-%m-%dT%H:%M:%SZ")) * 1000
    split = now_ms - 25 * e2e.DAY_MS
    early, late, events, expect = [], [], [], []
    for n, r in enumerate(recs, start=1):
        if r["topic"] == T_LINKS:
            (early if r["timestamp"] < split else late).append(r)
            continue
        o = decoded.get(n, {})
        events.append(dict(r, topic=T_EVENTS, key=keys.get(n, r.get("key"))))
        expect.append(o.get("error") if o.get("result") != "ok" else None)
    return early, late, events, expect


def write_recs(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps({k: r[k] for k in ("topic", "key", "value", "timestamp")
                                if k in r}) + "\n")
    return path


def produce_file(bs, path):
    r = subprocess.run([NB_BIN, "produce", "--bootstrap", bs, path], capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise Fatal(f"notbrought produce {os.path.basename(path)}: exit {r.returncode}: "
                    f"{r.stderr[-1500:]}")


# ---- instances ---------------------------------------------------------------------------------

class Instance(Daemon):
    """One daemon instance (its own id, group.instance.id and metrics port); incarnations."""

    def __init__(self, work, cfg, bootstrap, name, fixed_now):
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        super().__init__(d, cfg, bootstrap)
        self.name = name
        self.port = e2e.free_port()
        self.env.update(NB_KAFKA_INSTANCE_ID=name, NB_KAFKA_GROUP_INSTANCE_ID=name,
                        NB_OPS_HTTP_PORT=str(self.port), NB_PROCESSING_FIXED_NOW=fixed_now)

    exits = []  # (instance, incarnation, status): fatal Kafka errors, restarted

    def revive(self):
        """An incarnation that stopped by itself: exit 3 with a fatal Kafka error is what a
        daemon does when librdkafka gives up on a client (it says so in its log), and an
        orchestrator starts it again; anything else ends the test."""
        if self.alive():
            return
        rc, text = self.proc.returncode, self.text()
        why = re.findall(r'"msg":"(fatal Kafka error[^"]*)"', text)
        if rc != 3 or not why:
            raise Fatal(f"{self.name} exited by itself with status {rc}; log {self.log}:\n"
                        f"{text[-3000:]}")
        say(f"{self.name} (incarnation {self.n}) exited 3: {why[-1][:300]}; started again")
        Instance.exits.append((self.name, self.n, why[-1]))
        self.start()

    def assignments(self):
        return len(re.findall(r'"assigned \d+ partitions"', self.text()))


def identity_digests(instances, n_links):
    """Each instance's identity table digest (its /metrics: notbrought_identity_table_digest_info
    and _links), once it covers every link of the run. The digest is worked out again a few
    seconds after links change, so this waits for it (a minute at most)."""
    def look():
        got = {}
        for d in instances:
            d.revive()
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{d.port}/metrics",
                                              timeout=5).read().decode()
            except Exception:
                return None
            links = re.search(r"^notbrought_identity_table_digest_links (\d+)$", text, re.M)
            dig = re.search(r'^notbrought_identity_table_digest_info\{digest="([0-9a-f]+)"\} 1$',
                            text, re.M)
            if not links or not dig or int(links.group(1)) != n_links:
                return None
            got[d.name] = dig.group(1)
        return got
    return wait_for(look, 60, f"every instance's identity digest over {n_links} links", 0.3)


OUTPUT_TOPICS = {"by_child": T_BY_CHILD, "changelog": T_CHANGELOG, "notifications": T_NOTIFS,
                 "dead_letters": T_DEAD, "audit": T_AUDIT}


def write_config(path, bootstrap, *, group=GROUP, instance_id="nb-cluster-0",
                 outputs=OUTPUT_TOPICS, session_ms=SESSION_MS, heartbeat_ms=1000,
                 processing="", log_level="warn", writer="tests/e2e/cluster.py"):
    """The instances' configuration: three replicas, min.insync.replicas 2, the range
    strategy, a short session. Instance ids, metrics ports (and the test's clock) come from
    NB_KAFKA_INSTANCE_ID, NB_KAFKA_GROUP_INSTANCE_ID, NB_OPS_HTTP_PORT
    (NB_PROCESSING_FIXED_NOW). bench/e2e_cluster_scale.py writes it with its own group,
    output topics, session and log level."""
    pol = os.path.join(ROOT, "config", "policy")
    outs = "".join(f"\n  {k}: {v}" for k, v in outputs.items())
    with open(path, "w") as f:
        f.write(f"""# Written by {writer}.
kafka:
  bootstrap_servers: {bootstrap}
  group_id: {group}
  instance_id: {instance_id}
  assignment_strategy: range
  properties:
    reconnect.backoff.ms: "50"
    reconnect.backoff.max.ms: "500"
    session.timeout.ms: "{session_ms}"
    heartbeat.interval.ms: "{heartbeat_ms}"
topics:
  appointments: [{T_EVENTS}]
  context: {T_EVENTS}
  links: {T_LINKS}{outs}
  partitions: {PARTITIONS}
  replication_factor: 3
  min_insync_replicas: 2
  retention_ms:
    appointments: -1
    context: -1
processing:
  commit_interval_ms: 100{processing}
policy:
  files: [{pol}/wnb-wales-base.yaml, {pol}/cardiff-and-vale.yaml]
ops:
  log_level: {log_level}
""")


# Absence deadlines judged at the (fixed) clock, not held for the sources' watermark: with the
# defaults the short undisturbed run ends with deadlines still held (sources idle for less
# than watermark_idle_ms) that the long faulted one has judged.
TEST_PROCESSING = "\n  watermark_max_hold_ms: 0"


def create_topics(bs, cfg, label):
    r = subprocess.run([NB_BIN, "topics", "--config", cfg, "--bootstrap", bs,
                        "--source-partitions", str(SOURCE_PARTITIONS)], capture_output=True,
                       text=True, timeout=180)
    if not check(r.returncode == 0, f"[{label}] notbrought topics created the topics",
                 f"exit {r.returncode}: {r.stderr.strip()[-800:]}"):
        raise Fatal("no topics")
    admin = KafkaAdminClient(bootstrap_servers=bs)
    try:
        names = [T_EVENTS, T_LINKS, T_BY_CHILD, T_CHANGELOG, T_NOTIFS, T_DEAD, T_AUDIT]
        desc = {}

        def described():  # the brokers learn new topics from the metadata log a moment later
            desc.clear()
            desc.update({t.get("topic", t.get("name")): t for t in admin.describe_topics(names)})
            return all(desc.get(n, {}).get("partitions") for n in names)
        wait_for(described, 30, "the new topics in the brokers' metadata", 0.3)
        layout = {n: len(desc[n]["partitions"]) for n in names}
        rf = {len(p.get("replicas", p.get("replica_nodes", ()))) for n in names
              for p in desc[n]["partitions"]}
        check(layout[T_EVENTS] == SOURCE_PARTITIONS and layout[T_BY_CHILD] == PARTITIONS
              and layout[T_CHANGELOG] == PARTITIONS and layout[T_DEAD] == 1,
              f"[{label}] layout: {layout}")
        check(rf == {3}, f"[{label}] every partition of every topic has 3 replicas", str(rf))

        def isr_conf():
            got = {}
            for n in names:
                d = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n)])
                d = d.get("topic", {}).get(n, {}) if isinstance(d, dict) else {}
                got[n] = (d.get("min.insync.replicas") or {}).get("value")
            return got if set(got.values()) == {"2"} else None
        try:
            wait_for(isr_conf, 20, "min.insync.replicas 2 on every topic", 0.5)
            check(True, f"[{label}] min.insync.replicas 2 on every topic")
        except Fatal as exc:
            check(False, f"[{label}] min.insync.replicas 2 on every topic", str(exc))
    finally:
        admin.close()


# ---- watching the group and the outputs --------------------------------------------------------

def group_members(admin):
    """client id prefix (the instance id) -> assigned partitions, of a stable group."""
    try:
        g = admin.describe_groups([GROUP])
    except Exception as exc:
        say(f"(describe group: {exc})")
        return None
    g = g.get(GROUP, {})
    if g.get("group_state") != "Stable":
        return None
    out = {}
    for m in g.get("members", ()):
        ma = m.get("member_assignment")
        if hasattr(ma, "partitions"):
            parts = [(tp.topic, tp.partition) for tp in ma.partitions()]
        elif isinstance(ma, dict):
            parts = [(t["topic"], p) for t in ma.get("assigned_partitions", ())
                     for p in t["partitions"]]
        else:
            parts = []
        # client.id is <instance id>-<role>
        out[m["client_id"].rsplit("-", 1)[0]] = sorted(parts)
    return out


def output_tps(admin_consumer):
    tps = []
    for t in OUTPUTS:
        parts = wait_for(lambda t=t: admin_consumer.partitions_for_topic(t), 20, f"topic {t}")
        tps += [TopicPartition(t, p) for p in sorted(parts)]
    return tps


def wait_quiet(bs, instances, n_by_part, deadline_s=240, stable_s=5.0):
    """Until the group has drained every event produced (drain.py) and the outputs' end offsets
    (notifications, audit, dead letters) stay unchanged for stable_s."""
    c = e2e.consumer(bs)
    admin = KafkaAdminClient(bootstrap_servers=bs)
    try:
        ev = [TopicPartition(T_EVENTS, p) for p in range(SOURCE_PARTITIONS)]
        bc = [TopicPartition(T_BY_CHILD, p) for p in range(PARTITIONS)]
        outs = [tp for tp in output_tps(c) if tp.topic in (T_NOTIFS, T_AUDIT, T_DEAD)]
        end = time.monotonic() + deadline_s
        last, since = None, None
        drain = DrainTarget(ev, bc)
        while True:
            for d in instances:
                d.revive()
            try:
                ends = c.end_offsets(ev + bc + outs)
            except KafkaError as exc:  # a broker restarting or overloaded: look again
                say(f"(end offsets: {exc})")
                continue
            committed = e2e.group_offsets(admin)
            caught = drain.reached(ends, committed, n_by_part)
            snap = tuple(ends[tp] for tp in outs)
            now = time.monotonic()
            if snap != last or not caught:
                moving = [f"{tp.topic}[{tp.partition}]" for tp, x, y in
                          zip(outs, snap, last or snap) if x != y]
                last, since = snap, now
            elif now - since >= stable_s:
                return
            if now > end:
                raise Fatal(f"outputs did not settle within {deadline_s}s: caught up {caught}, "
                            f"still growing {moving}, committed {committed}")
            time.sleep(0.3)
    finally:
        c.close()
        admin.close()


# ---- the faults --------------------------------------------------------------------------------

class Faults:
    def __init__(self, cluster, instances, rng, bs):
        self.cluster, self.inst, self.rng, self.bs = cluster, instances, rng, bs
        self.kills = []
        self.events = []  # what happened, for the report
        self.admin = KafkaAdminClient(bootstrap_servers=bs)

    def kill(self, d, when):
        """kill -9 of an instance at a moment `when` names, restarted at once. Returns False
        when it found the instance stopped by itself (started again, not killed)."""
        if when == "restore":
            wait_for(lambda: "restored partition" in d.text() or d.phase() == "processing"
                     or not d.alive(), 120, f"{d.name} to restore", 0.005)
        elif when == "start":
            time.sleep(self.rng.uniform(0.05, 0.5))
        else:
            wait_for(lambda: d.phase() == "processing" or not d.alive(), 120,
                     f"{d.name} to be assigned its partitions", 0.02)
            time.sleep(self.rng.uniform(0.1, 1.5))
        if not d.alive():
            d.revive()
            return False
        d.kind = when
        phase = d.kill9()
        self.kills.append((d.name, when, phase))
        d.start()
        return True

    def kill_round(self, n):
        """n kills (an instance found stopped by itself, FENCED_INSTANCE_ID, is started again
        and another chosen), three times as many tries at most."""
        done = 0
        for _ in range(3 * n):
            if done == n:
                break
            d = self.rng.choice(self.inst)
            done += self.kill(d, self.rng.choice(["midbatch", "midbatch", "restore", "start"]))

    def members(self, want, deadline_s=90):
        return wait_for(lambda: (lambda m: m if m is not None and want(m) else None)(
            group_members(self.admin)), deadline_s, "the group to settle", 0.3)

    def rebalance(self, d):
        """SIGTERM (exit 0), the group rebalances without it; started again, with it."""
        wait_for(lambda: d.phase() == "processing" or not d.alive(), 120,
                 f"{d.name} to be assigned its partitions", 0.02)
        d.revive()
        rc = d.term()
        check(rc == 0, f"{d.name} stopped with SIGTERM exits 0", f"status {rc}")
        t = time.monotonic()
        self.members(lambda m: d.name not in m and len(m) == len(self.inst) - 1)
        say(f"group rebalanced without {d.name} after {time.monotonic() - t:.1f}s")
        d.start()
        self.members(lambda m: d.name in m and len(m) == len(self.inst))
        say(f"group rebalanced with {d.name} again")
        self.events.append(f"rebalance around {d.name}")

    def kill_leader_broker(self):
        node = self.cluster.leader(T_EVENTS, 0)
        if not check(node and node > 0, f"leader of {T_EVENTS}[0] found: node {node}"):
            return
        self.cluster.node(node, "kill")
        new = wait_for(lambda: (lambda x: x if x and x > 0 and x != node else None)(
            self.cluster.leader(T_EVENTS, 0)), 60, "a new partition leader", 0.5)
        say(f"{T_EVENTS}[0]: leader node {node} killed, node {new} leads")
        self.cluster.node(node, "start")
        self.events.append(f"partition leader node {node} killed")

    def kill_controller(self):
        node = self.cluster.controller()
        if not check(node and node > 0, f"active controller found: node {node}"):
            return
        self.cluster.node(node, "kill")
        new = wait_for(lambda: (lambda x: x if x and x != node else None)(
            self.cluster.controller()), 60, "a new active controller", 0.5)
        say(f"controller node {node} killed, node {new} elected")
        self.cluster.node(node, "start")
        self.events.append(f"controller node {node} killed")

    def pause_broker(self):
        """SIGSTOP the leader of a by-child partition past the sessions; then SIGCONT."""
        node = self.cluster.leader(T_BY_CHILD, 1) or 1
        others = ",".join(self.cluster.node_bootstrap(i) for i in range(1, NODES + 1)
                          if i != node)
        admin = KafkaAdminClient(bootstrap_servers=others, request_timeout_ms=3000)

        def leader():
            try:
                (t,) = admin.describe_topics([T_BY_CHILD])
                p = next(p for p in t["partitions"] if p.get("partition", p.get(
                    "partition_index")) == 1)
                x = p.get("leader", p.get("leader_id"))
            except Exception:
                return None
            return x if x is not None and x >= 0 and x != node else None
        self.cluster.node(node, "pause")
        t = time.monotonic()
        try:
            # Fenced by the controller after broker.session.timeout.ms: leaders move away
            # (asked of the other nodes with kafka-python: a tool's first request could wait
            # on the paused node).
            new = wait_for(leader, 60, "leadership to leave the paused node", 0.3)
            say(f"node {node} paused: {T_BY_CHILD}[1] led by node {new} after "
                f"{time.monotonic() - t:.1f}s")
            # The pause must outlast the consumer sessions too (the group coordinator may be
            # the paused node): the one fixed wait of the test.
            time.sleep(max(0.0, (SESSION_MS + 2000) / 1000 - (time.monotonic() - t)))
        finally:
            self.cluster.node(node, "resume")
            admin.close()
        say(f"node {node} paused for {time.monotonic() - t:.1f}s")
        self.events.append(f"node {node} paused {time.monotonic() - t:.1f}s")


def offsets_in(txn):
    """Whether a described transaction holds consumer offsets (AddOffsetsToTxn was sent)."""
    return any(str(getattr(tp, "topic", tp)).startswith("__consumer_offsets")
               for tp in txn.topic_partitions)


def zombie(cluster, d, bs, others):
    """Pauses `d` mid-transaction until its partitions have moved; resumes it; returns what the
    broker logs must show: (producer id, marks {tp: high watermark at the move},
    marks2 {tp: high watermark when it had rejoined})."""
    admin = KafkaAdminClient(bootstrap_servers=bs)
    c = e2e.consumer(bs, "read_uncommitted")
    try:
        tid = f"notbrought-{d.name}"
        wait_for(lambda: d.phase() == "processing", 120, f"{d.name} processing", 0.02)

        def ongoing():
            try:
                t = admin.describe_transactions([tid])[tid]
            except Exception:
                return None
            if "ONGOING" not in str(t.state).upper() or not t.topic_partitions:
                return None
            # Records of that transaction on the brokers, not just partitions added to it.
            try:
                ps = admin.describe_producers(list(t.topic_partitions))
            except Exception:
                return None
            held = any(x.producer_id == t.producer_id and x.current_transaction_start_offset >= 0
                       for st in ps.values() for x in st.active_producers)
            return t if held else None
        def filling():  # open, with records, its offsets not yet sent: the batch is filling
            t = ongoing()
            return t if t is not None and not offsets_in(t) else None

        # Paused first, then asked: a transaction seen filling a moment before the pause may
        # have sent its offsets or committed by the time the signal lands (a commit every
        # 100 ms). Not filling while paused: resumed at once and tried again.
        def paused_open():
            if not filling():
                return None
            d.proc.send_signal(signal.SIGSTOP)
            t = filling()
            if t is None:
                d.proc.send_signal(signal.SIGCONT)
                tries.append(1)
            return t
        tries = []
        txn = wait_for(paused_open, 60, f"{d.name} paused with an open transaction with records",
                       0.005)
        t0 = time.monotonic()
        say(f"zombie: {d.name} (producer id {txn.producer_id}) paused with a transaction open "
            f"on {len(txn.topic_partitions)} partitions ({len(tries)} pauses too late before)")
        members = wait_for(lambda: (lambda m: m if m is not None and d.name not in m
                                    and len(m) == len(others) else None)(group_members(admin)),
                           90, f"the group to move {d.name}'s partitions", 0.3)
        tps = output_tps(c)
        marks = c.end_offsets(tps)
        # The transaction open at the move, for the report. It was seen filling while the
        # zombie was stopped, so its offsets never reached the group: librdkafka sends them
        # (TxnOffsetCommit) only once its AddOffsetsToTxn is answered, which a stopped process
        # cannot take in (an AddOffsetsToTxn already on the wire may add the consumer offsets
        # partition meanwhile). Had the group accepted them under the zombie's generation they
        # would stay pending, the new owners' offset fetches (read_committed: require_stable)
        # would wait for the transaction's end, and a commit once it woke would still be
        # exactly once; this one the group must refuse when the zombie wakes.
        try:
            at_move = admin.describe_transactions([tid])[tid]
            held = {"state": str(at_move.state), "offsets": offsets_in(at_move)}
        except Exception as exc:
            held = {"state": f"unknown ({exc})", "offsets": False}
        moved = sorted({p for v in members.values() for p in v})
        say(f"zombie: partitions moved after {time.monotonic() - t0:.1f}s to "
            f"{sorted(members)} ({len(moved)} partitions); its transaction then {held}; "
            f"resuming {d.name}")
        n_assigned, seen = d.assignments(), len(d.text())
        d.proc.send_signal(signal.SIGCONT)
        # Until it has aborted (its commit refused: the group has moved on) or rejoined: what
        # it wrote until then belongs to the transactions that were open across the move.
        wait_for(lambda: "transaction aborted" in d.text()[seen:]
                 or d.assignments() > n_assigned or not d.alive(), 120,
                 f"{d.name} to abort or rejoin", 0.005)
        marks2 = c.end_offsets(tps)
        if not d.alive():
            # As an orchestrator would: started again (its log says why it stopped).
            say(f"zombie: {d.name} exited with status {d.proc.returncode} after it woke; "
                f"started again")
            d.start()
        else:
            say(f"zombie: {d.name} back in the group")
        return txn.producer_id, marks, marks2, held
    finally:
        c.close()
        admin.close()


def check_zombie(cluster, label, pid, marks, marks2, held, bs):
    """The zombie's transaction that was open (filling, its offsets not sent) when its
    partitions moved, and whatever it wrote after the move until it was back in the group, in
    every output partition's log segments (a data batch belongs to the transaction its
    producer's next control batch ends): each batch must be closed by an ABORT marker (woken,
    the zombie publishes nothing: its offsets, sent with every transaction, are refused by the
    group coordinator for an old generation), and a read_committed reader must return none of
    their records."""
    tps = sorted(marks, key=lambda tp: (tp.topic, tp.partition))
    batches = []
    for node in range(1, NODES + 1):  # the replicas hold the same batches; one that has all
        batches = cluster.batches(node, tps)
        tops = collections.defaultdict(int)
        for x in batches:
            tops[x["tp"]] = max(tops[x["tp"]], x["last"] + 1)
        if all(tops[tp] >= marks2[tp] for tp in tps):
            break
    by_tp = collections.defaultdict(list)
    for x in batches:
        by_tp[x["tp"]].append(x)
    txns = collections.defaultdict(list)  # the control batch ending it (or None) -> batches
    for tp in tps:
        seq = sorted(by_tp[tp], key=lambda x: x["base"])
        for i, x in enumerate(seq):
            if x["pid"] != pid or x["control"] or x["base"] >= marks2[tp]:
                continue
            end = next((y for y in seq[i + 1:] if y["pid"] == pid and y["control"]), None)
            if x["base"] < marks[tp] and end is not None and end["base"] < marks[tp]:
                continue  # a transaction that ended before the move
            key = (end["tp"], end["base"], end["marker"]) if end else (tp, None, None)
            txns[key].append((tp, x["base"], x["last"], x["base"] >= marks[tp]))
    window, verdicts, problems = [], collections.Counter(), []
    for (etp, ebase, marker), xs in txns.items():
        for tp, base, last, a in xs:
            window.append((tp, base, last))
            verdicts[marker] += 1
            if marker != "ABORT":
                problems.append(f"{tp.topic}[{tp.partition}] {base}..{last} "
                                f"({'after' if a else 'before'} the move): {marker}")
    visible = []
    want = collections.defaultdict(set)
    for tp, base, last in window:
        want[tp.topic].update((tp.partition, o) for o in range(base, last + 1))
    for topic, offs in want.items():
        for m in read_all(bs, topic):
            if (m.partition, m.offset) in offs:
                visible.append(f"{topic}[{m.partition}]@{m.offset}")
    n_after = sum(1 for xs in txns.values() for *_, a in xs if a)
    opened = [m for (_, _, m), xs in txns.items() if any(not a for *_, a in xs)]
    say(f"[{label}] zombie (producer id {pid}): {len(window)} batches of the transaction open "
        f"at the move or written after it ({n_after} after); closing markers {dict(verdicts)}; "
        f"at the move {held}")
    check(opened and set(opened) == {"ABORT"}, f"[{label}] the transaction the zombie was "
          f"paused filling was refused and aborted when it woke (fenced)",
          f"its closing markers: {opened}")
    check(not problems, f"[{label}] every batch of the zombie's transaction open at the move, "
          f"and every batch it wrote after the move, ended ABORT", "; ".join(problems[:10]))
    check(not visible, f"[{label}] no record of those batches is returned read_committed",
          ", ".join(visible[:10]))
    return len(window)


# ---- reading the outputs -----------------------------------------------------------------------

def collect(bs, label, n_by_part, reg):
    res = {}
    notifs = collections.Counter()
    per_child = collections.defaultdict(set)
    for m in read_all(bs, T_NOTIFS):
        v = unframe(reg, m.value)
        k = (v["notification_id"], v["kind"])
        notifs[k] += 1
        per_child[m.key].add(k)
    dups = {k: n for k, n in notifs.items() if n > 1}
    check(not dups, f"[{label}] each of {len(notifs)} (notification_id, kind) exactly once",
          f"{len(dups)} duplicated, e.g. {list(dups.items())[:8]}")
    audits = collections.Counter()
    kinds = collections.Counter()
    audit_ids = set()
    seen = collections.defaultdict(list)  # audit id -> where and what, for a report
    for m in read_all(bs, T_AUDIT):
        v = unframe(reg, m.value)
        audits[v["audit_id"]] += 1
        kinds[v["kind"]] += 1
        audit_ids.add((v["audit_id"], v["kind"]))
        seen[v["audit_id"]].append(
            (m.partition, m.offset, v["kind"], v.get("notification_id"),
             (v.get("event") or {}).get("event_id"), (m.key or b"")[:12].decode("ascii", "replace")))
    adups = {k: n for k, n in audits.items() if n > 1}
    check(not adups, f"[{label}] each of {len(audits)} audit ids exactly once "
          f"({dict(kinds)})", f"{len(adups)} duplicated, e.g. " + "; ".join(
              f"{k}: {seen[k]}" for k in list(adups)[:5]))
    dead = collections.Counter()
    dead_bytes = {}
    for m in read_all(bs, T_DEAD):
        h = {k: v.decode("utf-8", "replace") for k, v in (m.headers or [])}
        key = (h.get("nb.source.topic"), int(h.get("nb.source.partition", -1)),
               int(h.get("nb.source.offset", -1)), h.get("nb.error.code"))
        dead[key] += 1
        dead_bytes[key] = m.value
    admin = KafkaAdminClient(bootstrap_servers=bs)
    try:
        committed = e2e.group_offsets(admin)
    finally:
        admin.close()
    lag = {p: (committed.get((T_EVENTS, p)), n) for p, n in n_by_part.items()
           if committed.get((T_EVENTS, p)) != n}
    check(not lag, f"[{label}] group committed offset = end offset on all {SOURCE_PARTITIONS} "
          f"{T_EVENTS} partitions", str(lag))
    res.update(notifs=notifs, per_child=per_child, audits=audits, audit_ids=audit_ids, dead=dead,
               dead_bytes=dead_bytes, audit_kinds=kinds, seen=seen)
    return res


def check_dead(label, res, events, expect, offsets):
    """Every malformed record dead-lettered once with its bytes and decode's code."""
    want = {}
    for i, code in enumerate(expect):
        if code:
            p, o = offsets[i]
            want[(T_EVENTS, p, o, code)] = base64.b64decode(events[i]["value"])
    dups = {k: n for k, n in res["dead"].items() if n > 1}
    got = set(res["dead"])
    bad_bytes = [k for k in want if k in got and res["dead_bytes"][k] != want[k]]
    check(not dups and got == set(want) and not bad_bytes,
          f"[{label}] each of the {len(want)} malformed records dead-lettered once, with its "
          f"code and original bytes", f"duplicated {dups}; missing {set(want) - got}; "
          f"unexpected {got - set(want)}; bytes differ {bad_bytes}")


def source_offsets(bs, events):
    """(partition, offset) of each event, read back (kafka-python) and matched by value."""
    out = {}
    by_value = collections.defaultdict(collections.deque)
    for i, r in enumerate(events):
        by_value[r["value"]].append(i)
    for m in read_all(bs, T_EVENTS, "read_uncommitted"):
        q = by_value.get(base64.b64encode(m.value or b"").decode())
        if q:
            out[q.popleft()] = (m.partition, m.offset)
    if len(out) != len(events):
        raise Fatal(f"{len(events) - len(out)} events not found on {T_EVENTS}")
    return out


# ---- the runs ----------------------------------------------------------------------------------

def run(work, label, faulted, early, late, events, rng, fixed_now):
    say(f"===== {label} run =====")
    rdir = os.path.join(work, label)
    os.makedirs(rdir)
    cluster = Cluster(work, label)
    instances, faults, res = [], None, {}
    t_run = time.monotonic()
    try:
        bs = cluster.start()
        cfg = os.path.join(rdir, "notbrought.yaml")
        write_config(cfg, bs, processing=TEST_PROCESSING)
        create_topics(bs, cfg, label)
        produce_file(bs, write_recs(os.path.join(rdir, "early.rec"), early))
        names = ["nb-cluster-1", "nb-cluster-2", "nb-cluster-3"] if faulted else ["nb-cluster-1"]
        instances = [Instance(rdir, cfg, bs, n, fixed_now) for n in names]
        for d in instances:
            d.start()
        if not faulted:
            produce_file(bs, write_recs(os.path.join(rdir, "events.rec"), events))
        else:
            box = {}
            faults_done = threading.Event()
            chunk, hold = 60, 3

            def producer():
                """A chunk a second or so; the last `hold` chunks only once the faults are
                over, so that records flow during every fault."""
                try:
                    starts = list(range(0, len(events), chunk))
                    for j, k in enumerate(starts):
                        if len(starts) - j <= hold:
                            faults_done.wait(timeout=600)
                        produce_file(bs, write_recs(os.path.join(rdir, f"events-{k}.rec"),
                                                    events[k:k + chunk]))
                        time.sleep(1.0)
                    box["done"] = True
                except Exception as exc:
                    box["error"] = exc
            th = threading.Thread(target=producer, daemon=True)
            th.start()
            faults = Faults(cluster, instances, rng, bs)
            for d in instances:
                wait_for(lambda d=d: d.phase() == "processing", 120, f"{d.name} to start", 0.05)
            try:
                faults.kill_round(2)
                res["zombie"] = zombie(cluster, instances[2], bs, instances[:2])
                faults.kill_round(2)
                faults.rebalance(instances[1])
                faults.kill_leader_broker()
                faults.kill_round(2)
                faults.kill_controller()
                faults.pause_broker()
                faults.kill_round(5)
            finally:
                faults_done.set()
            th.join(timeout=300)
            if "done" not in box:
                raise Fatal(f"producing the events failed: {box.get('error')}")
            say(f"[{label}] all {len(events)} events produced; {len(faults.kills)} kills so far")
        offsets = source_offsets(bs, events)
        n_by_part = collections.Counter(p for p, _ in offsets.values())
        n_by_part = {p: n_by_part.get(p, 0) for p in range(SOURCE_PARTITIONS)}
        t = time.monotonic()
        wait_quiet(bs, instances, n_by_part)
        say(f"[{label}] events handled (settled after {time.monotonic() - t:.1f}s)")
        produce_file(bs, write_recs(os.path.join(rdir, "late.rec"), late))
        if faulted:
            time.sleep(rng.uniform(0.05, 0.5))
            faults.kill(rng.choice(instances), "start")  # while the late links are handled
        t = time.monotonic()
        wait_quiet(bs, instances, n_by_part)
        say(f"[{label}] late links handled (settled after {time.monotonic() - t:.1f}s)")
        res["digests"] = identity_digests(instances, len(early) + len(late))
        check(len(set(res["digests"].values())) == 1, f"[{label}] the same identity table on "
              f"every instance (digest of {len(early) + len(late)} links: "
              f"{sorted(set(res['digests'].values()))})", str(res["digests"]))
        for d in instances:
            rc = d.term()
            check(rc == 0, f"[{label}] {d.name}: SIGTERM, exit 0", f"status {rc}")
        reg = load_registry(os.path.join(ROOT, "schemas"))
        res.update(collect(bs, label, n_by_part, reg))
        res["offsets"] = offsets
        if faulted:
            res["kills"] = faults.kills
            res["faults"] = faults.events
            zpid, marks, marks2, held = res["zombie"]
            res["zombie_batches"] = check_zombie(cluster, label, zpid, marks, marks2, held, bs)
        res["seconds"] = time.monotonic() - t_run
        return res
    finally:
        for d in instances:
            if d.proc and d.proc.poll() is None:
                try:
                    d.proc.send_signal(signal.SIGCONT)
                    d.proc.kill()
                    d.proc.wait(timeout=30)
                except Exception:
                    pass
        if faults:
            faults.admin.close()
        cluster.stop()


def live(per_child):
    """child -> the notification ids raised and not withdrawn (its final state). A withdrawal
    is a notification of its own, "<id>-w"; an escalation "<id>-e<n>" keeps its origin open."""
    out = {}
    for k, ids in per_child.items():
        gone = {i[:-2] for i, kind in ids if kind == "withdrawn" and i.endswith("-w")}
        out[k] = {i for i, kind in ids if kind not in ("withdrawn", "escalated")
                  and i not in gone}
    return out


def compare(ref, flt):
    """Order-independent: each child's final state equal; every other difference in the
    (notification_id, kind) sets a notification raised and withdrawn in one run only (an
    absence deadline judged before a record that answered it, in that run's interleaving)."""
    a, b = ref["per_child"], flt["per_child"]
    la, lb = live(a), live(b)
    keys = set(a) | set(b)
    final = {k: (sorted(la.get(k, set()) - lb.get(k, set())), sorted(lb.get(k, set()) - la.get(k, set())))
             for k in keys if la.get(k, set()) != lb.get(k, set())}
    check(not final, f"each child's final state equal (notifications raised and not withdrawn) "
          f"for all {len(keys)} children: {sum(map(len, la.values()))} undisturbed, "
          f"{sum(map(len, lb.values()))} faulted",
          f"{len(final)} children differ, e.g. " + "; ".join(
              f"{k[:12]!r}: only undisturbed {x[:3]}, only faulted {y[:3]}"
              for k, (x, y) in list(final.items())[:5]))
    def origin(i):  # a withdrawal "<id>-w" and an escalation "<id>-e<n>" belong to <id>
        m = re.match(r"(.*)-(w|e\d+)$", i)
        return m.group(1) if m else i

    unexplained, pairs = [], 0
    for k in keys:
        for one, other in ((a.get(k, set()), b.get(k, set())), (b.get(k, set()), a.get(k, set()))):
            extra = one - other
            for o in {origin(i) for i, _ in extra}:
                group = {(i, kd) for i, kd in one if origin(i) == o}
                kinds = {kd for _, kd in group}
                if group <= extra and "withdrawn" in kinds and len(kinds) > 1:
                    pairs += 1
                else:
                    unexplained.append((k[:12], o, sorted(f"{i} {kd}" for i, kd in extra
                                                          if origin(i) == o)))
    same = not pairs and not unexplained
    check(not unexplained, f"the (notification_id, kind) sets per child are "
          + ("identical" if same else f"equal but for {pairs} notifications raised and withdrawn "
             f"in one run only"), f"unexplained: {unexplained[:8]}")
    steps = ("received", "parked")
    ra = {i for i, kd in ref["audit_ids"] if kd in steps}
    fa = {i for i, kd in flt["audit_ids"] if kd in steps}
    check(ra == fa, f"the same audit ids of events received and parked: {len(ra)} vs {len(fa)}",
          f"{len(ra - fa)} only undisturbed, {len(fa - ra)} only faulted: "
          + "; ".join(f"{i} {ref['seen'].get(i) or flt['seen'].get(i)}"
                      for i in sorted(ra ^ fa)[:6]))
    say(f"audit records by kind: undisturbed {dict(ref['audit_kinds'])}, faulted "
        f"{dict(flt['audit_kinds'])}")
    check(set(ref["dead"]) == set(flt["dead"]),
          f"the same dead letters (source partition, offset, code): {len(ref['dead'])} vs "
          f"{len(flt['dead'])}", f"{set(ref['dead']) ^ set(flt['dead'])}")


def main():
    for path in (NB_BIN, KAFKA):
        if not os.access(path, os.X_OK):
            print(f"cluster: {path} is missing or not executable", file=sys.stderr)
            print("cluster: 0 passed, 1 failed")
            return 1
    now_s = int(time.time())
    now_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_s))
    work = tempfile.mkdtemp(prefix="nb-e2e-cluster.")
    rng = random.Random(SEED)
    t0 = time.monotonic()
    say(f"seed {SEED}, now {now_iso}, work dir {work}, binary {NB_BIN}")
    try:
        subprocess.run([KAFKA, "fetch"], check=True, capture_output=True)
        early, late, events, expect = make_sample(work, now_iso)
        n_bad = sum(1 for c in expect if c)
        say(f"sample: {len(early)} early links, {len(events)} events on {T_EVENTS} "
            f"({n_bad} malformed), {len(late)} late links")
        check(n_bad > 0 and len(late) > 0, "the sample has malformed records and late links")
        ref = run(work, "undisturbed", False, early, late, events, rng, now_iso)
        check_dead("undisturbed", ref, events, expect, ref["offsets"])
        check(len(ref["notifs"]) > 0, "the undisturbed run raised notifications",
              str(len(ref["notifs"])))
        flt = run(work, "faulted", True, early, late, events, rng, now_iso)
        check(flt["offsets"] == ref["offsets"], "every event at the same partition and offset "
              "in both runs")
        check_dead("faulted", flt, events, expect, flt["offsets"])
        kills = flt["kills"]
        check(len(kills) >= 10, f"{len(kills)} kill -9 of instances (>= 10): "
              f"{dict(collections.Counter(k[2] for k in kills))}")
        check(flt["zombie_batches"] > 0, "the zombie held records in a transaction across "
              f"the move of its partitions ({flt['zombie_batches']} batches, all checked above)")
        check(set(flt["digests"].values()) == set(ref["digests"].values()),
              "the faulted run's instances hold the undisturbed run's identity table",
              f"{ref['digests']} against {flt['digests']}")
        compare(ref, flt)
        say(f"instances that exited 3 (a fatal Kafka error) and were started again: "
            f"{Instance.exits or 'none'}")
        say(f"faults: {'; '.join(flt['faults'])}")
        say(f"times: undisturbed {ref['seconds']:.0f}s, faulted {flt['seconds']:.0f}s")
    except Exception as exc:
        e2e.FAILED += 1
        say(f"FAIL - {type(exc).__name__}: {exc}")
        if not isinstance(exc, Fatal):
            traceback.print_exc()
    finally:
        if KEEP or e2e.FAILED:
            say(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    say(f"total {time.monotonic() - t0:.0f}s")
    print(f"cluster: {e2e.PASSED} passed, {e2e.FAILED} failed", flush=True)
    return 0 if e2e.FAILED == 0 and e2e.PASSED > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
