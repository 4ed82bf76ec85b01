#!/usr/bin/env python3
"""Receivers for tests/cli/dispatch.sh (notbrought dispatch): a webhook (http.server) and a
minimal SMTP server (socketserver), Python's standard library only.

The webhook verifies every request as docs/inbox.md §4 tells a receiver to: the HMAC-SHA256
of "<t>.<body>" with the shared secret, compared in constant time, and t within five minutes.
What it answers depends on the mode file (read on each request):
  fail    500 to every request (the dispatcher must retry, and commit nothing)
  once    500 to the first request of each Idempotency-Key in this mode, then 200
  ok      200
/refuse always answers 400 (a permanent refusal). A repeated key is answered 200 and logged
as a repeat (a receiver drops it by its key).

Each request and each mail is a JSON line in LOG. With CERT and KEY (PEM) the same webhook is
also served over HTTPS, and the SMTP server offers STARTTLS (requests and mails logged with
"tls": true). Usage:
  dispatch_receiver.py LOG MODEFILE SECRET [CERT KEY]
      -> prints "HTTP_PORT SMTP_PORT [HTTPS_PORT]" on stdout
"""
import hashlib
import hmac
import http.server
import json
import socketserver
import ssl
import sys
import threading
import time

log_path, mode_path, secret = sys.argv[1], sys.argv[2], sys.argv[3].encode()
lock = threading.Lock()
seen_once = set()


def write(entry):
    with lock, open(log_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def verify(header, body):
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts.get("t", ""))
    except ValueError:
        return False
    want = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    ok = any(hmac.compare_digest(want, v.split("=", 1)[1])
             for v in header.split(",") if v.startswith("v1="))
    return ok and abs(time.time() - t) <= 300


class Hook(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        key = self.headers.get("Idempotency-Key", "")
        sig_ok = verify(self.headers.get("X-Notbrought-Signature", ""), body)
        with open(mode_path, encoding="utf-8") as f:
            mode = f.read().strip()
        if self.path == "/refuse":
            status = 400
        elif not sig_ok:
            status = 401
        elif mode == "fail":
            status = 500
        elif mode == "once" and key not in seen_once:
            seen_once.add(key)
            status = 500
        else:
            status = 200
        write({"channel": "webhook", "path": self.path, "key": key, "sig_ok": sig_ok,
               "status": status, "body": body.decode("utf-8", "replace"),
               "tls": isinstance(self.connection, ssl.SSLSocket)})
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for libcurl: EHLO, STARTTLS (when a certificate is given), MAIL,
    RCPT, DATA, QUIT."""

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reply("220 test ESMTP")
        rcpt = []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("ascii", "replace").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                if tls_ctx and not isinstance(self.connection, ssl.SSLSocket):
                    self.reply("250-test")
                    self.reply("250 STARTTLS")
                else:
                    self.reply("250 test")
            elif verb == "STARTTLS" and tls_ctx:
                self.reply("220 go ahead")
                try:
                    self.connection = tls_ctx.wrap_socket(self.connection, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client did not trust us: nothing is delivered
                self.rfile = self.connection.makefile("rb")
                self.wfile = self.connection.makefile("wb")
            elif verb == "MAIL":
                rcpt = []
                self.reply("250 ok")
            elif verb == "RCPT":
                rcpt.append(cmd.split(":", 1)[1].strip())
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                data = b""
                while not data.endswith(b"\r\n.\r\n"):
                    chunk = self.rfile.readline()
                    if not chunk:
                        return
                    data += chunk
                write({"channel": "email", "rcpt": rcpt,
                       "message": data[:-5].decode("utf-8", "replace"),
                       "tls": isinstance(self.connection, ssl.SSLSocket)})
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class ThreadedSmtp(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


tls_ctx = None
if len(sys.argv) > 5:
    tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_ctx.load_cert_chain(sys.argv[4], sys.argv[5])
hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
smtp = ThreadedSmtp(("127.0.0.1", 0), Smtp)
threading.Thread(target=smtp.serve_forever, daemon=True).start()
ports = [hook.server_address[1], smtp.server_address[1]]
if tls_ctx:
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    tls.socket = tls_ctx.wrap_socket(tls.socket, server_side=True)
    threading.Thread(target=tls.serve_forever, daemon=True).start()
    ports.append(tls.server_address[1])
print(*ports, flush=True)
hook.serve_forever()
