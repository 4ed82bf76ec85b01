#!/usr/bin/env python3
"""`notbrought inbox` signing in and who sees what (issue 23, docs/inbox.md §3), against the
running command (python3, standard library only; openssl makes the test certificates).

Plain HTTP on loopback with a users file and a proxy trusted on 127.0.0.1: sign in with the
right password (303, a new session id, the page shows the user's escaped name, queues and the
open notifications of their queues) and a wrong one (401); the cookie's flags; a POST without
or with a forged CSRF token is 403; sign-out ends the session; five failures of one user make
the next attempt 429 with Retry-After, whatever the password, while another user still signs
in; the address limit likewise; the proxy's header from 127.0.0.1 signs its user in. Then
HTTPS with a test certificate: HSTS, sign-in works, and the proxy header from 127.0.0.1 is
ignored (not signed in, logged) when trusted_proxies does not hold it. Security headers on
every answer; no user id, name or password in the log. A configuration that would serve
passwords over plain HTTP on a public address is refused, and an unknown key in the inbox
section is reported with file:line:column.

Usage: inbox_web.py NOTBROUGHT SOURCE_DIR
"""
import http.client
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import ok, summary, wait_for  # noqa: E402

BIN = os.path.abspath(sys.argv[1])


class Server:
    def __init__(self, work, name, conf, demo=30):
        self.log = os.path.join(work, name + ".log")
        path = os.path.join(work, name + ".yaml")
        with open(path, "w") as f:
            f.write(conf)
        self.logf = open(self.log, "w")
        self.p = subprocess.Popen([BIN, "inbox", "--config", path, "--demo-view", str(demo)],
                                  stdout=subprocess.DEVNULL, stderr=self.logf,
                                  env=dict(os.environ, NB_OPS_LOG_LEVEL="info"))
        m = wait_for(lambda: re.search(r"serving (https?) on \S+ port (\d+)", self.text()))
        if not m:
            raise SystemExit("FAIL: the inbox did not start: " + self.text())
        self.tls = m.group(1) == "https"
        self.port = int(m.group(2))

    def text(self):
        with open(self.log) as f:
            return f.read()

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = -9
        self.logf.close()
        return rc


class Client:
    """One browser: it keeps the session cookie it was given (by name, as a browser would
    for __Host- cookies on a secure origin)."""

    def __init__(self, srv, ctx=None):
        self.srv, self.ctx, self.cookie = srv, ctx, None

    def req(self, method, path, body=None, headers=None, cookie=True):
        if self.srv.tls:
            c = http.client.HTTPSConnection("127.0.0.1", self.srv.port, context=self.ctx,
                                            timeout=30)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        h = dict(headers or {})
        if cookie and self.cookie:
            h["Cookie"] = "__Host-nb_session=" + self.cookie
        if body is not None:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        text = r.read().decode("utf-8")
        c.close()
        sc = r.getheader("Set-Cookie")
        if sc:
            m = re.match(r"__Host-nb_session=([0-9a-f]*);", sc)
            if m:
                self.cookie = m.group(1) or None
        return r, text

    def csrf(self):
        r, text = self.req("GET", "/signin")
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', text)
        return m.group(1) if m else ""

    def signin(self, user, password, token=None):
        from urllib.parse import urlencode
        t = self.csrf() if token is None else token
        return self.req("POST", "/signin", urlencode({"csrf": t, "user": user,
                                                      "password": password}))


SECURITY = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def headers_ok(r, tls):
    for k, v in SECURITY.items():
        if v not in (r.getheader(k) or ""):
            return False
    return (r.getheader("Strict-Transport-Security") is not None) == tls


def plain_http(work, users):
    srv = Server(work, "plain", f"""inbox:
  bind: 127.0.0.1
  port: 0
  auth:
    users_file: {users}
    max_failures_per_user: 5
    max_failures_per_address: 9
    proxy:
      user_header: X-Nb-User
      name_header: X-Nb-Name
      trusted_proxies: [127.0.0.1/32]
""")
    b = Client(srv)
    r, _ = b.req("GET", "/")
    ok(r.status == 303 and r.getheader("Location") == "/signin", "GET / signed out: 303 to /signin")
    ok(headers_ok(r, False), "security headers on a redirect, no HSTS on plain HTTP")
    r, text = b.req("GET", "/signin")
    sc = r.getheader("Set-Cookie") or ""
    ok(r.status == 200 and '<label for="password">' in text, "GET /signin: a labelled form")
    ok(all(f in sc for f in ("__Host-nb_session=", "; Path=/", "; Secure", "; HttpOnly",
                             "; SameSite=Strict")) and "Domain" not in sc,
       "the session cookie: __Host-, Path=/, Secure, HttpOnly, SameSite=Strict: " + sc)
    before = b.cookie
    r, _ = b.signin("hv.jones", "correct horse battery")
    ok(r.status == 303 and r.getheader("Location") == "/", "the right password: 303 to /")
    ok(b.cookie and b.cookie != before, "signing in gives a new session id")
    r, text = b.req("GET", "/")
    ok(r.status == 200 and "Sam &lt;Jones&gt;" in text and "<Jones>" not in text,
       "the page shows the user's name, escaped")
    ok("queue:cav-health-visiting-duty" in text and "Open notifications (10)" in text,
       "the page shows the user's queue and its 10 of the 30 notifications")
    ok(headers_ok(r, False) and r.getheader("Cache-Control") == "no-store",
       "security headers and no-store on the page")
    old = Client(srv)
    old.cookie = before
    r, _ = old.req("GET", "/")
    ok(r.status == 303, "the session id from before signing in is worth nothing after")

    w = Client(srv)
    r, text = w.signin("hv.jones", "wrong horse")
    ok(r.status == 401 and "not right" in text, "a wrong password: 401")
    r, _ = w.req("GET", "/")
    ok(r.status == 303, "after a wrong password: not signed in")

    f = Client(srv)
    token = f.csrf()
    r, _ = f.req("POST", "/signin", "user=hv.jones&password=correct+horse+battery")
    ok(r.status == 403, "POST /signin without a CSRF token: 403")
    r, _ = f.signin("hv.jones", "correct horse battery", token="0" * 64)
    ok(r.status == 403, "POST /signin with a forged CSRF token: 403")
    r, _ = b.req("POST", "/signout", "csrf=" + "a" * 64)
    ok(r.status == 403, "POST /signout with a forged CSRF token: 403")
    r, _ = b.req("POST", "/signout", "")
    ok(r.status == 403, "POST /signout without a CSRF token: 403")
    r, text = b.req("GET", "/")
    ok(r.status == 200, "the refused sign-outs left the session alone")
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', text).group(1)
    kept = b.cookie
    r, _ = b.req("POST", "/signout", "csrf=" + token)
    ok(r.status == 200 and "Max-Age=0" in (r.getheader("Set-Cookie") or ""),
       "sign-out: 200 and the cookie deleted")
    b.cookie = kept
    r, _ = b.req("GET", "/")
    ok(r.status == 303, "the signed-out session id no longer signs in")

    # Five failures of hv.smith: the sixth attempt is refused even with the right password.
    s = Client(srv)
    codes = [s.signin("hv.smith", "nope %d" % i)[0].status for i in range(5)]
    ok(codes == [401] * 5, "five wrong passwords of one user: 401 each: %s" % codes)
    r, _ = s.signin("hv.smith", "smith's password")
    ra = r.getheader("Retry-After") or ""
    ok(r.status == 429 and ra.isdigit() and 0 < int(ra) <= 900,
       "the sixth attempt: 429 with Retry-After %s, whatever the password" % ra)
    ok(headers_ok(r, False), "security headers on the 429")
    r, _ = Client(srv).signin("hv.jones", "correct horse battery")
    ok(r.status == 303, "another user still signs in from the same address")

    # The proxy's header from 127.0.0.1, which is trusted here.
    p = Client(srv)
    r, text = p.req("GET", "/", headers={"X-Nb-User": "proxy.user", "X-Nb-Name": "Pat <Proxy>"})
    ok(r.status == 200 and "Pat &lt;Proxy&gt;" in text and "queue:cav-school-nursing" in text,
       "the proxy's header from a trusted address signs its user in, with the users file's "
       "queues")
    r, _ = p.req("GET", "/")
    ok(r.status == 303, "without the proxy's header its session is not honoured")

    # The address limit: 6 failures so far from 127.0.0.1 (one wrong password, five of
    # hv.smith; refused CSRF tokens and 429s are not attempts); three more reach its 9, and
    # then everyone from here is refused.
    for i in range(3):
        Client(srv).signin("nobody.%d" % i, "x")
    r, _ = Client(srv).signin("hv.jones", "correct horse battery")
    ok(r.status == 429, "past the address's limit, even the right password: 429")

    log = srv.text()
    rc = srv.stop()
    ok(rc == 0, "SIGTERM stops it (0)")
    ok(not any(s in log for s in ("hv.jones", "hv.smith", "correct horse", "Sam", "Pat",
                                  "proxy.user", "wrong horse")),
       "no user id, name or password in the log")
    return log


def tls(work, users):
    subprocess.run(
        "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
        "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=nb-test-ca && "
        "printf 'subjectAltName=IP:127.0.0.1\\n' >san.ext && "
        "openssl req $K -keyout server.key -out server.csr -subj /CN=nb-test-server && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-extfile san.ext -out server.pem -days 2",
        shell=True, cwd=work, check=True, capture_output=True)
    srv = Server(work, "tls", f"""inbox:
  port: 0
  tls: {{cert: {work}/server.pem, key: {work}/server.key}}
  auth:
    users_file: {users}
    proxy: {{user_header: X-Nb-User, trusted_proxies: [10.0.0.0/8]}}
""")
    ok(srv.tls, "served over HTTPS")
    ctx = ssl.create_default_context(cafile=os.path.join(work, "ca.pem"))
    b = Client(srv, ctx)
    r, _ = b.req("GET", "/signin")
    ok(r.status == 200 and headers_ok(r, True)
       and "max-age=" in (r.getheader("Strict-Transport-Security") or ""),
       "HTTPS: security headers with HSTS")
    r, _ = b.signin("hv.jones", "correct horse battery")
    ok(r.status == 303, "HTTPS: the right password signs in")
    r, text = b.req("GET", "/")
    ok(r.status == 200 and "Open notifications (10)" in text, "HTTPS: the inbox page")
    r, _ = Client(srv, ctx).req("GET", "/", headers={"X-Nb-User": "hv.jones"})
    ok(r.status == 303, "the proxy header from 127.0.0.1, not in trusted_proxies: ignored")
    ok(wait_for(lambda: "not in inbox.auth.proxy.trusted_proxies" in srv.text(), 10),
       "the ignored header is logged")
    try:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("GET", "/signin")
        plain = c.getresponse().status
    except Exception:
        plain = 0
    ok(plain not in (200, 303), "plain HTTP to the HTTPS port gets no page")
    log = srv.text()
    ok(srv.stop() == 0, "SIGTERM stops it (0)")
    ok("hv.jones" not in log, "the spoofed user id is not in the log")


def refused(work, users):
    bad = os.path.join(work, "bad.yaml")
    with open(bad, "w") as f:
        f.write(f"inbox:\n  bind: 0.0.0.0\n  auth:\n    users_file: {users}\n"
                "    proxy:\n      trusted: [10.0.0.0/8]\n")
    p = subprocess.run([BIN, "inbox", "--config", bad, "--check-config"], capture_output=True,
                       text=True)
    ok(p.returncode == 1 and f"{bad}:6:7: unknown key 'inbox.auth.proxy.trusted'" in p.stderr,
       "an unknown key of the inbox section: file:line:column: " + p.stderr.strip())
    with open(bad, "w") as f:
        f.write(f"inbox:\n  bind: 0.0.0.0\n  auth:\n    users_file: {users}\n")
    p = subprocess.run([BIN, "inbox", "--config", bad, "--check-config"], capture_output=True,
                       text=True)
    ok(p.returncode == 1 and "plain HTTP on 0.0.0.0" in p.stderr,
       "plain HTTP on a public address without the proxy: refused")


def main():
    work = tempfile.mkdtemp()
    try:
        def hash_of(pw):
            p = subprocess.run([BIN, "inbox", "passwd"], input=pw + "\n", capture_output=True,
                               text=True)
            ok(p.returncode == 0 and p.stdout.startswith("$argon2id$"),
               "inbox passwd prints an Argon2id hash")
            return p.stdout.strip()
        users = os.path.join(work, "users.yaml")
        with open(users, "w") as f:
            f.write(f"""users:
  - id: hv.jones
    name: Sam <Jones>
    queues: [queue:cav-health-visiting-duty]
    password_hash: "{hash_of('correct horse battery')}"
  - id: hv.smith
    name: Alex Smith
    queues: [queue:cav-health-visiting-duty]
    password_hash: "{hash_of("smith's password")}"
  - id: proxy.user
    name: From The File
    queues: [queue:cav-school-nursing]
""")
        plain_http(work, users)
        tls(work, users)
        refused(work, users)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(summary("inbox_web"))


if __name__ == "__main__":
    main()
