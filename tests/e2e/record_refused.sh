#!/usr/bin/env bash
# A record the broker itself refuses (issue 18), on a real Apache Kafka broker: the by-child
# topic takes at most 200 kB (max.message.bytes), and a valid appointment arrives with a
# 300 kB key. Its by-child record passes the client's own size check (1 MB) and is refused by
# the broker (MSG_SIZE_TOO_LARGE): the batch aborts, its records are handled again one per
# transaction, the refused one is set aside as record_too_large with its original key and
# coordinates (read by an independent client, kafka-python), and everything else is handled:
# and the daemon stays ready.
#
# Environment: NB_BIN, NB_SOURCE_DIR, NB_PYTHON (the venv with kafka-python).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_e2e_begin record_refused
py=${NB_PYTHON:-python3}

read -r port hport < <(nb_free_ports)
export NB_KAFKA_STATE=$work/kafka NB_KAFKA_PORT=$port
bs=$("$root/ops/kafka" start | head -n 1) || { bad "broker did not start"; exit 1; }
ok "broker at $bs"

cat >"$work/nb.yaml" <<EOF
kafka:
  bootstrap_servers: $bs
  instance_id: refused-1
topics:
  partitions: 2
processing:
  local_by_child: false
policy:
  files: [$root/config/policy/wnb-wales-base.yaml, $root/config/policy/cardiff-and-vale.yaml]
ops:
  log_level: warn
  http_port: $hport
  http_bind: 127.0.0.1
EOF
export NB_HMAC_KEY=refused-test-hmac-key-0123456789
"$root/ops/kafka" topics --bootstrap-server "$bs" --create --topic notbrought.by-child \
    --partitions 2 --replication-factor 1 --config max.message.bytes=200000 \
    --config retention.ms=2592000000 >/dev/null &&
    ok "by-child topic made with max.message.bytes=200000" || bad "by-child topic"
"$bin" topics --config "$work/nb.yaml" --source-partitions 1 >/dev/null 2>&1 &&
    ok "the other topics made" || bad "topics"

"$bin" generate --children 40 --seed 7 --missed-share 0.3 --malformed 4 -o "$work/sample.jsonl"
# The same sample with one more record: a copy of a GP appointment under a 300 kB key.
"$py" - "$work/sample.jsonl" "$work/big.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
for line in lines:
    r = json.loads(line)
    if r["topic"] == "gp.appointments":
        r["key"] = "K" * 300000
        break
open(sys.argv[2], "w").write(json.dumps(r) + "\n")
PY
"$bin" produce --config "$work/nb.yaml" "$work/sample.jsonl" 2>/dev/null &&
    "$bin" produce --config "$work/nb.yaml" "$work/big.jsonl" 2>/dev/null &&
    ok "sample and the big-key record produced" || bad "produce"

"$bin" run --config "$work/nb.yaml" 2>"$work/run.log" &
daemon=$!
# Waits until the dead letters hold 5 records (4 malformed, the refused one) and the
# notifications stop changing.
letters() {
    "$py" - "$bs" <<'PY'
import sys
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1], enable_auto_commit=False,
                  isolation_level="read_committed", consumer_timeout_ms=3000)
parts = [TopicPartition("notbrought.dead-letters", p)
         for p in sorted(c.partitions_for_topic("notbrought.dead-letters") or [])]
c.assign(parts)
c.seek_to_beginning(*parts)
for m in c:
    h = {k: (v or b"").decode("utf-8", "replace") for k, v in m.headers}
    print(h.get("nb.error.code"), h.get("nb.source.topic"), h.get("nb.source.offset"),
          len(m.key or b""), h.get("nb.dead_letter.bounded", "-"))
PY
}
last=-1
stable=0
deadline=$((SECONDS + 240))
while [ $SECONDS -lt $deadline ]; do
    kill -0 "$daemon" 2>/dev/null || break
    letters >"$work/letters.txt" 2>/dev/null
    n=$("$bin" consume --config "$work/nb.yaml" --format records --idle-ms 1500 2>/dev/null | wc -l)
    if [ "$(wc -l <"$work/letters.txt")" -ge 5 ] && [ "$n" -gt 0 ] && [ "$n" -eq "$last" ]; then
        stable=$((stable + 1))
        [ $stable -ge 2 ] && break
    else
        stable=0
    fi
    last=$n
    sleep 1
done
cat "$work/letters.txt"
big=$(grep -c '^record_too_large gp.appointments [0-9]* 300000 ' "$work/letters.txt")
[ "$big" -ge 1 ] && ok "the refused record set aside as record_too_large with its 300 kB key" ||
    { bad "no record_too_large dead letter"; tail -n 30 "$work/run.log"; }
others=$(grep -vc '^record_too_large' "$work/letters.txt")
[ "$others" -eq 4 ] && ok "the 4 malformed records set aside, nothing else" ||
    bad "other dead letters: $others, want 4"
grep -q "a broker refused a record" "$work/run.log" && ok "the refusal is logged" ||
    bad "no log line for the refusal"
grep -q "handling its records one per transaction" "$work/run.log" &&
    ok "the batch was handled again record by record" || bad "no isolation logged"
[ "$last" -gt 0 ] && ok "$last notifications" || bad "no notifications"
ready=$("$py" -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$hport/readyz', timeout=5).status)" 2>/dev/null)
[ "$ready" = 200 ] && ok "ready after setting it aside" || bad "/readyz $ready"

if kill -TERM "$daemon" 2>/dev/null && wait "$daemon"; then ok "daemon stopped cleanly"
else bad "daemon did not exit 0 on SIGTERM"; grep -v '"level"' "$work/run.log" | head -n 40; fi
daemon=
