#!/usr/bin/env bash
# End-to-end over SASL/SCRAM on a real Apache Kafka broker: ops/kafka starts it with a
# SASL_PLAINTEXT listener (SCRAM-SHA-512) and a test user; the topic creation, the producer,
# the daemon and the consumer reach it only through librdkafka properties from the
# configuration, with the user name in the YAML and the password from a file
# (kafka.sasl_password_file) or the environment (NB_RDKAFKA_SASL_PASSWORD), never from the
# YAML. A client with a wrong password is refused and reads nothing; the password appears in
# no output of notbrought, even with librdkafka's security and configuration debug logs on.
#
# Environment: NB_BIN (the notbrought binary), NB_SOURCE_DIR (the repository).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_e2e_begin sasl

# Free ports on loopback: three in a row for the broker (PLAINTEXT, controller, SASL), one
# for the daemon's metrics.
read -r port http_port < <(nb_free_ports)
# A fresh random password, so that finding it in a log means the log leaked it.
password=nb-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
user=nb-e2e
export NB_KAFKA_STATE=$work/kafka NB_KAFKA_PORT=$port NB_KAFKA_SASL_PORT=$((port + 2))
addrs=$(NB_KAFKA_SASL_USER=$user NB_KAFKA_SASL_PASSWORD=$password "$root/ops/kafka" start --sasl) ||
    { bad "broker with SASL did not start"; exit 1; }
sasl=$(echo "$addrs" | sed -n 2p)
[ "$sasl" = "127.0.0.1:$((port + 2))" ] && ok "broker started with a SASL_PLAINTEXT listener at $sasl" ||
    { bad "no SASL address (got: $addrs)"; exit 1; }

(umask 077 && printf '%s\n' "$password" >"$work/sasl.password" && echo wrong-password >"$work/wrong.password")
{ nb_sasl_config "$sasl" sasl-1 "$user" && cat <<EOF; } >"$work/nb.yaml"
  log_level: warn
  http_port: $http_port
  http_bind: 127.0.0.1
EOF
export NB_HMAC_KEY=sasl-test-hmac-key-0123456789
: >"$work/all.err" # every stderr of notbrought, searched for the password at the end

# A password written in the YAML is refused, and not echoed.
sed "s|    sasl.username: .*|&\n    sasl.password: $password|" "$work/nb.yaml" >"$work/inline.yaml"
if "$bin" run --config "$work/inline.yaml" --check-config >"$work/inline.out" 2>&1; then
    bad "a sasl.password in the YAML was accepted"
elif grep -q 'sasl.password is a secret' "$work/inline.out" && ! grep -qF -- "$password" "$work/inline.out"; then
    ok "a sasl.password in the YAML is refused without echoing it"
else
    bad "a sasl.password in the YAML: unexpected output: $(head -c 300 "$work/inline.out")"
fi
"$bin" run --config "$work/nb.yaml" --check-config >>"$work/all.err" 2>&1 &&
    ok "--check-config accepts the configuration with the password file" || bad "--check-config"

"$bin" topics --config "$work/nb.yaml" --source-partitions 2 2>>"$work/all.err" &&
    ok "topics created over SASL (password from the file)" || bad "topics over SASL"
"$bin" generate --children 60 --seed 4 --missed-share 0.3 --malformed 6 \
    --output "$work/sample.jsonl"
# The other route: the password from the environment, no file.
NB_KAFKA_SASL_PASSWORD_FILE='' NB_RDKAFKA_SASL_PASSWORD=$password \
    "$bin" produce --config "$work/nb.yaml" "$work/sample.jsonl" 2>>"$work/all.err" &&
    ok "sample produced over SASL (password from NB_RDKAFKA_SASL_PASSWORD)" || bad "produce over SASL"

# librdkafka's security and configuration debug logs on: the daemon's log talks about SASL.
NB_OPS_LOG_LEVEL=debug NB_RDKAFKA_DEBUG=security,conf "$bin" run --config "$work/nb.yaml" \
    2>"$work/run.log" &
daemon=$!
metric() { # metric NAME [LABELS]: the sum of the samples of a family on the daemon's /metrics
    python3 - "http://127.0.0.1:$http_port/metrics" "$@" 2>/dev/null <<'PY'
import re, sys, urllib.request
name, want = sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "")
total = 0.0
for line in urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().splitlines():
    m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line.strip())
    if m and m.group(1) == name and want in (m.group(2) or ""):
        total += float(m.group(3))
print(int(total))
PY
}
last=-1
stable=0
deadline=$((SECONDS + 180))
while [ $SECONDS -lt $deadline ]; do
    kill -0 "$daemon" 2>/dev/null || break
    n=$("$bin" consume --config "$work/nb.yaml" --format records --idle-ms 1500 2>>"$work/all.err" | wc -l)
    if [ "$n" -gt 0 ] && [ "$n" -eq "$last" ]; then
        stable=$((stable + 1))
        [ $stable -ge 2 ] && break
    else
        stable=0
    fi
    last=$n
    sleep 1
done
dead=$("$bin" consume --config "$work/nb.yaml" --topic notbrought.dead-letters --format records \
    --idle-ms 1500 2>>"$work/all.err" | wc -l)
[ "$last" -gt 0 ] && ok "$last notifications read back over SASL" ||
    { bad "no notifications over SASL"; grep -v '"level":"debug"' "$work/run.log" | tail -n 20; }
counted=$(metric notbrought_notifications_total)
aborts=$(metric notbrought_transactions_total 'result="abort"')
[ "$counted" = "$last" ] && ok "read back exactly the $counted notifications the daemon published" ||
    bad "read back $last notifications, the daemon published ${counted:-?} (aborts: ${aborts:-?})"
[ "$dead" -eq 6 ] && ok "6 malformed records dead-lettered over SASL" ||
    bad "dead letters: $dead, expected 6"

# A wrong password (from the file named by NB_KAFKA_SASL_PASSWORD_FILE) is refused: an
# authentication error, a non-zero exit and not one notification.
NB_KAFKA_SASL_PASSWORD_FILE=$work/wrong.password timeout 60 "$bin" consume --config "$work/nb.yaml" \
    --format records --idle-ms 1500 >"$work/wrong.out" 2>"$work/wrong.err"
rc=$?
cat "$work/wrong.err" >>"$work/all.err"
if [ $rc -ne 0 ] && [ ! -s "$work/wrong.out" ] && grep -q 'Authentication failed' "$work/wrong.err"; then
    ok "a wrong password is refused (exit $rc, authentication failed, nothing read)"
else
    bad "wrong password: exit $rc, $(wc -l <"$work/wrong.out") records, stderr: $(tail -c 300 "$work/wrong.err")"
fi

if kill -TERM "$daemon" 2>/dev/null && wait "$daemon"; then
    ok "daemon stopped cleanly on SIGTERM"
else
    bad "daemon did not exit 0 on SIGTERM"
fi
daemon=

# The password in no log. The daemon's log went through the SCRAM exchange and listed its
# configuration, password included (redacted by librdkafka), so the search means something.
if grep -q "Authenticated as $user using SCRAM-SHA-512" "$work/run.log" &&
    grep -qF 'sasl.password = [redacted]' "$work/run.log"; then
    ok "the daemon logged its SCRAM-SHA-512 login and its configuration (password redacted)"
else
    bad "the daemon's debug log shows no SCRAM login or no redacted sasl.password"
fi
if grep -qF -- "$password" "$work/run.log" "$work/all.err"; then
    bad "the SASL password appears in notbrought's logs"
else
    ok "the SASL password appears in no log of notbrought"
fi
