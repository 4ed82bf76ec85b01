# Shared by the shell end-to-end tests (sourced): counters, the exit check, and free ports.
#   nb_e2e_begin NAME   sets root, bin, work (a scratch dir), daemon (a pid to kill -9 at the
#                       end, or empty); ok/bad count; on exit the test's broker (state in
#                       $work/kafka) is stopped, $work removed, and the status is 0 only if
#                       something passed and nothing failed.
#   nb_free_ports       prints "P H": P, P+1 and P+2 free on loopback (broker, controller, one
#                       more listener), and H another free port (the daemon's metrics).
# Environment: NB_BIN (the notbrought binary), NB_SOURCE_DIR (the repository).

nb_e2e_begin() {
    nb_e2e_name=$1
    root=${NB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
    bin=${NB_BIN:-$root/build/notbrought}
    work=$(mktemp -d)
    passed=0
    failed=0
    daemon=
    trap 'nb_e2e_finish; exit $?' EXIT
}

ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

nb_e2e_finish() {
    [ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null
    NB_KAFKA_STATE=$work/kafka "$root/ops/kafka" stop >/dev/null 2>&1
    rm -rf "$work"
    echo "$nb_e2e_name: $passed passed, $failed failed"
    [ $failed -eq 0 ] && [ $passed -gt 0 ]
}

nb_free_ports() {
    python3 -c 'import socket, random
def free(q):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", q)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    p = random.randrange(31000, 39000)
    if all(free(q) for q in (p, p + 1, p + 2)):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); h = s.getsockname()[1]; s.close()
        print(p, h); break'
}

# nb_sasl_config BOOTSTRAP INSTANCE USER: prints the daemon's configuration for SCRAM-SHA-512
# over SASL_PLAINTEXT, the password read from $work/sasl.password; the caller appends the
# keys of its "ops:" section.
nb_sasl_config() {
    cat <<YAML
kafka:
  bootstrap_servers: $1
  instance_id: $2
  sasl_password_file: $work/sasl.password
  properties:
    security.protocol: sasl_plaintext
    sasl.mechanisms: SCRAM-SHA-512
    sasl.username: $3
topics:
  partitions: 2
policy:
  files: [$root/config/policy/wnb-wales-base.yaml, $root/config/policy/cardiff-and-vale.yaml]
ops:
YAML
}
