#!/usr/bin/env python3
"""Writes the record files of tests/cli/upgrade.sh (issue 20, item 1): pregnancies named by a
maternity number only, whose link to the pregnant woman's NHS number is known, as an older
version of notbrought kept them under the maternity number's own key.

  upgrade_records.py DIR NOW

DIR/before.rec  read by the old version: P1 (still pregnant) with three recent missed
                antenatal appointments, P2 (born 30 days ago) with two; both by maternity
                number; the links from the maternity numbers to the NHS numbers
DIR/after.rec   read by the new version: one more antenatal record of each pregnancy by
                maternity number (attended: no new evidence), P2's birth link by her NHS
                number and the baby's missed health visiting contact
DIR/keys.json   nothing secret: the values the shell script checks against

fastavro (an independent Avro implementation) writes every record.
"""
import base64
import datetime as dt
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
import avro_interop as ai  # noqa: E402

NHS = "https://fhir.nhs.uk/Id/nhs-number"
MAT = "urn:notbrought:maternity:7A4"
M1, M2, B2 = "9990011117", "9990012210", "9990013357"


def line(reg, sid, topic, value, key):
    data = ai.frame(sid, reg[sid], value)
    return json.dumps({"topic": topic, "key": key, "timestamp": 0,
                       "value": base64.b64encode(data).decode()}) + "\n"


def antenatal(event_id, person_sys, person, edd, when, status, typ):
    a = ai.appointment(event_id, None, kind="unborn",
                       pregnant_person_id={"system": person_sys, "value": person},
                       expected_delivery_date=edd, date_of_birth=None, family_name=None,
                       postcode=None, id=event_id, type=typ, mandated_contact=False,
                       scheduled_start=when, status=status, recorded_at=when, version=1)
    a["source"] = ai.source("midwifery", "BadgerNet", "7A4")
    return a


def link(event_id, kind, from_sys, from_val, to, edd, when):
    return {"event_id": event_id, "kind": kind, "from": {"system": from_sys, "value": from_val},
            "to": {"system": NHS, "value": to}, "expected_delivery_date": edd,
            "source": ai.source("midwifery", "BadgerNet", "7A4"),
            "verification": "locally_verified", "recorded_at": when}


def main():
    out, now = sys.argv[1], ai.ts(sys.argv[2])
    reg = ai.load_registry(ai.SCHEMAS)
    day = dt.timedelta(days=1)
    edd1, edd2 = (now + 60 * day).date(), (now - 30 * day).date()
    with open(os.path.join(out, "before.rec"), "w") as f:
        for i, back in enumerate((20, 10, 5)):
            f.write(line(reg, 1, "midwifery.appointments",
                         antenatal(f"p1-anc-{i}", MAT, "MAT-UP1", edd1, now - back * day,
                                   "was_not_brought", "antenatal_28w"), f"p1-anc-{i}"))
        for i, back in enumerate((63, 42)):
            when = dt.datetime.combine(edd2, dt.time(10), dt.timezone.utc) - back * day
            f.write(line(reg, 1, "midwifery.appointments",
                         antenatal(f"p2-anc-{i}", MAT, "MAT-UP2", edd2, when, "was_not_brought",
                                   "antenatal_31w"), f"p2-anc-{i}"))
        for n, (mat, m) in enumerate((("MAT-UP1", M1), ("MAT-UP2", M2))):
            f.write(line(reg, 2, "identity.links",
                         link(f"mat-link-{n}", "link", MAT, mat, m, None, now - 30 * day),
                         f"{MAT}|{mat}"))
    with open(os.path.join(out, "after.rec"), "w") as f:
        f.write(line(reg, 1, "midwifery.appointments",
                     antenatal("p1-anc-9", MAT, "MAT-UP1", edd1, now - 2 * day, "attended",
                               "antenatal_31w"), "p1-anc-9"))
        when = dt.datetime.combine(edd2, dt.time(10), dt.timezone.utc) - 7 * day
        f.write(line(reg, 1, "midwifery.appointments",
                     antenatal("p2-anc-9", MAT, "MAT-UP2", edd2, when, "attended",
                               "antenatal_38w"), "p2-anc-9"))
        f.write(line(reg, 2, "identity.links",
                     link("birth-2", "unborn_to_child", NHS, M2, B2, edd2, now - 29 * day),
                     f"{NHS}|{M2}|{edd2.isoformat()}"))
        hv = ai.appointment("b2-hv-0", B2, date_of_birth=edd2, family_name=None, postcode=None,
                            id="b2-hv-0", type="home_visit", mandated_contact=False,
                            scheduled_start=now - 3 * day, status="was_not_brought",
                            recorded_at=now - 3 * day, version=1)
        hv["source"] = ai.source("health_visiting", "CYPRIS", "7A1")
        f.write(line(reg, 1, "hv.contacts", hv, "b2-hv-0"))
    with open(os.path.join(out, "keys.json"), "w") as f:
        json.dump({"baby": B2}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
