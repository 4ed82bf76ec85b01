#!/usr/bin/env python3
"""`notbrought chronology` on the embedded broker (issue 24, docs/reporting.md "Chronology").

The daemon runs over generated sample data until it has raised notifications, and stops. For
a child with a notification: the chronology by NHS number (standard input, and a file) as
text, CSV and HTML, and by the notification's reference; each holds every audit record of the
child (compared with the audit topic read apart), in time order, events before the decisions
they led to; the CSV is RFC 4180 with the NHS number only when asked; the HTML page is parsed
(no script, nothing loaded from elsewhere, one row per record, the file readable by its owner
only). Every reading left a chronology_read record naming the reader, the format and the
reason. An NHS number on the command line is refused (as an option and as an argument), and so
is one that fails the Modulus 11 check, without repeating it and without a record. No NHS
number in any log. With the broker gone, nothing is printed and the exit status is 3.

Usage: chronology.py NOTBROUGHT SOURCE_DIR   (python3, standard library only)
"""
import csv
import html.parser
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import ok, summary, wait_for  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
SRC = os.path.abspath(sys.argv[2])
procs = []


def nb(*args, stdin=None, env=None):
    """Runs the binary; stdout and stderr as str, line ends as written (CSV's CRLF kept)."""
    r = subprocess.run([BIN, *args], input=stdin.encode() if stdin is not None else None,
                       capture_output=True, env=env, timeout=120)
    r.stdout, r.stderr = r.stdout.decode("utf-8"), r.stderr.decode("utf-8")
    return r


class Page(html.parser.HTMLParser):
    """What a browser would load or run, and the rows of the table."""

    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.rows, self.title, self._in_title = set(), set(), [], "", False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.update(a for a, _ in attrs)
        if tag == "tr" and dict(attrs).get("data-kind"):
            self.rows.append(dict(attrs)["data-kind"])
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def audit_records(cfg, bs):
    r = nb("consume", "--config", cfg, "--bootstrap", bs, "--topic", "notbrought.audit",
           "--format", "json", "--to-end")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def when(row):
    """The CSV row's place in time: an event's recorded_at, anything else's at."""
    return row["recorded_at"] if row["kind"] in ("received", "parked") and row["recorded_at"] \
        else row["at"]


def main(work):
    env = dict(os.environ, NB_HMAC_KEY="test-only-hmac-key-chronology-0123",
               NB_OPS_LOG_LEVEL="info", NB_PROCESSING_WATERMARK_IDLE_MS="1000")
    os.environ.update(env)
    cfg = os.path.join(work, "notbrought.yaml")
    with open(os.path.join(SRC, "config/notbrought.yaml")) as f:
        text = f.read().replace("config/policy/", os.path.join(SRC, "config/policy/"))
    with open(cfg, "w") as f:
        f.write(text)
    broker = subprocess.Popen([BIN, "broker", "--config", cfg], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    procs.append(broker)
    bs = broker.stdout.readline().strip()
    if not ok(bs, "the embedded broker started"):
        return
    sample = os.path.join(work, "sample.jsonl")
    nb("generate", "--children", "15", "--seed", "3", "--missed-share", "0.4", "--malformed",
       "0", "--output", sample)
    ok(nb("produce", "--config", cfg, "--bootstrap", bs, sample).returncode == 0,
       "sample records produced")
    # The NHS numbers of the sample's events, by event id.
    events = {}
    dec = nb("decode", "--format", "json", sample)
    for line in dec.stdout.splitlines():
        v = json.loads(line).get("value") or {}
        nhs = (v.get("subject") or {}).get("nhs_number")
        if v.get("event_id") and nhs:
            events[v["event_id"]] = nhs

    def pick(records):
        """A child with a notification and an event that came with its NHS number (not a
        pregnancy's): (child key, NHS number, reference), or None."""
        best = None
        for a in records:
            if a["kind"] != "fired":
                continue
            mine = [r for r in records if r["child_key"] == a["child_key"]]
            found = [events[r["event"]["event_id"]] for r in mine
                     if r["kind"] == "received" and r["event"]["event_id"] in events]
            # The same child whatever order the partitions were read in: the longest history.
            if found and (best is None or (-len(mine), a["child_key"]) < best[0]):
                best = ((-len(mine), a["child_key"]), (a["child_key"], found[0], a["reference"]))
        return best[1] if best else None

    runlog = os.path.join(work, "run.log")
    with open(runlog, "w") as logf:
        run = subprocess.Popen([BIN, "run", "--config", cfg, "--bootstrap", bs], stderr=logf,
                               stdout=subprocess.DEVNULL)
        procs.append(run)
        fired = wait_for(lambda: pick(audit_records(cfg, bs)), 90)
        run.send_signal(signal.SIGTERM)
        ok(run.wait(timeout=60) == 0, "the daemon raised notifications and stopped (exit 0)")
    if not ok(fired, "a child with a notification and its NHS number in the sample"):
        return
    # Read again once the daemon has stopped: what the chronology will find.
    before = audit_records(cfg, bs)
    child, nhs, ref = pick(before)
    mine = [a for a in before if a["child_key"] == child]
    base = ["chronology", "--config", cfg, "--bootstrap", bs, "--reader", "reviewer.one"]
    outputs = []

    # 1. Text, the number on standard input.
    r = nb(*base, "--reason", "practice review CPR-1", stdin=nhs + "\n")
    outputs.append(r)
    spaced = "%s %s %s" % (nhs[:3], nhs[3:6], nhs[6:])
    ok(r.returncode == 0 and "CHRONOLOGY FOR A PRACTICE REVIEW" in r.stdout and
       "NHS " + spaced in r.stdout, "text by NHS number on stdin: exit 0, the child named")
    entries = re.findall(r"^(\d+)\. ", r.stdout, re.M)
    ok(entries == [str(i) for i in range(1, len(mine) + 2)],
       "text: %d numbered records (the child's %d and this reading)" % (len(entries), len(mine)))
    ok(all(a["event"]["event_id"] in r.stdout for a in mine if a["event"]) and
       ref in r.stdout, "text: every event received and the notification's reference")

    # 2. CSV from a file: the audit topic's records of the child, in time order.
    numfile = os.path.join(work, "nhs.txt")
    with open(numfile, "w") as f:
        f.write(" %s\n" % spaced)
    r = nb(*base, "--reason", "analysis", "--format", "csv", "--nhs-number-file", numfile)
    outputs.append(r)
    rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    ok(r.returncode == 0 and r.stdout.count("\r\n") == len(rows) + 1,
       "CSV by NHS number from a file: exit 0, CRLF rows")
    ok({x["audit_id"] for x in rows} >= {a["audit_id"] for a in mine} and
       len(rows) == len(mine) + 2, "CSV: every record of the child, two readings besides")
    times = [when(x) for x in rows]
    ok(times == sorted(times), "CSV: in time order (events when recorded, the rest when done)")
    kinds = [x["kind"] for x in rows]
    first_fired = kinds.index("fired")
    ok("received" in kinds[:first_fired] and kinds[0] == "received",
       "CSV: the events received before the first decision they led to")
    ok(all(x["nhs_number"] == "" for x in rows) and nhs not in r.stdout,
       "CSV: no NHS number unless asked")
    r = nb(*base, "--reason", "analysis", "--format", "csv", "--csv-nhs-number", stdin=nhs)
    outputs.append(r)
    rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    ok(rows and all(x["nhs_number"] == nhs for x in rows), "CSV --csv-nhs-number: the number")

    # 3. HTML by reference, to a file.
    page = os.path.join(work, "chronology.html")
    r = nb(*base, "--reason", "review <b>&", "--format", "html", "--reference", ref.lower(),
           "--output", page)
    outputs.append(r)
    ok(r.returncode == 0 and r.stdout == "", "HTML by reference (lower case) to --output")
    ok(stat.S_IMODE(os.stat(page).st_mode) == 0o600, "--output is readable by its owner only")
    with open(page, encoding="utf-8") as f:
        body = f.read()
    p = Page()
    p.feed(body)
    ok(p.title == "Chronology for a practice review", "HTML: titled for a practice review")
    ok(not p.tags & {"script", "img", "link", "iframe", "object", "embed"} and
       not p.attrs & {"src", "href", "onload", "onerror"},
       "HTML: no script and nothing loaded from elsewhere")
    ok(len(p.rows) == len(mine) + 4 and p.rows.count("chronology_read") == 4,
       "HTML: one row per record, the earlier readings among them")
    ok(child in body and ref in body and nhs not in body and "review &lt;b&gt;&amp;" in body,
       "HTML: the child key and reference, the reason escaped, no NHS number (by reference)")
    ok(re.search(r"\d{1,2} \w{3} \d{4} \d\d:\d\d (GMT|BST)", body), "HTML: local times")

    # 4. Every reading recorded.
    reads = [a for a in audit_records(cfg, bs)
             if a["kind"] == "chronology_read" and a["child_key"] == child]
    ok(len(reads) == 4, "a chronology_read record per reading (%d)" % len(reads))
    ok(all(a["actor"]["user_id"] == "reviewer.one" and
           a["actor"]["via"] == "notbrought chronology" for a in reads),
       "chronology_read: the reader, through notbrought chronology")
    ok(sorted(a["subject"] for a in reads) == sorted([
        "chronology (text): practice review CPR-1", "chronology (csv): analysis",
        "chronology (csv): analysis", "chronology (html): review <b>&"]) and
       [a["reference"] for a in reads].count(ref) == 1,
       "chronology_read: the format and the reason; the reference when read by it")

    # 5. Refused: the number on the command line, a bad number, no reason.
    bad = nhs[:9] + str((int(nhs[9]) + 1) % 10)
    for args, stdin, rc, what in [
            (["--reason", "x", "--nhs-number", nhs], None, 2, "--nhs-number N"),
            (["--reason", "x", "--nhs-number=" + nhs], None, 2, "--nhs-number=N"),
            (["--reason", "x", "--nhs", nhs], None, 2, "--nhs N (an abbreviation)"),
            (["--reason", "x", nhs], None, 2, "the number as an argument"),
            (["--reason", "x"], bad, 1, "a number failing the Modulus 11 check"),
            (["--reason", "child " + nhs], nhs, 2, "a number in the reason"),
            ([], nhs, 2, "no --reason")]:
        r = nb(*base, *args, stdin=stdin)
        outputs.append(r)
        ok(r.returncode == rc and r.stdout == "" and nhs not in r.stderr and
           bad not in r.stderr and r.stderr.strip(),
           "refused, not repeated: %s (exit %d: %s)" % (what, r.returncode,
                                                        r.stderr.strip()[:90]))
    r = nb(*base, "--reason", "x", stdin=bad)
    ok("Modulus 11" in r.stderr, "the bad number: says it fails the Modulus 11 check")
    r = nb(*base, "--reason", "x", "--nhs-number", nhs)
    ok("shell history" in r.stderr, "--nhs-number: says why it is refused")
    reads = [a for a in audit_records(cfg, bs) if a["kind"] == "chronology_read"]
    ok(len(reads) == 4, "no record for a refused reading")
    r = nb(*base, "--reason", "x", "--reference", "WNB-ZZZZ-ZZZZ")
    ok(r.returncode == 1 and "no notification with reference WNB-ZZZZ-ZZZZ" in r.stderr,
       "an unknown reference: exit 1, said so")

    # 6. No NHS number in any log.
    with open(runlog) as f:
        logs = f.read() + "".join(o.stderr for o in outputs)
    ok(nhs not in logs and spaced not in logs, "no NHS number in the daemon's or its logs")

    # 7. The broker gone: the reading cannot be recorded, nothing is shown.
    broker.send_signal(signal.SIGTERM)
    broker.wait(timeout=30)
    r = nb(*base, "--reason", "x", "--idle-ms", "500", stdin=nhs)
    ok(r.returncode == 3 and r.stdout == "", "the broker gone: exit 3, nothing printed (%s)" %
       r.stderr.strip()[-120:])


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as work:
        try:
            main(work)
        finally:
            for p in procs:  # only what this test started, by its own handle
                if p.poll() is None:
                    p.kill()
                    p.wait()
    sys.exit(summary("chronology"))
