# Shared by the daemon-level CLI tests (sourced): counters and the exit check, free ports,
# HTTP status and metric reads, a config for the embedded broker.
#   nb_cli_begin NAME BIN ROOT  sets bin (absolute), root, work (a scratch dir) and pids (killed
#                               at the end, resumed first if stopped); on exit: "NAME: N passed,
#                               N failed", status 0 only if something passed and nothing failed.
#   nb_free_port                a free TCP port on loopback
#   nb_status URL               the HTTP status of a GET (0 when nothing answers)
#   nb_metric URL NAME          the sum of a metric family's samples at a /metrics URL (-1 when
#                               nothing answers)
#   nb_config PORT OUT          config/notbrought.yaml with the metrics port on loopback and the
#                               policy files' absolute paths, written to OUT

nb_cli_begin() {
    nb_cli_name=$1
    bin=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
    root=$3
    work=$(mktemp -d)
    pids=()
    passed=0
    failed=0
    trap 'nb_cli_finish; exit $?' EXIT
}

ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

nb_cli_finish() {
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    rm -rf "$work"
    echo "$nb_cli_name: $passed passed, $failed failed"
    [ $failed -eq 0 ] && [ $passed -gt 0 ]
}

nb_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

nb_status() {
    python3 - "$1" 2>/dev/null <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
PY
}

nb_metric() {
    python3 - "$1" "$2" <<'PY'
import re, sys, urllib.request
try:
    text = urllib.request.urlopen(sys.argv[1], timeout=2).read().decode()
except Exception:
    print(-1); sys.exit()
total = 0.0
for line in text.splitlines():
    m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
    if m and m.group(1) == sys.argv[2]:
        total += float(m.group(3))
print(int(total))
PY
}

nb_config() {
    sed "s|config/policy/|$root/config/policy/|g; s|http_port: 0|http_port: $1\n  http_bind: 127.0.0.1|" \
        "$root/config/notbrought.yaml" >"$2"
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

# nb_wait_commit PORT SECONDS: 0 once the daemon whose admin port is PORT has committed a
# transaction (its notbrought_transactions_total above 0), 1 when SECONDS pass first.
nb_wait_commit() {
    local deadline=$(($(date +%s) + $2))
    until [ "$(nb_metric "http://127.0.0.1:$1/metrics" notbrought_transactions_total)" -gt 0 ]; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
