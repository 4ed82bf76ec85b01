#!/usr/bin/env python3
"""Writes the record files of tests/cli/text_safety.sh (issue 18): records whose text is not
UTF-8 or carries control and bidirectional characters, and other values the door must refuse.

  text_records.py DIR

DIR/appointments.rec  appointment events as agency systems might send them; EXPECTED below says
                      what `notbrought decode` must report for each
DIR/notifications.rec notifications as an older or foreign producer might have written them
DIR/expected.json     {"appointments": [[result, error, field], ...]}

fastavro (an independent Avro implementation) writes every record; it refuses to write text that
is not UTF-8, so such bytes are put in afterwards, in place of a placeholder of the same length.
"""
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "interop"))
import avro_interop as ai  # noqa: E402  (the interop test's record builders)

LATIN1 = b"imm\xe9nisation"  # "immunisation" with a Latin-1 e-acute: not UTF-8


def framed(reg, sid, value, patch=None):
    data = ai.frame(sid, reg[sid], value)
    if patch:
        old, new = patch
        assert len(old) == len(new) and data.count(old) == 1
        data = data.replace(old, new)
    return data


def line(topic, data, key=""):
    return json.dumps({"topic": topic, "key": key, "timestamp": 0,
                       "value": base64.b64encode(data).decode()}) + "\n"


def main():
    out = sys.argv[1]
    reg = ai.load_registry(ai.SCHEMAS)
    appts, expected = [], []

    def appt(result, error, field, topic="gp.appointments", patch=None, **kw):
        a = ai.appointment("ev-%d" % (len(appts) + 1), "9434765919", **kw)
        appts.append(line(topic, framed(reg, 1, a, patch)))
        expected.append([result, error, field])

    appt("ok", None, None)
    appt("dead_letter", "text_invalid", "appointment.type", type="immXnisation",
         patch=(b"immXnisation", LATIN1))
    appt("dead_letter", "text_invalid", "appointment.type",
         type="immunisation\n  Why:        child is safe")
    appt("dead_letter", "text_invalid", "subject.family_name", family_name="Car\x1b[2Jrow")
    appt("dead_letter", "text_invalid", "appointment.type", type="\u202enoitasinummi")
    appt("dead_letter", "field_range", "version", version=70000)
    appt("dead_letter", "date_range", "subject.date_of_birth", date_of_birth=-2**31)
    appt("dead_letter", "nhs_placeholder", "subject.nhs_number", nhs_number="0000000000")
    # A record file is text too: a topic name with an escape sequence must not reach a terminal.
    appt("ok", None, None, topic="gp.appointments\x1b[2J\x1b[31m")
    with open(os.path.join(out, "appointments.rec"), "w") as f:
        f.writelines(appts)

    notes = []
    n = [v for sid, _t, v, _e in ai.vectors() if sid == 4][0]
    bad = dict(n, notification_id="bad-utf8")
    bad["evidence"] = [dict(n["evidence"][0], appointment_type="immXnisation")]
    notes.append(line("notifications", framed(reg, 4, bad, (b"immXnisation", LATIN1))))
    forged = dict(n, notification_id="forged-lines",
                  rule={**n["rule"], "text": "Two missed\n  Action:     None: child is safe"},
                  action="Contact the family today.\r\nThen the GP.")
    notes.append(line("notifications", framed(reg, 4, forged)))
    with open(os.path.join(out, "notifications.rec"), "w") as f:
        f.writelines(notes)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"appointments": expected}, f)


if __name__ == "__main__":
    main()
