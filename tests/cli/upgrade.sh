#!/usr/bin/env bash
# Upgrades keep what is open (issue 20). tests/data/upgrade/3dddfa0/ holds every topic that the
# code as it was at 3dddfa0 left on the embedded broker after reading a sample (the generator's
# and tests/cli/upgrade_records.py's crafted cases: a pregnancy known by a maternity number, a
# missed new birth visit with two overlapping rules open, a child on a plan), with each
# record's partition and headers: its per-child state (the changelog, old format), the events
# routed by child, and the notifications it raised. This build's daemon is started on a fresh
# broker holding exactly those records, at the same clock, as a deploy of the new version
# would be: it restores the old state, reads every input again, and must neither re-raise nor
# withdraw anything that was open.
#   1. with the policy files of 3dddfa0 (what the deploy changes is the code and state format);
#   2. with this build's shipped policy (overlapping rules, tier ladders, self-managing
#      young people), which may raise new notifications but never again one that is open;
#   3. control: the same records without the changelog (the state lost) re-raise what was open,
#      which shows the check can fail.
# Usage: upgrade.sh NOTBROUGHT SOURCE_DIR
#        upgrade.sh --record OLD_NOTBROUGHT NEW_NOTBROUGHT SOURCE_DIR OUTDIR   (makes the fixture)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
NOW=2026-11-20T12:00:00Z
export NB_HMAC_KEY=upgrade-test-hmac-key-0123456789 NB_OPS_LOG_LEVEL=warn
export NB_PROCESSING_FIXED_NOW=$NOW NB_PROCESSING_WATERMARK_IDLE_MS=1000
py=${NB_PYTHON:-python3} # with fastavro (ops/test's venv)
here=$(cd "$(dirname "$0")" && pwd)

# settle BIN CONFIG BOOTSTRAP PORT INPUTS: wait until the daemon has consumed INPUTS records,
# holds no deadline, and the notifications are the same in three reads in a row.
settle() {
    local bin=$1 cfg=$2 bs=$3 port=$4 inputs=$5 last=-1 stable=0 n
    local m="http://127.0.0.1:$port/metrics"
    for _ in $(seq 240); do
        n=$("$bin" consume --config "$cfg" --bootstrap "$bs" --format records --idle-ms 500 \
            2>/dev/null | wc -l)
        if [ "$(nb_metric "$m" notbrought_records_consumed_total)" -ge "$inputs" ] &&
            [ "$(nb_metric "$m" notbrought_absence_timers_held)" -le 0 ] && [ "$n" -eq "$last" ]; then
            stable=$((stable + 1))
            [ $stable -ge 3 ] && return 0
        else
            stable=0
        fi
        last=$n
        sleep 0.5
    done
    return 1
}

# start_broker BIN CONFIG NAME: starts a broker; sets bs and broker.
start_broker() {
    "$1" broker --config "$2" >"$work/$3.bootstrap" 2>/dev/null &
    broker=$!
    pids+=($broker)
    for _ in $(seq 100); do [ -s "$work/$3.bootstrap" ] && break; sleep 0.1; done
    bs=$(head -n 1 "$work/$3.bootstrap")
}

# The topics a deployment has (the record file names them).
topics() {
    python3 - "$1" <<'PY'
import sys, yaml
t = yaml.safe_load(open(sys.argv[1]))["topics"]
names = list(t["appointments"]) + [t[k] for k in ("context", "links", "acks", "by_child",
        "changelog", "notifications", "dead_letters", "audit")]
print(" ".join(names))
PY
}

if [ "${1:-}" = "--record" ]; then
    old=$2
    nb_cli_begin upgrade-record "$3" "$4"
    out=$5
    mkdir -p "$out/policy"
    # The old code's own configuration and policy, as it shipped.
    cp "$root/config/notbrought.yaml" "$out/notbrought.yaml"
    cp "$root"/config/policy/*.yaml "$out/policy/"
    port=$(nb_free_port)
    sed "s|config/policy/|$out/policy/|g; s|http_port: 0|http_port: $port\n  http_bind: 127.0.0.1|" \
        "$out/notbrought.yaml" >"$work/old.yaml"
    "$old" generate --children 80 --seed 20 --missed-share 0.25 --malformed 4 --now "$NOW" \
        -o "$work/in.jsonl"
    "$py" "$here/upgrade_records.py" crafted --now "$NOW" >>"$work/in.jsonl"
    inputs=$(grep -vc '^{"topic":"identity.links"' "$work/in.jsonl")
    start_broker "$bin" "$work/old.yaml" rec
    "$bin" produce --config "$work/old.yaml" --bootstrap "$bs" "$work/in.jsonl" >/dev/null
    "$old" run --config "$work/old.yaml" --bootstrap "$bs" 2>"$work/old.log" &
    daemon=$!
    pids+=($daemon)
    settle "$bin" "$work/old.yaml" "$bs" "$port" "$inputs" && ok "the old daemon settled" ||
        bad "the old daemon did not settle"
    kill -TERM $daemon
    wait $daemon && ok "the old daemon stopped cleanly" || bad "the old daemon's exit status"
    : >"$out/records.jsonl"
    for t in $(topics "$work/old.yaml"); do
        "$bin" consume --config "$work/old.yaml" --bootstrap "$bs" --topic "$t" \
            --format records --idle-ms 1500 >>"$out/records.jsonl" 2>/dev/null
    done
    echo "$inputs" >"$out/inputs"
    n=$(grep -c '"topic":"notifications"' "$out/records.jsonl")
    [ "$n" -gt 0 ] && ok "recorded $(wc -l <"$out/records.jsonl") records, $n notifications" ||
        bad "no notification recorded"
    exit
fi

nb_cli_begin upgrade "$1" "$2"
fx="$root/tests/data/upgrade/3dddfa0"
[ -s "$fx/records.jsonl" ] || { bad "no fixture at $fx"; exit; }
inputs=$(cat "$fx/inputs")

# run NAME POLICY_DIR DROP_CHANGELOG: a fresh broker holding the fixture (without the changelog
# when asked), this build's daemon until it settles; writes $work/NAME.notes.
run() {
    local name=$1 policy=$2 drop=$3 port daemon
    port=$(nb_free_port)
    sed "s|config/policy/|$policy/|g; s|http_port: 0|http_port: $port\n  http_bind: 127.0.0.1|" \
        "$fx/notbrought.yaml" >"$work/$name.yaml"
    if [ "$drop" = 1 ]; then
        grep -v '"topic":"notbrought.changelog"' "$fx/records.jsonl" >"$work/$name.in"
    else
        cp "$fx/records.jsonl" "$work/$name.in"
    fi
    start_broker "$bin" "$work/$name.yaml" "$name"
    "$bin" produce --config "$work/$name.yaml" --bootstrap "$bs" "$work/$name.in" >/dev/null
    "$bin" consume --config "$work/$name.yaml" --bootstrap "$bs" --format json --idle-ms 1500 \
        2>/dev/null >"$work/$name.before.json"
    "$bin" run --config "$work/$name.yaml" --bootstrap "$bs" 2>"$work/$name.log" &
    daemon=$!
    pids+=($daemon)
    settle "$bin" "$work/$name.yaml" "$bs" "$port" "$inputs" ||
        echo "note: $name did not settle" >&2
    "$bin" consume --config "$work/$name.yaml" --bootstrap "$bs" --format json --idle-ms 1500 \
        2>/dev/null >"$work/$name.after.json"
    kill -TERM $daemon
    wait $daemon 2>/dev/null
    kill -TERM $broker
    wait $broker 2>/dev/null
    "$py" "$here/upgrade_records.py" notes "$work/$name.before.json" >"$work/$name.b"
    "$py" "$here/upgrade_records.py" notes "$work/$name.after.json" >"$work/$name.a"
}

run old-policy "$fx/policy" 0
if "$py" "$here/upgrade_records.py" compare "$work/old-policy.b" "$work/old-policy.a"; then
    ok "with the policy of 3dddfa0: nothing open re-raised or withdrawn"
else
    bad "with the policy of 3dddfa0: see above"
fi
[ "$(wc -l <"$work/old-policy.b")" -gt 10 ] && ok "the fixture holds $(wc -l <"$work/old-policy.b") notifications" ||
    bad "the fixture holds too few notifications"
grep -q ' antenatal_wnb_repeated ' "$work/old-policy.b" &&
    grep -q ' new_birth_visit_overdue ' "$work/old-policy.b" &&
    grep -q ' hv_missed_under1 ' "$work/old-policy.b" &&
    ok "the fixture has the maternity-number pregnancy's and the overlapping rules' notifications open" ||
    bad "the fixture lacks the crafted cases' notifications"

run new-policy "$root/config/policy" 0
if "$py" "$here/upgrade_records.py" compare "$work/new-policy.b" "$work/new-policy.a"; then
    ok "with this build's policy: nothing open re-raised or withdrawn"
else
    bad "with this build's policy: see above"
fi

run lost-state "$fx/policy" 1
if "$py" "$here/upgrade_records.py" compare "$work/lost-state.b" "$work/lost-state.a" >"$work/lost.out"; then
    bad "control: without the changelog nothing was re-raised (the check cannot fail)"
else
    ok "control: without the changelog, $(grep -c BAD "$work/lost.out") re-raised (the check can fail)"
fi
