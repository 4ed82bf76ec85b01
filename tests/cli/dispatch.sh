#!/usr/bin/env bash
# `notbrought dispatch` (issue 23, docs/inbox.md §4) on the embedded broker: the daemon runs
# over generated events with a policy overlay (tests/data/dispatch/routes.yaml) that routes
# roles to webhook:duty-pager, email:team-mail and webhook:refuser. A first dispatcher meets a
# webhook that answers 500 to everything: it retries, delivers the emails, and is killed with
# -9 (it trusts another CA than the HTTPS receiver's: those attempts fail verification). A
# second one, trusting the right CA, meets a webhook that answers 500 once per Idempotency-Key, then 200: every
# webhook notification arrives (so none was committed before its delivery), each after a
# retry, each with a valid signature; every email notification arrives with its reference
# and link; no NHS number is in any body, mail or log line; the refuser's 400 is logged and
# counted, not retried; SIGTERM ends it with 0. Configuration refusals: a secret in the YAML,
# a secret variable that is not set.
# Usage: dispatch.sh NOTBROUGHT SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_cli_begin dispatch "$1" "$2"
export NB_OPS_LOG_LEVEL=info
export NB_HMAC_KEY=dispatch-test-hmac-key-0123456789
export NB_TEST_HOOK_SECRET=whsec-dispatch-test-0123456789
py=${NB_PYTHON:-python3}

port=$(nb_free_port)
nb_config "$port" "$work/nb.yaml"
sed -i "s|files: \[.*\]|files: [$root/config/policy/wnb-wales-base.yaml, $root/tests/data/dispatch/routes.yaml]|" \
    "$work/nb.yaml"
"$bin" broker --config "$work/nb.yaml" >"$work/bootstrap" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bs=$(head -n 1 "$work/bootstrap")

# The HTTPS receiver's certificate (its own CA, for 127.0.0.1), and another CA it is not
# signed by.
for c in tls other; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/$c.key" -out "$work/$c.pem" \
        >/dev/null 2>&1 || bad "openssl could not make a test certificate"
done
echo fail >"$work/mode"
"$py" "$root/tests/cli/dispatch_receiver.py" "$work/received.jsonl" "$work/mode" \
    "$NB_TEST_HOOK_SECRET" "$work/tls.pem" "$work/tls.key" >"$work/ports" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/ports" ] && break; sleep 0.1; done
read -r hook_port smtp_port tls_port <"$work/ports"

# The dispatcher's configuration: the daemon's, with its own metrics port and the dispatch
# section (a short backoff, so that the test need not wait).
dport=$(nb_free_port)
sed "s|http_port: $port|http_port: $dport|" "$work/nb.yaml" >"$work/dispatch.yaml"
cat >>"$work/dispatch.yaml" <<EOF2
dispatch:
  inbox_url: https://inbox.test.invalid/
  ca_file: $work/tls.pem
  backoff_base_ms: 100
  backoff_max_ms: 400
  give_up_ms: 600000
  timeout_ms: 5000
  smtp_url: smtp://127.0.0.1:$smtp_port
  smtp_from: notbrought@test.invalid
  webhooks:
    - {name: duty-pager, url: "http://127.0.0.1:$hook_port/hook", secret_env: NB_TEST_HOOK_SECRET}
    - {name: refuser, url: "http://127.0.0.1:$hook_port/refuse", secret_env: NB_TEST_HOOK_SECRET}
    - {name: tls-pager, url: "https://127.0.0.1:$tls_port/hook", secret_env: NB_TEST_HOOK_SECRET}
  email:
    - {name: team-mail, to: [hv-team@test.invalid, duty@test.invalid]}
EOF2
# The first dispatcher trusts the other CA only.
sed "s|ca_file: $work/tls.pem|ca_file: $work/other.pem|" "$work/dispatch.yaml" >"$work/dispatch1.yaml"

# Configuration refusals, before anything runs.
sed 's|secret_env: NB_TEST_HOOK_SECRET}$|secret: not-here}|' "$work/dispatch.yaml" >"$work/bad1.yaml"
if "$bin" dispatch --config "$work/bad1.yaml" --check-config >"$work/bad1.out" 2>&1; then
    bad "a secret in the YAML was accepted"
else
    grep -q "a secret is not read from the configuration file" "$work/bad1.out" &&
        ! grep -q "not-here" "$work/bad1.out" && ok "a secret in the YAML is refused, not echoed" ||
        bad "secret refusal: $(cat "$work/bad1.out")"
fi
if NB_TEST_HOOK_SECRET= "$bin" dispatch --config "$work/dispatch.yaml" --check-config \
    >"$work/bad2.out" 2>&1; then
    bad "an empty secret variable was accepted"
else
    grep -q "NB_TEST_HOOK_SECRET is not set or empty" "$work/bad2.out" &&
        ok "an unset secret variable is refused by name" || bad "unset secret: $(cat "$work/bad2.out")"
fi
"$bin" dispatch --config "$work/dispatch.yaml" --check-config >"$work/check.out" 2>&1 &&
    ok "--check-config: $(cat "$work/check.out")" || bad "--check-config: $(cat "$work/check.out")"

# The daemon raises notifications from generated events.
"$bin" run --config "$work/nb.yaml" --bootstrap "$bs" 2>"$work/run.log" &
daemon=$!
pids+=($daemon)
"$bin" generate --children 40 --seed 5 --missed-share 0.35 --malformed 0 -o "$work/events.jsonl"
"$bin" produce --config "$work/nb.yaml" --bootstrap "$bs" "$work/events.jsonl" 2>/dev/null ||
    bad "produce"
# What must arrive: per notification of a delivered kind, one webhook request per distinct
# webhook endpoint and one mail per email endpoint; and every NHS number, which must not.
# (Re-read at the end too: the daemon may raise more while the dispatchers run.)
expect() {
    "$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --format json --to-end \
        >"$work/notifications.jsonl" 2>/dev/null
    "$py" - "$work/notifications.jsonl" "$work/expected.json" <<'PY'
import json, sys
hook, refuse, mail, nhs, tls = set(), set(), {}, set(), set()
for line in open(sys.argv[1]):
    n = json.loads(line)
    for k in ("nhs_number", "pregnant_person_nhs_number"):
        if (n.get("child") or {}).get(k):
            nhs.add(n["child"][k])
    for item in n.get("items") or []:
        if item.get("nhs_number"):
            nhs.add(item["nhs_number"])
    if n["kind"] not in ("new", "escalated", "reminder", "withdrawn"):
        continue
    routes = {r["route"] for r in n["recipients"]}
    if "webhook:duty-pager" in routes:
        hook.add(n["notification_id"])
    if "webhook:refuser" in routes:
        refuse.add(n["notification_id"])
    if "webhook:tls-pager" in routes:
        tls.add(n["notification_id"])
    if "email:team-mail" in routes:
        mail[n["notification_id"]] = n["reference"]
json.dump({"hook": sorted(hook), "refuse": sorted(refuse), "mail": mail, "nhs": sorted(nhs),
           "tls": sorted(tls)},
          open(sys.argv[2], "w"))
PY
}
# Wait until the notifications topic has not grown for three seconds.
count=0
same=0
for _ in $(seq 120); do
    expect
    now=$(wc -l <"$work/notifications.jsonl")
    if [ "$now" -gt 0 ] && [ "$now" -eq "$count" ]; then
        same=$((same + 1))
        [ $same -ge 3 ] && break
    else
        same=0
    fi
    count=$now
    sleep 1
done
read -r n_hook n_refuse n_mail n_nhs n_tls < <("$py" -c 'import json,sys; e=json.load(open(sys.argv[1])); print(len(e["hook"]), len(e["refuse"]), len(e["mail"]), len(e["nhs"]), len(e["tls"]))' "$work/expected.json")
[ "$n_hook" -gt 0 ] && [ "$n_mail" -gt 0 ] && [ "$n_nhs" -gt 0 ] &&
    ok "the daemon raised $count notifications: $n_hook for the webhook, $n_tls over HTTPS, $n_mail by email, $n_refuse for the refuser" ||
    bad "too few notifications to test with: $count ($n_hook webhook, $n_mail email)"

# received.jsonl as seen now: "hook200 hook500 mails refused badsig"
tally() {
    "$py" - "$work/received.jsonl" <<'PY'
import json, os, sys
h200 = h500 = mails = refused = badsig = tls = 0
if os.path.exists(sys.argv[1]):
    for line in open(sys.argv[1]):
        r = json.loads(line)
        if r["channel"] == "email":
            mails += 1
        elif r["path"] == "/refuse":
            refused += 1
        elif r.get("tls"):
            tls += 1
        else:
            h200 += r["status"] == 200
            h500 += r["status"] == 500
            badsig += not r["sig_ok"]
print(h200, h500, mails, refused, badsig, tls)
PY
}

# First dispatcher: every webhook answer is 500, and it trusts neither the HTTPS webhook nor the
# relay's STARTTLS certificate. It retries everything.
"$bin" dispatch --config "$work/dispatch1.yaml" --bootstrap "$bs" 2>"$work/dispatch1.log" &
d1=$!
pids+=($d1)
for _ in $(seq 300); do
    read -r h200 h500 mails refused badsig tls < <(tally)
    [ "$h500" -ge $((2 * n_hook)) ] &&
        grep -q 'to email:team-mail: attempt 2 failed' "$work/dispatch1.log" &&
        { [ "$n_tls" -eq 0 ] || grep -q 'to webhook:tls-pager: attempt 2 failed' "$work/dispatch1.log"; } &&
        break
    sleep 0.1
done
read -r h200 h500 mails refused badsig tls < <(tally)
[ "$h500" -ge $((2 * n_hook)) ] && [ "$h200" -eq 0 ] &&
    ok "first dispatcher: $h500 webhook attempts answered 500, retried" ||
    bad "first dispatcher: $h500 answered 500 (want >= $((2 * n_hook))), $h200 answered 200"
grep -q 'attempt 1 failed (500); again in' "$work/dispatch1.log" &&
    ok "a 500 is logged as a retry" || bad "no retry logged: $(tail -3 "$work/dispatch1.log")"
if [ "$n_tls" -gt 0 ]; then
    read -r h200 h500 mails refused badsig tls < <(tally)
    [ "$tls" -eq 0 ] && grep -q 'to webhook:tls-pager: attempt [0-9]* failed (0, .*certificate' \
        "$work/dispatch1.log" &&
        ok "a certificate the configured CA did not sign is refused (TLS verified)" ||
        bad "TLS: $tls requests reached the HTTPS receiver: $(grep -m1 tls-pager "$work/dispatch1.log")"
fi
[ "$mails" -eq 0 ] && grep -q 'to email:team-mail: attempt [0-9]* failed (' "$work/dispatch1.log" &&
    ok "no mail sent through a relay whose STARTTLS certificate is not trusted" ||
    bad "$mails mails sent in the first run: $(grep -m1 team-mail "$work/dispatch1.log")"
kill -9 $d1
wait $d1 2>/dev/null
ok "first dispatcher killed with -9"

# Second dispatcher: 500 once per key, then 200.
echo once >"$work/mode"
"$bin" dispatch --config "$work/dispatch.yaml" --bootstrap "$bs" 2>"$work/dispatch2.log" &
d2=$!
pids+=($d2)
all_in() {
    "$py" - "$work/received.jsonl" "$work/expected.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[2]))
got_hook, got_mail, got_tls = set(), set(), set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["channel"] == "webhook" and r["path"] == "/hook" and r["status"] == 200:
        (got_tls if r.get("tls") else got_hook).add(r["key"])
    if r["channel"] == "email":
        for ln in r["message"].split("\r\n"):
            if ln.startswith("X-Notbrought-Notification: "):
                got_mail.add(ln.split(": ", 1)[1])
missing = (set(e["hook"]) - got_hook) | (set(e["mail"]) - got_mail) | (set(e["tls"]) - got_tls)
print(len(missing))
PY
}
missing=-1
for _ in $(seq 300); do
    expect
    missing=$(all_in)
    [ "$missing" = 0 ] && break
    sleep 0.2
done
[ "$missing" = 0 ] &&
    ok "after kill -9 and a restart every notification arrived (none committed before delivery)" ||
    bad "$missing notifications never arrived"

# What arrived: signatures, a retry of each key in the second run, references, links, and no
# NHS number anywhere.
"$py" - "$work/received.jsonl" "$work/expected.json" >"$work/checks" <<'PY'
import json, sys
e = json.load(open(sys.argv[2]))
rows = [json.loads(line) for line in open(sys.argv[1])]
hooks = [r for r in rows if r["channel"] == "webhook" and r["path"] == "/hook"]
print("badsig", sum(not r["sig_ok"] for r in hooks))
ok200 = [r for r in hooks if r["status"] == 200]
link_ok = all(json.loads(r["body"])["link"] == "https://inbox.test.invalid/n/" + r["key"]
              and json.loads(r["body"])["notification_id"] == r["key"] for r in ok200)
print("hook_links", int(link_ok))
# In the second run ("once") every key's first request is a 500: a key delivered with 200
# has a 500 logged after the last 500 of the first run.
print("hook_200", len(ok200))
mails = [r for r in rows if r["channel"] == "email"]
good = 0
bad = []
for m in mails:
    msg = m["message"]
    nid = [l.split(": ", 1)[1] for l in msg.split("\r\n") if l.startswith("X-Notbrought-Notification: ")]
    if nid and nid[0] in e["mail"] and e["mail"][nid[0]] in msg \
            and "https://inbox.test.invalid/n/" + nid[0] in msg \
            and sorted(m["rcpt"]) == ["<duty@test.invalid>", "<hv-team@test.invalid>"] \
            and m["tls"]:
        good += 1
    else:
        bad.append(m)
print("mails_good", good, len(mails))
for m in bad[:2]:
    print("bad_mail", json.dumps(m))
text = "\n".join(r.get("body", "") + r.get("message", "") for r in rows)
print("nhs_leaks", sum(n in text for n in e["nhs"]))
PY
grep -q "^badsig 0$" "$work/checks" && ok "every webhook request carried a valid signature" ||
    bad "signatures: $(cat "$work/checks")"
grep -q "^hook_links 1$" "$work/checks" && ok "each webhook body links to its notification" ||
    bad "links: $(cat "$work/checks")"
read -r _ good total < <(grep "^mails_good" "$work/checks")
[ "$good" -eq "$total" ] && [ "$good" -ge "$n_mail" ] &&
    ok "$good mails with the reference, the link and both addresses, over STARTTLS" ||
    bad "mails: $good of $total good: $(grep bad_mail "$work/checks")"
grep -q "^nhs_leaks 0$" "$work/checks" && ok "no NHS number in any webhook body or mail" ||
    bad "NHS numbers sent: $(cat "$work/checks")"
grep -q 'attempt 1 failed (500); again in' "$work/dispatch2.log" &&
    ok "second dispatcher: each first attempt's 500 retried" || bad "no retry in the second run"

# The refuser's 400 is a permanent refusal: logged, counted, not retried.
if [ "$n_refuse" -gt 0 ]; then
    for _ in $(seq 100); do
        [ "$(nb_metric "http://127.0.0.1:$dport/metrics" notbrought_dispatch_deliveries_total)" -gt 0 ] && break
        sleep 0.1
    done
    grep -q 'to webhook:refuser: refused after 1 attempt (400)' "$work/dispatch2.log" &&
        ok "a 400 is a permanent refusal, logged" || bad "no refusal logged"
fi
"$py" - "http://127.0.0.1:$dport/metrics" >"$work/metrics" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
PY
grep -q '^notbrought_dispatch_deliveries_total{route="webhook",outcome="delivered"} ' "$work/metrics" &&
    grep -q '^notbrought_dispatch_retries_total{route="webhook"} ' "$work/metrics" &&
    ok "deliveries and retries counted by route" || bad "metrics: $(grep dispatch "$work/metrics")"
if [ "$n_refuse" -gt 0 ]; then
    grep -q '^notbrought_dispatch_deliveries_total{route="webhook",outcome="refused"} ' \
        "$work/metrics" && ok "the refusal is counted" || bad "refusal not counted"
fi
for _ in $(seq 100); do
    [ "$(nb_metric "http://127.0.0.1:$dport/metrics" notbrought_dispatch_pending)" = 0 ] && break
    sleep 0.1
done
[ "$(nb_metric "http://127.0.0.1:$dport/metrics" notbrought_dispatch_oldest_undelivered_seconds)" = 0 ] &&
    ok "nothing left undelivered" || bad "pending: $(grep dispatch_pending "$work/metrics")"

# Each delivery's outcome is on the audit topic (issue 24): delivered, or delivery_failed with
# why, by channel and route, for the notification and its child.
"$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --topic notbrought.audit \
    --format json --to-end >"$work/audit.json" 2>/dev/null
read -r a_hook a_mail a_refused < <("$py" - "$work/audit.json" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
hook = {r["notification_id"] for r in recs if r["kind"] == "delivered" and
        r["delivery"]["channel"] == "webhook" and r["child_key"] is not None}
mail = {r["notification_id"] for r in recs if r["kind"] == "delivered" and
        r["delivery"]["channel"] == "email"}
refused = [r for r in recs if r["kind"] == "delivery_failed" and
           r["delivery"]["route"] == "refuser" and "refused by the endpoint (400)" in r["reason"]]
print(len(hook), len(mail), len(refused))
PY
)
[ "$a_hook" -ge "$n_hook" ] && [ "$a_mail" -ge 1 ] && ok "deliveries audited: $a_hook notifications by webhook, $a_mail by email" ||
    bad "deliveries audited: $a_hook by webhook (want >= $n_hook), $a_mail by email"
if [ "$n_refuse" -gt 0 ]; then
    [ "$a_refused" -ge 1 ] && ok "the refusal is audited with why" || bad "refusal not audited"
fi

# No NHS number in the dispatchers' logs.
leaks=$("$py" -c '
import json, sys
e = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read() + open(sys.argv[3]).read()
print(sum(n in text for n in e["nhs"]))' "$work/expected.json" "$work/dispatch1.log" "$work/dispatch2.log")
[ "$leaks" = 0 ] && ok "no NHS number in the dispatchers' logs" || bad "$leaks NHS numbers logged"

kill -TERM $d2
if wait_exit $d2 30; then
    [ "$rc" -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"
else
    bad "still running 30 s after SIGTERM"
fi

# Offsets were committed once delivered: a third dispatcher in the same group resends nothing
# the second one delivered. The last notification of each partition is produced again, to
# its partition, as a sentinel: once the third dispatcher has delivered every sentinel it has
# read past all that came before, and none of that may have come again.
"$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --format records --to-end \
    >"$work/records.jsonl" 2>/dev/null
"$bin" decode -f json "$work/records.jsonl" >"$work/records.decoded" 2>/dev/null
"$py" - "$work/records.jsonl" "$work/records.decoded" "$work/sentinels" <<'PY' >"$work/sentinels.jsonl"
import json, sys
recs = [json.loads(line) for line in open(sys.argv[1])]
last = {}
for line in open(sys.argv[2]):
    d = json.loads(line)
    if d.get("result") != "ok":
        continue
    n = d["value"]
    if n["kind"] in ("new", "escalated", "reminder", "withdrawn") and \
            "webhook:duty-pager" in {r["route"] for r in n["recipients"]}:
        rec = recs[d["record"] - 1]
        last[rec["partition"]] = (rec, n["notification_id"])
with open(sys.argv[3], "w") as f:
    for rec, nid in last.values():
        print(json.dumps(rec))
        f.write(nid + "\n")
PY
before=$(wc -l <"$work/received.jsonl")
echo ok >"$work/mode"
"$bin" dispatch --config "$work/dispatch.yaml" --bootstrap "$bs" 2>"$work/dispatch3.log" &
d3=$!
pids+=($d3)
"$bin" produce --config "$work/nb.yaml" --bootstrap "$bs" "$work/sentinels.jsonl" 2>/dev/null ||
    bad "produce the sentinels"
resent=-1
for _ in $(seq 300); do
    resent=$("$py" - "$work/received.jsonl" "$before" "$work/sentinels" "$work/expected.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]):]
sentinels = set(open(sys.argv[3]).read().split())
delivered_before = set(json.load(open(sys.argv[4]))["hook"])
got = {r["key"] for r in rows if r["channel"] == "webhook" and r["status"] == 200}
hook_sentinels = sentinels & delivered_before
if not hook_sentinels:
    print(-2)
elif not hook_sentinels <= got:
    print(-1)
else:
    # Notifications the daemon raised since are new; those delivered before must not come.
    print(len(({r["key"] for r in rows if r["channel"] == "webhook"} - sentinels)
              & delivered_before))
PY
)
    [ "$resent" != -1 ] && [ "$resent" != -2 ] && break
    sleep 0.2
done
[ "$resent" = 0 ] && ok "a third dispatcher resent nothing that was delivered (offsets committed)" ||
    bad "third dispatcher: $resent delivered notifications sent again (-1: sentinels never came, -2: none)"
kill -TERM $d3
wait_exit $d3 30 || bad "third dispatcher still running after SIGTERM"
# Under the sanitizers (the Sanitize build), a leak or undefined behaviour is reported at exit.
grep -q "Sanitizer\|runtime error" "$work/dispatch2.log" &&
    bad "sanitizer report: $(grep -m3 "Sanitizer\|runtime error" "$work/dispatch2.log")" ||
    ok "no sanitizer report from the dispatcher"
[ -n "${NB_TEST_KEEP:-}" ] && cp -r "$work" "$NB_TEST_KEEP"
