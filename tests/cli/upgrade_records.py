#!/usr/bin/env python3
"""Records and checks for the upgrade test (tests/cli/upgrade.sh), issue 20.

  upgrade_records.py crafted --now TIME > FILE
      Writes a record file (fastavro, Confluent framing) of the cases an upgrade must keep
      open: a pregnancy known only by a maternity number (three missed antenatal appointments,
      then the link from that number to the mother's NHS number), a baby whose new birth visit
      was missed (two overlapping rules open at once), a child on a plan with a missed
      appointment (urgent). All NHS numbers are in the 999 test range.

  upgrade_records.py notes FILE
      Reads `notbrought consume --format json` output and prints one line per notification:
      "kind child_key rule_id notification_id", sorted.

  upgrade_records.py compare BEFORE AFTER
      Compares two `notes` listings: prints what AFTER added, and exits 1 when it added any new
      notification for a child and rule that BEFORE had, or any withdrawal. Prints a summary.
"""
import argparse
import base64
import datetime as dt
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
import avro_interop as ai  # noqa: E402

MATERNITY = "urn:notbrought:midwifery:7A4:maternity-number"


def nhs(prefix):
    """The first valid NHS number (Modulus 11) of the 999 test range at or after 999<prefix>0
    (prefix: six digits)."""
    if len(prefix) != 6 or not prefix.isdigit():
        raise SystemExit("nhs(): the prefix is six digits")
    base = int("999" + prefix)
    for n in range(base * 10, base * 10 + 100):
        s = "%010d" % n
        if not s.startswith("999"):
            break
        total = sum(int(c) * (10 - i) for i, c in enumerate(s[:9]))
        check = 11 - total % 11
        if check == 11:
            check = 0
        if check != 10 and check == int(s[9]):
            return s
    raise SystemExit("no valid NHS number")


def crafted(now):
    t0 = ai.ts(now)
    day = dt.timedelta(days=1)
    reg = ai.load_registry(ai.SCHEMAS)
    out = []

    def emit(topic, key, sid, value, at):
        data = ai.frame(sid, reg[sid], value)
        out.append({"topic": topic, "key": key, "value": base64.b64encode(data).decode(),
                    "timestamp": int(at.timestamp() * 1000)})

    def appt(eid, agency, system, org, subject, aid, atype, start, status, mandated=False,
             mode="face_to_face"):
        v = {
            "event_id": eid,
            "source": ai.source(agency, system, org),
            "subject": subject,
            "appointment": {"id": aid, "type": atype, "mandated_contact": mandated,
                            "contact_mode": mode, "scheduled_start": start},
            "status": status,
            "recorded_at": start + dt.timedelta(hours=2),
            "version": 1,
        }
        topic = {"gp": "gp.appointments", "midwifery": "midwifery.appointments",
                 "health_visiting": "hv.contacts"}[agency]
        emit(topic, aid, 1, v, start + dt.timedelta(hours=2))

    # A pregnancy known only by its maternity number: three missed antenatal appointments.
    mother = nhs("100001")
    edd = (t0 + 60 * day).date()
    unborn = {"kind": "unborn", "nhs_number": None, "local_id": None,
              "pregnant_person_id": {"system": MATERNITY, "value": "M0424242"},
              "expected_delivery_date": edd, "date_of_birth": None, "family_name": None,
              "postcode": None}
    for i, days in enumerate((49, 28, 7)):
        appt("up-anc-%d" % i, "midwifery", "BadgerNet", "7A4", unborn, "up-anc-%d" % i,
             ["antenatal_25w", "antenatal_28w", "antenatal_31w"][i], t0 - days * day,
             "was_not_brought")
    link = {"event_id": "up-link-1", "kind": "link",
            "from": {"system": MATERNITY, "value": "M0424242"},
            "to": {"system": ai.NHS, "value": mother}, "expected_delivery_date": None,
            "source": ai.source("midwifery", "BadgerNet", "7A4"),
            "verification": "pds_verified", "recorded_at": t0 - 3 * day}
    emit("identity.links", MATERNITY + "|M0424242", 2, link, t0 - 3 * day)

    # A baby whose new birth visit (day 12) was missed, now 20 days old.
    baby = nhs("100002")
    child = {"kind": "child", "nhs_number": baby, "local_id": None, "pregnant_person_id": None,
             "expected_delivery_date": None, "date_of_birth": (t0 - 20 * day).date(),
             "family_name": "Upgrade", "postcode": "CF10 1AA"}
    appt("up-nbv-1", "health_visiting", "CYPRIS", "7A1", child, "up-nbv-1", "new_birth_visit",
         t0 - 8 * day, "was_not_brought", mandated=True, mode="home_visit")

    # A child on a plan who missed a GP appointment yesterday.
    onplan = nhs("100003")
    child2 = dict(child, nhs_number=onplan, date_of_birth=dt.date(2021, 5, 1))
    appt("up-gp-1", "gp", "EMIS Web", "W91001", child2, "up-gp-1", "immunisation",
         t0 - 1 * day, "was_not_brought")
    fact = {"event_id": "up-plan-1", "nhs_number": onplan, "local_id": None,
            "kind": "child_protection_plan", "start_date": dt.date(2026, 1, 5), "end_date": None,
            "status": "current", "source_system": "WCCIS", "organisation_code": "W04000",
            "recorded_at": t0 - 30 * day, "version": 1}
    emit("child.context", "up-plan-1", 3, fact, t0 - 30 * day)
    for r in out:
        print(json.dumps(r, separators=(",", ":")))


def notes(path):
    rows = []
    for line in open(path):
        if not line.strip():
            continue
        n = json.loads(line)
        rows.append("%s %s %s %s" % (n["kind"], n["child"]["child_key"], n["rule"]["id"],
                                     n["notification_id"]))
    for r in sorted(rows):
        print(r)


def compare(before, after):
    old = [l.split() for l in open(before) if l.strip()]
    new = [l.split() for l in open(after) if l.strip()]
    have = {tuple(x) for x in old}
    open_pairs = {(x[1], x[2]) for x in old if x[0] == "new"}
    added = [x for x in new if tuple(x) not in have]
    # The same notification published again (the same id) is a re-raise too.
    seen = {}
    for x in new:
        seen[tuple(x)] = seen.get(tuple(x), 0) + 1
    again = [x for x, k in seen.items() if k > 1]
    bad = []
    for x in added:
        if x[0] == "withdrawn":
            bad.append("withdrawn: %s %s" % (x[2], x[3]))
        elif x[0] == "new" and (x[1], x[2]) in open_pairs:
            bad.append("raised again: %s (child %s...)" % (x[2], x[1][:8]))
    for x in again:
        bad.append("published twice: %s %s" % (x[2], x[3]))
    print("before: %d notifications (%d new); after: %d; added: %d" %
          (len(old), len(open_pairs), len(new), len(added)))
    for x in added:
        print("  added: %s %s %s" % (x[0], x[2], x[3]))
    for b in bad:
        print("  BAD %s" % b)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("crafted")
    c.add_argument("--now", required=True)
    n = sub.add_parser("notes")
    n.add_argument("file")
    m = sub.add_parser("compare")
    m.add_argument("before")
    m.add_argument("after")
    a = ap.parse_args()
    if a.cmd == "crafted":
        crafted(a.now)
    elif a.cmd == "notes":
        notes(a.file)
    else:
        sys.exit(compare(a.before, a.after))


if __name__ == "__main__":
    main()
