#!/usr/bin/env python3
"""ops/demo's real feeds: one baby's missed appointments as its systems send them.

A GP practice sends an HL7 v2 SIU^S26 (the baby was not brought to an immunisation appointment)
over MLLP; a health visiting system POSTs a FHIR R4 Appointment with status noshow (the baby was not
brought to the 6-8 week review at the clinic). Dates are relative to today so that the policy's windows hold them.
The baby's NHS number is from the 999 test range (not a real person).

Usage: demo_feeds.py MLLP_PORT FHIR_PORT REPORT STATE
Writes what was sent and what the adapters answered to REPORT, and the baby's NHS number and
appointment ids to STATE (JSON) for the demo to find the notifications. Exit 1 if an adapter
did not accept a message.
"""
import datetime as dt
import json
import socket
import sys
import urllib.error
import urllib.request


def nhs_number(base):
    """The first NHS number from base (9 digits) upwards with a valid Modulus 11 check digit."""
    while True:
        digits = [int(c) for c in f"{base:09d}"]
        check = 11 - sum(d * (10 - i) for i, d in enumerate(digits)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            return f"{base:09d}{check}"
        base += 1


def send_mllp(port, message):
    """Sends one HL7 v2 message (segments joined by CR) in an MLLP frame; returns the ACK."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"\x0b" + message.encode() + b"\x1c\r")
        buf = b""
        while not buf.endswith(b"\x1c\r"):
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("the adapter closed the connection before its ACK")
            buf += chunk
    return buf.strip(b"\x0b\x1c\r").decode()


def post_fhir(port, path, resource):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 data=json.dumps(resource).encode(), method="POST",
                                 headers={"Content-Type": "application/fhir+json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    mllp_port, fhir_port, report, state = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    today = dt.date.today()
    dob = today - dt.timedelta(days=63)  # nine weeks old
    nhs = nhs_number(999_707_001)
    imm = dt.datetime.combine(today - dt.timedelta(days=4), dt.time(9, 30))
    sent = dt.datetime.combine(today - dt.timedelta(days=4), dt.time(17, 5))
    hv_start = dt.datetime.combine(today - dt.timedelta(days=2), dt.time(10, 0),
                                   tzinfo=dt.timezone.utc)
    lines = []
    ok = True

    hl7 = "\r".join([
        f"MSH|^~\\&|EMIS|W97001|NOTBROUGHT|HB|{sent:%Y%m%d%H%M%S}||SIU^S26^SIU_S12|DEMO0001|P|2.5",
        # SCH-1 and SCH-2 the placer's and filler's ids, SCH-8 the type, SCH-11.4 the start,
        # SCH-25 the status.
        f"SCH|PL9001^EMIS|FL9001^EMIS||||||IMM^Childhood immunisation|||^^^{imm:%Y%m%d%H%M%S}"
        "||||||||||||||Noshow",
        f"PID|1||{nhs}^^^NHS^NH~G52017^^^EMIS^PI||Demo^Baby||{dob:%Y%m%d}|F",
        f"AIS|1||IMM^Childhood immunisation|{imm:%Y%m%d%H%M%S}",
    ])
    lines.append("GP practice (HL7 v2 over MLLP), SIU^S26 for the 8-week immunisation on "
                 f"{imm:%a %d %b %H:%M}:")
    for seg in hl7.split("\r"):
        if seg.startswith("PID"):
            seg = "PID|1||<NHS number>^^^NHS^NH~<local id>^^^EMIS^PI||<name>||<date of birth>|F"
        lines.append(f"    {seg}")
    ack = send_mllp(mllp_port, hl7)
    msa = next((s for s in ack.split("\r") if s.startswith("MSA")), "no MSA")
    lines.append(f"  answered {msa}  (AA: Kafka has the event)")
    ok = ok and msa.startswith("MSA|AA|")

    appointment = {
        "resourceType": "Appointment", "id": "hv-demo-0001",
        "meta": {"versionId": "1",
                 "lastUpdated": (hv_start + dt.timedelta(hours=3)).isoformat()},
        "contained": [{"resourceType": "Patient", "id": "baby", "birthDate": dob.isoformat(),
                       "identifier": [
                           {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs},
                           {"system": "https://fhir.example.nhs.uk/Id/7a5-community-number",
                            "value": "C90017"}]}],
        "status": "noshow",
        "appointmentType": {"coding": [{"code": "SIXWK"}], "text": "6-8 week review"},
        "start": hv_start.isoformat(),
        "participant": [{"actor": {"reference": "#baby"}, "status": "accepted"}],
    }
    lines.append("")
    lines.append("Health visiting (FHIR R4 over HTTP), POST /fhir/hv-7a5/Appointment, the 6-8 week "
                 f"review at the clinic on {hv_start:%a %d %b %H:%M}, status noshow:")
    status, body = post_fhir(fhir_port, "/fhir/hv-7a5/Appointment", appointment)
    lines.append(f"  answered HTTP {status}  (201: Kafka has the event)")
    if status != 201:
        lines.append(f"  {body[:300]}")
    ok = ok and status == 201

    with open(report, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(state, "w") as f:
        json.dump({"nhs_number": nhs, "appointment_ids": ["FL9001", "hv-demo-0001"]}, f)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
