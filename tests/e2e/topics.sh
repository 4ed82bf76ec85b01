#!/usr/bin/env bash
# `notbrought topics` on a real Apache Kafka broker (issue 24): on a fresh broker it creates
# every topic with its role's settings, which Kafka's own tools (kafka-configs, kafka-topics)
# then read back; run again it finds them fine; once a topic is given a setting that loses
# records (with Kafka's tools) it refuses, naming each topic, setting, found and wanted value,
# and creates nothing. Then `notbrought purge` removes records older than a date from a
# non-compacted topic, refuses a compacted one and a purge without a reason, and audits what
# it removed.
#
# Environment: NB_BIN, NB_SOURCE_DIR.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_e2e_begin topics
K=$root/ops/kafka

read -r port _ < <(nb_free_ports)
export NB_KAFKA_STATE=$work/kafka NB_KAFKA_PORT=$port
bs=$("$K" start | head -n 1) || { bad "broker did not start"; exit 1; }
ok "broker at $bs"

cat >"$work/nb.yaml" <<EOF
kafka:
  bootstrap_servers: $bs
  instance_id: topics-1
topics:
  appointments: [gp.appointments, hv.contacts]
  partitions: 2
  retention_ms:
    by_child: 864000000
ops:
  log_level: warn
EOF

# Every setting of every topic, as Kafka's kafka-configs describes them (one JVM start).
describe_all() {
    "$K" configs --bootstrap-server "$bs" --describe --all --entity-type topics \
        >"$work/configs.txt" 2>/dev/null
}
# The value of one setting of a topic in that description.
setting() {
    awk -v t="$1" -v k="$2" '
        /^All configs for topic / { cur = $5 }
        cur == t && $1 ~ ("^" k "=") { sub("^" k "=", "", $1); print $1; exit }' \
        "$work/configs.txt"
}
partitions() {
    "$K" topics --bootstrap-server "$bs" --describe --topic "$1" 2>/dev/null |
        grep -o 'PartitionCount: *[0-9]*' | grep -o '[0-9]*$'
}
expect() { # TOPIC SETTING WANTED
    local got
    got=$(setting "$1" "$2")
    [ "$got" = "$3" ] && ok "$1 $2=$3" || bad "$1 $2 is '$got', expected '$3'"
}

if "$bin" topics --config "$work/nb.yaml" --source-partitions 3 >"$work/t1.out" 2>"$work/t1.err"
then
    ok "topics on a fresh broker"
else
    bad "topics on a fresh broker: $(cat "$work/t1.err")"
fi
[ "$(grep -c ' created$' "$work/t1.out")" = 11 ] && ok "11 topics created (table)" ||
    bad "table: $(cat "$work/t1.out")"

describe_all
expect notbrought.audit retention.ms -1
expect notbrought.audit retention.bytes -1
expect notbrought.audit cleanup.policy delete
expect notbrought.audit min.insync.replicas 1
expect notifications retention.ms -1
expect notification.acks retention.ms -1
expect notbrought.dead-letters retention.ms -1
expect gp.appointments retention.ms 34560000000
expect child.context retention.ms 34560000000
expect notbrought.by-child retention.ms 864000000
expect identity.suggestions retention.ms 2592000000
expect identity.links cleanup.policy compact
expect notbrought.changelog cleanup.policy compact
[ "$(partitions notbrought.by-child)" = 2 ] && [ "$(partitions notbrought.changelog)" = 2 ] &&
    ok "by-child and changelog have topics.partitions partitions" || bad "partition counts"
[ "$(partitions hv.contacts)" = 3 ] && [ "$(partitions notbrought.dead-letters)" = 1 ] &&
    ok "sources 3 partitions, dead letters 1" || bad "source / dead-letter partitions"

if "$bin" topics --config "$work/nb.yaml" >"$work/t2.out" 2>"$work/t2.err" &&
    [ "$(grep -c ' fine$' "$work/t2.out")" = 11 ]; then
    ok "run again: every topic fine, nothing changed"
else
    bad "second run: $(cat "$work/t2.out" "$work/t2.err")"
fi

# Lossy settings, made with Kafka's tools; and one topic deleted, which must not come back.
"$K" configs --bootstrap-server "$bs" --alter --entity-type topics --entity-name notbrought.audit \
    --add-config retention.ms=604800000 >/dev/null 2>&1 &&
    "$K" configs --bootstrap-server "$bs" --alter --entity-type topics \
        --entity-name identity.links --add-config cleanup.policy=delete >/dev/null 2>&1 &&
    "$K" configs --bootstrap-server "$bs" --alter --entity-type topics \
        --entity-name gp.appointments --add-config retention.bytes=1000000 >/dev/null 2>&1 &&
    "$K" topics --bootstrap-server "$bs" --delete --topic notifications >/dev/null 2>&1 &&
    ok "lossy settings made with kafka-configs; notifications deleted" || bad "kafka-configs"
# The deletion is asynchronous: wait until the metadata no longer lists it.
for _ in $(seq 50); do
    "$K" topics --bootstrap-server "$bs" --list 2>/dev/null | grep -qx notifications || break
    sleep 0.2
done
"$bin" topics --config "$work/nb.yaml" >"$work/t3.out" 2>"$work/t3.err"
rc=$?
[ $rc = 1 ] && ok "refused (exit 1)" || bad "exit $rc, expected 1: $(cat "$work/t3.err")"
grep -q "topic notbrought.audit: retention.ms is 604800000 (7 days), must be -1" "$work/t3.err" &&
    ok "names the audit's retention.ms, found and wanted" || bad "audit: $(cat "$work/t3.err")"
grep -q "topic identity.links: cleanup.policy is delete, must be compact" "$work/t3.err" &&
    ok "names the links' cleanup.policy" || bad "links: $(cat "$work/t3.err")"
grep -q "topic gp.appointments: retention.bytes is 1000000, must be -1" "$work/t3.err" &&
    ok "names the source's retention.bytes" || bad "bytes: $(cat "$work/t3.err")"
grep -q "3 settings of topics that exist would lose records; nothing was created" "$work/t3.err" &&
    ok "says nothing was created" || bad "summary: $(cat "$work/t3.err")"
if "$K" topics --bootstrap-server "$bs" --list 2>/dev/null | grep -qx notifications; then
    bad "a refused run created notifications"
else
    ok "a refused run created nothing"
fi

# Back to safe settings: the missing topic is created, the rest are fine.
"$K" configs --bootstrap-server "$bs" --alter --entity-type topics --entity-name notbrought.audit \
    --add-config retention.ms=-1 >/dev/null 2>&1
"$K" configs --bootstrap-server "$bs" --alter --entity-type topics --entity-name identity.links \
    --add-config cleanup.policy=compact >/dev/null 2>&1
"$K" configs --bootstrap-server "$bs" --alter --entity-type topics --entity-name gp.appointments \
    --delete-config retention.bytes >/dev/null 2>&1
"$bin" topics --config "$work/nb.yaml" >"$work/t4.out" 2>"$work/t4.err" &&
    grep -q '^notifications .* created$' "$work/t4.out" &&
    ok "after the fix: notifications created, the rest fine" ||
    bad "after the fix: $(cat "$work/t4.out" "$work/t4.err")"

# ---- purge ----
# Five dead letters, then a time, then three more: the time parts them (each record gets the
# time it is produced; the first produce has returned, delivered, before the time is read).
for i in 1 2 3 4 5; do
    printf '{"topic":"notbrought.dead-letters","key":"old-%d","value":"AAAAAAE="}\n' "$i"
done >"$work/old.jsonl"
for i in 1 2 3; do
    printf '{"topic":"notbrought.dead-letters","key":"new-%d","value":"AAAAAAE="}\n' "$i"
done >"$work/new.jsonl"
"$bin" produce --config "$work/nb.yaml" "$work/old.jsonl" 2>/dev/null || bad "produce old"
cut=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
# The time must be past before the next records are produced: wait until the clock moves on.
while [ "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" = "$cut" ]; do :; done
"$bin" produce --config "$work/nb.yaml" "$work/new.jsonl" 2>/dev/null || bad "produce new"

purge() { "$bin" purge --config "$work/nb.yaml" "$@"; }
purge --topic notbrought.dead-letters --before "$cut" --by ops-7 >"$work/p0.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q -- "--reason" "$work/p0.out" && ok "purge without a reason refused" ||
    bad "no reason: exit $rc $(cat "$work/p0.out")"
purge --topic identity.links --before "$cut" --reason erasure --by ops-7 >"$work/p1.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "compacted" "$work/p1.out" && ok "purge of a compacted topic refused" ||
    bad "compacted: exit $rc $(cat "$work/p1.out")"
purge --topic notbrought.dead-letters --before "$cut" --reason dead_letters --by ops-7 --dry-run \
    >"$work/p2.out" 2>&1 && grep -q "dry run: 5 offsets" "$work/p2.out" &&
    ok "dry run: 5 would go" || bad "dry run: $(cat "$work/p2.out")"
earliest() {
    "$K" get-offsets --bootstrap-server "$bs" --topic notbrought.dead-letters --time -2 \
        2>/dev/null | cut -d: -f3
}
[ "$(earliest)" = 0 ] && ok "the dry run deleted nothing" || bad "dry run deleted: $(earliest)"
purge --topic notbrought.dead-letters --before "$cut" --reason dead_letters --by ops-7 \
    --request CHG-1234 >"$work/p3.out" 2>&1 && grep -q "purged: 5 offsets" "$work/p3.out" &&
    ok "purge: 5 deleted" || bad "purge: $(cat "$work/p3.out")"
[ "$(earliest)" = 5 ] && ok "Kafka's earliest offset is now 5 (kafka-get-offsets)" ||
    bad "earliest offset $(earliest), expected 5"
"$bin" consume --config "$work/nb.yaml" --topic notbrought.dead-letters --format records \
    --to-end >"$work/left.jsonl" 2>/dev/null
[ "$(grep -c '"key":"new-' "$work/left.jsonl")" = 3 ] && ! grep -q '"key":"old-' "$work/left.jsonl" &&
    ok "the three newer dead letters remain" || bad "left: $(cat "$work/left.jsonl")"
"$bin" consume --config "$work/nb.yaml" --topic notbrought.audit --format json --to-end \
    >"$work/audit.json" 2>/dev/null
python3 - "$work/audit.json" <<'PY' && ok "audit record: purged, by whom, why, what" ||
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
text = json.dumps(recs)
purged = [r for r in recs if '"purged"' in json.dumps(r)]
assert len(purged) == 1, text
p = json.dumps(purged[0])
for want in ("ops-7", "dead letters dealt with", "notbrought.dead-letters", "CHG-1234",
             "[0] 0-4", "5 offsets"):
    assert want in p, (want, p)
PY
    bad "audit: $(cat "$work/audit.json")"
