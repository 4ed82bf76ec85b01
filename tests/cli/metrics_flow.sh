#!/usr/bin/env bash
# /metrics counters move as events flow, /healthz and /readyz answer, on the embedded broker.
# Usage: metrics_flow.sh NOTBROUGHT SOURCE_DIR
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
    echo "metrics_flow: $passed passed, $failed failed"
    [ $failed -eq 0 ] && [ $passed -gt 0 ]
}
trap 'finish; exit $?' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# GET: prints "STATUS" then the body.
get() { python3 - "$1" 2>/dev/null <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
except Exception as e:
    print(0); print(e)
PY
}
# metric NAME [FILTER]: the sum of every sample of a family, over all its label sets (so
# notbrought_records_consumed_total sums over topics); FILTER, optional, is a substring the
# labels must contain (e.g. 'topic="gp.appointments"').
metric() { get "http://127.0.0.1:$port/metrics" | python3 -c '
import re, sys
name, want = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
total = 0.0
for line in sys.stdin:
    m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line.strip())
    if m and m.group(1) == name and want in (m.group(2) or ""):
        total += float(m.group(3))
print(int(total))' "$@"; }

sed "s|config/policy/|$root/config/policy/|g; s|http_port: 0|http_port: $port\n  http_bind: 127.0.0.1|" \
    "$root/config/notbrought.yaml" >"$work/nb.yaml"
"$bin" broker --config "$work/nb.yaml" >"$work/bootstrap" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bs=$(head -n 1 "$work/bootstrap")
export NB_HMAC_KEY=metrics-test-hmac-key-0123456789 NB_OPS_LOG_LEVEL=warn
# librdkafka statistics every second rather than every 10 s, so that the test need not wait.
export NB_RDKAFKA_STATISTICS_INTERVAL_MS=1000
"$bin" run --config "$work/nb.yaml" --bootstrap "$bs" 2>"$work/run.log" &
daemon=$!
pids+=($daemon)

for _ in $(seq 300); do [ "$(get "http://127.0.0.1:$port/healthz" | head -1)" = 200 ] && break; sleep 0.1; done
[ "$(get "http://127.0.0.1:$port/healthz" | head -1)" = 200 ] && ok "/healthz 200" || bad "/healthz"
for _ in $(seq 300); do [ "$(get "http://127.0.0.1:$port/readyz" | head -1)" = 200 ] && break; sleep 0.1; done
[ "$(get "http://127.0.0.1:$port/readyz" | head -1)" = 200 ] && ok "/readyz 200 once restored" ||
    bad "/readyz never became ready"
before=$(metric notbrought_records_consumed_total)

"$bin" generate --children 60 --seed 9 --missed-share 0.3 --malformed 6 -o "$work/s1.jsonl"
"$bin" produce --config "$work/nb.yaml" --bootstrap "$bs" "$work/s1.jsonl" 2>/dev/null
for _ in $(seq 300); do
    [ "$(metric notbrought_dead_letters_total)" -ge 6 ] && [ "$(metric notbrought_notifications_total)" -gt 0 ] && break
    sleep 0.2
done
# Records consumed are reported when their transaction commits: wait for the whole batch
# (every line but the identity links, read by every instance outside the group).
n1=$(grep -vc '^{"topic":"identity.links"' "$work/s1.jsonl")
for _ in $(seq 300); do [ "$(metric notbrought_records_consumed_total)" -ge $((before + n1)) ] && break; sleep 0.2; done
first=$(metric notbrought_records_consumed_total)
[ "$first" -ge $((before + n1)) ] && ok "records consumed moved: $before -> $first" ||
    bad "records consumed: $before -> $first, want $n1 more"
# By topic: every source topic of the sample has its series (one instance owns every by-child
# partition, so nothing goes through the by-child topic).
for t in gp.appointments midwifery.appointments hv.contacts child.context; do
    [ "$(metric notbrought_records_consumed_total "topic=\"$t\"")" -gt 0 ] &&
        ok "records consumed from $t" || bad "no records consumed from $t"
done
[ "$(metric notbrought_records_consumed_total 'topic="identity.links"')" -eq 0 ] &&
    ok "identity links are not counted as consumed (read outside the group)" ||
    bad "identity links counted"
[ "$(metric notbrought_dead_letters_total)" -eq 6 ] && ok "6 dead letters counted" ||
    bad "dead letters: $(metric notbrought_dead_letters_total)"
[ "$(metric notbrought_dead_letters_total 'code="nhs_check_digit"')" -ge 1 ] &&
    ok "dead letters labelled by error code" || bad "no nhs_check_digit dead letter"
[ "$(metric notbrought_events_total 'agency="gp"')" -gt 0 ] && ok "events by agency" || bad "events by agency"
[ "$(metric notbrought_resolutions_total 'method="nhs_number"')" -gt 0 ] && ok "resolutions by method" ||
    bad "resolutions by method"
[ "$(metric notbrought_notifications_by_kind_total 'kind="new"')" -gt 0 ] && ok "notifications by kind" ||
    bad "notifications by kind"
[ "$(metric notbrought_notifications_by_tier_total)" -eq "$(metric notbrought_notifications_total)" ] &&
    ok "notifications by tier add up" || bad "notifications by tier"
[ "$(metric notbrought_transactions_total 'result="commit"')" -gt 0 ] && ok "commits counted" ||
    bad "commits"
[ "$(metric notbrought_commit_latency_seconds_count)" -gt 0 ] && ok "commit latency observed" ||
    bad "commit latency"
[ "$(metric notbrought_policy_info)" -eq 1 ] && ok "policy info" || bad "policy info"
# The identity table's digest, once the sample's links are read: one series, 16 hex digits,
# the same in /readyz with the links it covers.
nl=$(grep -c '^{"topic":"identity.links"' "$work/s1.jsonl")
for _ in $(seq 100); do [ "$(metric notbrought_identity_table_digest_links)" -eq "$nl" ] && break; sleep 0.2; done
digest=$(get "http://127.0.0.1:$port/metrics" |
    sed -n 's/^notbrought_identity_table_digest_info{digest="\([0-9a-f]\{16\}\)"} 1$/\1/p')
[ "$(metric notbrought_identity_table_digest_links)" -eq "$nl" ] && [ -n "$digest" ] &&
    [ "$(metric notbrought_identity_table_digest_info)" -eq 1 ] &&
    ok "identity digest $digest of $nl links" || bad "identity digest: '$digest', $nl links"
get "http://127.0.0.1:$port/readyz" | grep "\"identity\":{\"digest\":\"$digest\",\"links\":$nl}" >/dev/null &&
    ok "/readyz names the identity digest" || bad "/readyz: $(get "http://127.0.0.1:$port/readyz")"
[ "$(metric notbrought_children_tracked)" -gt 0 ] && ok "children tracked" || bad "children tracked"
# The state's memory, counted by the same tick: at least each key's entry (60 bytes before its
# value), and not more than a few KB a key beyond the tables' and heaps' first allocations.
keys=$(metric notbrought_children_tracked)
sb=$(metric notbrought_state_bytes)
[ "$sb" -ge $((keys * 60)) ] && [ "$sb" -le $((keys * 4096 + 1048576)) ] &&
    ok "state memory: $sb bytes for $keys keys" || bad "state memory: $sb bytes for $keys keys"
# Restores: none in progress once ready (the changelog was empty, so nothing was read).
[ "$(metric notbrought_restoring_partitions)" -eq 0 ] &&
    [ "$(metric notbrought_restore_remaining_records)" -eq 0 ] && ok "no restore in progress" ||
    bad "restore gauges: $(metric notbrought_restoring_partitions) partitions," \
        "$(metric notbrought_restore_remaining_records) records"
# librdkafka statistics of the group consumer and the transactional producer. The partition's
# lag comes with a later emission than the brokers' state (once the consumer knows an offset
# for it): wait for both, up to 20 s (and for the lag up to 20 s more, below).
lag_seen() {
    get "http://127.0.0.1:$port/metrics" |
        grep '^notbrought_consumer_lag_records{topic="gp.appointments",partition="0"} ' >/dev/null
}
for _ in $(seq 100); do
    [ "$(metric notbrought_kafka_broker_up '-consumer"')" -gt 0 ] &&
        [ "$(metric notbrought_kafka_broker_up '-producer"')" -gt 0 ] &&
        [ "$(metric notbrought_kafka_transaction_state)" -eq 1 ] && lag_seen && break
    sleep 0.2
done
[ "$(metric notbrought_kafka_broker_up '-consumer"')" -gt 0 ] && ok "consumer's brokers up" ||
    bad "no broker up for the consumer"
[ "$(metric notbrought_kafka_broker_up '-producer"')" -gt 0 ] && ok "producer's brokers up" ||
    bad "no broker up for the producer"
[ "$(metric notbrought_kafka_transaction_state)" -eq 1 ] && ok "one transaction state" ||
    bad "transaction state: $(get "http://127.0.0.1:$port/metrics" | grep '^notbrought_kafka_transaction_state')"
[ "$(metric notbrought_kafka_rebalances_total '-consumer"')" -ge 1 ] && ok "rebalances counted" ||
    bad "rebalances"
# Under load the emission that carries the lag can come late: wait up to 20 s more for it alone.
for _ in $(seq 100); do
    lag_seen && break
    sleep 0.2
done
lag_seen && ok "consumer lag by partition" ||
    bad "no consumer lag: $(get "http://127.0.0.1:$port/metrics" | grep -c '^notbrought_consumer_lag_records') lag series; $(get "http://127.0.0.1:$port/metrics" | grep '^notbrought_consumer_lag_records' | head -5 | tr '\n' ' ')"
[ "$(metric notbrought_kafka_stats_invalid_total)" -eq 0 ] && ok "statistics all parsed" || bad "invalid statistics"

"$bin" generate --children 30 --seed 10 --malformed 0 -o "$work/s2.jsonl"
# Poison in the other input topics (the sample's malformed records are all appointments):
# child.context gets garbage, an appointment (the wrong record type) and a context fact whose
# NHS number fails its check digit (valid Avro, invalid content); notification.acks gets
# garbage and an unknown schema id. Each goes to the dead letters with its reason, and its
# offset is committed with the rest (records consumed, below). Two bad identity links are
# refused and counted instead (read by every instance outside any transaction).
python3 - "$work/s2.jsonl" >"$work/poison.jsonl" <<'PY'
import base64, json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
appt = next(r for r in recs if r["topic"] == "gp.appointments")
fact = next(r for r in recs if r["topic"] == "child.context")
raw = bytearray(base64.b64decode(fact["value"]))
m = re.search(rb"[0-9]{10}", bytes(raw))
raw[m.end() - 1] = ord("0") + (raw[m.end() - 1] - ord("0") + 1) % 10
def rec(topic, value, key="poison"):
    return {"topic": topic, "key": key, "value": base64.b64encode(value).decode(),
            "timestamp": fact["timestamp"]}
for r in (rec("child.context", b"not avro at all"),
          rec("child.context", base64.b64decode(appt["value"]), appt["key"]),
          rec("child.context", bytes(raw), fact["key"]),
          rec("notification.acks", b"\x01garbage"),
          rec("notification.acks", b"\x00\x00\x00\x03\xe7\x02\x04"),
          rec("identity.links", b"\x00\x00\x00\x00"), rec("identity.links", b"garbage")):
    print(json.dumps(r, separators=(",", ":")))
PY
cat "$work/poison.jsonl" >>"$work/s2.jsonl"
dead_before=$(metric notbrought_dead_letters_total)
codes="frame_magic:2 schema_mismatch:1 nhs_check_digit:1 schema_unknown:1"
declare -A code_before
for code in $codes; do
    code_before[${code%%:*}]=$(metric notbrought_dead_letters_total "code=\"${code%%:*}\"")
done
"$bin" produce --config "$work/nb.yaml" --bootstrap "$bs" "$work/s2.jsonl" 2>/dev/null
# Records the group consumer reads: every line but the identity links (read by every instance
# outside the group).
n2=$(grep -vc '^{"topic":"identity.links"' "$work/s2.jsonl")
for _ in $(seq 300); do [ "$(metric notbrought_records_consumed_total)" -ge $((first + n2)) ] && break; sleep 0.2; done
[ "$(metric notbrought_records_consumed_total)" -ge $((first + n2)) ] &&
    ok "records consumed moved again by the second batch ($n2, poison included)" ||
    bad "second batch not counted"
[ "$(metric notbrought_dead_letters_total)" -eq $((dead_before + 5)) ] &&
    ok "the 5 poison records of child.context and notification.acks dead-lettered" ||
    bad "dead letters: $dead_before -> $(metric notbrought_dead_letters_total), want 5 more"
for code in $codes; do
    c=${code%%:*}
    got=$(($(metric notbrought_dead_letters_total "code=\"$c\"") - ${code_before[$c]}))
    [ "$got" -eq "${code#*:}" ] && ok "poison dead-lettered as $c: $got" ||
        bad "poison dead-lettered as $c: $got, want ${code#*:}"
done
for _ in $(seq 50); do
    [ "$(metric notbrought_identity_links_refused_total)" -ge 2 ] && break
    sleep 0.2
done
[ "$(metric notbrought_identity_links_refused_total 'code="frame_magic"')" -eq 1 ] &&
    [ "$(metric notbrought_identity_links_refused_total 'code="frame_truncated"')" -eq 1 ] &&
    ok "2 bad identity links refused and counted by code" ||
    bad "refused links: $(get "http://127.0.0.1:$port/metrics" | grep links_refused)"
# SIGINT (Ctrl-C) stops it as SIGTERM does (tests/cli/reload.sh and the e2e tests use that).
kill -INT "$daemon"
wait "$daemon" && ok "SIGINT: exit 0" || bad "SIGINT: non-zero exit"
