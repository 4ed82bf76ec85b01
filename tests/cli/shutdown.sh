#!/usr/bin/env bash
# SIGTERM ends the daemon within processing.shutdown_timeout_ms whatever the brokers do
# (issue 18): with Kafka unreachable from the start (the metrics port on: the registry must
# outlive the stream's clients), and with the embedded broker paused (SIGSTOP) mid-run; after
# the pause, a new run finishes the work and nothing committed is lost.
# Usage: shutdown.sh NOTBROUGHT SOURCE_DIR
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
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    rm -rf "$work"
    echo "shutdown: $passed passed, $failed failed"
    [ $failed -eq 0 ] && [ $passed -gt 0 ]
}
trap 'finish; exit $?' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
status() { python3 - "$1" 2>/dev/null <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
PY
}
metric() { python3 - "$1" "$2" <<'PY'
import re, sys, urllib.request
try:
    text = urllib.request.urlopen(sys.argv[1], timeout=2).read().decode()
except Exception:
    print(0); sys.exit()
total = 0.0
for line in text.splitlines():
    m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
    if m and m.group(1) == sys.argv[2]:
        total += float(m.group(3))
print(int(total))
PY
}
# wait_exit PID SECONDS: 0 when the process ended within SECONDS; its status in $rc.
wait_exit() {
    local pid=$1 deadline=$(($(date +%s) + $2))
    while kill -0 "$pid" 2>/dev/null; do
        [ "$(date +%s)" -ge $deadline ] && return 1
        sleep 0.1
    done
    wait "$pid"
    rc=$?
    return 0
}

timeout_ms=3000
limit_s=$((timeout_ms / 1000 + 10)) # the watchdog's limit, and room for a loaded machine
export NB_HMAC_KEY=shutdown-test-hmac-key-0123456789 NB_OPS_LOG_LEVEL=info
export NB_PROCESSING_SHUTDOWN_TIMEOUT_MS=$timeout_ms NB_RDKAFKA_STATISTICS_INTERVAL_MS=200

# 1. Kafka unreachable: nothing listens on the bootstrap port.
port=$(free_port)
dead=$(free_port)
sed "s|config/policy/|$root/config/policy/|g; s|http_port: 0|http_port: $port\n  http_bind: 127.0.0.1|" \
    "$root/config/notbrought.yaml" >"$work/nb.yaml"
"$bin" run --config "$work/nb.yaml" --bootstrap "127.0.0.1:$dead" 2>"$work/unreachable.log" &
daemon=$!
pids+=($daemon)
for _ in $(seq 300); do [ "$(status "http://127.0.0.1:$port/healthz")" = 200 ] && break; sleep 0.1; done
[ "$(status "http://127.0.0.1:$port/readyz")" = 503 ] && ok "not ready while Kafka is unreachable" ||
    bad "/readyz with Kafka unreachable: $(status "http://127.0.0.1:$port/readyz")"
# Let librdkafka's statistics callback run a few times, as it does in production.
sleep 1
kill -TERM $daemon
if wait_exit $daemon $limit_s; then
    if [ $rc -eq 0 ] || [ $rc -eq 3 ]; then ok "unreachable Kafka: SIGTERM ended the daemon (status $rc)"
    else bad "unreachable Kafka: status $rc after SIGTERM"; tail -n 20 "$work/unreachable.log"; fi
else
    bad "unreachable Kafka: still running ${limit_s} s after SIGTERM"
fi
grep -q "AddressSanitizer\|runtime error" "$work/unreachable.log" && bad "sanitizer report" ||
    ok "no sanitizer report"

# 2. The broker paused in the middle of a run.
port=$(free_port)
sed "s|config/policy/|$root/config/policy/|g; s|http_port: 0|http_port: $port\n  http_bind: 127.0.0.1|" \
    "$root/config/notbrought.yaml" >"$work/nb.yaml"
"$bin" broker --config "$work/nb.yaml" >"$work/bootstrap" 2>/dev/null &
broker=$!
pids+=($broker)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bs=$(head -n 1 "$work/bootstrap")
"$bin" generate --children 60 --seed 5 --missed-share 0.3 --malformed 6 -o "$work/s.jsonl"
"$bin" produce --config "$work/nb.yaml" --bootstrap "$bs" "$work/s.jsonl" 2>/dev/null
"$bin" run --config "$work/nb.yaml" --bootstrap "$bs" 2>"$work/paused.log" &
daemon=$!
pids+=($daemon)
for _ in $(seq 600); do
    [ "$(metric "http://127.0.0.1:$port/metrics" notbrought_transactions_total)" -gt 0 ] && break
    sleep 0.1
done
kill -STOP $broker
kill -TERM $daemon
if wait_exit $daemon $limit_s; then
    if [ $rc -eq 0 ] || [ $rc -eq 3 ]; then ok "paused broker: SIGTERM ended the daemon (status $rc)"
    else bad "paused broker: status $rc after SIGTERM"; tail -n 20 "$work/paused.log"; fi
else
    bad "paused broker: still running ${limit_s} s after SIGTERM"
fi
kill -CONT $broker

# After the pause a new run takes over: every malformed record ends as a dead letter (none
# lost between the two runs), and it stops cleanly with the broker answering.
"$bin" run --config "$work/nb.yaml" --bootstrap "$bs" 2>"$work/after.log" &
daemon=$!
pids+=($daemon)
letters=0
for _ in $(seq 120); do
    letters=$("$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" \
        --topic notbrought.dead-letters --format records --idle-ms 1000 2>/dev/null |
        python3 -c '
import json, sys
print(len({(r.get("key"), r.get("value")) for r in map(json.loads, sys.stdin)}))' 2>/dev/null ||
        echo 0)
    [ "${letters:-0}" -ge 6 ] && break
    sleep 0.5
done
[ "${letters:-0}" -eq 6 ] && ok "after the pause: the 6 malformed records set aside, each once" ||
    bad "after the pause: $letters distinct dead letters, want 6"
kill -TERM $daemon
if wait_exit $daemon $limit_s && [ $rc -eq 0 ]; then ok "the next run stops cleanly (status 0)"
else bad "the next run: status ${rc:-none} after SIGTERM"; tail -n 20 "$work/after.log"; fi
