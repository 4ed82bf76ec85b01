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
