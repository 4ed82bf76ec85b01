#!/usr/bin/env python3
"""The safeguarding inbox in a real browser (issue 23, docs/inbox.md): Debian's chromium,
headless, driven by Selenium, against `notbrought inbox` reading what the daemon published on
the embedded broker.

The daemon runs over synthetic events (`notbrought generate`) until its notifications settle.
What each user should see is worked out here from the notifications topic as `notbrought
consume` prints it (open: not withdrawn; a notification's queues: the routes of every record
of it). Then, in the browser:
- two inbox instances read the same topics; this host is the authenticating proxy of the first
  only: its user header signs a user in there, and is ignored by the second (a spoofed header);
- signed out, the inbox sends to the sign-in page, which passes axe-core's WCAG 2.2 A/AA
  checks, and whose first Tab stop is the skip link;
- a wrong password is refused with a message and no session;
- a health visitor signs in and sees exactly the open notifications of her queue, most urgent
  first (the tiers never rise down the table), and the page passes axe-core and does not
  scroll sideways on a phone's width; her queue's row in the table of queues counts them and
  links to that queue's own list, which holds the same in the same order;
- a forged CSRF token on sign-out is refused (403) and she stays signed in; signing out ends it;
- she opens the most urgent one: its reason, the child's NHS number, every piece of evidence
  with its appointment id, the action and its escalation ladder (a table, rung by rung) are on
  the page, which passes axe-core; the view is one audit record (who, which notification)
  holding no NHS number;
- two people at once, on two inbox instances: she takes it (shown at once as sent, then
  recorded by the daemon); a colleague in the same queue, on the other instance, sees who has
  it, and his later take is refused with her name;
- closing with "no further action" and no reason is refused by the form; closing with what was
  done closes it: the daemon audits 'closed' with the action (never the note), the page lists
  what happened in order (raised, her take, his refused take, her close), and it leaves her
  list;
- she reassigns a notification only her team had to the GP lead's queue, with a reason;
- a GP safeguarding lead then sees exactly those of his queue (the reassigned one included),
  none of hers that are not also his; he finds the reassigned one by its reference written in
  lower case with spaces, finds nothing for one of hers, and cannot open one of hers by its
  address.

Usage: inbox_signin.py NOTBROUGHT SOURCE_DIR. Prints `inbox_signin: N passed, N failed` last.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
import browser  # noqa: E402
from checks import ok, summary, wait_for  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(sys.argv[2])
CFG = os.path.join(ROOT, "config", "notbrought.yaml")
HV, GP = "queue:cav-health-visiting-duty", "queue:gp-practice-safeguarding-lead"
TIERS = {"curiosity": 0, "routine": 1, "priority": 2, "urgent": 3}
procs = []


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


def audit_records(bs):
    """The audit topic's AuditRecords, decoded: `consume --topic notbrought.audit`."""
    out = subprocess.run([BIN, "consume", "--config", CFG, "--bootstrap", bs, "--topic",
                          "notbrought.audit", "--format", "json", "--to-end"],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def audit_bytes(bs):
    """The audit topic's values as bytes, undecoded: `consume --format records`."""
    out = subprocess.run([BIN, "consume", "--config", CFG, "--bootstrap", bs, "--topic",
                          "notbrought.audit", "--format", "records", "--to-end"],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    return [base64.b64decode(json.loads(line)["value"])
            for line in out.stdout.splitlines() if line.strip()]


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
    """The references and tiers in the inbox's list of notifications, in order."""
    rows = d.find_elements(By.CSS_SELECTOR, "#notifications tbody tr")
    out = []
    for r in rows:
        ref = r.find_element(By.CSS_SELECTOR, "th").text.strip()
        tier = r.find_elements(By.CSS_SELECTOR, "td")[0].text.strip()
        out.append((ref, tier))
    return out


def submit(d, button):
    """Clicks a form's button and waits for the answer's page to replace this one."""
    old = d.find_element(By.TAG_NAME, "html")
    button.click()
    browser.wait_for(d, browser.gone(old), what="the answer to the form")


def state_line(d):
    """The notification page's State line."""
    for dt in d.find_elements(By.CSS_SELECTOR, "dl dt"):
        if dt.text.strip() == "State":
            return dt.find_element(By.XPATH, "following-sibling::dd[1]").text
    return ""


def reload_until(d, pred, timeout=30):
    """Reloads the page until pred(d) holds (the daemon decides in its own time)."""
    def check():
        if pred(d):
            return True
        d.refresh()
        return False
    return wait_for(check, timeout=timeout, step=0.3)


def sign_in(d, base, user, password):
    d.get(base + "/signin")
    d.find_element(By.ID, "user").send_keys(user)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "form[action='/signin'] button[type=submit]").click()
    # The answer: the inbox, or the sign-in page again with why (never the old page).
    browser.wait_for(d, lambda dr: dr.find_elements(By.ID, "signin-error") or
                     not dr.current_url.endswith("/signin"), what="the answer to signing in")


def settle_daemon(bs, work):
    """Starts the daemon and waits until its notifications stop changing; returns them (the
    daemon goes on running: it decides what people do in the inbox)."""
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
        subprocess.run([BIN, "generate", "--children", "300", "--seed", "11", "--missed-share",
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
  - id: hv.smith
    name: Alex Smith
    queues: [{HV}]
    password_hash: "{hash_of('a colleague phrase')}"
  - id: gp.lead
    name: Dr Ali Khan
    queues: [{GP}]
    password_hash: "{hash_of('another long phrase')}"
""")
        def inbox(name, proxies):
            """An inbox instance whose proxy header is honoured from @proxies only."""
            conf = os.path.join(work, name + ".yaml")
            with open(CFG) as src, open(conf, "w") as f:
                f.write(src.read() + f"inbox:\n  bind: 127.0.0.1\n  port: 0\n  auth:\n"
                        f"    users_file: {users}\n    proxy:\n      user_header: X-Nb-User\n"
                        f"      trusted_proxies: [{proxies}]\n")
            log = os.path.join(work, name + ".log")
            start(["inbox", "--config", conf, "--bootstrap", bs], log,
                  {"NB_OPS_LOG_LEVEL": "info"})
            m = wait_for(lambda: re.search(r"serving http on \S+ port (\d+)", open(log).read()))
            if not ok(m, f"the inbox {name} serves"):
                raise SystemExit(open(log).read())
            ok(wait_for(lambda: "read the topics to their end" in open(log).read()),
               f"the inbox {name}'s view has read the topics")
            return f"http://127.0.0.1:{m.group(1)}"
        # Two instances: this host is the authenticating proxy of the first, not of the second.
        base = inbox("inbox-a", "127.0.0.1/32")
        base_b = inbox("inbox-b", "10.20.0.0/16")

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

        # Signed in by the proxy's header (what an NHS CIS2 proxy sends), from the proxy...
        d.execute_cdp_cmd("Network.enable", {})
        d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-Nb-User": "hv.smith"}})
        d.get(base + "/")
        ok("Alex Smith" in d.find_element(By.TAG_NAME, "main").text,
           "the proxy's header signs its user in, from the proxy's address")
        # ... and refused from an address that is not the proxy's: a spoofed header.
        d.get(base_b + "/")
        ok(d.current_url.endswith("/signin"), "a spoofed proxy header from elsewhere is ignored")
        d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
        d.delete_all_cookies()

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
        top = max(TIERS.get(t, -1) for t in want_hv.values())
        overdue = d.find_elements(
            By.XPATH, "//table[@id='notifications']/tbody/tr[1]/td[3][contains(., 'overdue')]")
        any_overdue_top = any(TIERS.get(t) == top and "overdue" in
                              r.find_elements(By.CSS_SELECTOR, "td")[2].text
                              for (ref, t), r in zip(rows, d.find_elements(
                                  By.CSS_SELECTOR, "#notifications tbody tr")))
        ok(ranks[0] == top and (bool(overdue) or not any_overdue_top),
           "at the top: the most urgent tier, and its most overdue when one is overdue")
        ok(all(want_hv.get(r) == t for r, t in rows), "each with its tier after escalations")
        v = browser.axe(d)
        ok(not v, "the inbox page passes axe-core (WCAG 2.2 A/AA)" + (
            "\n" + browser.describe(v) if v else ""))
        # On a phone's width the page reflows: nothing wider than the screen but the table,
        # which scrolls on its own (WCAG 2.2 1.4.10).
        d.set_window_size(375, 812)
        d.refresh()
        ok(d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"),
           "on a phone's width the inbox page does not scroll sideways")
        d.set_window_size(1280, 900)
        # Her queue's row counts its open notifications and links to its own list: the same.
        qrow = d.find_element(By.CSS_SELECTOR, "#queues tbody tr")
        ok(qrow.find_element(By.CSS_SELECTOR, "th").text.strip() == HV and
           qrow.find_elements(By.CSS_SELECTOR, "td")[0].text.strip() == str(len(want_hv)),
           "her queue's row in the table of queues counts its open notifications")
        qrow.find_element(By.LINK_TEXT, HV).click()
        browser.wait_for(d, lambda dr: "?queue=" in dr.current_url, what="her queue's own list")
        ok(shown(d) == rows, "her queue's own list holds the same notifications, in order")

        # The most urgent notification's page: what the record says, its access recorded.
        first_ref = rows[0][0]
        d.find_element(By.LINK_TEXT, first_ref).click()
        browser.wait_for(d, lambda dr: first_ref in dr.title, what="the notification's page")
        rec = next(n for n in notes if n["reference"] == first_ref and n["kind"] == "new")
        main = d.find_element(By.TAG_NAME, "main").text
        ok(first_ref in d.find_element(By.TAG_NAME, "h1").text and rec["rule"]["text"] in main,
           "the notification's page: its reference and why")
        nhs = (rec["child"].get("nhs_number") or "")
        ok(not nhs or f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}" in main, "the child's NHS number")
        ev = d.find_elements(By.XPATH, "//h2[normalize-space()='Evidence']"
                                       "/following-sibling::table[1]/tbody/tr")
        ok(len(ev) == len(rec["evidence"]) and all(
            e["appointment_id"] in main for e in rec["evidence"]
            if not e["appointment_id"].startswith("sha256:")),
           f"the evidence, with each service's appointment id ({len(ev)})")
        ok(rec["action"] in main, "what to do")
        nxt = d.find_element(By.XPATH, "//h2[normalize-space()='What happens next']"
                                       "/following-sibling::p[1]").text
        ok("will be told" in nxt or "no further step" in nxt,
           "what happens next: who is told if nobody acts, or that the ladder ends: " + nxt)
        ladder = d.find_elements(By.CSS_SELECTOR, "table#ladder")
        ok(len(ladder) == 1 and ladder[0].find_element(By.TAG_NAME, "caption").text and
           ladder[0].find_elements(By.CSS_SELECTOR, "tbody tr > th[scope='row']"),
           "the escalation ladder rung by rung: a table with its caption and a row per rung")
        v = browser.axe(d)
        ok(not v, "the notification's page passes axe-core (WCAG 2.2 A/AA)" + (
            "\n" + browser.describe(v) if v else ""))
        viewed = [a for a in audit_records(bs) if a.get("kind") == "viewed" and
                  a.get("notification_id") == rec["notification_id"]]
        ok(len(viewed) == 1 and viewed[0]["actor"]["user_id"] == "hv.jones" and
           viewed[0]["child_key"] == rec["child"]["child_key"],
           "the view is on the audit topic: who, which notification, which child key")
        ok(not any(nhs and nhs.encode() in v for v in audit_bytes(bs)),
           "no NHS number in the audit records")

        # Two people at once: she takes it; her colleague's take comes second and is refused.
        page = d.current_url
        submit(d, d.find_element(By.XPATH, "//button[starts-with(normalize-space(), 'Take it')]"))
        ok(browser.wait_for(d, lambda dr: dr.find_elements(By.ID, "pending"),
                            what="her action shown at once"), "her take is shown at once")
        ok(reload_until(d, lambda dr: "taken by hv.jones" in state_line(dr)) and
           "is recorded" in d.find_element(By.ID, "pending").text,
           "the daemon records her take: taken by hv.jones")
        d2 = browser.start()
        try:
            # On the other inbox instance: the daemon orders the two actions all the same.
            sign_in(d2, base_b, "hv.smith", "a colleague phrase")
            d2.get(page.replace(base, base_b))
            ok("taken by hv.jones" in state_line(d2), "her colleague sees who has it")
            submit(d2, d2.find_element(By.XPATH,
                                       "//button[starts-with(normalize-space(), 'Take it')]"))
            ok(reload_until(d2, lambda dr: dr.find_elements(By.ID, "pending") and
                            "not recorded" in dr.find_element(By.ID, "pending").text) and
               "hv.jones" in d2.find_element(By.ID, "pending").text,
               "his later take is refused, and he is told who has it")
        finally:
            d2.quit()

        # Closing with no further action needs a reason; with what was done, it closes.
        d.find_element(By.ID, "action-no_further_action").click()
        submit(d, d.find_element(By.XPATH, "//button[normalize-space()='Close']"))
        ok(browser.wait_for(d, lambda dr: dr.find_elements(By.ID, "action-error"),
                            what="the form's error") and
           "Say why" in d.find_element(By.ID, "action-error").text,
           "no further action without a reason: the form says what is missing")
        d.find_element(By.ID, "action-contacted_family").click()
        d.find_element(By.ID, "note").send_keys("Spoke to the family; appointment agreed.")
        submit(d, d.find_element(By.XPATH, "//button[normalize-space()='Close']"))
        ok(reload_until(d, lambda dr: state_line(dr).startswith("closed")),
           "closed with what was done")
        hist = [li.text for li in d.find_elements(
            By.XPATH, "//h2[normalize-space()='What has happened']/following-sibling::ol[1]/li")]
        ok(len(hist) >= 4 and "raised" in hist[0] and "hv.jones took it" in hist[1] and
           "hv.smith tried to act on it, refused" in hist[2] and
           "hv.jones closed it: Contacted the family" in hist[-1],
           "its page tells what happened, in order: " + " | ".join(hist))
        closed = [a for a in audit_records(bs) if a.get("kind") == "closed" and
                  a.get("notification_id") == rec["notification_id"]]
        ok(len(closed) == 1 and closed[0]["action"]["close_action"] == "contacted_family" and
           "Spoke to" not in json.dumps(closed[0]),
           "the daemon's verdict: closed, contacted_family; the note is not in the audit")
        d.get(base + "/")
        ok(first_ref not in {r for r, _ in shown(d)}, "it leaves her open list")
        want_hv.pop(first_ref, None)  # closed: in nobody's open list now
        want_gp.pop(first_ref, None)

        # Reassigned to the GP practice's lead: he sees it in his queue.
        only_hv_refs = [r for r, _ in shown(d) if r not in want_gp]
        moved = only_hv_refs[0] if only_hv_refs else None
        if ok(moved, "a notification only the health visitors have, to reassign"):
            d.find_element(By.LINK_TEXT, moved).click()
            browser.wait_for(d, lambda dr: moved in dr.title, what="its page")
            Select(d.find_element(By.ID, "to_queue")).select_by_value(GP)
            d.find_element(By.ID, "reassign_reason").send_keys("The GP practice knows the family.")
            submit(d, d.find_element(By.XPATH, "//button[normalize-space()='Reassign']"))
            ok(reload_until(d, lambda dr: GP in state_line(dr)), "reassigned to the GP lead's queue")
            want_gp[moved] = want_hv[moved]
        d.get(base + "/")

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
        # Finding one by its reference, written as people write it.
        if moved:
            box = d.find_element(By.ID, "ref")
            box.send_keys(moved.lower().replace("-", " "))
            submit(d, d.find_element(By.XPATH, "//button[normalize-space()='Find']"))
            ok(moved in d.title, "he finds the reassigned one by its reference, in any spelling")
            d.get(base + "/")
        box = d.find_element(By.ID, "ref")
        box.send_keys(sorted(only_hv - {moved})[0] if only_hv - {moved} else "WNB-0000-0000")
        submit(d, d.find_element(By.XPATH, "//button[normalize-space()='Find']"))
        ok(d.find_elements(By.ID, "find-error"), "a reference outside his queues finds nothing")
        hv_id = next(n["notification_id"] for n in notes
                     if n["kind"] == "new" and n["reference"] in only_hv)
        d.get(f"{base}/n/{hv_id}")
        ok("Not found" in d.title, "nor can he open one of them by its address")
    finally:
        if d:
            d.quit()
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(summary("inbox_signin"))


if __name__ == "__main__":
    main()
