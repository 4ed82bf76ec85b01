#!/usr/bin/env bash
# `notbrought ingest csv` on the embedded broker (issue 22):
# - the Kaggle extract (shared/realdata/csv, read in place; skipped without it) is published
#   whole, its no-shows as was_not_brought; a rerun with the same --state publishes nothing;
#   a rerun without it publishes the same event ids again (which the ledger drops);
# - a generated child health extract of 24,000 rows, with a refused row every 1,000 (an NHS
#   number failing Modulus 11), is killed (SIGKILL) as soon as its state says rows are
#   acknowledged, then resumed: every mappable row's event is in hv.contacts under one event id, every
#   refused row is in the dead letters with its reason, and nothing else;
# - --metrics-file: the completed import writes its time and rows in Prometheus' text format;
#   a rerun of the file imported whole and a failed import leave the file as it was;
# - a Windows-1252 extract is converted to UTF-8 (an accented code maps), its row's identity
#   link reaches identity.links, and a byte Windows-1252 leaves undefined refuses its row;
# - no NHS number reaches stderr.
# Usage: ingest_csv.sh NOTBROUGHT SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_cli_begin ingest_csv "$1" "$2"
unset NB_HMAC_KEY # the importer needs none

nb_config 0 "$work/nb.yaml"
NB_HMAC_KEY=broker-only-hmac-key-0123456789 "$bin" broker --config "$work/nb.yaml" \
    >"$work/bootstrap" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bs=$(head -n 1 "$work/bootstrap")
imp() { "$bin" ingest csv "$@" --config "$work/nb.yaml" --bootstrap "$bs"; }
consume() { "$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --to-end --topic "$1" 2>/dev/null; }

kaggle=${NB_REALDATA_DIR:-$root/../shared/realdata}/csv/KaggleV2-May-2016.head30.csv
if [ -f "$kaggle" ]; then
    km=$root/tests/data/mappings/realdata-kaggle-csv.yaml
    mkdir -p "$work/kstate"
    imp "$kaggle" --mapping "$km" --topic gp.appointments --extracted-at 2016-05-01T06:00:00Z \
        --state "$work/kstate" --json >"$work/k1.json" 2>"$work/k1.err"
    rc=$?
    python3 - "$work/k1.json" <<'PY' && [ $rc -eq 0 ] && ok "kaggle: 30 rows read and published (exit 0)" ||
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(not (s["rows_read"] == 30 and s["published"] == 30 and s["refused"] == 0 and s["complete"]))
PY
        bad "kaggle: exit $rc: $(cat "$work/k1.json" "$work/k1.err")"
    consume gp.appointments >"$work/k.appts"
    n=$(grep -c '"event_id":"csv-' "$work/k.appts")
    dna=$(grep -c '"status":"was_not_brought"' "$work/k.appts")
    [ "$n" -eq 30 ] && [ "$dna" -eq 7 ] && ok "gp.appointments: 30 events, 7 no-shows" ||
        bad "gp.appointments: $n events, $dna no-shows"
    imp "$kaggle" --mapping "$km" --topic gp.appointments --extracted-at 2016-05-01T06:00:00Z \
        --state "$work/kstate" >"$work/k2.out" 2>&1
    rc=$?
    n=$(consume gp.appointments | grep -c '"event_id":"csv-')
    grep -q "30 rows read, 0 published, 0 refused, 30 skipped as already done" "$work/k2.out" &&
        [ $rc -eq 0 ] && [ "$n" -eq 30 ] && ok "kaggle rerun with its state: nothing published" ||
        bad "kaggle rerun: exit $rc, $n events: $(cat "$work/k2.out")"
    mkdir -p "$work/kstate2"
    imp "$kaggle" --mapping "$km" --topic gp.appointments --extracted-at 2016-05-01T06:00:00Z \
        --state "$work/kstate2" >/dev/null 2>&1
    consume gp.appointments >"$work/k.appts"
    n=$(grep -c '"event_id":"csv-' "$work/k.appts")
    ids=$(grep -o '"event_id":"csv-[0-9a-f]*"' "$work/k.appts" | sort -u | wc -l)
    [ "$n" -eq 60 ] && [ "$ids" -eq 30 ] &&
        ok "kaggle rerun without its state: the same 30 event ids again (the ledger drops them)" ||
        bad "kaggle rerun without state: $n records, $ids ids"
else
    echo "skip: no realdata ($kaggle)"
fi

# A large CHIS extract: row i is appointment R<i>; every 1000th row's NHS number fails
# Modulus 11; the others carry valid made-up numbers (999 range).
# Not more: librdkafka's mock cluster (the embedded broker) keeps a bounded log per partition
# and drops the oldest records past it, which would look like loss.
rows=24000
python3 - "$work/big.csv" $rows <<'PY'
import sys
path, rows = sys.argv[1], int(sys.argv[2])
def nhs(i):
    while True:
        base = "999%06d" % (i % 1000000)
        s = sum(int(d) * (10 - k) for k, d in enumerate(base))
        c = 11 - s % 11
        if c == 11: c = 0
        if c != 10: return base + str(c)
        i += 1
with open(path, "w", encoding="utf-8") as f:
    f.write("\ufeffAppointment Ref,NHS Number,CHIS ID,Date of Birth,Appointment Date,"
            "Appointment Time,Outcome,Contact Type,Venue Type\n")
    for i in range(1, rows + 1):
        n = nhs(i)
        if i % 1000 == 0:
            n = n[:9] + str((int(n[9]) + 1) % 10)
        f.write('R%d,%s,C%d,01/03/2024,"%02d/06/2024",09:30,%s,"6-8 week review",Clinic\n'
                % (i, n, i, 1 + i % 28, "DNA" if i % 7 == 0 else "ATT"))
PY
cm=$root/config/mappings/chis-csv.yaml
mkdir -p "$work/state"
imp "$work/big.csv" --mapping "$cm" --topic hv.contacts --extracted-at 2024-06-30T02:00:00Z \
    --state "$work/state" >"$work/b1.out" 2>"$work/b1.err" &
importer=$!
pids+=($importer)
acked=0
for _ in $(seq 600); do
    acked=$(sed -n 's/^acked_through=//p' "$work"/state/*.state 2>/dev/null || true)
    [ "${acked:-0}" -ge 1 ] && break
    kill -0 $importer 2>/dev/null || break
    sleep 0.05
done
kill -9 $importer 2>/dev/null
wait $importer 2>/dev/null
state=$(cat "$work"/state/*.state 2>/dev/null)
acked=$(sed -n 's/^acked_through=//p' <<<"$state")
if grep -q '^complete=0' <<<"$state" && [ "${acked:-0}" -ge 1 ] && [ "$acked" -lt $rows ]; then
    ok "killed mid-file: rows 1 to $acked acknowledged"
else
    bad "the import was not killed mid-file: $state $(cat "$work/b1.out" "$work/b1.err")"
fi
mkdir -p "$work/textfile"
prom=$work/textfile/notbrought-chis.prom
t0=$(date +%s)
imp "$work/big.csv" --mapping "$cm" --topic hv.contacts --extracted-at 2024-06-30T02:00:00Z \
    --state "$work/state" --json --metrics-file "$prom" --stale-after 30 \
    >"$work/b2.json" 2>"$work/b2.err"
rc=$?
t1=$(date +%s)
python3 - "$work/b2.json" $rows "$acked" <<'PY' && [ $rc -eq 0 ] && ok "resumed after row $acked: the rest published or refused" ||
import json, sys
s = json.load(open(sys.argv[1])); rows = int(sys.argv[2]); acked = int(sys.argv[3])
r = s["refused_by_reason"].get("nhs_check_digit", {})
first = [x for x in range(1000, rows + 1, 1000) if x > acked][:5]
ok = (s["rows_read"] == rows and s["skipped_already_done"] == acked and s["complete"]
      and s["published"] + s["refused"] == rows - acked and r.get("first_rows") == first)
sys.exit(not ok)
PY
    bad "resume: exit $rc: $(cat "$work/b2.json" "$work/b2.err")"

# --metrics-file: the resumed import completed, so the file is there, in Prometheus' text
# format, with its time and rows (the same as the summary's), and no temporary file is left.
python3 - "$prom" "$work/b2.json" "$t0" "$t1" <<'PY' >"$work/prom.check" 2>&1 &&
import json, re, sys
text = open(sys.argv[1]).read()
s = json.load(open(sys.argv[2]))
t0, t1 = int(sys.argv[3]), int(sys.argv[4])
types, samples = {}, {}
for line in text.splitlines():
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split()
        types[name] = kind
        continue
    if line.startswith("# HELP ") or not line:
        continue
    m = re.fullmatch(r'([a-z_]+)\{((?:[a-z_]+="[^"\\]*",?)*)\} (\S+)', line)
    assert m, "not the text format: %r" % line
    assert m.group(1) in types, "a sample before its TYPE: %r" % line
    labels = tuple(sorted(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2))))
    samples[(m.group(1), labels)] = float(m.group(3))
src = ("source", "chis-csv-7a5")
assert set(types.values()) == {"gauge"}, types
ts = samples[("notbrought_csv_last_import_timestamp_seconds", (src,))]
assert t0 <= ts <= t1 + 1, (t0, ts, t1)
rows = lambda o: samples[("notbrought_csv_last_import_rows", (("outcome", o), src))]
assert rows("read") == s["rows_read"] and rows("published") == s["published"], samples
assert rows("refused") == s["refused"] and rows("skipped") == s["skipped_already_done"], samples
assert samples[("notbrought_csv_stale_after_seconds", (src,))] == 30 * 3600, samples
assert len(samples) == 6, samples
PY
    [ ! -e "$prom.tmp" ] && ok "--metrics-file: written, parsable, its time and rows right" ||
    bad "--metrics-file: $(cat "$work/prom.check" "$prom" 2>&1)"
# A rerun of the file imported whole is no new extract: the file stays as it was.
cp "$prom" "$work/prom.before"
imp "$work/big.csv" --mapping "$cm" --topic hv.contacts --extracted-at 2024-06-30T02:00:00Z \
    --state "$work/state" --metrics-file "$prom" >"$work/b3.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "0 published" "$work/b3.out" && cmp -s "$prom" "$work/prom.before" &&
    ok "--metrics-file: a rerun of a file imported whole leaves it" ||
    bad "--metrics-file rerun: exit $rc, $(cat "$work/b3.out"; diff "$work/prom.before" "$prom")"
"$bin" ingest csv "$work/big.csv" --mapping "$cm" --topic hv.contacts --config "$work/nb.yaml" \
    --stale-after 30 >/dev/null 2>&1
[ $? -eq 2 ] && ok "--stale-after without --metrics-file: usage" || bad "--stale-after alone taken"

consume hv.contacts >"$work/hv"
"$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --to-end --format records \
    --topic notbrought.dead-letters >"$work/dead" 2>/dev/null
python3 - "$work/hv" "$work/dead" $rows <<'PY' >"$work/check.out"
import base64, json, sys, collections
rows = int(sys.argv[3])
by_id, appts = {}, collections.defaultdict(set)
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["source"]["organisation_code"] != "7A5":
        continue
    prev = by_id.setdefault(e["event_id"], line)
    assert prev == line, "one event id, two different events"
    appts[e["appointment"]["id"]].add(e["event_id"])
want = {"R%d" % i for i in range(1, rows + 1) if i % 1000}
assert set(appts) == want, "lost: %d, unexpected: %d" % (len(want - set(appts)), len(set(appts) - want))
assert all(len(v) == 1 for v in appts.values()), "an appointment with two event ids"
dead = collections.Counter()
for line in open(sys.argv[2]):
    r = json.loads(line)
    h = {x["name"]: base64.b64decode(x["value"]).decode() for x in r.get("headers", [])}
    if h.get("nb.source.name") != "chis-csv-7a5":
        continue
    assert h["nb.error.code"] == "nhs_check_digit", h
    assert "Modulus 11" in h["nb.error.message"], h
    assert base64.b64decode(r["value"]).decode().startswith("R%s," % h["nb.csv.row"])
    dead[int(h["nb.csv.row"])] += 1
assert set(dead) == {i for i in range(1000, rows + 1, 1000)}, sorted(dead)[:5]
n = sum(1 for _ in open(sys.argv[1]))
print("events", len(by_id), "appointments", len(appts), "dead rows", len(dead),
      "(records %d: the rows sent again after the kill carry the ids they had)" % n)
PY
[ $? -eq 0 ] && ok "after the kill and resume: $(cat "$work/check.out"), nothing lost, one id each" ||
    bad "after the kill and resume: $(tail -3 "$work/check.out")"

# Kafka unreachable: exit 3, the reason on stderr, and a state that resumes from the start.
head -n 3 "$work/big.csv" >"$work/small.csv"
mkdir -p "$work/state-down"
"$bin" ingest csv "$work/small.csv" --mapping "$cm" --topic hv.contacts --config "$work/nb.yaml" \
    --bootstrap "127.0.0.1:$(nb_free_port)" --extracted-at 2024-06-30T02:00:00Z \
    --delivery-timeout-ms 1000 --state "$work/state-down" --metrics-file "$prom" \
    >"$work/down.out" 2>"$work/down.err"
rc=$?
[ $rc -eq 3 ] && grep -q "Kafka did not take every record" "$work/down.err" &&
    cmp -s "$prom" "$work/prom.before" &&
    grep -q '^acked_through=0$' "$work"/state-down/*.state &&
    grep -q '^complete=0$' "$work"/state-down/*.state &&
    grep -q "0 published" "$work/down.out" && ok "Kafka unreachable: exit 3, nothing acknowledged, the metrics file left" ||
    bad "Kafka unreachable: exit $rc: $(cat "$work/down.out"; grep -v '"level"' "$work/down.err")"

# A Windows-1252 extract (encoding: windows-1252): an accented venue code maps once converted
# to UTF-8, the row also gives its identity link (identity_links), and a byte Windows-1252
# leaves undefined refuses its row with the row and column, never the value.
cat >"$work/w1252.yaml" <<'YAML'
format: notbrought-mapping/1
name: chis-w1252
source: {agency: health_visiting, system: CHIS 1252, organisation_code: 7A9}
csv:
  encoding: windows-1252
  appointment_id: Appointment Ref
  nhs_number: NHS Number
  local_id: {column: CHIS ID, system: "https://chis.example.nhs.uk/id/child"}
  scheduled_start: {column: Appointment Date, format: "DD/MM/YYYY"}
  recorded_at: extract_time
  status: {column: Outcome, map: {attended: [ATT], was_not_brought: [DNA]}}
  appointment_type: {default: immunisation}
  contact_mode: {column: Venue Type, map: {home_visit: ["Visite à domicile"]}, default: refuse}
  identity_links: {local_to_nhs: true}
YAML
python3 - "$work/w1252.csv" <<'PY'
import sys
rows = ["Appointment Ref,NHS Number,CHIS ID,Child,Appointment Date,Outcome,Venue Type",
        "W1,9434765919,C901,Zoë Brontë (£5 owed),12/06/2024,DNA,Visite à domicile"]
data = "\r\n".join(rows).encode("cp1252") + b"\r\nW2,9434765919,C902,Ren\x81e,12/06/2024,ATT,Visite \xe0 domicile\r\n"
open(sys.argv[1], "wb").write(data)
PY
imp "$work/w1252.csv" --mapping "$work/w1252.yaml" --topic hv.contacts \
    --extracted-at 2024-06-30T02:00:00Z >"$work/w.out" 2>"$work/w.err"
rc=$?
consume hv.contacts | grep '"organisation_code":"7A9"' >"$work/w.hv"
consume identity.links | grep '"organisation_code":"7A9"' >"$work/w.links"
"$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --to-end --format records \
    --topic notbrought.dead-letters 2>/dev/null >"$work/w.dead"
python3 - "$work/w.hv" "$work/w.links" "$work/w.dead" <<'PY' && [ $rc -eq 0 ] &&
import base64, json, sys
hv = [json.loads(l) for l in open(sys.argv[1])]
assert len(hv) == 1 and hv[0]["appointment"]["id"] == "W1", hv
assert hv[0]["appointment"]["contact_mode"] == "home_visit" and hv[0]["status"] == "no_access_visit", hv
links = [json.loads(l) for l in open(sys.argv[2])]
assert len(links) == 1 and links[0]["from"]["value"] == "C901" and links[0]["to"]["value"] == "9434765919", links
dead = []
for line in open(sys.argv[3]):
    r = json.loads(line)
    h = {x["name"]: base64.b64decode(x["value"]).decode() for x in r.get("headers", [])}
    if h.get("nb.source.name") == "chis-w1252":
        dead.append((h, base64.b64decode(r["value"])))
assert len(dead) == 1, dead
h, raw = dead[0]
assert h["nb.error.code"] == "text_invalid" and h["nb.feed.code"] == "encoding_invalid", h
assert h["nb.error.message"] == "row 2, column 4: byte 4 of the field is not windows-1252", h
assert raw.startswith(b"W2,9434765919,C902,Ren\x81e,"), raw  # the row as it was read
PY
    grep -q "2 rows read, 1 published, 1 refused" "$work/w.out" &&
    ok "windows-1252: converted, mapped with its identity link; an undefined byte refuses its row" ||
    bad "windows-1252: exit $rc: $(cat "$work/w.out" "$work/w.err" "$work/w.hv" "$work/w.links")"

cat "$work"/*.err 2>/dev/null | grep -E '999[0-9]{7}' >/dev/null &&
    bad "an NHS number is on stderr" || ok "no NHS number on stderr"
