#!/usr/bin/env bash
# The notifications the daemon publishes (issue 20, item 7), on the embedded broker: fastavro
# reads every one to what notbrought reads (Notification version 2, schema id 7), and the
# nurse's text view reads right: role titles, no enum symbols, no "0 months" or "207 months",
# times in local time, and each piece of evidence with a quotable appointment id. The audit
# records are read by fastavro as by notbrought (AuditRecord, schema id 9).
# Usage: notifications.sh NOTBROUGHT SOURCE_DIR PYTHON (with fastavro)
set -uo pipefail
. "$(dirname "$0")/../cli/lib.sh"
nb_cli_begin notifications "$1" "$2"
py=$3
NOW=2026-11-20T12:00:00Z
export NB_HMAC_KEY=notifications-test-hmac-key-0123 NB_OPS_LOG_LEVEL=warn
export NB_PROCESSING_FIXED_NOW=$NOW NB_PROCESSING_WATERMARK_IDLE_MS=1000
port=$(nb_free_port)
nb_config "$port" "$work/nb.yaml"
"$bin" generate --children 150 --seed 7 --missed-share 0.25 --malformed 0 --now "$NOW" \
    -o "$work/in.jsonl" >/dev/null
inputs=$(grep -vc '^{"topic":"identity.links"' "$work/in.jsonl")
"$bin" broker --config "$work/nb.yaml" >"$work/bootstrap" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bs=$(head -n 1 "$work/bootstrap")
"$bin" produce --config "$work/nb.yaml" --bootstrap "$bs" "$work/in.jsonl" >/dev/null ||
    bad "produce"
"$bin" run --config "$work/nb.yaml" --bootstrap "$bs" 2>"$work/run.log" &
daemon=$!
pids+=($daemon)
# Settled: every input consumed, no absence deadline held, the same notifications three reads
# in a row.
m="http://127.0.0.1:$port/metrics"
last=-1
stable=0
for _ in $(seq 240); do
    n=$("$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --format records \
        --idle-ms 500 2>/dev/null | wc -l)
    if [ "$(nb_metric "$m" notbrought_records_consumed_total)" -ge "$inputs" ] &&
        [ "$(nb_metric "$m" notbrought_absence_timers_held)" -le 0 ] && [ "$n" -eq "$last" ]; then
        stable=$((stable + 1))
        [ $stable -ge 3 ] && break
    else
        stable=0
    fi
    last=$n
    sleep 0.5
done
[ $stable -ge 3 ] && ok "the daemon settled ($last notifications)" || bad "the daemon did not settle"
kill -TERM $daemon
wait $daemon && ok "the daemon stopped cleanly" || bad "the daemon's exit status"
"$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --format records --idle-ms 1500 \
    >"$work/notes.rec" 2>/dev/null
"$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --format text --idle-ms 1500 \
    >"$work/notes.txt" 2>"$work/consume.err" || bad "consume --format text: $(cat "$work/consume.err")"

"$py" "$root/tests/interop/avro_interop.py" check-records --notbrought "$bin" \
    --file "$work/notes.rec" --schema-id 7 >"$work/check.out" &&
    ok "fastavro reads every notification as notbrought does ($(tail -1 "$work/check.out"))" ||
    bad "fastavro and notbrought differ: $(head -c 3000 "$work/check.out")"

# The audit too (issue 24): every record an AuditRecord (schema id 9) that fastavro reads as
# notbrought does.
"$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --topic notbrought.audit \
    --format records --to-end >"$work/audit.rec" 2>/dev/null
"$py" "$root/tests/interop/avro_interop.py" check-records --notbrought "$bin" \
    --file "$work/audit.rec" --schema-id 9 >"$work/check_audit.out" &&
    ok "fastavro reads every audit record as notbrought does ($(tail -1 "$work/check_audit.out"))" ||
    bad "fastavro and notbrought differ on the audit: $(head -c 3000 "$work/check_audit.out")"

"$py" - "$work/notes.txt" "$work/notes.rec" <<'PY' && ok "the text view reads right" || bad "the text view"
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
n_records = sum(1 for line in open(sys.argv[2]) if line.strip())
blocks = [b for b in text.split("\n\n") if b.strip()]
problems = []
if not blocks or len(blocks) != n_records:
    problems.append("%d notifications shown, %d published" % (len(blocks), n_records))
symbols = ("was_not_brought", "no_access_visit", "cancelled_by_", "entered_in_error",
           "child_protection_plan", "looked_after", "child_in_need")
evidence = quotable = titled = 0
for b in blocks:
    lines = b.split("\n")
    for i, line in enumerate(lines):
        label = line[:14]
        if label.strip() in ("Rule:", "Id:", "Refers to:"):
            continue
        for s in symbols:
            if s in line and not line.startswith("  Action:"):
                problems.append("enum symbol %s: %s" % (s, line))
        m = re.search(r"\((\d+) months?\)", line)
        if m and (int(m.group(1)) < 3 or int(m.group(1)) >= 24):
            problems.append("age in months: %s" % line)
        if re.search(r"\b1 months\b|\b1 (days|weeks|years)\b|\b1 appointments\b", line):
            problems.append("plural: %s" % line)
        if line.startswith("  Respond by: ") and not re.search(r" at \d\d:\d\d (GMT|BST)$", line):
            problems.append("respond-by not in local time: %s" % line)
        if line.startswith("  Counted:") and re.search(r"\b0 days\b|\b0 agencies\b", line):
            problems.append("window that says nothing: %s" % line)
        if line.startswith("  To:"):
            title = line[14:].split("; role ")[0]
            if "; role " in line:
                titled += 1
            if "_" in title:
                problems.append("role id for a title: %s" % line)
        if line.startswith("  Evidence:"):
            evidence += 1
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if re.match(r"^ {14}appointment \S+ at \S+", nxt):
                quotable += 1
            elif "its appointment id was not kept" not in nxt:
                problems.append("evidence without its appointment id: %s / %s" % (line, nxt))
if not evidence or quotable < evidence * 9 // 10:
    problems.append("%d of %d evidence items quotable" % (quotable, evidence))
if not titled:
    problems.append("no recipient with a title")
for p in problems[:20]:
    print("FAIL:", p)
print("%d notifications, %d evidence items (%d with the source's id), %d titled recipients"
      % (len(blocks), evidence, quotable, titled))
sys.exit(1 if problems else 0)
PY
