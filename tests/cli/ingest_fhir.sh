#!/usr/bin/env bash
# `notbrought ingest fhir` from the command line (issue 22): on the embedded broker, with the
# health visiting example mapping's fhir section, a made-up home visit no-show POSTed as FHIR
# JSON is answered 201 and is then in hv.contacts; its resend keeps its event id; the same
# with an NHS number failing Modulus 11 is answered 422 with the OperationOutcome's path and
# is in the dead-letter topic; a batch Bundle with one good and one bad entry gets a
# batch-response of 201 and 422; a wrong Content-Type 415, a wrong URL 404; over TLS with a
# client certificate 201, without one 403; the NHS numbers are in no log line; SIGTERM ends the
# adapter (0).
# Usage: ingest_fhir.sh NOTBROUGHT SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_cli_begin ingest_fhir "$1" "$2"
export NB_OPS_LOG_LEVEL=info
unset NB_HMAC_KEY # the adapter needs none

# A throwaway CA, a server certificate for 127.0.0.1 and a client certificate it signed.
(cd "$work" && K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' &&
    openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=nb-test-ca &&
    printf 'subjectAltName=IP:127.0.0.1\n' >san.ext &&
    for n in server client; do
        openssl req $K -keyout $n.key -out $n.csr -subj /CN=nb-test-$n &&
            openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                -extfile san.ext -out $n.pem -days 2 || exit 1
    done) >/dev/null 2>&1 || bad "openssl could not make the test certificates"

port=$(nb_free_port)
nb_config "$port" "$work/nb.yaml"
cat >>"$work/nb.yaml" <<EOF
ingest:
  fhir:
    - name: hv-7a5
      port: 0
      mapping: $root/config/mappings/health-visiting.yaml
      topic: hv.contacts
    - name: hv-tls
      port: 0
      mapping: $root/config/mappings/health-visiting.yaml
      topic: hv.contacts
      tls: {cert: $work/server.pem, key: $work/server.key, ca: $work/ca.pem, require_client_cert: true}
EOF
NB_HMAC_KEY=broker-only-hmac-key-0123456789 "$bin" broker --config "$work/nb.yaml" \
    >"$work/bootstrap" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bs=$(head -n 1 "$work/bootstrap")

"$bin" ingest fhir --config "$work/nb.yaml" --check-config >"$work/check.out" 2>&1 &&
    ok "--check-config: $(cat "$work/check.out")" || bad "--check-config: $(cat "$work/check.out")"

"$bin" ingest fhir --config "$work/nb.yaml" --bootstrap "$bs" 2>"$work/ingest.log" &
adapter=$!
pids+=($adapter)
http_port=
for _ in $(seq 300); do
    http_port=$(sed -n 's/.*listening for hv-7a5 (FHIR) on 127.0.0.1 port \([0-9]*\).*/\1/p' \
        "$work/ingest.log")
    [ -n "$http_port" ] && break
    sleep 0.1
done
[ -n "$http_port" ] && ok "listening on port $http_port" || bad "no listener: $(cat "$work/ingest.log")"
tls_port=$(sed -n 's/.*listening for hv-tls (FHIR) on 127.0.0.1 port \([0-9]*\).*/\1/p' "$work/ingest.log")

# post PATH FILE [CONTENT-TYPE]: prints the status, then the body.
post() {
    curl -s -o "$work/body" -w '%{http_code}' -X POST \
        -H "Content-Type: ${3:-application/fhir+json}" --data-binary @"$2" \
        "http://127.0.0.1:$http_port$1"
    echo
    cat "$work/body"
    echo
}
data=$root/tests/cli/data/mapping
post /fhir/hv-7a5/Appointment "$data/hv-noshow.json" >"$work/r1"
head -1 "$work/r1" | grep -qx 201 && ok "the no-show: 201" || bad "the no-show: $(cat "$work/r1")"
post /fhir/hv-7a5/Appointment "$data/hv-noshow.json" >"$work/r2"
head -1 "$work/r2" | grep -qx 201 && ok "the resend: 201" || bad "the resend: $(cat "$work/r2")"
post /fhir/hv-7a5/Appointment "$data/hv-mod11.json" >"$work/r3"
head -1 "$work/r3" | grep -qx 422 &&
    grep -q '"expression":\["Appointment.participant\[0\].actor.resolve().identifier\[0\]"\]' "$work/r3" &&
    grep -q 'Modulus 11' "$work/r3" && ok "the bad NHS number: 422 with the path" ||
    bad "the bad NHS number: $(cat "$work/r3")"
python3 - "$data/hv-noshow.json" "$data/hv-mod11.json" >"$work/bundle.json" <<'PY'
import json, sys
good, bad = (json.load(open(p)) for p in sys.argv[1:3])
bad["id"] = "hv-0043"
print(json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [
    {"resource": good, "request": {"method": "PUT", "url": "Appointment/hv-0042"}},
    {"resource": bad, "request": {"method": "PUT", "url": "Appointment/hv-0043"}}]}))
PY
post /fhir/hv-7a5 "$work/bundle.json" >"$work/r4"
statuses=$(sed -n 2p "$work/r4" | python3 -c 'import json,sys; print(" ".join(e["response"]["status"].split()[0] for e in json.load(sys.stdin)["entry"]))' 2>/dev/null)
head -1 "$work/r4" | grep -qx 200 && [ "$statuses" = "201 422" ] &&
    ok "a batch with one bad entry: 200, entries 201 and 422" || bad "the batch: $(cat "$work/r4")"
post /fhir/hv-7a5/Appointment "$data/hv-noshow.json" text/plain >"$work/r5"
head -1 "$work/r5" | grep -qx 415 && ok "text/plain: 415" || bad "text/plain: $(cat "$work/r5")"
post /fhir/other/Appointment "$data/hv-noshow.json" >"$work/r6"
head -1 "$work/r6" | grep -qx 404 && ok "another source's URL: 404" || bad "wrong URL: $(cat "$work/r6")"

# TLS: with a client certificate the CA signed, 201; without one, 403 and nothing published.
tls_post() {
    curl -s -o "$work/body" -w '%{http_code}' -X POST --cacert "$work/ca.pem" "$@" \
        -H "Content-Type: application/fhir+json" --data-binary @"$data/hv-noshow.json" \
        "https://127.0.0.1:$tls_port/fhir/hv-tls/Appointment"
}
s1=$(tls_post --cert "$work/client.pem" --key "$work/client.key")
[ "$s1" = 201 ] && ok "TLS with a client certificate: 201" || bad "TLS with a client certificate: $s1 $(cat "$work/body")"
s2=$(tls_post)
[ "$s2" = 403 ] && ok "TLS without a client certificate: 403" || bad "TLS without a client certificate: $s2 $(cat "$work/body")"

consume() { "$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --to-end --topic "$1" 2>/dev/null; }
consume hv.contacts >"$work/appts"
n=$(grep -c '"status":"no_access_visit"' "$work/appts")
ids=$(grep -o '"event_id":"fhir-[0-9a-f]*"' "$work/appts" | sort -u | wc -l)
[ "$n" -eq 4 ] && [ "$ids" -eq 1 ] && ok "hv.contacts: the no-show four times (resend, batch, TLS: one mapping), one event id" ||
    bad "hv.contacts: $n no-shows, $ids ids: $(cat "$work/appts")"
"$bin" consume --config "$work/nb.yaml" --bootstrap "$bs" --to-end --format records \
    --topic notbrought.dead-letters >"$work/dead" 2>/dev/null
python3 - "$work/dead" >"$work/dead.txt" <<'PY'
import base64, json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    for h in r.get("headers", []):
        print(h["name"], base64.b64decode(h["value"]).decode(errors="replace"))
PY
[ "$(grep -c '^nb.error.code nhs_check_digit$' "$work/dead.txt")" -eq 2 ] &&
    grep -q '^nb.source.protocol http$' "$work/dead.txt" &&
    ok "dead letters: the refused resource and the batch, with the reason" ||
    bad "dead letters: $(head -c 600 "$work/dead.txt")"

kill -TERM $adapter
if wait_exit $adapter 30; then
    [ $rc -eq 0 ] && ok "SIGTERM: the adapter exits 0" || bad "SIGTERM: status $rc"
else
    bad "the adapter did not stop within 30 s of SIGTERM"
fi
grep -q -e 9990010005 -e 9990010006 -e C7001 "$work/ingest.log" &&
    bad "an identifier is in the adapter's log" || ok "no identifier in the adapter's log"
