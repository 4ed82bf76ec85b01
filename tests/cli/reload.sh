#!/usr/bin/env bash
# SIGHUP reloads the policy: an invalid policy is refused with its file:line:column in the log
# and the policy in force stays (the daemon keeps running); a valid one is then taken.
# Usage: reload.sh NOTBROUGHT SOURCE_DIR
set -uo pipefail
bin=$1
root=$2
work=$(mktemp -d)
pids=()
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$work"
    echo "reload: $passed passed, $failed failed"
    [ $failed -eq 0 ] && [ $passed -gt 0 ]
}
trap 'finish; exit $?' EXIT
# Waits until the log has a line matching $1 (deadline 60 s).
await_log() {
    for _ in $(seq 600); do grep -q "$1" "$work/run.log" && return 0; sleep 0.1; done
    return 1
}

cp "$root/config/policy/wnb-wales-base.yaml" "$root/config/policy/bank-holidays-england-wales.yaml" \
    "$work/"
sed "s|config/policy/wnb-wales-base.yaml, config/policy/cardiff-and-vale.yaml|$work/wnb-wales-base.yaml|" \
    "$root/config/notbrought.yaml" >"$work/nb.yaml"
"$bin" broker --config "$work/nb.yaml" >"$work/bootstrap" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bs=$(head -n 1 "$work/bootstrap")
NB_HMAC_KEY=reload-test-hmac-key-0123456789 "$bin" run --config "$work/nb.yaml" --bootstrap "$bs" \
    2>"$work/run.log" &
daemon=$!
pids+=($daemon)
await_log '"assigned' && ok "daemon running" || bad "daemon did not start"

cp "$work/wnb-wales-base.yaml" "$work/good.yaml"
printf 'rules:\n  - id: [broken\n' >>"$work/wnb-wales-base.yaml"
kill -HUP "$daemon"
if await_log 'policy reload failed, old policy stays'; then
    ok "invalid policy refused on SIGHUP"
else
    bad "no refusal logged"
fi
grep 'policy reload failed' "$work/run.log" | grep -q 'wnb-wales-base.yaml:[0-9]*:[0-9]*' &&
    ok "the error names file:line:column" || bad "no file:line:column in the error"
kill -0 "$daemon" 2>/dev/null && ok "daemon still running with the old policy" ||
    bad "daemon died on an invalid policy"

cp "$work/good.yaml" "$work/wnb-wales-base.yaml"
kill -HUP "$daemon"
await_log '"policy reloaded"' && ok "valid policy taken on SIGHUP" || bad "valid policy not taken"
kill -TERM "$daemon"
wait "$daemon" && ok "SIGTERM: exit 0" || bad "SIGTERM: non-zero exit"
