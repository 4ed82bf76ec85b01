#!/usr/bin/env bash
# Smoke test of the real-broker tooling (ops/kafka) and the independent test peers:
# starts Apache Kafka (KRaft, loopback, non-default ports), creates topics with Kafka's
# TopicCommand, round-trips records through Kafka's console producer/consumer and through
# the pure-Python client (tests/e2e/peers/kpeer.py), checks an Avro payload with fastavro,
# and stops the broker on exit. Exits non-zero on any failure.
#
# Needs: Java 17, Maven (first run fetches Kafka), python3 with
#   python3 -m pip install -r tests/e2e/peers/requirements.txt
# Env: NB_SMOKE_PORT (first port to try, default 29092), NB_KAFKA_HOME (jar cache).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
K=$ROOT/ops/kafka
KPEER=$ROOT/tests/e2e/peers/kpeer.py
PY=${NB_PYTHON:-${PYTHON:-python3}}

PASSED=0
FAILED=0
say() { echo "smoke_kafka: $*" >&2; }
ok() { PASSED=$((PASSED + 1)); say "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); say "FAIL - $*"; exit 1; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

port_busy() {
    if command -v ss >/dev/null 2>&1 && [[ -n $(ss -Htln "sport = :$1" 2>/dev/null) ]]; then return 0; fi
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

"$PY" -c 'import kafka, fastavro' 2>/dev/null ||
    fail "python peers missing: python3 -m pip install -r tests/e2e/peers/requirements.txt"

# Non-default ports, away from ops/kafka's defaults (19092-19094) and other runs.
base=${NB_SMOKE_PORT:-29092}
for _ in $(seq 1 20); do
    if ! port_busy "$base" && ! port_busy $((base + 1)); then break; fi
    base=$((base + 100))
done
port_busy "$base" && fail "no free port pair found near ${NB_SMOKE_PORT:-29092}"
export NB_KAFKA_PORT=$base NB_KAFKA_CONTROLLER_PORT=$((base + 1))

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nb-smoke-kafka.XXXXXX")
export NB_KAFKA_STATE=$WORK/state
cleanup() {
    local rc=$?
    trap - EXIT
    if ((rc != 0)) && [[ -s $NB_KAFKA_STATE/server.log ]]; then
        say "failure: tail of the broker log"
        tail -n 30 "$NB_KAFKA_STATE/server.log" >&2 || true
    fi
    "$K" stop >/dev/null 2>&1 || say "warning: ops/kafka stop failed"
    rm -rf "$WORK"
    if ((rc == 0)); then
        echo "smoke_kafka: $PASSED passed, $FAILED failed"
    else
        echo "smoke_kafka: $PASSED passed, $((FAILED > 0 ? FAILED : 1)) failed"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t=$(now)
"$K" fetch
say "fetch took $(elapsed "$t")s"

t=$(now)
BOOT=$("$K" start)
say "start took $(elapsed "$t")s (bootstrap $BOOT)"
[[ $BOOT == "127.0.0.1:$NB_KAFKA_PORT" ]] || fail "start printed '$BOOT', expected 127.0.0.1:$NB_KAFKA_PORT"
"$K" status >/dev/null || fail "status says not running"
ok "broker up at $BOOT"

# --- Kafka's own tools -----------------------------------------------------------------
"$K" topics --bootstrap-server "$BOOT" --create --topic smoke.console --partitions 1 \
    --replication-factor 1 >/dev/null || fail "TopicCommand --create"
"$K" topics --bootstrap-server "$BOOT" --create --topic smoke.python --partitions 1 \
    --replication-factor 1 >/dev/null || fail "TopicCommand --create"
"$K" topics --bootstrap-server "$BOOT" --create --topic smoke.avro --partitions 1 \
    --replication-factor 1 >/dev/null || fail "TopicCommand --create"
topics=$("$K" topics --bootstrap-server "$BOOT" --list | grep '^smoke\.' | sort | tr '\n' ' ')
[[ $topics == "smoke.avro smoke.console smoke.python " ]] || fail "topic list: '$topics'"
ok "TopicCommand created and listed 3 topics"

expected=$'k1:héllo one\nk2:two\nk3:three, with spaces'
# The console tools' record options: --formatter-property and --reader-property in newer
# Kafka 4.x (where --property prints a deprecation notice, on the consumer's stdout),
# --property before.
fprop=--property rprop=--property
help=$("$K" console-consumer --help 2>&1 || true)
[[ $help == *--formatter-property* ]] && fprop=--formatter-property
help=$("$K" console-producer --help 2>&1 || true)
[[ $help == *--reader-property* ]] && rprop=--reader-property
printf '%s\n' "$expected" | "$K" console-producer --bootstrap-server "$BOOT" --topic smoke.console \
    "$rprop" parse.key=true "$rprop" key.separator=: --producer-property acks=all \
    || fail "console producer"
# (the console producer may exit 0 after a failed send: the read-back below is the check)
got=$("$K" console-consumer --bootstrap-server "$BOOT" --topic smoke.console --from-beginning \
    --max-messages 3 --timeout-ms 30000 "$fprop" print.key=true "$fprop" key.separator=: \
    2>/dev/null) || fail "console consumer"
[[ $got == "$expected" ]] || fail "console round trip: got $(printf %q "$got")"
ok "console producer -> console consumer: 3 records exact"

got=$("$PY" "$KPEER" consume -b "$BOOT" -t smoke.console -n 3 --print-key : --timeout 30) \
    || fail "python consumer on console-produced records"
[[ $got == "$expected" ]] || fail "console -> python: got $(printf %q "$got")"
ok "console producer -> python consumer: 3 records exact"

# --- the pure-Python client ------------------------------------------------------------
expected_py=$'a|alpha\nb|beta\nc|gamma'
printf '%s\n' "$expected_py" | "$PY" "$KPEER" produce -b "$BOOT" -t smoke.python --key-sep '|' \
    2>/dev/null || fail "python producer"
got=$("$PY" "$KPEER" consume -b "$BOOT" -t smoke.python -n 3 --print-key '|' --timeout 30) \
    || fail "python consumer"
[[ $got == "$expected_py" ]] || fail "python round trip: got $(printf %q "$got")"
got=$("$K" console-consumer --bootstrap-server "$BOOT" --topic smoke.python --from-beginning \
    --max-messages 3 --timeout-ms 30000 "$fprop" print.key=true "$fprop" key.separator='|' \
    2>/dev/null) || fail "console consumer on python-produced records"
[[ $got == "$expected_py" ]] || fail "python -> console: got $(printf %q "$got")"
ok "python producer -> python + console consumers: 3 records exact"

# --- fastavro payload through the broker ----------------------------------------------
avro_hex=$("$PY" - <<'EOF'
import io, fastavro
s = fastavro.parse_schema({"type": "record", "name": "Smoke", "fields": [
    {"name": "id", "type": "long"}, {"name": "name", "type": "string"}]})
for i, n in ((1, "one"), (2, "two"), (3, "three")):
    b = io.BytesIO(); fastavro.schemaless_writer(b, s, {"id": i, "name": n}); print(b.getvalue().hex())
EOF
) || fail "fastavro encode"
printf '%s\n' "$avro_hex" | "$PY" "$KPEER" produce -b "$BOOT" -t smoke.avro --hex 2>/dev/null \
    || fail "python producer (avro)"
decoded=$("$PY" "$KPEER" consume -b "$BOOT" -t smoke.avro -n 3 --hex --timeout 30 | "$PY" -c '
import io, sys, fastavro
s = fastavro.parse_schema({"type": "record", "name": "Smoke", "fields": [
    {"name": "id", "type": "long"}, {"name": "name", "type": "string"}]})
for line in sys.stdin:
    r = fastavro.schemaless_reader(io.BytesIO(bytes.fromhex(line.strip())), s)
    print(r["id"], r["name"])
') || fail "avro read back"
[[ $decoded == $'1 one\n2 two\n3 three' ]] || fail "avro round trip: got $(printf %q "$decoded")"
ok "fastavro records through the broker: 3 records exact"

t=$(now)
"$K" stop >/dev/null 2>&1 || fail "ops/kafka stop"
"$K" status >/dev/null 2>&1 && fail "still running after stop"
[[ ! -e $NB_KAFKA_STATE ]] || fail "state dir not removed by stop"
say "stop took $(elapsed "$t")s"
ok "broker stopped, state removed"
