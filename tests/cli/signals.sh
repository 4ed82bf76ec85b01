#!/usr/bin/env bash
# SIGTERM, SIGINT and SIGHUP can reach only the main thread of `notbrought run` and of
# `notbrought broker`, whose handlers set flags that only the main thread reads: every other
# thread (librdkafka's, libmicrohttpd's, the decoder, the shutdown watchdog, the mock
# cluster's) blocks them, as /proc/PID/task/TID/status says (SigBlk); the main thread blocks
# none of them. Then SIGHUP reloads the policy, and SIGTERM stops the daemon and the broker
# (status 0). (integration.threads looks at the short-lived threads too, in-process.)
# Usage: signals.sh NOTBROUGHT SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib.sh"
nb_cli_begin signals "$1" "$2"
export NB_HMAC_KEY=signals-test-hmac-key-0123456789 NB_OPS_LOG_LEVEL=info

# masks PID WHAT: 0 when every thread of PID but the main one blocks the three signals and the
# main one none (it blocks them for a moment whenever it starts a thread: it is looked at
# again, up to 100 times, while it does).
masks() {
    python3 - "$1" "$2" <<'PY'
import os, sys, time
pid, what = sys.argv[1], sys.argv[2]
three = (1 << (15 - 1)) | (1 << (2 - 1)) | (1 << (1 - 1))  # SIGTERM, SIGINT, SIGHUP

def status(tid):
    try:
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            fields = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
    except OSError:
        return None  # gone meanwhile
    return fields["Name"].strip(), int(fields["SigBlk"], 16)

problems, names = [], {}
for tid in os.listdir(f"/proc/{pid}/task"):
    st = status(tid)
    if st is None:
        continue
    name, blocked = st
    names[name] = names.get(name, 0) + 1
    if tid == pid:
        for _ in range(100):
            if st is None or st[1] & three == 0:
                break
            time.sleep(0.01)
            st = status(tid)
        if st is not None and st[1] & three:
            problems.append(f"the main thread blocks some of them (SigBlk {st[1]:016x})")
    elif blocked & three != three:
        problems.append(f"thread {tid} ({name}) does not block them (SigBlk {blocked:016x})")
print(f"{what}: {sum(names.values())} threads: " +
      ", ".join(f"{n} x{c}" for n, c in sorted(names.items())))
for p in problems:
    print(f"{what}: {p}")
sys.exit(1 if problems or sum(names.values()) < 2 else 0)
PY
}

port=$(nb_free_port)
nb_config "$port" "$work/nb.yaml"
"$bin" broker --config "$work/nb.yaml" >"$work/bootstrap" 2>/dev/null &
broker=$!
pids+=($broker)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
bs=$(head -n 1 "$work/bootstrap")
"$bin" generate --children 40 --seed 3 -o "$work/s.jsonl"
"$bin" produce --config "$work/nb.yaml" --bootstrap "$bs" "$work/s.jsonl" 2>/dev/null
"$bin" run --config "$work/nb.yaml" --bootstrap "$bs" 2>"$work/run.log" &
daemon=$!
pids+=($daemon)
nb_wait_commit "$port" 60 || true
[ "$(nb_metric "http://127.0.0.1:$port/metrics" notbrought_transactions_total)" -gt 0 ] &&
    ok "the daemon commits" || bad "the daemon committed nothing within 60 s"

masks "$broker" broker && ok "broker: only the main thread takes SIGTERM, SIGINT, SIGHUP" ||
    bad "broker: a thread other than the main one would take a signal"
masks "$daemon" run && ok "run: only the main thread takes SIGTERM, SIGINT, SIGHUP" ||
    bad "run: a thread other than the main one would take a signal"

kill -HUP "$daemon"
for _ in $(seq 300); do grep -q '"policy reloaded"' "$work/run.log" && break; sleep 0.1; done
grep -q '"policy reloaded"' "$work/run.log" && ok "SIGHUP: policy reloaded" ||
    bad "SIGHUP: no reload logged"
kill -TERM "$daemon"
if wait_exit "$daemon" 60 && [ $rc -eq 0 ]; then ok "run: SIGTERM, status 0"
else bad "run: status ${rc:-none} after SIGTERM"; tail -n 20 "$work/run.log"; fi
kill -TERM "$broker"
if wait_exit "$broker" 60 && [ $rc -eq 0 ]; then ok "broker: SIGTERM, status 0"
else bad "broker: status ${rc:-none} after SIGTERM"; fi
grep -q "AddressSanitizer\|runtime error\|ThreadSanitizer" "$work/run.log" &&
    bad "sanitizer report" || ok "no sanitizer report"
