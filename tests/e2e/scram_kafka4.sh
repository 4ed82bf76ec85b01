#!/usr/bin/env bash
# SCRAM on an Apache Kafka 4.x broker (NB_KAFKA_VERSION, 4.x). librdkafka before 2.6.1 sends a
# SCRAM nonce that 4.x brokers refuse ("invalid credentials"), whatever the password; Debian
# bookworm ships 2.0.2. What this checks, so that the record in docs/runbook.md stays true:
#   - an independent client (kafka-python) logs in with the same user and password;
#   - with librdkafka < 2.6.1: the daemon is refused, says once why a right password can fail
#     (the hint names the fix), and the password is in none of its output;
#   - with librdkafka >= 2.6.1: notbrought logs in (topics created over SASL), no hint.
#
# Environment: NB_BIN, NB_SOURCE_DIR, NB_PYTHON (with kafka-python), NB_KAFKA_VERSION (4.x).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_e2e_begin scram_kafka4
py=${NB_PYTHON:-python3}

case ${NB_KAFKA_VERSION:-} in
4.*) ;;
*) bad "NB_KAFKA_VERSION must name a Kafka 4.x release (got '${NB_KAFKA_VERSION:-}')"; exit 1 ;;
esac

read -r port _ < <(nb_free_ports)
password=nb-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
user=nb-e2e
export NB_KAFKA_STATE=$work/kafka NB_KAFKA_PORT=$port NB_KAFKA_SASL_PORT=$((port + 2))
addrs=$(NB_KAFKA_SASL_USER=$user NB_KAFKA_SASL_PASSWORD=$password "$root/ops/kafka" start --sasl) ||
    { bad "Kafka $NB_KAFKA_VERSION with SASL did not start"; exit 1; }
sasl=$(echo "$addrs" | sed -n 2p)
ok "Kafka $NB_KAFKA_VERSION up with a SCRAM listener at $sasl"

if "$py" - "$sasl" "$user" "$password" <<'PY'
import sys
from kafka import KafkaAdminClient
a = KafkaAdminClient(bootstrap_servers=sys.argv[1], security_protocol="SASL_PLAINTEXT",
                     sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=sys.argv[2],
                     sasl_plain_password=sys.argv[3], request_timeout_ms=20000)
a.list_topics()
a.close()
PY
then
    ok "kafka-python logs in with SCRAM-SHA-512 as $user (the credentials are right)"
else
    bad "kafka-python could not log in: the broker's credentials are wrong, nothing to compare"
    exit 1
fi

(umask 077 && printf '%s\n' "$password" >"$work/sasl.password")
{ nb_sasl_config "$sasl" scram4-1 "$user" && echo "  log_level: info"; } >"$work/nb.yaml"
export NB_HMAC_KEY=scram4-test-hmac-key-0123456789

rdk=$("$bin" version | sed -n 's/.*(librdkafka \([0-9.]*\)).*/\1/p')
old=$(python3 -c 'import sys; v = tuple(int(x) for x in sys.argv[1].split(".")[:3]); print(int(v < (2, 6, 1)))' "$rdk")
hint='SCRAM login refused. If the password is right and the brokers run Apache Kafka 4.x'
if [ "$old" = 1 ]; then
    "$bin" run --config "$work/nb.yaml" >"$work/run.out" 2>"$work/run.log" &
    daemon=$!
    deadline=$((SECONDS + 60))
    while [ $SECONDS -lt $deadline ] && ! grep -qF "$hint" "$work/run.log"; do
        kill -0 "$daemon" 2>/dev/null || break
        sleep 0.5
    done
    if grep -qF "$hint" "$work/run.log" && grep -qF "librdkafka $rdk cannot log in" "$work/run.log"
    then
        ok "librdkafka $rdk is refused by Kafka $NB_KAFKA_VERSION, and the daemon says why"
    else
        bad "no SCRAM hint from the daemon with librdkafka $rdk: $(tail -c 600 "$work/run.log")"
    fi
    n=$(grep -cF "$hint" "$work/run.log")
    [ "$n" -eq 1 ] && ok "the hint is logged once" || bad "the hint is logged $n times"
    grep -q 'Authentication failed' "$work/run.log" &&
        ok "librdkafka's own authentication error is in the log beside it" ||
        bad "no authentication error in the daemon's log"
    kill -TERM "$daemon" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$daemon" 2>/dev/null
    wait "$daemon" 2>/dev/null
    daemon=
    if grep -qF -- "$password" "$work/run.log" "$work/run.out"; then
        bad "the SASL password appears in the daemon's output"
    else
        ok "the SASL password appears in none of the daemon's output"
    fi
else
    if "$bin" topics --config "$work/nb.yaml" --source-partitions 2 2>"$work/topics.err"; then
        ok "librdkafka $rdk logs in with SCRAM to Kafka $NB_KAFKA_VERSION (topics created)"
    else
        bad "librdkafka $rdk could not log in: $(tail -c 400 "$work/topics.err")"
    fi
    grep -qF "$hint" "$work/topics.err" && bad "a SCRAM hint with librdkafka $rdk" ||
        ok "no SCRAM hint with librdkafka $rdk"
fi
