#!/usr/bin/env bash
# Configuration that loses data or loops is refused (issue 18): 'notbrought run --check-config'
# exits 1 naming the key, and 'notbrought run' refuses the same configuration before it connects
# to anything. The shipped configuration, and appointments and context facts on one topic (the
# integration tests' layout), still pass.
# Usage: config_refused.sh NOTBROUGHT SOURCE_DIR
set -uo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: the commands run in SOURCE_DIR
root=$2
work=$(mktemp -d)
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() {
    rm -rf "$work"
    echo "config_refused: $passed passed, $failed failed"
    [ $failed -eq 0 ] && [ $passed -gt 0 ]
}
trap 'finish; exit $?' EXIT

# notbrought in a clean environment (inherited NB_ variables would change the outcome), from the
# source directory (the shipped configuration names its policy files relative to it).
nb() {
    (cd "$root" && env -i PATH="$PATH" NB_HMAC_KEY=config-refused-test-key-0123456789 \
        timeout 15 "$@")
}

# refused NAME CONFIG REGEX [VAR=value ...]: both 'run --check-config' and 'run' exit 1 with an
# error matching REGEX; never a value of the variables given.
refused() {
    local name=$1 conf=$2 regex=$3
    shift 3
    for mode in --check-config run; do
        local args=(run --config "$conf")
        [ "$mode" = --check-config ] && args+=(--check-config)
        nb env "$@" "$bin" "${args[@]}" >"$work/out" 2>&1
        local rc=$?
        if [ $rc -ne 1 ]; then
            bad "$name ($mode): exit $rc, expected 1: $(tail -n 3 "$work/out")"
        elif ! grep -Eq -- "$regex" "$work/out"; then
            bad "$name ($mode): no '$regex' in: $(cat "$work/out")"
        elif grep -q "value-not-echoed" "$work/out"; then
            bad "$name ($mode): a variable's value is in the error"
        else
            ok "$name ($mode) refused"
        fi
    done
}

# with SED_EXPR: the shipped configuration changed by a sed expression.
with() {
    sed "$1" "$root/config/notbrought.yaml" >"$work/nb.yaml"
    echo "$work/nb.yaml"
}

if nb "$bin" run --config config/notbrought.yaml --check-config >"$work/out" 2>&1; then
    ok "the shipped configuration passes"
else
    bad "the shipped configuration is refused: $(cat "$work/out")"
fi
conf=$(with 's|^  appointments: .*|  appointments: [events]|; s|^  context: .*|  context: events|')
if nb "$bin" run --config "$conf" --check-config >"$work/out" 2>&1; then
    ok "appointments and context facts on one topic pass"
else
    bad "appointments and context on one topic refused: $(cat "$work/out")"
fi

refused "dead letters on an appointment topic" \
    "$(with 's|^  dead_letters: .*|  dead_letters: gp.appointments|')" \
    "topics.dead_letters: 'gp.appointments' is also topics.appointments; an output must not be an input"
refused "notifications on the acks topic" \
    "$(with 's|^  notifications: .*|  notifications: notification.acks|')" \
    "topics.notifications: 'notification.acks' is also topics.acks"
refused "by_child on the changelog" \
    "$(with 's|^  changelog: .*|  changelog: notbrought.by-child|')" \
    "topics.changelog: 'notbrought.by-child' is also topics.by_child"
refused "a key given twice" \
    "$(with 's|^  audit: .*|  audit: notbrought.audit\n  dead_letters: other.dead-letters|')" \
    "nb.yaml:[0-9]+:3: key 'topics.dead_letters' is given twice \\(first at line [0-9]+\\)"
refused "a misspelt NB_ variable" "config/notbrought.yaml" \
    "NB_TOPICS_DEAD_LETTER: not a configuration variable \\(did you mean NB_TOPICS_DEAD_LETTERS\\?\\)" \
    NB_TOPICS_DEAD_LETTER=value-not-echoed
refused "a missing CA file" \
    "$(with 's|^  properties:|  properties:\n    security.protocol: ssl\n    ssl.ca.location: /nonexistent/notbrought/ca.pem|')" \
    "kafka.properties: ssl.ca.location: /nonexistent/notbrought/ca.pem: No such file or directory"
# What librdkafka refuses only when a client is made (properties checked against each other):
# --check-config makes the clients too.
refused "a librdkafka property the producer refuses" "config/notbrought.yaml" \
    "message.timeout.ms. must be set <= .transaction.timeout.ms." \
    NB_RDKAFKA_MESSAGE_TIMEOUT_MS=70000
