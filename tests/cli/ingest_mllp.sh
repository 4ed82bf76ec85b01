#!/usr/bin/env bash
# `notbrought ingest mllp` from the command line (issue 22): on the embedded broker, with the
# shipped GP practice mapping, an HL7 v2 no-show sent over MLLP is answered AA and is then in
# gp.appointments with the link its PID-3 carries in identity.links; a message whose NHS
# number fails Modulus 11 is answered AE with the reason and its raw bytes are in the
# dead-letter topic; a resend of the first keeps its event id; the NHS number is in no log
# line; --check-config refuses a listener without a mapping; SIGTERM ends the adapter (0).
# Usage: ingest_mllp.sh NOTBROUGHT SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_cli_begin ingest_mllp "$1" "$2"
export NB_OPS_LOG_LEVEL=info
unset NB_HMAC_KEY # the adapter needs none

port=$(nb_free_port)
nb_config "$port" "$work/nb.yaml"
cat >>"$work/nb.yaml" <<EOF
ingest:
  mllp:
    - name: gp-w97001
      port: 0
      mapping: $root/config/mappings/gp-practice.yaml
      topic: gp.appointments
EOF
NB_HMAC_KEY=broker-only-hmac-key-0123456789 "$bin" broker --config "$work/nb.yaml" \
    >"$work/bootstrap" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bs=$(head -n 1 "$work/bootstrap")

# A listener without its mapping is refused before anything listens.
sed 's|^      mapping: .*$||' "$work/nb.yaml" >"$work/nomap.yaml"
if "$bin" ingest mllp --config "$work/nomap.yaml" --check-config 2>"$work/nomap.err"; then
    bad "a listener without a mapping was accepted"
else
    grep -q "mapping" "$work/nomap.err" && ok "a listener without a mapping is refused" ||
        bad "refusal without the reason: $(cat "$work/nomap.err")"
fi
"$bin" ingest mllp --config "$work/nb.yaml" --check-config >"$work/check.out" 2>&1 &&
    ok "--check-config: $(cat "$work/check.out")" || bad "--check-config: $(cat "$work/check.out")"

"$bin" ingest mllp --config "$work/nb.yaml" --bootstrap "$bs" 2>"$work/ingest.log" &
adapter=$!
pids+=($adapter)
mllp_port=
for _ in $(seq 300); do
    mllp_port=$(sed -n 's/.*listening for gp-w97001 on 127.0.0.1 port \([0-9]*\).*/\1/p' \
        "$work/ingest.log")
    [ -n "$mllp_port" ] && break
    sleep 0.1
done
[ -n "$mllp_port" ] && ok "listening on port $mllp_port" || bad "no listener: $(cat "$work/ingest.log")"

# Sends each message (HL7 v2, segments joined by CR) in an MLLP frame and prints the ACK's MSA.
send() {
    python3 - "$mllp_port" "$@" <<'PY'
import socket, sys
port = int(sys.argv[1])
with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
    for msg in sys.argv[2:]:
        s.sendall(b"\x0b" + msg.replace("\n", "\r").encode() + b"\x1c\r")
        buf = b""
        while not buf.endswith(b"\x1c\r"):
            chunk = s.recv(4096)
            if not chunk:
                sys.exit("connection closed before the ACK")
            buf += chunk
        ack = buf.strip(b"\x0b\x1c\r").decode()
        print([seg for seg in ack.split("\r") if seg.startswith("MSA")][0])
PY
}
noshow='MSH|^~\&|EMIS|W97001|NOTBROUGHT|HB|20261201093000||SIU^S26^SIU_S12|MSG00001|P|2.5
SCH|PL123^EMIS|FL456^EMIS||||||IMM^Childhood immunisation|||^^^20261201090000||||||||||||||Noshow
PID|1||9434765919^^^NHS^NH~L12345^^^EMIS^PI||Test^Child||20250301|M
AIS|1||IMM^Childhood immunisation|20261201090000'
badnhs='MSH|^~\&|EMIS|W97001|NOTBROUGHT|HB|20261201094000||SIU^S26^SIU_S12|MSG00002|P|2.5
SCH|PL124^EMIS|FL457^EMIS||||||IMM^Childhood immunisation|||^^^20261201090000||||||||||||||Noshow
PID|1||9434765918^^^NHS^NH||Test^Child||20250301|M'
send "$noshow" "$badnhs" "$noshow" >"$work/acks" 2>&1
sed -n 1p "$work/acks" | grep -q '^MSA|AA|MSG00001' && ok "the no-show: AA" ||
    bad "the no-show: $(sed -n 1p "$work/acks")"
sed -n 2p "$work/acks" | grep -q '^MSA|AE|MSG00002|.*Modulus 11' && ok "the bad NHS number: AE with the reason" ||
    bad "the bad NHS number: $(sed -n 2p "$work/acks")"
sed -n 3p "$work/acks" | grep -q '^MSA|AA|MSG00001' && ok "the resend: AA" ||
    bad "the resend: $(sed -n 3p "$work/acks")"

# What Kafka holds: read after the ACKs, each topic to its end.
consume() { "$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --to-end --topic "$1" 2>/dev/null; }
consume gp.appointments >"$work/appts"
n=$(grep -c '"status":"was_not_brought"' "$work/appts")
ids=$(grep -o '"event_id":"hl7-[0-9a-f]*"' "$work/appts" | sort -u | wc -l)
[ "$n" -eq 2 ] && [ "$ids" -eq 1 ] && ok "gp.appointments: the no-show and its resend, one event id" ||
    bad "gp.appointments: $n no-shows, $ids ids: $(cat "$work/appts")"
consume identity.links | grep '"kind":"link"' >/dev/null && ok "identity.links: the local id's link" ||
    bad "identity.links holds no link"
# The dead letter holds the message as sent (a record file: base64 values) and its reason.
"$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --to-end --format records \
    --topic notbrought.dead-letters >"$work/dead" 2>/dev/null
python3 - "$work/dead" >"$work/dead.txt" <<'PY'
import base64, json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(base64.b64decode(r["value"]).decode(errors="replace").replace("\r", "\n"))
    for h in r.get("headers", []):
        print(h["name"], base64.b64decode(h["value"]).decode(errors="replace"))
PY
grep -q '^MSH|.*|MSG00002|' "$work/dead.txt" && grep -q '^nb.error.code nhs_check_digit$' "$work/dead.txt" &&
    ok "dead letters: the refused message as sent, with its reason" ||
    bad "dead letters: $(head -c 600 "$work/dead.txt"; head -c 300 "$work/dead")"

kill -TERM $adapter
if wait_exit $adapter 30; then
    [ $rc -eq 0 ] && ok "SIGTERM: the adapter exits 0" || bad "SIGTERM: status $rc"
else
    bad "the adapter did not stop within 30 s of SIGTERM"
fi
grep -q -e 9434765919 -e 9434765918 -e L12345 "$work/ingest.log" &&
    bad "an identifier is in the adapter's log" || ok "no identifier in the adapter's log"
