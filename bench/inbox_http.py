#!/usr/bin/env python3
"""The inbox's pages with many open notifications (issue 23: a page in well under a second,
at most 1 KB of memory per open notification), measured on the running command.

Starts `notbrought inbox --demo-view N` (N made-up open notifications over three queues, no
Kafka) and, for comparison, with none; the difference of their resident sets is the view's
memory. Signs in as a user of one queue (a third of them) and times GET / (the 200 most urgent
of the queue, sorted out of all of them) over HTTP, as a browser would fetch it.

Usage: inbox_http.py NOTBROUGHT [N] [ROUNDS]. Prints one JSON line per measure.
"""
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 20


def start(work, demo, users):
    conf = os.path.join(work, f"inbox-{demo}.yaml")
    with open(conf, "w") as f:
        f.write(f"inbox:\n  bind: 127.0.0.1\n  port: 0\n  auth:\n    users_file: {users}\n")
    log = os.path.join(work, f"inbox-{demo}.log")
    p = subprocess.Popen([BIN, "inbox", "--config", conf, "--demo-view", str(demo)],
                         stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                         env=dict(os.environ, NB_OPS_LOG_LEVEL="info"))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        m = re.search(r"serving http on \S+ port (\d+)", open(log).read())
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit("the inbox did not start: " + open(log).read())


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def sign_in(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/signin")
    r = c.getresponse()
    body = r.read().decode()
    cookie = re.search(r"(__Host-nb_session=[0-9a-f]+)", r.getheader("Set-Cookie")).group(1)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', body).group(1)
    c.request("POST", "/signin", body=f"csrf={csrf}&user=bench&password=bench-password-1",
              headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    cookie = re.search(r"(__Host-nb_session=[0-9a-f]+)", r.getheader("Set-Cookie") or cookie).group(1)
    return c, cookie


def main():
    work = tempfile.mkdtemp(prefix="nb-inbox-bench-")
    h = subprocess.run([BIN, "inbox", "passwd"], input="bench-password-1\n", capture_output=True,
                       text=True, check=True).stdout.strip()
    users = os.path.join(work, "users.yaml")
    with open(users, "w") as f:
        f.write(f'users:\n  - id: bench\n    name: Bench\n    queues: '
                f'[queue:cav-health-visiting-duty]\n    password_hash: "{h}"\n')
    empty, _ = start(work, 1, users)  # one: --demo-view 0 would read Kafka
    time.sleep(0.5)  # let the empty process settle before its size is read
    base = rss_kb(empty.pid)
    empty.terminate()
    empty.wait()
    p, port = start(work, N, users)
    try:
        full = rss_kb(p.pid)
        print(json.dumps({"bench": "inbox_http_memory", "notifications": N,
                          "rss_kb_empty": base, "rss_kb": full,
                          "bytes_per_open_notification": round((full - base) * 1024 / (N - 1))}))
        c, cookie = sign_in(port)
        times, size, rows = [], 0, 0
        for _ in range(ROUNDS):
            t = time.perf_counter()
            c.request("GET", "/", headers={"Cookie": cookie})
            r = c.getresponse()
            body = r.read()
            times.append(time.perf_counter() - t)
            if r.status != 200:
                raise SystemExit(f"GET / answered {r.status}")
            size = len(body)
            rows = body.count(b"<tr><th scope=\"row\">")
        total = re.search(rb"Open notifications \((\d+)\)", body)
        print(json.dumps({"bench": "inbox_http_page", "notifications": N,
                          "in_queue": int(total.group(1)) if total else None, "rows": rows,
                          "bytes": size, "rounds": ROUNDS,
                          "median_ms": round(statistics.median(times) * 1e3, 2),
                          "worst_ms": round(max(times) * 1e3, 2)}))
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()
