#!/usr/bin/env bash
# An upgrade keeps what is open (issue 20, item 1). The version of OLD_COMMIT (default 3dddfa0,
# the code before pregnancies were joined across identifiers; built from `git archive` into
# CACHE_DIR once) runs first on the embedded broker over sample data and over pregnancies named
# by a maternity number only (kept by it under the maternity number's own key, although a
# link to the NHS number is known); it stops (SIGTERM); this version takes over the same
# topics, with the same clock (processing.fixed_now), then reads a few more records.
# Checked: no notification is withdrawn; no decision (rule and evidence) is raised twice
# under any key; the old maternity-number state ends up merged: the baby's under5_multiagency
# carries both antenatal misses the old version kept under the maternity number's key.
# Usage: upgrade.sh NOTBROUGHT SOURCE_DIR CACHE_DIR PYTHON [OLD_COMMIT]
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_cli_begin upgrade "$1" "$2"
cache=$3
py=$4
old_commit=${5:-3dddfa0}
now=2026-11-02T09:00:00Z

# The old binary, built once per commit.
old="$cache/notbrought-$old_commit"
if [ ! -x "$old" ]; then
    mkdir -p "$cache" "$work/old"
    if ! git -C "$root" archive "$old_commit" | tar -x -C "$work/old"; then
        bad "cannot read $old_commit from the repository at $root"
        exit 1
    fi
    if cmake -S "$work/old" -B "$work/old/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DNB_TESTS=OFF -DNB_BENCH=OFF >"$work/old-build.log" 2>&1 &&
        cmake --build "$work/old/build" -j2 --target notbrought >>"$work/old-build.log" 2>&1; then
        cp "$work/old/build/notbrought" "$old.tmp" && mv "$old.tmp" "$old"
    else
        tail -n 30 "$work/old-build.log"
        bad "building $old_commit failed"
        exit 1
    fi
fi
ok "the version of $old_commit is built"

export NB_HMAC_KEY=upgrade-test-hmac-key-0123456789 NB_OPS_LOG_LEVEL=info
export NB_PROCESSING_FIXED_NOW=$now NB_RDKAFKA_STATISTICS_INTERVAL_MS=200
port=$(nb_free_port)
# Each version with its own configuration file, both with this tree's policy.
cfg() { # TREE OUT
    sed "s|config/policy/|$root/config/policy/|g; s|http_port: 0|http_port: $port\n  http_bind: 127.0.0.1|" \
        "$1/config/notbrought.yaml" >"$2"
}
mkdir -p "$work/oldtree/config"
git -C "$root" show "$old_commit:config/notbrought.yaml" >"$work/oldtree/config/notbrought.yaml"
cfg "$work/oldtree" "$work/old.yaml"
cfg "$root" "$work/new.yaml"

"$bin" broker --config "$work/new.yaml" >"$work/bootstrap" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bs=$(head -n 1 "$work/bootstrap")

"$py" "$root/tests/cli/upgrade_records.py" "$work" "$now" || { bad "upgrade_records.py"; exit 1; }
"$bin" generate --children 80 --seed 11 --missed-share 0.4 --malformed 0 --now "$now" \
    -o "$work/sample.rec"
cat "$work/sample.rec" "$work/before.rec" >"$work/first.rec"
"$bin" produce --config "$work/new.yaml" --bootstrap "$bs" "$work/first.rec" 2>/dev/null
sources=$(grep -vc '"topic": *"identity.links"' "$work/first.rec")

# run BINARY CONFIG LOG RECORDS: runs until RECORDS source records were consumed (the counter
# moves when their transaction commits), then until two more transactions committed (the
# ticks' moves and merges) or 20 s passed with none (nothing left to do), then SIGTERM.
run() {
    "$1" run --config "$2" --bootstrap "$bs" 2>"$3" &
    local daemon=$! n=0 t
    pids+=($daemon)
    for _ in $(seq 1200); do
        n=$(nb_metric "http://127.0.0.1:$port/metrics" notbrought_records_consumed_total)
        [ "$n" -ge "$4" ] && break
        sleep 0.1
    done
    [ "$n" -ge "$4" ] || bad "$1: $n of $4 records consumed"
    t=$(nb_metric "http://127.0.0.1:$port/metrics" notbrought_transactions_total)
    for _ in $(seq 200); do
        [ "$(nb_metric "http://127.0.0.1:$port/metrics" notbrought_transactions_total)" -ge $((t + 2)) ] && break
        sleep 0.1
    done
    kill -TERM $daemon
    wait $daemon
    local rc=$?
    [ $rc -eq 0 ] && ok "$(basename "$1") ran and stopped" || bad "$1 exited with $rc"
}

run "$old" "$work/old.yaml" "$work/old.log" "$sources"
"$bin" consume --config "$work/new.yaml" --bootstrap "$bs" --idle-ms 2000 >"$work/n1.json" 2>/dev/null
n1=$(wc -l <"$work/n1.json")
[ "$n1" -gt 0 ] && ok "the old version raised $n1 notifications" || bad "no notifications"

# This version takes over, and reads a few more records: the moves happen then.
"$bin" produce --config "$work/new.yaml" --bootstrap "$bs" "$work/after.rec" 2>/dev/null
more=$(grep -vc '"topic": *"identity.links"' "$work/after.rec")
run "$bin" "$work/new.yaml" "$work/new.log" "$more"
"$bin" consume --config "$work/new.yaml" --bootstrap "$bs" --idle-ms 2000 >"$work/n2.json" 2>/dev/null

"$py" - "$work/n1.json" "$work/n2.json" "$work/keys.json" "$NB_HMAC_KEY" <<'PY'
import hashlib, hmac, json, sys
n1 = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n2 = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
baby = json.load(open(sys.argv[3]))["baby"]
key = hmac.new(sys.argv[4].encode(), b"nb1:nhs\0" + baby.encode() + b"\0\0",
               hashlib.sha256).hexdigest()
fails = []
# The topic has several partitions: compare by notification id, not by order.
ids1 = {n["notification_id"] for n in n1}
ids2 = {n["notification_id"] for n in n2}
if not ids1 <= ids2:
    fails.append("notifications of the old version are gone")
after = [n for n in n2 if n["notification_id"] not in ids1]
withdrawn = [n for n in after if n["kind"] == "withdrawn"]
if withdrawn:
    fails.append(f"{len(withdrawn)} withdrawn: {[n['rule']['id'] for n in withdrawn]}")
def what(n):
    return (n["rule"]["id"], tuple(sorted(e["event_id"] for e in n["evidence"])))
before = {what(n): n["child"]["child_key"] for n in n1 if n["kind"] == "new"}
for n in after:
    if n["kind"] == "new" and what(n) in before:
        fails.append(f"raised again: {what(n)[0]} ({before[what(n)][:12]} then "
                     f"{n['child']['child_key'][:12]})")
u5 = [n for n in n2 if n["child"]["child_key"] == key and n["rule"]["id"] == "under5_multiagency"]
if not u5:
    fails.append("the baby has no under5_multiagency notification")
elif sum(e["agency"] == "midwifery" for e in u5[-1]["evidence"]) != 2:
    fails.append(f"the baby's under5_multiagency evidence: {[e['agency'] for e in u5[-1]['evidence']]}")
print(f"{len(n1)} notifications before the upgrade, {len(after)} more after it")
for f in fails:
    print("FAIL: " + f)
sys.exit(1 if fails else 0)
PY
[ $? -eq 0 ] && ok "nothing withdrawn or raised again; the maternity-number history reached the baby" ||
    bad "notifications after the upgrade"
grep -q "AddressSanitizer\|runtime error" "$work/new.log" && bad "sanitizer report" || ok "no sanitizer report"
