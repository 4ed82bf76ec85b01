#!/usr/bin/env python3
"""The safeguarding inbox in a real browser (issue 23, docs/inbox.md): Debian's chromium,
headless, driven by Selenium, against `notbrought inbox` reading what the daemon published on
the embedded broker.

The daemon runs over synthetic events (`notbrought generate`) until its notifications settle.
What each user should see is worked out here from the notifications topic as `notbrought
consume` prints it (open: not withdrawn; a notification's queues: the routes of every record
of it). Then, in the browser:
- signed out, the inbox sends to the sign-in page, which passes axe-core's WCAG 2.2 A/AA
  checks, and whose first Tab stop is the skip link;
- a wrong password is refused with a message and no session;
- a health visitor signs in and sees exactly the open notifications of her queue, most urgent
  first (the tiers never rise down the table), and the page passes axe-core;
- a forged CSRF token on sign-out is refused (403) and she stays signed in; signing out ends it;
- a GP safeguarding lead sees exactly those of his queue, none of hers that are not also his.

Usage: inbox_signin.py NOTBROUGHT SOURCE_DIR. Prints `inbox_signin: N passed, N failed` last.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(sys.argv[2])
CFG = os.path.join(ROOT, "config", "notbrought.yaml")
HV, GP = "queue:cav-health-visiting-duty", "queue:gp-practice-safeguarding-lead"
TIERS = {"curiosity": 0, "routine": 1, "priority": 2, "urgent": 3}
passed = failed = 0
procs = []


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok:", what)
    else:
        failed += 1
        print("FAIL:", what)
    return cond


def wait_for(pred, timeout=60.0, step=0.2):
    """Polls pred until it is true or the deadline passes (a condition, not a sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def start(args, log, env=None):
    f = open(log, "w")
    p = subprocess.Popen([BIN] + args, stdout=subprocess.PIPE if "broker" in args else f,
                         stderr=f, env=dict(os.environ, **(env or {})), cwd=ROOT)
    procs.append(p)
    return p


def consume(bs):
    out = subprocess.run([BIN, "consume", "--config", CFG, "--bootstrap", bs, "--format", "json",
                          "--to-end"], capture_output=True, text=True, cwd=ROOT, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def expected(notes, queue):
    """The references a user of this queue should see, and each one's tier (after escalations)."""
    by_base = {}
    for n in notes:
        if n["kind"] == "digest":
            continue
        base = n.get("supersedes") if n["kind"] in ("escalated", "withdrawn", "reminder") else None
        e = by_base.setdefault(base or n["notification_id"],
                               {"queues": set(), "withdrawn": False, "ref": None, "tier": None})
        e["queues"].update(r["route"] for r in n.get("recipients", []))
        e["withdrawn"] |= n["kind"] == "withdrawn"
        if n["kind"] in ("new", "escalated"):
            e["ref"] = n["reference"]
            e["tier"] = n["tier"]
    return {e["ref"]: e["tier"] for e in by_base.values()
            if not e["withdrawn"] and queue in e["queues"] and e["ref"]}


def shown(d):
    """The references and tiers in the inbox's table, in order."""
    rows = d.find_elements(By.CSS_SELECTOR, "table tbody tr")
    out = []
    for r in rows:
        ref = r.find_element(By.CSS_SELECTOR, "th").text.strip()
        tier = r.find_elements(By.CSS_SELECTOR, "td")[0].text.strip()
        out.append((ref, tier))
    return out


def sign_in(d, base, user, password):
    d.get(base + "/signin")
    d.find_element(By.ID, "user").send_keys(user)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "form[action='/signin'] button[type=submit]").click()


def settle_daemon(bs, work):
    """Runs the daemon until its notifications stop changing; returns them."""
    env = {"NB_HMAC_KEY": "browser-test-hmac-key-0123456789",
           "NB_PROCESSING_WATERMARK_IDLE_MS": "1000", "NB_OPS_LOG_LEVEL": "warn"}
    run = start(["run", "--config", CFG, "--bootstrap", bs], os.path.join(work, "run.log"), env)
    last, stable = -1, 0

    def settled():
        nonlocal last, stable
        if run.poll() is not None:
            raise SystemExit("FAIL: the daemon stopped: " + open(os.path.join(work, "run.log")).read())
        n = len(consume(bs))
        stable = stable + 1 if n > 0 and n == last else 0
        last = n
        return stable >= 2
    ok(wait_for(settled, timeout=120, step=1.0), "the daemon's notifications settle")
    run.terminate()
    run.wait(timeout=30)
    return consume(bs)


def main():
    work = tempfile.mkdtemp(prefix="nb-browser-")
    d = None
    try:
        broker = start(["broker", "--config", CFG], os.path.join(work, "broker.log"),
                       {"NB_HMAC_KEY": "browser-test-hmac-key-0123456789"})
        bs = broker.stdout.readline().decode().strip()
        ok(bool(bs), "the embedded broker started")
        events = os.path.join(work, "events.jsonl")
        subprocess.run([BIN, "generate", "--children", "200", "--seed", "11", "--missed-share",
                        "0.3", "--output", events], check=True, cwd=ROOT, capture_output=True)
        subprocess.run([BIN, "produce", "--config", CFG, "--bootstrap", bs, events], check=True,
                       cwd=ROOT, capture_output=True)
        notes = settle_daemon(bs, work)
        want_hv, want_gp = expected(notes, HV), expected(notes, GP)
        ok(len(want_hv) > 0 and len(want_gp) > 0,
           f"the daemon raised notifications for both queues ({len(want_hv)} and {len(want_gp)})")

        def hash_of(pw):
            return subprocess.run([BIN, "inbox", "passwd"], input=pw + "\n", capture_output=True,
                                  text=True, check=True).stdout.strip()
        users = os.path.join(work, "users.yaml")
        with open(users, "w") as f:
            f.write(f"""users:
  - id: hv.jones
    name: Sam Jones
    queues: [{HV}]
    password_hash: "{hash_of('correct horse battery')}"
  - id: gp.lead
    name: Dr Ali Khan
    queues: [{GP}]
    password_hash: "{hash_of('another long phrase')}"
""")
        conf = os.path.join(work, "inbox.yaml")
        with open(CFG) as src, open(conf, "w") as f:
            f.write(src.read() + f"inbox:\n  bind: 127.0.0.1\n  port: 0\n  auth:\n"
                    f"    users_file: {users}\n")
        log = os.path.join(work, "inbox.log")
        start(["inbox", "--config", conf, "--bootstrap", bs], log, {"NB_OPS_LOG_LEVEL": "info"})
        m = wait_for(lambda: re.search(r"serving http on \S+ port (\d+)", open(log).read()))
        if not ok(m, "the inbox serves"):
            raise SystemExit(open(log).read())
        base = f"http://127.0.0.1:{m.group(1)}"
        ok(wait_for(lambda: "read the topics to their end" in open(log).read()),
           "the inbox's view has read the topics")

        d = browser.start()
        d.get(base + "/")
        ok(d.current_url.endswith("/signin"), "signed out, the inbox sends to the sign-in page")
        v = browser.axe(d)
        ok(not v, "the sign-in page passes axe-core (WCAG 2.2 A/AA)" + (
            "\n" + browser.describe(v) if v else ""))
        d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        first = d.switch_to.active_element
        ok(first.tag_name == "a" and first.get_attribute("href").endswith("#main"),
           "the first Tab stop is the skip link")

        sign_in(d, base, "hv.jones", "wrong password")
        ok(d.current_url.endswith("/signin") and "Sign in" in d.title and
           d.find_elements(By.ID, "password"), "a wrong password is refused: still signed out")
        ok(re.search(r"not|wrong|incorrect", d.find_element(By.TAG_NAME, "main").text, re.I),
           "a wrong password: the page says so")

        sign_in(d, base, "hv.jones", "correct horse battery")
        def page_holds(n):
            if len(shown(d)) == n:
                return True
            d.refresh()  # the view may still be reading: look again
            return False
        wait_for(lambda: page_holds(len(want_hv)), timeout=30)
        rows = shown(d)
        ok({r for r, _ in rows} == set(want_hv),
           f"the health visitor sees exactly her queue's open notifications ({len(rows)})")
        ranks = [TIERS.get(t, -1) for _, t in rows]
        ok(all(a >= b for a, b in zip(ranks, ranks[1:])), "most urgent first")
        ok(all(want_hv.get(r) == t for r, t in rows), "each with its tier after escalations")
        v = browser.axe(d)
        ok(not v, "the inbox page passes axe-core (WCAG 2.2 A/AA)" + (
            "\n" + browser.describe(v) if v else ""))

        d.execute_script("document.querySelector(\"form[action='/signout'] input[name=csrf]\")"
                         ".value = '0'.repeat(64);")
        d.find_element(By.CSS_SELECTOR, "form[action='/signout'] button").click()
        browser.wait_for(d, lambda dr: "Inbox" not in dr.title, what="the answer to the form")
        ok("Refused" in d.title and "did not come from this inbox" in d.page_source,
           "a forged CSRF token on sign-out is refused")
        d.get(base + "/")
        ok(not d.current_url.endswith("/signin") and shown(d), "and she is still signed in")
        d.find_element(By.CSS_SELECTOR, "form[action='/signout'] button").click()
        ok(browser.wait_for(d, lambda dr: "Signed out" in dr.title, what="the signed-out page"),
           "signing out: the page says so")
        d.get(base + "/")
        ok(d.current_url.endswith("/signin"), "signing out ends the session")

        sign_in(d, base, "gp.lead", "another long phrase")
        rows = {r for r, _ in shown(d)}
        ok(rows == set(want_gp), f"the GP safeguarding lead sees exactly his queue's ({len(rows)})")
        only_hv = set(want_hv) - set(want_gp)
        ok(only_hv and not rows & only_hv,
           f"and none of the {len(only_hv)} that are only the health visitor's")
    finally:
        if d:
            d.quit()
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"inbox_signin: {passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
