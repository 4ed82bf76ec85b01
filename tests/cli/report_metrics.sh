#!/usr/bin/env bash
# notbrought report over what the daemon wrote on the embedded broker agrees with its /metrics
# where both count the same thing (docs/reporting.md "Report"), and writes a CSV and an HTML
# page. Usage: report_metrics.sh NOTBROUGHT SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_cli_begin report_metrics "$1" "$2"
port=$(nb_free_port)
nb_config "$port" "$work/nb.yaml"
m() { nb_metric "http://127.0.0.1:$port/metrics" "$1"; }
# Every sample of a family as "labels value" lines, e.g. 'code="frame_magic" 2'.
samples() {
    python3 - "http://127.0.0.1:$port/metrics" "$1" <<'PY'
import re, sys, urllib.request
for line in urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().splitlines():
    g = re.match(r"^([a-z_]+)(?:\{([^}]*)\})? (\S+)$", line)
    if g and g.group(1) == sys.argv[2]:
        print(g.group(2) or "", int(float(g.group(3))))
PY
}

"$bin" broker --config "$work/nb.yaml" >"$work/bootstrap" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bs=$(head -n 1 "$work/bootstrap")
export NB_HMAC_KEY=report-test-hmac-key-0123456789abc NB_OPS_LOG_LEVEL=warn
"$bin" run --config "$work/nb.yaml" --bootstrap "$bs" 2>"$work/run.log" &
pids+=($!)
for _ in $(seq 300); do [ "$(nb_status "http://127.0.0.1:$port/readyz")" = 200 ] && break; sleep 0.1; done

# The identity links after the events, so that events with only a local identifier are parked
# first and released by their link.
"$bin" generate --children 80 --seed 9 --missed-share 0.3 --local-id-share 0.4 --malformed 6 \
    -o "$work/all.jsonl"
grep -v '^{"topic":"identity.links"' "$work/all.jsonl" >"$work/events.jsonl"
grep '^{"topic":"identity.links"' "$work/all.jsonl" >"$work/links.jsonl"
"$bin" produce --config "$work/nb.yaml" --bootstrap "$bs" "$work/events.jsonl" 2>/dev/null
n=$(wc -l <"$work/events.jsonl")
for _ in $(seq 600); do [ "$(m notbrought_records_consumed_total)" -ge "$n" ] && break; sleep 0.1; done
"$bin" produce --config "$work/nb.yaml" --bootstrap "$bs" "$work/links.jsonl" 2>/dev/null
for _ in $(seq 600); do
    [ "$(m notbrought_parked_total)" -gt 0 ] &&
        [ "$(m notbrought_released_total)" -eq "$(m notbrought_parked_total)" ] && break
    sleep 0.1
done
[ "$(m notbrought_records_consumed_total)" -ge "$n" ] && ok "the daemon consumed the $n records" ||
    bad "records consumed: $(m notbrought_records_consumed_total) of $n"
[ "$(m notbrought_parked_total)" -gt 0 ] && ok "events parked: $(m notbrought_parked_total)" ||
    bad "no event parked"
# What the daemon counted is committed with its transactions: scrape, then report.
samples notbrought_dead_letters_total >"$work/m.dead"
samples notbrought_decisions_total >"$work/m.decisions"
samples notbrought_notifications_by_kind_total >"$work/m.kinds"
echo "parked $(m notbrought_parked_total) released $(m notbrought_released_total)" >"$work/m.parked"

"$bin" report --config "$work/nb.yaml" --bootstrap "$bs" --from 2000-01-01 --to 2100-01-01 \
    --by rule -o "$work/report.csv" 2>"$work/report.err"
rc=$?
[ $rc -eq 0 ] && ok "report: exit 0" || bad "report: exit $rc: $(cat "$work/report.err")"
grep -q '(0 by the codec, 0 unreadable)' "$work/report.err" &&
    ok "every audit record read by the fast reader" || bad "$(cat "$work/report.err")"
[ "$(head -n 1 "$work/report.csv" | tr -d '\r')" = "from,to,table,group,measure,value" ] &&
    ok "CSV header" || bad "CSV header: $(head -n 1 "$work/report.csv")"

python3 - "$work" <<'PY' && ok "report agrees with /metrics" || bad "report disagrees with /metrics"
import csv, sys
w = sys.argv[1]
fig = {}
for row in csv.DictReader(open(f"{w}/report.csv", newline="")):
    fig[(row["table"], row["group"], row["measure"])] = row["value"]
def val(t, g, m):
    v = fig.get((t, g, m), "0")
    return int(float(v)) if v else 0
def metric(name):
    out = {}
    for line in open(f"{w}/m.{name}"):
        labels, _, v = line.rstrip("\n").rpartition(" ")
        key = labels.split("=", 1)[1].strip('"') if labels else ""
        out[key] = int(v)
    return out
failed = 0
def same(what, a, b):
    global failed
    print(f"{'ok' if a == b else 'FAIL'}: {what}: report {a}, /metrics {b}")
    failed += a != b
dead = {k: v for k, v in metric("dead").items() if v}
same("dead letters, all", val("dead_letters", "all", "dead_letters"), sum(dead.values()))
for code, n in dead.items():
    same(f"dead letters {code}", val("dead_letters", code, "dead_letters"), n)
rules = {g for (t, g, m) in fig if t == "notifications" and g != "all"}
decisions = metric("decisions")
same("rules that decided", sorted(rules), sorted(k for k, v in decisions.items() if v))
for rule, n in decisions.items():
    same(f"decisions of {rule} (raised and shadow)",
         val("notifications", rule, "raised") + val("notifications", rule, "shadow"), n)
kinds = metric("kinds")
same("new notifications (raised, not digested)",
     val("notifications", "all", "raised") - val("notifications", "all", "digested"),
     kinds.get("new", 0))
same("escalations", val("escalations", "all", "escalated"), kinds.get("escalated", 0))
same("withdrawals", val("withdrawals", "all", "withdrawn"), kinds.get("withdrawn", 0))
parked = open(f"{w}/m.parked").read().split()
same("parked events", val("identities", "parked", "parked"), int(parked[1]))
same("parked events resolved", val("identities", "parked", "resolved"), int(parked[3]))
same("something to compare", val("notifications", "all", "raised") > 0 and
     val("dead_letters", "all", "dead_letters") > 0 and val("identities", "parked", "parked") > 0,
     True)
sys.exit(1 if failed else 0)
PY

# A period before anything happened has no figures but its totals.
"$bin" report --config "$work/nb.yaml" --bootstrap "$bs" --from 2001-01-01 --to 2001-02-01 \
    >"$work/empty.csv" 2>/dev/null &&
    grep -q '^2001-01-01,2001-02-01,notifications,all,raised,0' "$work/empty.csv" &&
    ! grep -q ',dead_letters,frame_magic,' "$work/empty.csv" && ok "an empty period: zeros" ||
    bad "empty period: $(head -c 400 "$work/empty.csv")"

"$bin" report --config "$work/nb.yaml" --bootstrap "$bs" --from 2000-01-01 --to 2100-01-01 \
    --by agency --format html -o "$work/report.html" 2>/dev/null
grep -q '<svg ' "$work/report.html" && ! grep -qiE '<script|<link|https?:|url\(' "$work/report.html" &&
    ok "HTML: charts inline, nothing to fetch" || bad "HTML page"

"$bin" report --from 2026-02-01 --to 2026-01-01 >/dev/null 2>&1
[ $? -eq 2 ] && ok "--to before --from: usage error" || bad "--to before --from accepted"
"$bin" report --from 2026-01-01 --to 2026-02-01 --by postcode >/dev/null 2>&1
[ $? -eq 2 ] && ok "--by postcode: usage error" || bad "--by postcode accepted"
