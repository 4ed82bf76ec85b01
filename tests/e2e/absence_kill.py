#!/usr/bin/env python3
"""An absence deadline across kill -9, on a real Apache Kafka broker (issue 19).

Two babies born on the same day, each with a new birth visit booked for day 12 (events written
by an independent Avro implementation, fastavro). Baby B's visit is recorded as attended; baby
A's never is: the family goes quiet. The daemon runs with its clock (processing.fixed_now) on
day 13, reads the events and commits, and is killed with SIGKILL before the day 14 deadline.
It is started again with its clock on day 16: the timer restored with baby A's state fires,
and exactly one new_birth_visit_overdue notification for A is committed (read back
read_committed with kafka-python and decoded with fastavro); none for B. A second kill -9 and
restart changes nothing: still exactly one.

Environment: NB_BIN, NB_SOURCE_DIR. Prints `absence_kill: N passed, N failed` last.
"""
import datetime as dt
import os
import sys
import tempfile
import shutil
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import exactly_once as e2e  # noqa: E402  (broker, daemon and kafka-python helpers)
from exactly_once import Broker, Daemon, check, say, wait_for, read_all  # noqa: E402
from avro_interop import load_registry, frame, unframe  # noqa: E402

DAY = dt.timedelta(days=1)
DOB = dt.date(2026, 3, 2)
NOW_BEFORE = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.timezone.utc)   # day 13
NOW_AFTER = dt.datetime(2026, 3, 18, 12, 0, tzinfo=dt.timezone.utc)    # day 16
RULE = "new_birth_visit_overdue"
e2e.GROUP = "notbrought-absence"
e2e.say = lambda msg: print(f"absence_kill: {msg}", file=sys.stderr, flush=True)
e2e.INSTANCE = "nb-absence-1"


def nhs(n):
    while True:
        s = "999%06d" % n
        c = 11 - sum(int(s[i]) * (10 - i) for i in range(9)) % 11
        c = 0 if c == 11 else c
        if c != 10:
            return s + str(c)
        n += 1


def visit(nhs_number, appt_id, status, version, recorded):
    return {
        "event_id": f"{appt_id}-v{version}",
        "source": {"agency": "health_visiting", "system": "CYPRIS", "organisation_code": "7A1"},
        "subject": {"kind": "child", "nhs_number": nhs_number, "local_id": None,
                    "pregnant_person_id": None, "expected_delivery_date": None,
                    "date_of_birth": DOB, "family_name": None, "postcode": None},
        "appointment": {"id": appt_id, "type": "new_birth_visit", "mandated_contact": True,
                        "contact_mode": "home_visit",
                        "scheduled_start": dt.datetime.combine(DOB + 12 * DAY, dt.time(10),
                                                               tzinfo=dt.timezone.utc)},
        "status": status,
        "recorded_at": recorded,
        "version": version,
    }


def metric(port, name):
    """The sum of a metric family's samples on the daemon's /metrics (-1 when it does not
    answer)."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return -1
    total = 0.0
    for line in text.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def notes(reg, bootstrap):
    out = []
    for m in read_all(bootstrap, e2e.TOPIC_NOTIFS):
        v = unframe(reg, m.value)
        out.append((v["child"]["nhs_number"], v["rule"]["id"], v["kind"], v["notification_id"]))
    return out


def main():
    work = tempfile.mkdtemp(prefix="nb-absence-")
    reg = load_registry(os.path.join(e2e.ROOT, "schemas"))
    appt_schema = reg[1]
    baby_a, baby_b = nhs(510001), nhs(510077)
    broker = Broker(work, "absence")
    daemon = None
    try:
        bs = broker.start()
        cfg = os.path.join(work, "nb.yaml")
        e2e.write_config(cfg, bs)
        e2e.create_topics(bs, cfg, "absence")
        booked = (DOB + 4 * DAY)
        recs = []
        for who, n in (("a", baby_a), ("b", baby_b)):
            recs.append(visit(n, f"nbv-{who}", "booked", 1,
                              dt.datetime.combine(booked, dt.time(9), tzinfo=dt.timezone.utc)))
        recs.append(visit(baby_b, "nbv-b", "attended", 2,
                          dt.datetime.combine(DOB + 12 * DAY, dt.time(15),
                                              tzinfo=dt.timezone.utc)))
        # Kafka timestamps of now: the broker's retention would delete records of March.
        e2e.produce(bs, e2e.TOPIC_EVENTS,
                    [{"key": r["appointment"]["id"], "bytes": frame(1, appt_schema, r),
                      "timestamp": None} for r in recs])

        os.environ["NB_PROCESSING_FIXED_NOW"] = NOW_BEFORE.strftime("%Y-%m-%dT%H:%M:%SZ")
        port = e2e.free_port()
        os.environ["NB_OPS_HTTP_PORT"] = str(port)
        daemon = Daemon(work, cfg, bs)
        daemon.start()
        from kafka import KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=bs)
        wait_for(lambda: e2e.group_offsets(admin).get((e2e.TOPIC_EVENTS, 0), -1) >= len(recs),
                 120, "the events committed")
        admin.close()
        got = notes(reg, bs)
        check(not [n for n in got if n[1] == RULE],
              "no new_birth_visit_overdue before the deadline (day 13)", str(got))
        daemon.kill9()

        daemon.env["NB_PROCESSING_FIXED_NOW"] = NOW_AFTER.strftime("%Y-%m-%dT%H:%M:%SZ")
        daemon.start()

        def overdue():
            return [n for n in notes(reg, bs) if n[1] == RULE and n[2] == "new"]
        try:
            wait_for(overdue, 120, "the notification after the restart", interval=1.0)
        except e2e.Fatal as exc:
            check(False, "the restored timer fired", str(exc))
        a = [n for n in overdue() if n[0] == baby_a]
        b = [n for n in overdue() if n[0] == baby_b]
        check(len(a) == 1, "baby A (quiet) notified exactly once after kill -9 and restart",
              str(a))
        check(not b, "baby B (visit recorded) not notified", str(b))

        # Killed again and restarted: the timer is gone with the commit; nothing twice.
        daemon.kill9()
        daemon.start()
        wait_for(lambda: daemon.phase() == "processing", 120, "the second restart")
        # Ready (restored), then its loop two and a half seconds further on: a tick runs at
        # least once a second, so the restored state has been through at least two ticks,
        # and what they decided has committed.
        wait_for(lambda: metric(port, "notbrought_ready") == 1, 120, "readiness")
        t_ready = metric(port, "notbrought_last_loop_timestamp_seconds")
        wait_for(lambda: metric(port, "notbrought_last_loop_timestamp_seconds") >= t_ready + 2.5,
                 60, "two ticks after the restore")
        last = sorted(notes(reg, bs))
        a = [n for n in last if n[0] == baby_a and n[1] == RULE and n[2] == "new"]
        check(len(a) == 1, "still exactly one after a second kill -9 and restart", str(a))
        rc = daemon.term()
        check(rc == 0, "SIGTERM exits 0", f"status {rc}")
    except e2e.Fatal as exc:
        check(False, "the test ran to its end", str(exc))
        if daemon:
            say(daemon.text()[-3000:])
    finally:
        if daemon and daemon.alive():
            daemon.proc.kill()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"absence_kill: {e2e.PASSED} passed, {e2e.FAILED} failed")
    return 0 if e2e.FAILED == 0 and e2e.PASSED > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
