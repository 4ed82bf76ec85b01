#!/usr/bin/env python3
"""The HL7 v2 adapter killed with -9 mid-stream, on a real Apache Kafka broker (issue 22).

An independent sender, written here as an integration engine behaves, sends a few hundred HL7
v2 SIU messages over MLLP to `notbrought ingest mllp` (the GP practice mapping) for many
children: bookings, no-shows and attendances. It keeps up to WINDOW messages in flight
(pipelining), records for each whether it got its AA, and when the connection breaks
(reset, end of stream, timeout, AR) reconnects and resends, in order, everything not yet
ACKed -- and, as an engine does after a lost ACK, the last REWIND messages it did see ACKed.
The adapter is SIGKILLed twice: each time just after the sender read the ACK of a given
message and sent the next, so that some messages are ACKed and others in flight (by
condition, not by timing); it is started again on the same port at once.

Checks:
  * every message was ACKed AA in the end, none refused;
  * the source topic (read with kafka-python, decoded with fastavro) holds every message at
    least once (nothing lost), and every record of a message carries the same event id, the
    same bytes; so does the identity link each message gives (identity.links); the number of
    duplicates the kills caused is reported (the rewinds make at least REWIND per kill);
  * `notbrought run` over that topic (on the same broker, until the group has committed the
    topic's end and the outputs stay still) publishes exactly the notifications that a daemon
    publishes on a fresh broker fed each event once, without kills: the same multiset of
    (child, rule, kind, appointments), the same notification ids, none twice;
  * the notifications are those the design of the messages implies (children with a GP
    no-show and a health visiting one; children on a plan with a GP no-show);
  * no NHS number, local identifier or name is in the adapter's log.

Both daemons run with the same fixed clock (processing.fixed_now) and HMAC key, so their
notification ids are comparable. The events topic has one partition: each child's order is
fixed, and the undisturbed run is a valid reference (exactly_once.py says why).

Environment: NB_BIN, NB_SOURCE_DIR, NB_E2E_KEEP=1 (keep the work dir).
Prints `mllp_kill: N passed, N failed` last.
"""
import collections
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zoneinfo

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import exactly_once as e2e  # noqa: E402  (broker, daemon and kafka-python helpers)
from exactly_once import Broker, Daemon, check, wait_for, read_all  # noqa: E402
from avro_interop import load_registry, frame, unframe  # noqa: E402

e2e.GROUP = "notbrought-mllp-kill"
e2e.INSTANCE = "nb-mllp-kill-1"
e2e.say = lambda msg: print(f"mllp_kill: {msg}", file=sys.stderr, flush=True)
say = e2e.say

CHILDREN = 150      # three messages each: 450
WINDOW = 8          # messages the sender keeps in flight
REWIND = 3          # ACKed messages resent after a reconnection (a lost ACK)
SOURCE = "gp-w97001"
LOCAL_SYSTEM = "https://fhir.example.nhs.uk/Id/gp-w97001-patient"
LONDON = zoneinfo.ZoneInfo("Europe/London")
KEEP = os.environ.get("NB_E2E_KEEP") == "1"


def nhs(n):
    """A valid (Modulus 11) NHS number in the 999 test range, the n-th or the next valid."""
    while True:
        s = "999%06d" % n
        c = 11 - sum(int(s[i]) * (10 - i) for i in range(9)) % 11
        c = 0 if c == 11 else c
        if c != 10:
            return s + str(c)
        n += 1


# ---- the messages ------------------------------------------------------------------------------

def hl7_time(t):
    return t.astimezone(LONDON).strftime("%Y%m%d%H%M%S")


def sch(appt, start, status):
    """SCH: placer and filler ids (1, 2), type (8), start (11.4), filler status (25)."""
    f = [""] * 26
    f[0], f[1], f[2] = "SCH", f"PL{appt}^EMIS", f"{appt}^EMIS"
    f[8], f[11], f[25] = "IMM^Childhood immunisation", f"^^^{hl7_time(start)}", status
    return "|".join(f)


def siu(control_id, trigger, made, appt, start, status, child):
    """One SIU message as a GP system sends it through an engine (segments end with CR)."""
    segs = [
        f"MSH|^~\\&|EMIS|W97001|NOTBROUGHT|HB|{hl7_time(made)}||SIU^{trigger}^SIU_S12|"
        f"{control_id}|P|2.5",
        sch(appt, start, status),
        f"PID|1||{child['nhs']}^^^NHS^NH~{child['local']}^^^EMIS^PI||{child['family']}^"
        f"{child['given']}||{child['dob'].strftime('%Y%m%d')}|F",
        f"AIS|1||IMM^Childhood immunisation|{hl7_time(start)}",
    ]
    return ("\r".join(segs) + "\r").encode()


def design(now):
    """The children, the messages (in sending order) and the background events (a health
    visiting no-show, a child protection plan) that make the GP no-shows raise
    notifications. Returns (children, messages, background, expected): each message a dict
    with its control id, bytes and (appointment id, status) key; expected the
    (child index, rule) pairs the policy should notify."""
    children, msgs, background, expected = [], [], [], set()
    for i in range(CHILDREN):
        c = {"nhs": nhs(700000 + 37 * i), "local": f"L{90000 + i}", "family": f"Kill{i:03d}x",
             "given": "Mllp", "dob": (now - dt.timedelta(days=2 * 365 + 3 * i)).date()}
        children.append(c)
    seq = 0
    for i, c in enumerate(children):
        a, b = f"A{i:04d}", f"B{i:04d}"
        start_a = (now - dt.timedelta(days=10)).replace(hour=9, minute=30, second=0)
        start_b = (now + dt.timedelta(days=14)).replace(hour=10, minute=0, second=0)
        noshow = i % 2 == 0
        plan = [
            ("S12", now - dt.timedelta(days=40, minutes=i), a, start_a, "Booked", "booked"),
            ("S26", start_a + dt.timedelta(hours=2), a, start_a, "Noshow", "was_not_brought")
            if noshow else
            ("S14", start_a + dt.timedelta(hours=2), a, start_a, "Complete", "attended"),
            ("S12", now - dt.timedelta(days=9, minutes=i), b, start_b, "Booked", "booked"),
        ]
        for trig, made, appt, start, code, status in plan:
            seq += 1
            cid = f"MK{seq:06d}"
            msgs.append({"cid": cid, "bytes": siu(cid, trig, made, appt, start, code, c),
                         "key": (appt, status), "link": (c["local"], made)})
        hv = i % 4 == 0 or i % 6 == 3  # a health visiting no-show: with a GP one, two agencies
        if hv:
            background.append(("appointment", hv_noshow(c, i, now)))
        if i % 10 in (0, 5):  # on a child protection plan
            background.append(("fact", plan_fact(c, i, now)))
        if noshow and hv:
            expected.add((i, "under5_multiagency"))
        if noshow and i % 10 in (0, 5):
            expected.add((i, "wnb_child_on_plan"))
    return children, msgs, background, expected


def hv_noshow(c, i, now):
    start = (now - dt.timedelta(days=60)).replace(hour=11, minute=0, second=0, microsecond=0)
    return {
        "event_id": f"mk-hv-{i}",
        "source": {"agency": "health_visiting", "system": "CYPRIS", "organisation_code": "7A1"},
        "subject": {"kind": "child", "nhs_number": c["nhs"], "local_id": None,
                    "pregnant_person_id": None, "expected_delivery_date": None,
                    "date_of_birth": c["dob"], "family_name": None, "postcode": None},
        "appointment": {"id": f"hv-{i}", "type": "2_year_review", "mandated_contact": True,
                        "contact_mode": "home_visit", "scheduled_start": start},
        "status": "was_not_brought",
        "recorded_at": start + dt.timedelta(hours=3),
        "version": 1,
    }


def plan_fact(c, i, now):
    return {"event_id": f"mk-cpp-{i}", "nhs_number": c["nhs"], "local_id": None,
            "kind": "child_protection_plan", "start_date": (now - dt.timedelta(days=200)).date(),
            "end_date": None, "status": "current", "source_system": "WCCIS",
            "organisation_code": "W04000", "recorded_at": now - dt.timedelta(days=200),
            "version": 1}


# ---- the sender (an integration engine) --------------------------------------------------------

class Engine(threading.Thread):
    """Sends the messages in order over MLLP, WINDOW in flight, and resends on any failure.

    ACKs come in order, so the messages answered for good (AA; or AE, which is not resent)
    are always a prefix: `acked` is its length. on_ack(acked, in_flight) is called after each
    AA is read and the window refilled: the test kills the adapter from it."""

    def __init__(self, port, msgs, on_ack):
        super().__init__(daemon=True)
        self.port, self.msgs, self.on_ack = port, msgs, on_ack
        self.n = len(msgs)
        self.acked = 0                      # the prefix answered for good
        self.codes = [None] * self.n        # the last MSA-1 of each message
        self.sends = [0] * self.n
        self.reconnects = 0
        self.resent_in_flight = 0           # sent, never ACKed, sent again
        self.resent_acked = 0               # the rewinds: ACKed, sent again
        self.failures = collections.Counter()
        self.error = None

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the main thread
            self.error = f"{type(e).__name__}: {e}"

    def _connect(self, deadline_s=60):
        end = time.monotonic() + deadline_s
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                s.settimeout(20)
                return s
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)  # an engine's reconnect interval

    def _run(self, deadline_s=120):
        first = True
        end = time.monotonic() + deadline_s
        while self.acked < self.n:
            if time.monotonic() > end:
                raise TimeoutError(f"{self.acked} of {self.n} messages ACKed after "
                                   f"{deadline_s}s, {self.reconnects} reconnections")
            start = self.acked if first else max(0, self.acked - REWIND)
            if not first:
                self.reconnects += 1
                self.resent_acked += self.acked - start
            first = False
            sock = self._connect()
            try:
                self._session(sock, start)
            except (OSError, EOFError, ValueError) as e:
                self.failures[type(e).__name__] += 1
            finally:
                sock.close()

    def _session(self, sock, start):
        """One connection: send from message `start` on; returns or raises on a failure."""
        buf = b""
        nxt = start
        inflight = collections.deque()
        while self.acked < self.n or inflight:
            nxt = self._fill(sock, nxt, inflight)
            if not inflight:
                return
            while b"\x1c\r" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed before the ACK")
                buf += chunk
            frame_, buf = buf.split(b"\x1c\r", 1)
            ack = frame_.lstrip(b"\x0b").decode("ascii", "replace").split("\r")
            msa = next((s.split("|") for s in ack if s.startswith("MSA|")), None)
            i = inflight.popleft()
            if not msa or len(msa) < 3 or msa[2] != self.msgs[i]["cid"]:
                raise ValueError(f"ACK out of order for message {i}: {msa}")
            self.codes[i] = msa[1]
            if msa[1] != "AA":
                if msa[1] == "AE":  # refused for good: an engine does not resend it
                    if i == self.acked:
                        self.acked += 1
                    continue
                raise ValueError(f"{msa[1]} for message {i}: resend")
            if i == self.acked:
                self.acked += 1
            # Refill the window before telling the test, so that messages are in flight.
            nxt = self._fill(sock, nxt, inflight)
            self.on_ack(self.acked, len(inflight))

    def _fill(self, sock, nxt, inflight):
        """Sends messages from nxt on until WINDOW are in flight; returns the next to send."""
        while nxt < self.n and len(inflight) < WINDOW:
            if self.sends[nxt] and nxt >= self.acked:
                self.resent_in_flight += 1
            self.sends[nxt] += 1
            sock.sendall(b"\x0b" + self.msgs[nxt]["bytes"] + b"\x1c\r")
            inflight.append(nxt)
            nxt += 1
        return nxt


# ---- the adapter -------------------------------------------------------------------------------

class Adapter:
    """One `notbrought ingest mllp` process after another, on the same port."""

    def __init__(self, work, cfg, bootstrap):
        self.work, self.cfg, self.bootstrap = work, cfg, bootstrap
        self.proc, self.n, self.logs = None, 0, []
        self.env = dict(os.environ, NB_OPS_LOG_LEVEL="info")
        self.env.pop("NB_HMAC_KEY", None)  # the adapter needs none

    def start(self, port):
        self.n += 1
        log = os.path.join(self.work, f"adapter-{self.n}.log")
        self.logs.append(log)
        with open(log, "wb") as err:
            self.proc = subprocess.Popen([e2e.NB_BIN, "ingest", "mllp", "--config", self.cfg,
                                          "--bootstrap", self.bootstrap],
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         env=self.env)
        wait_for(lambda: f"listening for {SOURCE} on 127.0.0.1 port {port}" in self.text()
                 or self.proc.poll() is not None, 60, "the adapter to listen", 0.02)
        if self.proc.poll() is not None:
            raise e2e.Fatal(f"the adapter exited ({self.proc.returncode}): {self.text()[-2000:]}")

    def text(self, every=False):
        out = ""
        for log in (self.logs if every else self.logs[-1:]):
            with open(log, "rb") as f:
                out += f.read().decode("utf-8", "replace")
        return out

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def term(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


# ---- Kafka ---------------------------------------------------------------------------------------

def write_config(path, bootstrap, port):
    e2e.write_config(path, bootstrap)
    with open(path, "a") as f:
        f.write(f"""ingest:
  mllp:
    - name: {SOURCE}
      port: {port}
      mapping: {os.path.join(e2e.ROOT, "config", "mappings", "gp-practice.yaml")}
      topic: {e2e.TOPIC_EVENTS}
""")


def background_records(reg, background):
    ids = {"appointment": 1, "fact": 3}
    return [{"key": v["nhs_number"] if kind == "fact" else v["subject"]["nhs_number"],
             "bytes": frame(ids[kind], reg[ids[kind]], v), "timestamp": None}
            for kind, v in background]


def by_key(reg, records, key_of):
    """key -> [(event_id, record)] for the records key_of gives a key (others: key None)."""
    out = collections.defaultdict(list)
    for m in records:
        v = unframe(reg, m.value)
        out[key_of(v)].append((v["event_id"], m))
    return out


def event_key(v):
    if v.get("source", {}).get("agency") != "gp":
        return None  # the background
    return (v["appointment"]["id"], v["status"])


def link_key(v):
    return (v["from"]["value"], v["recorded_at"])


def check_copies(label, want, got):
    """Every wanted key (key -> the message's control id) at least once; every copy of one key
    with one event id and the same bytes. Returns (records, duplicates). Failures name
    messages by control id, never by what they hold."""
    missing = sorted(cid for k, cid in want.items() if k not in got)
    extra = [k for k in got if k is not None and k not in want]
    check(not missing, f"{label}: every message's record is there (nothing lost): "
          f"{len(want) - len(missing)} of {len(want)}",
          f"{len(missing)} missing: messages {missing[:20]}")
    check(not extra, f"{label}: no record of a message not sent", f"{len(extra)} records")
    differ = sorted(want[k] for k, copies in got.items() if k is not None and k in want and
                    (len({i for i, _ in copies}) != 1 or len({m.value for _, m in copies}) != 1))
    check(not differ, f"{label}: every duplicate carries its original's event id and bytes",
          f"{len(differ)} messages differ: {differ[:20]}")
    n = sum(len(c) for k, c in got.items() if k is not None)
    ids = {i for k, c in got.items() if k is not None for i, _ in c}
    check(len(ids) == len(want), f"{label}: {len(ids)} distinct event ids for {len(want)} "
          f"messages")
    return n, n - len([k for k in got if k is not None])


def notifications(reg, bootstrap, who):
    """The notifications, each child named by its index in `who` (NHS number -> index), so
    that no NHS number is printed."""
    out = []
    for m in read_all(bootstrap, e2e.TOPIC_NOTIFS):
        v = unframe(reg, m.value)
        out.append({"id": (v["notification_id"], v["kind"]),
                    "key": (who.get(v["child"]["nhs_number"], -1), v["rule"]["id"], v["kind"],
                            tuple(sorted(x["appointment_id"] for x in v["evidence"])))})
    return out


def daemon_pass(work, label, cfg, bootstrap, now, who):
    """`notbrought run` until the events topic is consumed to its end and the outputs stay
    still; SIGTERM; the notifications read back (fastavro)."""
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    tp = TopicPartition(e2e.TOPIC_EVENTS, 0)
    n_events = c.end_offsets([tp])[tp]
    c.close()
    daemon = Daemon(os.path.join(work, label), cfg, bootstrap)
    os.makedirs(daemon.work, exist_ok=True)
    daemon.env["NB_PROCESSING_FIXED_NOW"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    t = time.monotonic()
    daemon.start()
    try:
        e2e.wait_quiet(bootstrap, daemon, n_events, deadline_s=120)
        rc = daemon.term()
        check(rc == 0, f"[{label}] the daemon consumed all {n_events} records of "
              f"{e2e.TOPIC_EVENTS} in {time.monotonic() - t:.0f}s; SIGTERM exits 0",
              f"status {rc}")
    finally:
        if daemon.alive():
            daemon.proc.kill()
            daemon.proc.wait()
    return notifications(load_registry(os.path.join(e2e.ROOT, "schemas")), bootstrap, who)


# ---- the test ------------------------------------------------------------------------------------

def send_with_kills(work, cfg, bs, msgs, adapter):
    """The sender against the adapter, killed with -9 twice mid-stream. Returns (engine,
    kills)."""
    port = e2e.free_port()
    write_config(cfg, bs, port)
    adapter.start(port)
    points = [len(msgs) // 3, 2 * len(msgs) // 3]
    kills, killed = [], threading.Event()

    def on_ack(acked, in_flight):
        # Called by the sender after it read an ACK and refilled its window.
        if len(kills) < len(points) and acked >= points[len(kills)] and in_flight > 0:
            adapter.kill9()
            kills.append({"acked": acked, "in_flight": in_flight})
            say(f"kill -9 #{len(kills)}: {acked} messages ACKed, {in_flight} in flight")
            killed.set()

    engine = Engine(port, msgs, on_ack)
    t = time.monotonic()
    engine.start()
    for k in range(len(points)):
        wait_for(lambda: killed.is_set() or not engine.is_alive(), 120, f"kill #{k + 1}", 0.01)
        if not killed.is_set():
            break
        killed.clear()
        adapter.start(port)  # the same port: the engine reconnects by itself
    engine.join(timeout=120)
    say(f"sender: {len(msgs)} messages in {time.monotonic() - t:.1f}s, {engine.reconnects} "
        f"reconnections ({dict(engine.failures)}), {engine.resent_in_flight} in-flight "
        f"messages resent, {engine.resent_acked} ACKed messages resent (rewinds)")
    check(not engine.is_alive() and engine.error is None, "the sender finished",
          engine.error or "still running")
    check(len(kills) == len(points) and all(k["in_flight"] > 0 and k["acked"] > 0
                                            for k in kills),
          f"{len(kills)} kill -9 of the adapter mid-stream (messages ACKed and others in "
          f"flight each time)", str(kills))
    codes = collections.Counter(engine.codes)
    check(engine.acked == len(msgs) and codes == {"AA": len(msgs)},
          f"every message ACKed AA in the end: {dict(codes)}")
    check(engine.resent_in_flight > 0, f"messages in flight at a kill were resent: "
          f"{engine.resent_in_flight}")
    rc = adapter.term()
    check(rc == 0, "the last adapter exits 0 on SIGTERM", f"status {rc}")
    return engine, kills


def check_topics(reg, bs, msgs, engine):
    """Step 4: the source topic and identity.links hold every message, duplicates alike.
    Returns the records to feed the undisturbed run: background and each event once."""
    # The adapter does not write transactions: every record is as the producer wrote it.
    events = read_all(bs, e2e.TOPIC_EVENTS, "read_uncommitted")
    got = by_key(reg, events, event_key)
    n, dups = check_copies(e2e.TOPIC_EVENTS, {m["key"]: m["cid"] for m in msgs}, got)
    bound = engine.resent_acked + engine.resent_in_flight
    check(engine.resent_acked <= dups <= bound,
          f"{dups} duplicates on {e2e.TOPIC_EVENTS} ({n} records for {len(msgs)} messages): at "
          f"least the {engine.resent_acked} rewound (ACKed) messages, at most all "
          f"{bound} resends", f"{dups} not in [{engine.resent_acked}, {bound}]")
    say(f"the kills caused {dups} duplicate events: {engine.resent_acked} from the rewinds, "
        f"{dups - engine.resent_acked} in-flight messages that had reached Kafka before the "
        f"kill, of {engine.resent_in_flight} resent")
    links = read_all(bs, e2e.TOPIC_LINKS, "read_uncommitted")
    want = {m["link"]: m["cid"] for m in msgs}
    lgot = by_key(reg, links, link_key)
    check_copies(e2e.TOPIC_LINKS, want, lgot)
    seen, once = set(), []
    for m in events:
        k = event_key(unframe(reg, m.value))
        if k is None or k not in seen:
            once.append({"key": m.key.decode() if m.key else None, "bytes": m.value,
                         "timestamp": None})
        if k is not None:
            seen.add(k)
    links_once = [{"key": c[0][1].key.decode() if c[0][1].key else None,
                   "bytes": c[0][1].value, "timestamp": None} for c in lgot.values()]
    return once, links_once


def main():
    work = tempfile.mkdtemp(prefix="nb-mllp-kill.")
    t0 = time.monotonic()
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    reg = load_registry(os.path.join(e2e.ROOT, "schemas"))
    children, msgs, background, expected = design(now)
    say(f"{len(children)} children, {len(msgs)} messages, {len(background)} background "
        f"records; clock {now:%Y-%m-%dT%H:%MZ}; work dir {work}")
    brokers, adapter = [], None
    try:
        # Steps 1-3: the broker, the topics, the adapter; the sender; two kills.
        broker = Broker(work, "kill")
        brokers.append(broker)
        bs = broker.start()
        cfg = os.path.join(work, "nb.yaml")
        write_config(cfg, bs, 0)
        e2e.create_topics(bs, cfg, "kill")
        e2e.produce(bs, e2e.TOPIC_EVENTS, background_records(reg, background))
        adapter = Adapter(work, cfg, bs)
        engine, _ = send_with_kills(work, cfg, bs, msgs, adapter)
        # Step 4: what Kafka holds.
        once, links_once = check_topics(reg, bs, msgs, engine)
        # Step 6: no identifier in the adapter's logs.
        logs = adapter.text(every=True)
        leaks = [w for c in children for w in (c["nhs"], c["local"], c["family"]) if w in logs]
        check(not leaks and "listening for" in logs,
              f"no NHS number, local id or name in the adapter's {adapter.n} logs",
              f"{len(leaks)} found")
        # Step 5: the daemon over the topic with the duplicates...
        who = {c["nhs"]: i for i, c in enumerate(children)}
        faulted = daemon_pass(work, "faulted", cfg, bs, now, who)
        broker.stop()
        brokers.remove(broker)
        # ... and over a fresh broker's topic fed each event once, without kills.
        ref_broker = Broker(work, "reference")
        brokers.append(ref_broker)
        rbs = ref_broker.start()
        rcfg = os.path.join(work, "reference.yaml")
        write_config(rcfg, rbs, 0)
        e2e.create_topics(rbs, rcfg, "reference")
        e2e.produce(rbs, e2e.TOPIC_LINKS, links_once)
        e2e.produce(rbs, e2e.TOPIC_EVENTS, once)
        reference = daemon_pass(work, "reference", rcfg, rbs, now, who)
        compare(faulted, reference, expected)
    except Exception as e:
        e2e.FAILED += 1
        say(f"FAIL - {type(e).__name__}: {e}")
        if not isinstance(e, e2e.Fatal):
            traceback.print_exc()
    finally:
        if adapter and adapter.proc and adapter.proc.poll() is None:
            adapter.proc.kill()
            adapter.proc.wait()
        for b in brokers:
            b.stop()
        if KEEP or e2e.FAILED:
            say(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    say(f"total {time.monotonic() - t0:.0f}s")
    print(f"mllp_kill: {e2e.PASSED} passed, {e2e.FAILED} failed", flush=True)
    return 0 if e2e.FAILED == 0 and e2e.PASSED > 0 else 1


def compare(faulted, reference, expected):
    """Nothing doubled downstream: the faulted run's notifications are the reference's."""
    for label, notes in (("faulted", faulted), ("reference", reference)):
        ids = collections.Counter(n["id"] for n in notes)
        dups = {k: c for k, c in ids.items() if c > 1}
        check(not dups, f"[{label}] no notification twice: {len(notes)} records", str(dups))
    a = collections.Counter(n["key"] for n in faulted)
    b = collections.Counter(n["key"] for n in reference)
    check(len(b) > 0 and a == b,
          f"the notifications after the kills are those of the undisturbed run: {sum(a.values())}"
          f" vs {sum(b.values())} by (child, rule, kind, appointments)",
          f"only after the kills {sorted((a - b).elements())[:5]}; only undisturbed "
          f"{sorted((b - a).elements())[:5]}")
    check({n["id"] for n in faulted} == {n["id"] for n in reference},
          "the same notification ids in both runs")
    got = {(n["key"][0], n["key"][1]) for n in reference if n["key"][2] == "new"}
    check(got == expected, f"the notifications the messages imply: {len(expected)} "
          f"(no-show at the GP and with health visiting; no-show on a plan)",
          f"unexpected {sorted(got - expected)[:5]}; missing {sorted(expected - got)[:5]}")


if __name__ == "__main__":
    sys.exit(main())
