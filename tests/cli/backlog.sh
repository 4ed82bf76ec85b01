#!/usr/bin/env bash
# A backlog drained without raise-then-withdraw (issue 19): the demo's kind of sample (every
# record produced before the daemon starts, as on a first deployment or after an outage) is
# read on the embedded broker, once with absence deadlines held by the watermark (the default)
# and once without holding (processing.watermark_max_hold_ms: 0, the behaviour before timers
# and watermarks). With holding, absence rules raise notifications and none is withdrawn; the
# control run withdraws some, which shows that the sample exercises the case.
# Usage: backlog.sh NOTBROUGHT SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_cli_begin backlog "$1" "$2"
# The absence rules of the shipped policy.
absence=$(python3 - "$root/config/policy" <<'PY'
import glob, sys, yaml
ids = set()
for path in sorted(glob.glob(sys.argv[1] + "/*.yaml")):
    for r in (yaml.safe_load(open(path)) or {}).get("rules", []) or []:
        if isinstance(r, dict) and r.get("kind") == "absence":
            ids.add(r["id"])
print(",".join(sorted(ids)))
PY
)
[ -n "$absence" ] && ok "absence rules of the shipped policy: $absence" || bad "no absence rule found"

export NB_HMAC_KEY=backlog-test-hmac-key-0123456789 NB_OPS_LOG_LEVEL=warn
export NB_PROCESSING_WATERMARK_IDLE_MS=1000
"$bin" generate --children 150 --seed 7 --missed-share 0.2 --malformed 12 -o "$work/s.jsonl"
inputs=$(grep -vc '^{"topic":"identity.links"' "$work/s.jsonl")

# run NAME HOLD_MS: a fresh broker, the sample, the daemon until its outputs settle; prints
# "NEW WITHDRAWN" of the absence rules' notifications.
run() {
    local name=$1 hold=$2 port bs daemon broker
    port=$(nb_free_port)
    nb_config "$port" "$work/$name.yaml"
    "$bin" broker --config "$work/$name.yaml" >"$work/$name.bootstrap" 2>/dev/null &
    broker=$!
    pids+=($broker)
    for _ in $(seq 100); do [ -s "$work/$name.bootstrap" ] && break; sleep 0.1; done
    bs=$(head -n 1 "$work/$name.bootstrap")
    "$bin" produce --config "$work/$name.yaml" --bootstrap "$bs" "$work/s.jsonl" 2>/dev/null
    NB_PROCESSING_WATERMARK_MAX_HOLD_MS=$hold "$bin" run --config "$work/$name.yaml" \
        --bootstrap "$bs" 2>"$work/$name.log" &
    daemon=$!
    pids+=($daemon)
    local m="http://127.0.0.1:$port/metrics" last=-1 stable=0 n
    # Settled: every input consumed, no deadline held, and the notifications the same in three
    # reads in a row.
    for _ in $(seq 240); do
        n=$("$bin" consume --config "$work/$name.yaml" --bootstrap "$bs" --format records \
            --idle-ms 500 2>/dev/null | wc -l)
        if [ "$(nb_metric "$m" notbrought_records_consumed_total)" -ge "$inputs" ] &&
            [ "$(nb_metric "$m" notbrought_absence_timers_held)" -eq 0 ] && [ "$n" -eq "$last" ]; then
            stable=$((stable + 1))
            [ $stable -ge 3 ] && break
        else
            stable=0
        fi
        last=$n
        sleep 0.5
    done
    "$bin" consume --config "$work/$name.yaml" --bootstrap "$bs" --format json --idle-ms 1000 \
        2>/dev/null >"$work/$name.json"
    kill -TERM $daemon
    wait $daemon 2>/dev/null
    kill -TERM $broker
    wait $broker 2>/dev/null
    python3 - "$work/$name.json" "$absence" <<'PY'
import json, sys
rules = set(sys.argv[2].split(","))
notes = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
new = sum(1 for n in notes if n["rule"]["id"] in rules and n["kind"] == "new")
gone = sum(1 for n in notes if n["rule"]["id"] in rules and n["kind"] == "withdrawn")
# Every withdrawal (of any rule) says why and names the record that caused it.
mute = sum(1 for n in notes if n["kind"] == "withdrawn" and
           ("withdrawn because" not in n["action"] or not n["evidence"]))
print(new, gone, mute)
PY
}

read -r new gone mute < <(run held 3600000)
[ "$new" -gt 0 ] && ok "held by the watermark: $new absence notifications raised" ||
    bad "held: no absence notification raised"
[ "$gone" -eq 0 ] && ok "held by the watermark: none withdrawn" ||
    bad "held: $gone absence notifications withdrawn"
read -r cnew cgone cmute < <(run clock 0)
[ "$cgone" -gt 0 ] && ok "control, judged at the clock: $cgone of $cnew withdrawn (the case the test exercises)" ||
    bad "control: none withdrawn ($cnew raised): the sample does not exercise the case"
[ "$mute" -eq 0 ] && [ "$cmute" -eq 0 ] &&
    ok "every withdrawal says why and names the record that caused it" ||
    bad "withdrawals without a reason or a record: $mute held, $cmute control"
