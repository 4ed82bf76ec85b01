#!/usr/bin/env bash
# Untrusted text and validation at the door (issue 18), through the real commands.
#
#   decode:  `notbrought decode` reports every refused record (text that is not UTF-8 or holds
#            control or bidirectional characters, a version above 65535, a date of birth of
#            INT32_MIN, NHS number 0000000000) as dead-lettered with its code and field, drops
#            none from its JSON, exits 1 with --strict, and prints nothing raw to a terminal.
#   consume: on the embedded broker, `notbrought consume` reports a notification it cannot
#            decode and exits 1 (it printed an empty evidence list and exited 0), and its text
#            view shows line breaks in a field as \n (a field forged a line for the nurse).
#
# usage: text_safety.sh decode|consume NOTBROUGHT SOURCE_DIR PYTHON
# PYTHON has fastavro (tests/requirements.txt). Registered by tests/cli/tests.cmake.
set -euo pipefail

MODE=$1
NB=$2
SRC=$3
PY=$4
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nb-text-safety.XXXXXX")
BROKER_PID=

cleanup() {
    # Only the process this script started, by its id.
    [ -n "$BROKER_PID" ] && kill -TERM "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# No byte a terminal acts on: C0 controls but LF, DEL, C1 (as UTF-8), U+202A-E, U+2066-9.
no_raw_controls() {
    "$PY" - "$1" <<'EOF'
import re, sys
data = open(sys.argv[1], "rb").read()
text = data.decode("utf-8")  # raises when a byte that is not UTF-8 was printed
bad = re.findall("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
if bad:
    sys.exit("raw control characters printed: %s" % sorted({hex(ord(c)) for c in bad}))
EOF
}

cd "$SRC"
export NB_NOW=2026-11-01T12:00:00Z
"$PY" tests/cli/text_records.py "$WORK"

if [ "$MODE" = decode ]; then
    echo "== decode --format json --strict" >&2
    rc=0
    "$NB" decode --format json --strict "$WORK/appointments.rec" >"$WORK/decode.json" \
        2>"$WORK/decode.err" || rc=$?
    [ $rc -eq 1 ] || fail "decode --strict exited $rc, expected 1: $(cat "$WORK/decode.err")"
    "$PY" - "$WORK" <<'EOF' || fail "decode --format json"
import json, os, sys
work = sys.argv[1]
expected = json.load(open(os.path.join(work, "expected.json")))["appointments"]
got = [json.loads(l) for l in open(os.path.join(work, "decode.json"), encoding="utf-8")]
if [g["record"] for g in got] != list(range(1, len(expected) + 1)):
    sys.exit("FAIL: records missing from the JSON: got %s" % [g["record"] for g in got])
for g, (result, error, field) in zip(got, expected):
    if g["result"] != result or g.get("error") != error:
        sys.exit("FAIL: record %d: %s %s, expected %s %s" % (
            g["record"], g["result"], g.get("error"), result, error))
    if field and "'%s'" % field not in g["reason"] and not g["reason"].startswith(field):
        sys.exit("FAIL: record %d: the reason does not name %s: %s" % (
            g["record"], field, g["reason"]))
    # Errors name fields, never values.
    for value in ("imm", "child is safe", "Car", "noitas", "70000", "0000000000"):
        if error and value in g["reason"]:
            sys.exit("FAIL: record %d: the reason quotes a value" % g["record"])
print("decode --format json: %d records, each reported as expected" % len(got))
EOF
    grep -q 'summary: 9 records, 2 decoded and valid, 7 dead-lettered' "$WORK/decode.err" ||
        fail "decode summary: $(cat "$WORK/decode.err")"

    echo "== decode (text)" >&2
    "$NB" decode "$WORK/appointments.rec" >"$WORK/decode.txt" 2>&1 || fail "decode (text) failed"
    no_raw_controls "$WORK/decode.txt" || fail "decode (text) printed raw control characters"
    grep -q '^DEAD  gp.appointments *text_invalid: .*appointment.type.* not valid UTF-8' \
        "$WORK/decode.txt" || fail "decode (text) does not show the refused record"
    grep -qF 'gp.appointments\x1b[2J\x1b[31m' "$WORK/decode.txt" ||
        fail "decode (text) does not show the topic's escape sequence as \\x1b"
    echo "ok: decode" >&2
    exit 0
fi

[ "$MODE" = consume ] || fail "unknown mode $MODE"
cat >"$WORK/notbrought.yaml" <<EOF
kafka:
  bootstrap_servers: 127.0.0.1:9
  instance_id: text-safety-1
topics:
  partitions: 1
policy:
  files: [config/policy/wnb-wales-base.yaml]
EOF
echo "== embedded broker" >&2
"$NB" broker --config "$WORK/notbrought.yaml" >"$WORK/broker.out" 2>"$WORK/broker.err" &
BROKER_PID=$!
deadline=$((SECONDS + 20))
until [ -s "$WORK/broker.out" ]; do
    [ $SECONDS -lt $deadline ] || fail "the broker printed no bootstrap address"
    kill -0 "$BROKER_PID" 2>/dev/null || fail "the broker exited: $(cat "$WORK/broker.err")"
    sleep 0.2
done
BOOT=$(head -n 1 "$WORK/broker.out")
"$NB" produce --bootstrap "$BOOT" --config "$WORK/notbrought.yaml" "$WORK/notifications.rec" \
    2>"$WORK/produce.err" || fail "produce failed: $(cat "$WORK/produce.err")"

echo "== consume --format json" >&2
rc=0
"$NB" consume --bootstrap "$BOOT" --config "$WORK/notbrought.yaml" --format json --max 2 \
    --idle-ms 5000 >"$WORK/consume.json" 2>"$WORK/consume-json.err" || rc=$?
[ $rc -eq 1 ] || fail "consume --format json exited $rc, expected 1: $(cat "$WORK/consume-json.err")"
# (Its position depends on which of the topic's partitions is read first.)
grep -q "record [12] .*text_invalid.*evidence.appointment_type.*not valid UTF-8" \
    "$WORK/consume-json.err" || fail "consume does not report the record it cannot decode: \
$(cat "$WORK/consume-json.err")"
"$PY" - "$WORK/consume.json" <<'EOF' || fail "consume --format json output"
import json, sys
got = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
ids = [g["notification_id"] for g in got]
if ids != ["forged-lines"]:
    sys.exit("FAIL: consume printed %s, expected only the decodable notification" % ids)
if not got[0]["evidence"]:
    sys.exit("FAIL: empty evidence")
EOF

echo "== consume --format text" >&2
rc=0
"$NB" consume --bootstrap "$BOOT" --config "$WORK/notbrought.yaml" --format text --max 2 \
    --idle-ms 5000 >"$WORK/consume.txt" 2>"$WORK/consume-text.err" || rc=$?
[ $rc -eq 1 ] || fail "consume --format text exited $rc, expected 1"
no_raw_controls "$WORK/consume.txt" || fail "consume (text) printed raw control characters"
[ "$(grep -c '^  Action:' "$WORK/consume.txt")" = 1 ] ||
    fail "a field forged a line in the nurse's view: $(cat "$WORK/consume.txt")"
grep -qF '  Why:        Two missed\n  Action:     None: child is safe' "$WORK/consume.txt" ||
    fail "the rule text's line break is not shown as \\n: $(cat "$WORK/consume.txt")"
grep -qF '  Action:     Contact the family today.\r\nThen the GP.' "$WORK/consume.txt" ||
    fail "the action's line break is not shown as \\r\\n"
echo "ok: consume" >&2
