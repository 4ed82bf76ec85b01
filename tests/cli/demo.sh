#!/usr/bin/env bash
# ops/demo with this build's binary (issue 22): it runs to the end (exit 0), the HL7 v2 message
# is answered AA and the FHIR Appointment 201, and the baby's two missed appointments became
# notifications: the health visiting one on its own and both together as a pattern across two
# agencies; the safeguarding inbox starts over them and its address and a demo sign-in are
# printed.
# Usage: demo.sh NOTBROUGHT SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_cli_begin demo "$1" "$2"

NB_DEMO_BIN=$bin NB_DEMO_CHILDREN=30 bash "$root/ops/demo" >"$work/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "ops/demo exits 0" || bad "ops/demo exited $rc: $(tail -n 30 "$work/out")"
grep -q 'answered MSA|AA|DEMO0001' "$work/out" && ok "the HL7 v2 message: AA" ||
    bad "no AA for the HL7 v2 message"
grep -q 'answered HTTP 201' "$work/out" && ok "the FHIR Appointment: 201" ||
    bad "no 201 for the FHIR Appointment"
# The section showing what the two messages became, up to the summary.
sed -n '/what the HL7 v2 message and the FHIR Appointment became/,/==> summary/p' "$work/out" \
    >"$work/feeds"
grep -q 'Rule: *hv_missed_under1 ' "$work/feeds" && grep -q 'appointment hv-demo-0001 at 7A5' "$work/feeds" &&
    ok "the FHIR no-show became hv_missed_under1" || bad "no hv_missed_under1: $(cat "$work/feeds")"
awk 'BEGIN{RS=""} /under5_multiagency/ && /appointment FL9001 at W97001/ && /appointment hv-demo-0001 at 7A5/ {f=1} END{exit !f}' \
    "$work/feeds" && ok "both became under5_multiagency (two agencies)" ||
    bad "no under5_multiagency with both: $(cat "$work/feeds")"
# The inbox over the demo's notifications: started, caught up with the topics, and said where.
grep -q 'the inbox: http://127.0.0.1:[0-9]*/' "$work/out" && grep -q 'sign in as hv.demo' "$work/out" &&
    ok "the inbox's address and a demo sign-in are printed" ||
    bad "no inbox address: $(sed -n '/safeguarding inbox/,$p' "$work/out")"
