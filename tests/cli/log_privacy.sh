#!/usr/bin/env bash
# Personal data never reaches the logs: runs the real commands on sample data with debug
# logging (generate, decode, the embedded broker, produce, the daemon for ~10 s with its HTTP
# endpoints scraped, consume) and checks that no NHS number, family name, date of birth or
# postcode of the sample appears in any line any of them wrote to stderr.
#
# usage: log_privacy.sh NOTBROUGHT SOURCE_DIR [RUN_SECONDS]
# Registered by tests/cli/ops_tests.cmake (label integration). Needs python3.
set -euo pipefail

NB=$1
SRC=$2
RUN_SECONDS=${3:-10}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nb-log-privacy.XXXXXX")
BROKER_PID=
RUN_PID=

cleanup() {
    # Only the processes this script started, by their ids.
    [ -n "$RUN_PID" ] && kill -TERM "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
    [ -n "$BROKER_PID" ] && kill -TERM "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Waits until "$@" succeeds, checking every 0.2 s, for at most $1 seconds.
wait_for() {
    local limit=$1
    shift
    local deadline=$((SECONDS + limit))
    until "$@"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}

cd "$SRC" # the configuration names the policy files relative to the project

export NB_HMAC_KEY=log-privacy-test-key-0123456789
# A fixed "now" makes the sample the same on every run; the dates of birth in it are then far
# from the time stamps of the log lines.
NOW=2025-06-01T00:00:00Z

echo "== generate and decode" >&2
"$NB" generate -n 60 --seed 7 --now "$NOW" -o "$WORK/sample.rec" 2>"$WORK/generate.err"
"$NB" decode --now "$NOW" "$WORK/sample.rec" >"$WORK/decode-text.out" 2>"$WORK/decode-text.err" ||
    [ $? -eq 1 ] || fail "decode (text) failed"
"$NB" decode --now "$NOW" --format json "$WORK/sample.rec" >"$WORK/sample.json" \
    2>"$WORK/decode-json.err" || [ $? -eq 1 ] || fail "decode (json) failed"

HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The broker and the daemon read the same file, so they agree on the partition counts.
write_config() {
    cat >"$WORK/notbrought.yaml" <<EOF
kafka:
  bootstrap_servers: $1
  instance_id: log-privacy-1
  properties:
    # librdkafka's own debug lines go through the same log (level debug) and are checked too.
    debug: "cgrp,eos,msg,topic,fetch"
topics:
  partitions: 3
policy:
  files: [config/policy/wnb-wales-base.yaml, config/policy/cardiff-and-vale.yaml]
ops:
  log_level: debug
  http_port: $HTTP_PORT
EOF
}
write_config 127.0.0.1:9

echo "== embedded broker" >&2
"$NB" broker --config "$WORK/notbrought.yaml" >"$WORK/broker.out" 2>"$WORK/broker.err" &
BROKER_PID=$!
wait_for 20 test -s "$WORK/broker.out" || fail "the broker printed no bootstrap address"
write_config "$(head -n 1 "$WORK/broker.out")"

echo "== produce" >&2
"$NB" produce --config "$WORK/notbrought.yaml" "$WORK/sample.rec" 2>"$WORK/produce.err" ||
    fail "produce failed: $(tail -n 5 "$WORK/produce.err")"

echo "== run the daemon for ${RUN_SECONDS}s (log level debug)" >&2
"$NB" run --config "$WORK/notbrought.yaml" >"$WORK/run.out" 2>"$WORK/run.err" &
RUN_PID=$!
scrape() {
    python3 - "$HTTP_PORT" "$1" "$2" <<'EOF' 2>/dev/null
import sys, urllib.request, urllib.error
port, path, out = sys.argv[1:4]
try:
    r = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2)
    body = r.read()
except urllib.error.HTTPError as e:
    body = e.read()
open(out, "wb").write(body)
EOF
}
deadline=$((SECONDS + RUN_SECONDS))
while [ $SECONDS -lt $deadline ]; do
    kill -0 "$RUN_PID" 2>/dev/null || fail "the daemon exited early: $(tail -n 5 "$WORK/run.err")"
    scrape /metrics "$WORK/metrics.txt" || true
    scrape /readyz "$WORK/readyz.json" || true
    sleep 1
done
# While it runs: the container image's HEALTHCHECK command (docker/Dockerfile) passes.
HEALTHCHECK_SCRIPT=$(python3 -c '
import json, re, sys
m = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[[^\n]*\])$", open(sys.argv[1]).read(), re.M)
print(json.loads(m.group(1))[2])' "$SRC/docker/Dockerfile")
NB_OPS_HTTP_PORT=$HTTP_PORT bash -c "$HEALTHCHECK_SCRIPT" ||
    fail "the Dockerfile HEALTHCHECK fails against the running daemon"
echo "== Dockerfile HEALTHCHECK passes against the daemon" >&2
kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
RUN_PID=
[ $rc -eq 0 ] || fail "the daemon exited $rc after SIGTERM: $(tail -n 5 "$WORK/run.err")"

echo "== consume notifications" >&2
"$NB" consume --config "$WORK/notbrought.yaml" --format json --idle-ms 2000 \
    >"$WORK/notifications.json" 2>"$WORK/consume.err" || true

kill -TERM "$BROKER_PID"
wait "$BROKER_PID" || true
BROKER_PID=

echo "== check every log line" >&2
python3 - "$WORK" <<'EOF'
import json, os, re, sys

work = sys.argv[1]

# What the sample says about people: NHS numbers, family names, dates of birth, postcodes.
secrets = {"nhs_number": set(), "family_name": set(), "date_of_birth": set(), "postcode": set()}
for line in open(os.path.join(work, "sample.json")):
    rec = json.loads(line)
    v = rec.get("value") or {}
    subj = v.get("subject") or {}
    for k in ("nhs_number", "family_name", "date_of_birth", "postcode"):
        if subj.get(k):
            secrets[k].add(subj[k])
    if v.get("nhs_number"):
        secrets["nhs_number"].add(v["nhs_number"])
    to = v.get("to") or {}
    if "nhs-number" in (to.get("system") or "") and to.get("value"):
        secrets["nhs_number"].add(to["value"])
for k, vals in secrets.items():
    if not vals:
        sys.exit(f"FAIL: the sample has no {k}: the test would prove nothing")

# Each value in the forms a person or a program might write it: every candidate token of a
# line is normalised and looked up (fast, and no value is ever printed).
nhs = set(secrets["nhs_number"])
names = {n.lower() for n in secrets["family_name"]}
dobs = set(secrets["date_of_birth"])
postcodes = {p.replace(" ", "").upper() for p in secrets["postcode"]}
RX_NHS = re.compile(r"(?<!\d)(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?!\d)")
RX_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
RX_COMPACT = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
RX_UK = re.compile(r"(?<!\d)(\d{2})/(\d{2})/(\d{4})(?!\d)")
RX_WORD = re.compile(r"[A-Za-z]+")
RX_POSTCODE = re.compile(r"\b([A-Za-z]{1,2}\d[A-Za-z\d]?)\s*(\d[A-Za-z]{2})\b")

def kinds_in(t):
    if any("".join(m.groups()) in nhs for m in RX_NHS.finditer(t)):
        yield "nhs_number"
    if any(w.lower() in names for w in RX_WORD.findall(t)):
        yield "family_name"
    if (any("-".join(m.groups()) in dobs for m in RX_ISO.finditer(t))
            or any("-".join(m.groups()) in dobs for m in RX_COMPACT.finditer(t))
            or any(f"{m.group(3)}-{m.group(2)}-{m.group(1)}" in dobs for m in RX_UK.finditer(t))):
        yield "date_of_birth"
    if any((m.group(1) + m.group(2)).upper() in postcodes for m in RX_POSTCODE.finditer(t)):
        yield "postcode"

def text_of(line):
    """The searchable part of a log line: a JSON log line without its own time stamp."""
    try:
        o = json.loads(line)
    except ValueError:
        return line
    if isinstance(o, dict):
        o.pop("time", None)
        return json.dumps(o)
    return line

# The checker finds what it must: one value of each kind, written the other ways.
n0, f0, d0, p0 = (sorted(secrets[k])[0] for k in ("nhs_number", "family_name",
                                                   "date_of_birth", "postcode"))
y0, m0, dd0 = d0.split("-")
for probe, want in ((f"child {n0[:3]} {n0[3:6]} {n0[6:]} seen", "nhs_number"),
                    (f"nhs={n0}", "nhs_number"), (f"name: {f0.upper()}.", "family_name"),
                    (f"dob {dd0}/{m0}/{y0}", "date_of_birth"), (f"dob={y0}{m0}{dd0}", "date_of_birth"),
                    (f"at {p0.replace(' ', '').lower()}", "postcode"), (f"pc '{p0}'", "postcode")):
    if want not in set(kinds_in(probe)):
        sys.exit(f"FAIL: the checker misses a {want} written as in the probe")
if list(kinds_in('{"level":"info","msg":"child 3f9a2c1e offset 9993673 at 2025-06-01"}')):
    sys.exit("FAIL: the checker flags a line without personal data")

logs = sorted(f for f in os.listdir(work) if f.endswith(".err"))
found, lines, levels = [], 0, set()
for f in logs:
    for no, line in enumerate(open(os.path.join(work, f), errors="replace"), 1):
        lines += 1
        try:
            levels.add(json.loads(line).get("level"))
        except (ValueError, AttributeError):
            pass
        for kind in kinds_in(text_of(line)):
            # Say where and what kind, not the value itself.
            found.append(f"{f}:{no}: {kind}")
            break

run_err = open(os.path.join(work, "run.err")).read()
m = re.search(r"stopping: (\d+) records", run_err)
consumed = int(m.group(1)) if m else 0
print(f"checked {lines} log lines in {len(logs)} files against "
      + ", ".join(f"{len(v)} {k}s" for k, v in secrets.items())
      + f"; levels seen: {sorted(x for x in levels if x)}; daemon consumed {consumed} records")
if "debug" not in levels:
    sys.exit("FAIL: no debug line was logged: the test did not run at debug level")
if consumed == 0:
    sys.exit("FAIL: the daemon consumed nothing: the test would prove nothing")
if found:
    print("FAIL: personal data in logs:\n  " + "\n  ".join(found[:50]))
    sys.exit(1)
print("ok: no personal data in any log line")
EOF
