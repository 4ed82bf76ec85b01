#!/usr/bin/env python3
"""The admin HTTP port under a slow-connection attack, and bound to loopback by default.

Runs the real daemon on the embedded broker with ops.http_port set and ops.http_bind left at
its default, then:

  1. the port listens on 127.0.0.1 only (/proc/net/tcp and /proc/net/tcp6);
  2. 500 connections from 127.0.0.2 send half a request line and never finish it; while they
     are open, /healthz from 127.0.0.1 answers 200 within 2 s, five times over;
  3. after they close, /healthz again answers 200 within 2 s, five times over, and the HTTP
     server logged a handful of lines, not one per refused connection.

Every wait has a deadline; nothing sleeps to synchronise. Loopback addresses only.

usage: http_slow_clients.py NOTBROUGHT SOURCE_DIR
"""
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time

ATTACKERS = 500
ATTACK_SOURCE = "127.0.0.2"
PROBE_SOURCE = "127.0.0.1"
PROBE_DEADLINE_S = 2.0
PROBES = 5

passed = 0
failed = 0


def ok(msg):
    global passed
    passed += 1
    print(f"ok: {msg}", flush=True)


def bad(msg):
    global failed
    failed += 1
    print(f"FAIL: {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz(port, deadline_s):
    """GET /healthz from PROBE_SOURCE. Returns (status or None, seconds taken, why)."""
    start = time.monotonic()
    end = start + deadline_s
    s = socket.socket()
    s.setblocking(False)
    try:
        s.bind((PROBE_SOURCE, 0))
        s.connect_ex(("127.0.0.1", port))
        _, w, _ = select.select([], [s], [], max(0.0, end - time.monotonic()))
        if not w or s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
            return None, time.monotonic() - start, "no connection"
        s.sendall(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = b""
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None, time.monotonic() - start, "no answer"
            r, _, _ = select.select([s], [], [], left)
            if not r:
                continue
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
        if not m:
            return None, time.monotonic() - start, f"not HTTP: {data[:60]!r}"
        return int(m.group(1)), time.monotonic() - start, ""
    except OSError as e:
        return None, time.monotonic() - start, str(e)
    finally:
        s.close()


def wait_for(cond, deadline_s, step_s=0.1):
    """Polls cond() until it is true or the deadline passes; returns its last value."""
    end = time.monotonic() + deadline_s
    while True:
        v = cond()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step_s)


def listen_addresses(port):
    """Local addresses in LISTEN state on port, from /proc/net/tcp and tcp6."""
    found = []
    for path, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            addr, p = f[1].split(":")
            if int(p, 16) != port or f[3] != "0A":
                continue
            raw = bytes.fromhex(addr)
            if width == 8:
                found.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:
                # Four host-order 32-bit words.
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.append(socket.inet_ntop(socket.AF_INET6, words))
    return found


def probes(port, when):
    worst = 0.0
    for i in range(PROBES):
        status, took, why = healthz(port, PROBE_DEADLINE_S)
        worst = max(worst, took)
        if status != 200:
            bad(f"{when}: /healthz probe {i + 1} got {status} after {took:.2f} s {why}")
            return
    ok(f"{when}: /healthz 200 {PROBES} times, slowest {worst:.3f} s")


def main():
    nb, root = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    port = free_port()
    procs = []
    attackers = []
    with tempfile.TemporaryDirectory() as work:
        try:
            conf = open(os.path.join(root, "config/notbrought.yaml")).read()
            conf = conf.replace("config/policy/", os.path.join(root, "config/policy/"))
            # ops.http_bind stays at its default: the point of check 1.
            conf, n = re.subn(r"(?m)^  http_port: \d+$", f"  http_port: {port}", conf)
            if n != 1:
                bad("config/notbrought.yaml: no 'http_port:' line under ops")
                return
            conf_path = os.path.join(work, "nb.yaml")
            open(conf_path, "w").write(conf)
            env = {k: v for k, v in os.environ.items() if not k.startswith("NB_")}
            env.update(NB_HMAC_KEY="http-slow-clients-hmac-key-0123456789",
                       NB_OPS_LOG_LEVEL="warn")
            boot = open(os.path.join(work, "bootstrap"), "w+")
            procs.append(subprocess.Popen([nb, "broker", "--config", conf_path], stdout=boot,
                                          stderr=subprocess.DEVNULL, env=env))
            bs = wait_for(lambda: open(boot.name).readline().strip(), 10)
            if not bs:
                bad("the embedded broker printed no bootstrap address")
                return
            log = open(os.path.join(work, "run.log"), "w+")
            daemon = subprocess.Popen([nb, "run", "--config", conf_path, "--bootstrap", bs],
                                      stdout=subprocess.DEVNULL, stderr=log, env=env)
            procs.append(daemon)
            if wait_for(lambda: daemon.poll() is not None or
                        healthz(port, 1.0)[0] == 200, 30) is not True or daemon.poll() is not None:
                bad("/healthz never answered 200 after start:\n" + open(log.name).read())
                return
            ok("/healthz 200 after start")

            # 1. Loopback only by default.
            addrs = listen_addresses(port)
            if addrs == ["127.0.0.1"]:
                ok(f"port {port} listens on 127.0.0.1 only")
            else:
                bad(f"port {port} listens on {addrs}, want ['127.0.0.1'] by default")

            # 2. Slow clients: connect, half a request line, then nothing.
            start = time.monotonic()
            refused = 0
            for _ in range(ATTACKERS):
                s = socket.socket()
                s.setblocking(False)
                s.bind((ATTACK_SOURCE, 0))
                s.connect_ex(("127.0.0.1", port))
                attackers.append(s)
            for s in attackers:
                _, w, _ = select.select([], [s], [], max(0.0, start + 10 - time.monotonic()))
                try:
                    if not w or s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                        refused += 1
                        continue
                    s.send(b"GET /hea")
                except OSError:
                    refused += 1  # already dropped by the server: that is fine
            print(f"info: {ATTACKERS} slow connections from {ATTACK_SOURCE} opened in "
                  f"{time.monotonic() - start:.2f} s ({refused} not connected)", flush=True)
            probes(port, "during the attack")

            # How many the server still holds open (the rest it closed: the per-IP limit).
            def held():
                n = 0
                for s in attackers:
                    try:
                        r, _, _ = select.select([s], [], [], 0)
                        if not r or s.recv(1, socket.MSG_PEEK):
                            n += 1
                    except OSError:
                        pass
                return n
            print(f"info: {held()} of the slow connections still open", flush=True)

            # 3. They close; the port must stay usable.
            for s in attackers:
                s.close()
            attackers.clear()
            probes(port, "after the attack")
            if daemon.poll() is None:
                ok("the daemon is still running")
            else:
                bad(f"the daemon exited ({daemon.returncode})")
            # libmicrohttpd logs each connection it refuses: a flood of connections must not
            # become a flood of log lines.
            lines = [l for l in open(log.name) if '"module":"http"' in l]
            if len(lines) <= 10:
                ok(f"{len(lines)} log lines from the HTTP server")
            else:
                bad(f"{len(lines)} log lines from the HTTP server, e.g. {lines[-1].strip()}")
        finally:
            for s in attackers:
                s.close()
            for p in procs:
                p.kill()
                p.wait()


if __name__ == "__main__":
    t0 = time.monotonic()
    main()
    print(f"http_slow_clients: {passed} passed, {failed} failed "
          f"({time.monotonic() - t0:.1f} s)")
    sys.exit(0 if failed == 0 and passed > 0 else 1)
