#!/usr/bin/env python3
"""Cross-implementation checks of notbrought's Avro bytes against fastavro, an independent
Avro implementation.

  avro_interop.py vectors --out DIR
      Encodes a fixed set of records with fastavro (Confluent framing) and writes
      DIR/vectors.jsonl (a notbrought record file) and DIR/expected.jsonl (the JSON notbrought
      must decode each one to). tests/interop/vectors/ holds the checked-in output; regenerate
      it with this command, never by hand.

  avro_interop.py check-vectors --dir DIR
      Checks that the checked-in vectors are exactly what `vectors` writes today.

  avro_interop.py check-theirs --notbrought BIN
      Regenerates the vectors in a temporary directory and checks that `notbrought decode`
      reads fastavro's bytes to exactly the expected values.

  avro_interop.py check-ours --notbrought BIN
      Has notbrought generate sample records and checks that fastavro decodes every record
      notbrought accepts to the same values notbrought reports, and that every record
      notbrought rejects as malformed Avro is also rejected by fastavro.

  avro_interop.py check-text --notbrought BIN
      Text at the door (issue 18): fastavro writes every record type with text people really
      write (Welsh and Irish letters, a right-to-left name with its mark, lines in free text),
      which notbrought must accept and decode to what fastavro reads, and with text no field
      has a use for (bytes that are not UTF-8, control characters, bidirectional overrides),
      which notbrought must refuse as text_invalid naming the field. Bytes that are not UTF-8
      are also refused by fastavro: notbrought accepts nothing an independent reader cannot read.

  avro_interop.py check-records --notbrought BIN --file RECORDFILE [--schema-id N]
      Records notbrought published (e.g. `notbrought consume --format records` of the
      notifications topic): fastavro decodes every one to the same values `notbrought decode`
      reports, and each was written with schema id N when given (tests/interop/notifications.sh).

Exit status 0 when every check passes, 1 otherwise.
"""
import argparse
import base64
import datetime as dt
import io
import json
import os
import struct
import subprocess
import sys
import tempfile

import fastavro

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMAS = os.path.join(ROOT, "schemas")
TEST_SCHEMAS = os.path.join(ROOT, "tests", "data", "schemas")
NOW = "2026-11-01T12:00:00Z"
NHS = "https://fhir.nhs.uk/Id/nhs-number"


def load_registry(directory):
    """id -> parsed fastavro schema, from a registry.tsv directory."""
    reg = {}
    with open(os.path.join(directory, "registry.tsv")) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            sid, _subject, _version, fname = line.split()
            with open(os.path.join(directory, fname)) as sf:
                reg[int(sid)] = fastavro.parse_schema(json.load(sf))
    return reg


def frame(schema_id, schema, value):
    buf = io.BytesIO()
    buf.write(b"\x00" + struct.pack(">i", schema_id))
    fastavro.schemaless_writer(buf, schema, value)
    return buf.getvalue()


def reader_ids(directory):
    """id -> the id of the highest version of its subject (the reader schema notbrought
    compiles in), from a registry.tsv directory."""
    best, rows = {}, []
    with open(os.path.join(directory, "registry.tsv")) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            sid, subject, version, _fname = line.split()
            rows.append((int(sid), subject))
            if subject not in best or int(version) > best[subject][0]:
                best[subject] = (int(version), int(sid))
    return {sid: best[subject][1] for sid, subject in rows}


READERS = reader_ids(SCHEMAS)


def unframe(reg, data):
    """Reads a framed record as notbrought does: written with its schema id, resolved to the
    reader schema of its subject (fastavro fills in the defaults of fields added later)."""
    if len(data) < 5 or data[0] != 0:
        raise ValueError("bad frame")
    (sid,) = struct.unpack(">i", data[1:5])
    schema = reg[sid]
    reader = reg.get(READERS.get(sid, sid), schema)
    buf = io.BytesIO(data[5:])
    value = fastavro.schemaless_reader(buf, schema, reader)
    if buf.tell() != len(data) - 5:
        raise ValueError("trailing bytes")
    return value


def to_json(v):
    """fastavro's Python values in notbrought's JSON rendering."""
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_json(x) for x in v]
    if isinstance(v, dt.datetime):
        v = v.astimezone(dt.timezone.utc)
        return v.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (v.microsecond // 1000)
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def d(s):
    return dt.date.fromisoformat(s)


def source(agency, system, org):
    return {"agency": agency, "system": system, "organisation_code": org}


def appointment(event_id, nhs=None, **kw):
    v = {
        "event_id": event_id,
        "source": source("gp", "EMIS Web", "W91001"),
        "subject": {
            "kind": "child",
            "nhs_number": nhs,
            "local_id": None,
            "pregnant_person_id": None,
            "expected_delivery_date": None,
            "date_of_birth": d("2025-03-14"),
            "family_name": "Carrow",
            "postcode": "CF10 1AA",
        },
        "appointment": {
            "id": "gp-7",
            "type": "immunisation",
            "mandated_contact": False,
            "contact_mode": "face_to_face",
            "scheduled_start": ts("2026-10-20T09:30:00Z"),
        },
        "status": "was_not_brought",
        "recorded_at": ts("2026-10-20T11:02:03.456Z"),
        "version": 2,
    }
    for k, x in kw.items():
        if k in v["subject"]:
            v["subject"][k] = x
        elif k in v["appointment"]:
            v["appointment"][k] = x
        else:
            v[k] = x
    return v


def vectors():
    """(schema id, topic, value written, value expected after decoding by notbrought)."""
    out = []
    a = appointment("ev-1", "9434765919",
                    local_id={"system": "urn:notbrought:gp:W91001", "value": "L7"})
    out.append((1, "gp.appointments", a, a))
    # NHS number with spaces: notbrought normalises it to digits.
    a = appointment("ev-2", "943 476 5919")
    e = json.loads(json.dumps(to_json(a)))
    e["subject"]["nhs_number"] = "9434765919"
    out.append((1, "gp.appointments", a, e))
    # Unborn subject with every optional null but the pregnancy.
    a = appointment("ev-3", None, kind="unborn",
                    pregnant_person_id={"system": NHS, "value": "9990000018"},
                    expected_delivery_date=d("2027-02-01"), date_of_birth=None,
                    family_name=None, postcode=None, type="antenatal_booking",
                    mandated_contact=True, status="booked")
    a["source"] = source("midwifery", "BadgerNet", "7A4")
    out.append((1, "midwifery.appointments", a, a))
    # Written by a newer producer schema (id 101) with an extra optional field.
    a = appointment("ev-4", "9434765919", contact_mode="home_visit", status="no_access_visit")
    a2 = dict(a)
    a2["status_reason"] = "nobody answered the door"
    out.append((101, "hv.contacts", a2, a))
    link = {
        "event_id": "link-1", "kind": "unborn_to_child",
        "from": {"system": NHS, "value": "9990000018"},
        "to": {"system": NHS, "value": "9434765919"},
        "expected_delivery_date": d("2026-09-01"),
        "source": source("midwifery", "BadgerNet", "7A4"),
        "verification": "pds_verified", "recorded_at": ts("2026-09-03T08:00:00Z"),
    }
    out.append((2, "identity.links", link, link))
    fact = {
        "event_id": "fact-1", "nhs_number": "9434765919", "local_id": None,
        "kind": "child_protection_plan", "start_date": d("2026-01-05"), "end_date": None,
        "status": "current", "source_system": "WCCIS", "organisation_code": "W04000",
        "recorded_at": ts("2026-01-05T10:00:00Z"), "version": 1,
    }
    out.append((3, "child.context", fact, fact))
    notif = {
        "notification_id": "5f2c0d7e9a1b", "reference": "WNB-7KQ4-MX9P", "kind": "escalated",
        "child": {"nhs_number": "9434765919", "date_of_birth": d("2025-03-14"),
                  "age_months": 19, "child_key": "a3f1",
                  "pregnant_person_nhs_number": None, "expected_delivery_date": None},
        "context": [{"kind": "child_protection_plan", "start_date": d("2026-01-05"),
                     "end_date": None, "source": "WCCIS",
                     "as_of": ts("2026-01-05T10:00:00Z")}],
        "rule": {"id": "cp-plan-any-wnb", "text": "Any WNB for a child on a plan",
                 "policy_name": "wales-wnb", "policy_version": "2026.1", "policy_hash": "ab12"},
        "tier": "urgent",
        "recipients": [{"role": "named_nurse", "route": "queue:safeguarding"},
                       {"role": "social_worker", "route": "queue:la-cs"}],
        "evidence": [{"event_id": "ev-1", "appointment_id": "gp-7", "agency": "gp",
                      "appointment_type": "immunisation",
                      "scheduled_start": ts("2026-10-20T09:30:00Z"),
                      "status": "was_not_brought", "organisation_code": "W91001",
                      "recorded_at": ts("2026-10-20T11:02:03.456Z")}],
        "counts": [{"window_days": 365, "count": 1, "agencies": 1}],
        "action": "Contact the family today.", "respond_by": ts("2026-11-01T17:00:00Z"),
        "escalation_level": 1, "supersedes": "1a2b3c", "created_at": ts(NOW),
        "items": [],
    }
    out.append((4, "notifications", notif, with_v2_defaults(notif)))
    # Version 2 (schema id 7): role titles, what the rule counted, the source's appointment id.
    notif2 = dict(notif, recipients=[
        {"role": "named_nurse", "route": "queue:safeguarding",
         "title": "Named nurse for safeguarding children"},
        {"role": "social_worker", "route": "queue:la-cs",
         "title": "Allocated social worker (local authority children's services)"}],
        counts=[{"window_days": 28, "count": 1, "agencies": 1,
                 "counted": "1 appointment recorded as was not brought or no access visit in "
                            "the last 28 days, from 1 agency"}],
        evidence=[dict(notif["evidence"][0], appointment_id="EMIS-APPT-0042731",
                       event_id="sha256:1b2c3d4e5f607182")])
    out.append((7, "notifications", notif2, notif2))
    digest = dict(notif, notification_id="digest-3f9a", kind="digest", respond_by=None, items=[
        {"notification_id": "5f2c0d7e9a1b", "reference": "WNB-7KQ4-MX9P", "child_key": "a3f1",
         "nhs_number": "9434765919", "rule_id": "curiosity_cancellations", "tier": "curiosity",
         "decided_at": ts(NOW)},
        {"notification_id": "6a2c0d7e9a1c", "reference": "WNB-8KQ4-MX9Q", "child_key": "b4e2",
         "nhs_number": None, "rule_id": "curiosity_cancellations", "tier": "routine",
         "decided_at": ts(NOW)}])
    out.append((4, "notifications", digest, with_v2_defaults(digest)))
    ack = {
        "ack_id": "ack-1", "notification_id": "5f2c0d7e9a1b", "reference": "WNB-7KQ4-MX9P",
        "acknowledged_by": "staff-123", "role": "named_nurse", "action": "contacted_family",
        "outcome": "Family contacted; appointment rebooked.",
        "acknowledged_at": ts("2026-11-01T13:00:00Z"),
    }
    out.append((5, "notification.acks", ack, with_ack_v2_defaults(ack)))
    # Version 1's "seen" has no symbol in version 2: read as "other" (the enum's default).
    seen = dict(ack, ack_id="ack-0", action="seen", outcome=None)
    out.append((5, "notification.acks", seen, with_ack_v2_defaults(dict(seen, action="other"))))
    # Version 2 (schema id 8): take, reassign, close (docs/inbox.md, section 1).
    take = dict(ack, ack_id="inbox-a-staff-123-1", intent="take", user_id="staff-123",
                reassign_to_queue=None, reassign_to_user=None, reason=None, action="other",
                outcome=None)
    out.append((8, "notification.acks", take, take))
    reassign = dict(take, ack_id="inbox-a-staff-123-2", intent="reassign",
                    reassign_to_queue="queue:hv-team-north", reassign_to_user="staff-456",
                    reason="The family moved to the north team's area.")
    out.append((8, "notification.acks", reassign, reassign))
    close = dict(take, ack_id="inbox-b-staff-456-1", intent="close", user_id="staff-456",
                 action="no_further_action", reason="Seen at the walk-in clinic the next day.",
                 outcome="Mother phoned back.")
    out.append((8, "notification.acks", close, close))
    close2 = dict(close, ack_id="inbox-b-staff-456-2", action="discussed_with_named_nurse",
                  reason=None)
    out.append((8, "notification.acks", close2, close2))
    suggestion = {
        "suggestion_id": "suggest-0123456789abcdef01234567",
        "link": {
            "event_id": "suggest-0123456789abcdef01234567", "kind": "link",
            "from": {"system": "urn:notbrought:hv:7A1", "value": "HV-77"},
            "to": {"system": NHS, "value": "9434765919"},
            "expected_delivery_date": None,
            "source": source("other", "notbrought", "7A1"),
            "verification": "unverified", "recorded_at": ts("2026-10-21T08:00:00Z"),
        },
        "candidate_child_key": "a3f1",
        "cause": {"event_id": "hv-77-v1", "source": source("health_visiting", "CYPRIS", "7A1"),
                  "recorded_at": ts("2026-10-20T11:02:03.456Z")},
        "evidence": {"matched_fields": ["date_of_birth", "family_name", "postcode"],
                     "candidates": 1},
        "suggested_at": ts("2026-10-21T08:00:00Z"),
    }
    out.append((6, "identity.suggestions", suggestion, suggestion))
    # The audit (schema id 9, docs/reporting.md): an event received, a notification raised,
    # a take's verdict, a delivery that failed.
    key = "7c" * 32
    audit = {"audit_id": "aud-000000000000000000000001", "kind": "received",
             "at": ts("2026-11-01T12:00:01Z"), "child_key": key, "notification_id": None,
             "reference": None, "rule": None, "tier": None, "level": 0, "agency": "gp",
             "organisation": "W97001", "evidence": [], "recipients": [], "respond_by": None,
             "reason": None,
             "event": {"event_id": "gp-1-v2", "record_type": "appointment",
                       "appointment_id": "EMIS-APPT-1", "appointment_type": "Immunisation",
                       "status": "was_not_brought", "scheduled_start": ts("2026-10-30T09:30:00Z"),
                       "recorded_at": ts("2026-10-30T11:00:00Z"), "version": 2,
                       "source_system": "EMIS Web", "nhs_number_known": True},
             "action": None, "actor": None, "delivery": None, "subject": None, "policy": None}
    out.append((9, "notbrought.audit", audit, audit))
    policy = {"name": "wales-wnb", "version": "3", "hash": "ab" * 32}
    fired = dict(audit, audit_id="aud-000000000000000000000002", kind="fired",
                 notification_id="5f2c0d7e9a1b", reference="WNB-7KQ4-MX9P",
                 rule="wnb_child_on_plan", tier="urgent", evidence=["gp-1-v2", "hv-4-v1"],
                 recipients=[{"role": "named_nurse", "route": "queue:named-nurse"}],
                 respond_by=ts("2026-11-02T17:00:00Z"), event=None, policy=policy)
    out.append((9, "notbrought.audit", fired, fired))
    taken = dict(fired, audit_id="aud-000000000000000000000003", kind="taken", evidence=[],
                 recipients=[], respond_by=None, rule=None, tier=None, agency=None,
                 organisation=None,
                 action={"ack_id": "inbox-a-staff-123-1", "intent": "take",
                         "acted_at": ts("2026-11-01T13:00:00Z"), "owner_user": "staff-123",
                         "owner_queue": "named_nurse", "target_queue": None,
                         "target_user": None, "close_action": None, "closed_by": None,
                         "closed_at": None},
                 actor={"user_id": "staff-123", "queue": "named_nurse", "via": None})
    out.append((9, "notbrought.audit", taken, taken))
    failed = dict(fired, audit_id="aud-000000000000000000000004", kind="delivery_failed",
                  evidence=[], recipients=[], respond_by=None, policy=None,
                  reason="refused by the endpoint (400)",
                  delivery={"channel": "webhook", "route": "pager", "attempt": 1})
    out.append((9, "notbrought.audit", failed, failed))
    return out


def with_v2_defaults(notif):
    """A notification written with schema version 1 (id 4), as read with version 2: the
    fields version 2 added take their defaults."""
    return dict(notif,
                recipients=[dict(r, title="") for r in notif["recipients"]],
                counts=[dict(c, counted="") for c in notif["counts"]])


def with_ack_v2_defaults(ack):
    """An acknowledgement written with NotificationAck version 1 (id 5), as read with version
    2: a close, without a user id, target or reason."""
    return dict(ack, intent="close", user_id="", reassign_to_queue=None, reassign_to_user=None,
                reason=None)


def write_vectors(directory):
    reg = load_registry(SCHEMAS)
    reg.update(load_registry(TEST_SCHEMAS))
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "vectors.jsonl"), "w") as vf, \
            open(os.path.join(directory, "expected.jsonl"), "w") as ef:
        for sid, topic, written, expected in vectors():
            data = frame(sid, reg[sid], written)
            vf.write(json.dumps({"topic": topic, "key": "", "timestamp": 0,
                                 "value": base64.b64encode(data).decode()}) + "\n")
            ef.write(json.dumps(to_json(expected), sort_keys=True) + "\n")


def check_vectors(directory):
    with tempfile.TemporaryDirectory() as tmp:
        write_vectors(tmp)
        stale = [n for n in ("vectors.jsonl", "expected.jsonl")
                 if open(os.path.join(tmp, n)).read() != open(os.path.join(directory, n)).read()]
    if stale:
        print("FAIL: %s differ from what avro_interop.py vectors writes; regenerate them with\n"
              "  python3 tests/interop/avro_interop.py vectors --out %s" % (stale, directory))
        return 1
    print("check-vectors: 1 passed, 0 failed")
    return 0


def run_decode(binary, recfile, extra=()):
    env = dict(os.environ, NB_NOW=NOW)
    p = subprocess.run([binary, "decode", "--format", "json", *extra, recfile],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit("notbrought decode failed (%d): %s" % (p.returncode, p.stderr))
    # Lines end at "\n" only: str.splitlines() also breaks at U+0085, U+2028 and U+2029, which
    # JSON carries unescaped inside strings.
    return [json.loads(line) for line in p.stdout.split("\n") if line.strip()]


def check_records(binary, recfile, schema_id=None):
    reg = load_registry(SCHEMAS)
    got = run_decode(binary, recfile)
    with open(recfile) as f:
        records = [json.loads(line) for line in f if line.strip()]
    ok = failed = 0
    for g, r in zip(got, records):
        data = base64.b64decode(r["value"])
        (sid,) = struct.unpack(">i", data[1:5])
        try:
            theirs = to_json(unframe(reg, data))
        except Exception as exc:  # fastavro raises various types for bad data
            theirs = "fastavro: %s" % exc
        if g.get("result") != "ok" or theirs != g.get("value") or \
                (schema_id is not None and sid != schema_id):
            failed += 1
            print("FAIL record %d (schema id %d): ours %s\n  theirs %s" % (
                g.get("record", -1), sid, json.dumps(g.get("value")), json.dumps(theirs)))
            continue
        ok += 1
    if len(got) != len(records) or not records:
        print("FAIL: %d records, %d results" % (len(records), len(got)))
        failed += 1
    print("check-records: %d passed, %d failed" % (ok, failed))
    return 1 if failed else 0


def check_theirs(binary):
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        write_vectors(tmp)
        got = run_decode(binary, os.path.join(tmp, "vectors.jsonl"),
                         ["--schemas", TEST_SCHEMAS])
        with open(os.path.join(tmp, "expected.jsonl")) as f:
            expected = [json.loads(line) for line in f]
    if len(got) != len(expected):
        print("FAIL: %d records decoded, %d expected" % (len(got), len(expected)))
        return 1
    for i, (g, e) in enumerate(zip(got, expected), 1):
        if g.get("result") != "ok" or g.get("value") != e:
            failures += 1
            print("FAIL vector %d:\n  got      %s\n  expected %s" % (
                i, json.dumps(g, sort_keys=True), json.dumps(e, sort_keys=True)))
    print("check-theirs: %d passed, %d failed" % (
        len(expected) - failures, failures))
    return 1 if failures else 0


# Errors notbrought reports for bytes that are not well-formed Avro of a known schema; fastavro
# must reject the same records.
MALFORMED = {"frame_truncated", "frame_magic", "avro_truncated", "avro_varint",
             "avro_negative_length", "avro_length", "avro_enum_index", "avro_union_index",
             "avro_trailing"}


def check_ours(binary):
    reg = load_registry(SCHEMAS)
    with tempfile.TemporaryDirectory() as tmp:
        recfile = os.path.join(tmp, "sample.jsonl")
        subprocess.run([binary, "generate", "--children", "300", "--malformed", "40",
                        "--now", NOW, "--output", recfile], check=True)
        got = run_decode(binary, recfile)
        with open(recfile) as f:
            records = [json.loads(line) for line in f]
    ok = failed = 0
    for g, r in zip(got, records):
        data = base64.b64decode(r["value"])
        try:
            theirs = to_json(unframe(reg, data))
            their_error = None
        except Exception as exc:  # fastavro raises various types for bad data
            theirs, their_error = None, exc
        if g["result"] == "ok":
            if their_error is not None or theirs != g["value"]:
                failed += 1
                print("FAIL record %d: notbrought decoded it, fastavro: %s\n  ours   %s\n"
                      "  theirs %s" % (g["record"], their_error, json.dumps(g["value"]),
                                       json.dumps(theirs)))
                continue
        elif g["error"] in MALFORMED and their_error is None:
            failed += 1
            print("FAIL record %d: notbrought says %s, fastavro decoded it" % (
                g["record"], g["error"]))
            continue
        ok += 1
    if len(got) != len(records) or not records:
        print("FAIL: %d records, %d results" % (len(records), len(got)))
        failed += 1
    print("check-ours: %d passed, %d failed" % (ok, failed))
    return 1 if failed else 0


# (record builder, field path notbrought names, value put there). None: the text is fine.
def text_cases():
    vs = {sid: v for sid, _t, v, _e in vectors() if sid in (2, 3, 5)}
    notif = [v for sid, _t, v, _e in vectors() if sid == 4][0]

    def appt(**kw):
        return 1, "gp.appointments", appointment("ev-t", "9434765919", **kw)

    def link(path, value):
        v = json.loads(json.dumps(to_json(vs[2])))
        v["recorded_at"], v["expected_delivery_date"] = vs[2]["recorded_at"], vs[2][
            "expected_delivery_date"]
        v[path[0]] = dict(v[path[0]], **{path[1]: value})
        return 2, "identity.links", v

    def fact(**kw):
        return 3, "child.context", dict(vs[3], **kw)

    def note(**kw):
        return 4, "notifications", dict(notif, **kw)

    def ack(**kw):
        return 5, "notification.acks", dict(vs[5], **kw)

    ev = notif["evidence"][0]
    return [
        # What people write: accepted, and read back as fastavro reads it.
        (appt(family_name="ap Rh\u0177s-\u00d3 S\u00failleabh\u00e1in",
              type="6\u20138 week review"), None, None),
        (appt(family_name="\u0639\u0644\u064a\u200f"), None, None),
        (ack(outcome="Family contacted.\r\nRebooked for\t12 May."), None, None),
        (ack(outcome="Seen.\u2028Rebooked."), None, None),
        (note(action="Contact the family today.\nThen tell the GP."), None, None),
        (fact(source_system="Cyngor Caerdydd \u2013 Gwasanaethau Plant"), None, None),
        # What no field has a use for: refused, the field named.
        (appt(type="immXnisation"), "appointment.type", b"imm\xe9nisation"),
        (appt(type="immunisation\n  Why:        child is safe"), "appointment.type", None),
        (appt(family_name="Car\x1b[2Jrow"), "subject.family_name", None),
        (appt(postcode="CF10\u00851AA"), "subject.postcode", None),
        (appt(type="\u202enoitasinummi"), "appointment.type", None),
        (appt(id="gp-7\u200f"), "appointment.id", None),
        (appt(type="imXXXsation"), "appointment.type", b"im\xed\xa0\x80sation"),  # surrogate
        (appt(type="imXXsation"), "appointment.type", b"im\xc0\xafsation"),  # overlong
        (link(("from", "value"), "L7\x7f"), "from.value", None),
        (fact(source_system="WCCIX("), "source_system", b"WCCI\xc3("),  # truncated sequence
        (note(evidence=[dict(ev, appointment_type="immXnisation")]),
         "evidence.appointment_type", b"imm\xe9nisation"),
        (note(rule=dict(notif["rule"], text="Any WNB\x1b]0;title\x07")), "rule.text", None),
        (ack(acknowledged_by="staff\u2066321"), "acknowledged_by", None),
        (ack(outcome="rebooked\x1b[1A\x1b[2K"), "outcome", None),
    ]


def check_text(binary):
    reg = load_registry(SCHEMAS)
    cases, lines = text_cases(), []
    for (sid, topic, value), _field, raw in cases:
        data = frame(sid, reg[sid], value)
        if raw is not None:  # bytes fastavro will not write: put in place of X placeholders
            holder = bytes(b if b < 0x80 else ord("X") for b in raw)
            assert data.count(holder) == 1
            data = data.replace(holder, raw)
        lines.append((data, json.dumps({"topic": topic, "key": "", "timestamp": 0,
                                        "value": base64.b64encode(data).decode()})))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        recfile = os.path.join(tmp, "text.jsonl")
        with open(recfile, "w") as f:
            f.write("\n".join(l for _d, l in lines) + "\n")
        got = run_decode(binary, recfile)
    if len(got) != len(cases):
        print("FAIL: %d records, %d results (a record vanished)" % (len(cases), len(got)))
        return 1
    for i, (g, (_v, field, raw), (data, _l)) in enumerate(zip(got, cases, lines), 1):
        try:
            theirs, their_error = to_json(unframe(reg, data)), None
        except Exception as exc:  # fastavro raises UnicodeDecodeError for bytes not UTF-8
            theirs, their_error = None, exc
        if field is None:
            if g["result"] != "ok" or g["value"] != theirs:
                failed += 1
                print("FAIL case %d: fine text refused or read differently: %s" % (
                    i, json.dumps(g, ensure_ascii=True)))
            continue
        if g["result"] != "dead_letter" or g.get("error") != "text_invalid" or \
                "'%s'" % field not in g.get("reason", ""):
            failed += 1
            print("FAIL case %d: expected text_invalid naming %s, got %s" % (
                i, field, json.dumps(g, ensure_ascii=True)))
        elif raw is not None and their_error is None:
            failed += 1
            print("FAIL case %d: fastavro read bytes that are not UTF-8" % i)
    print("check-text: %d passed, %d failed" % (len(cases) - failed, failed))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("vectors")
    v.add_argument("--out", required=True)
    cv = sub.add_parser("check-vectors")
    cv.add_argument("--dir", required=True)
    for name in ("check-theirs", "check-ours", "check-text"):
        c = sub.add_parser(name)
        c.add_argument("--notbrought", required=True)
    cr = sub.add_parser("check-records")
    cr.add_argument("--notbrought", required=True)
    cr.add_argument("--file", required=True)
    cr.add_argument("--schema-id", type=int)
    args = ap.parse_args()
    if args.cmd == "check-records":
        return check_records(args.notbrought, args.file, args.schema_id)
    if args.cmd == "vectors":
        write_vectors(args.out)
        return 0
    if args.cmd == "check-vectors":
        return check_vectors(args.dir)
    if args.cmd == "check-theirs":
        return check_theirs(args.notbrought)
    if args.cmd == "check-text":
        return check_text(args.notbrought)
    return check_ours(args.notbrought)


if __name__ == "__main__":
    sys.exit(main())
