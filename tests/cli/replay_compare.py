#!/usr/bin/env python3
"""cli.replay_compare: `notbrought replay --compare` says what a policy change does to each
decision, in text and as JSON (python3, stdlib only).

  replay_compare.py NOTBROUGHT SOURCE_DIR

Events (tests/cli/data/compare/events.jsonl): a 2-year-old misses a GP and a health visiting
appointment (under5_multiagency, decided Tuesday 8 April 2025 at 12:00 BST), and a pregnancy
misses an antenatal appointment (antenatal_wnb, Thursday 10 April); the clock ends on
Thursday 17 April at 12:00 BST. Each overlay of the shipped base policy changes one thing:

  recipients.yaml  under5_multiagency to the team leader instead of the health visitor, and
                   3 working days instead of 5: nothing is raised or lost, yet the recipients,
                   the respond-by, the ladder (counted from the respond-by) and the escalations
                   sent by the end all change
  tier.yaml        antenatal_wnb priority instead of routine
  suppress.yaml    under5_multiagency a shadow trial: its notification is lost

The expected times are worked out from the calendar by hand (5 working days from Tuesday 8 April
is Tuesday 15 April, 17:00 BST; 3 is Friday 11 April; rungs 24 and 72 hours after those).
"""
import json
import os
import subprocess
import sys

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL: " + what)


def run(nb, src, *args, rc=0):
    p = subprocess.run([nb, "replay", *args], cwd=src, capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == rc, "replay %s: exit %d, expected %d\n%s" %
          (" ".join(args), p.returncode, rc, p.stderr))
    return p.stdout + p.stderr


def replay(nb, src, overlay, *extra, reverse=False):
    base = "config/policy/wnb-wales-base.yaml"
    d = "tests/cli/data/compare"
    pol = ["--policy", base]
    cmp_ = ["--compare", base] + (["--compare", "%s/%s" % (d, overlay)] if overlay else [])
    if reverse:
        pol, cmp_ = (["--policy", base, "--policy", "%s/%s" % (d, overlay)],
                     ["--compare", base])
    return run(nb, src, *pol, *cmp_, *extra, "%s/events.jsonl" % d)


def decisions(doc):
    return [(c["child"], d) for c in doc["changes"]["children"] for d in c["decisions"]]


def no_nhs_numbers(out, what):
    for nhs in ("9990001014", "9990001022"):
        check(nhs not in out, "%s: a full NHS number in the output" % what)


def test_same_policy(nb, src):
    doc = json.loads(replay(nb, src, None, "--json"))
    n = doc["changes"]["notifications"]
    check(n == {"policy": 2, "compare": 2, "in_both": 2, "differ": 0},
          "the same policy twice: %s" % n)
    check(doc["changes"]["children_total"] == 2, "children_total %s" % doc["changes"])


def test_recipients_and_respond_by(nb, src):
    text = replay(nb, src, "recipients.yaml")
    no_nhs_numbers(text, "recipients, text")
    for line in [
            "under5_multiagency                  0      0    0     1       1      1      1"
            "         0",
            "  child ******1014\n    under5_multiagency: raised 8 Apr 2025 12:00 BST on 2 "
            "appointments, the latest 8 Apr 2025 10:00 BST",
            "      recipients: +hv_team_leader -health_visitor",
            "      respond by: Tuesday 15 April 2025 at 17:00 BST -> Friday 11 April 2025 at "
            "17:00 BST",
            "      ladder: rung 1, named_nurse (priority): 16 Apr 2025 17:00 BST -> 12 Apr 2025 "
            "17:00 BST",
            "              rung 2, safeguarding_team (urgent): 18 Apr 2025 17:00 BST -> 14 Apr "
            "2025 17:00 BST",
            "      escalations sent: 1 of 2 -> 2 of 2",
            "1 of 2 children change"]:
        check(line in text, "recipients, text: missing %r in\n%s" % (line, text))
    check("tier:" not in text, "recipients, text: a tier change reported")

    out = replay(nb, src, "recipients.yaml", "--json")
    no_nhs_numbers(out, "recipients, JSON")
    doc = json.loads(out)
    check(doc["compare"]["name"] == "compare-recipients", "compare %s" % doc["compare"])
    ch = doc["changes"]
    check(ch["notifications"] == {"policy": 2, "compare": 2, "in_both": 2, "differ": 1},
          "recipients: notifications %s" % ch["notifications"])
    check(ch["by_kind"] == {"only_policy": 0, "only_compare": 0, "tier": 0, "recipients": 1,
                            "respond_by": 1, "ladder": 1, "escalations": 1, "withdrawn": 0},
          "recipients: by_kind %s" % ch["by_kind"])
    rules = {r["rule"]: r for r in doc["rules"]}
    u5 = rules["under5_multiagency"]
    check(u5["policy"]["raised"] == u5["compare"]["raised"] == 1,
          "recipients: raised counts %s" % u5)
    check(u5["changes"]["recipients"] == 1 and rules["antenatal_wnb"]["changes"]["ladder"] == 0,
          "recipients: per rule %s" % u5["changes"])
    ds = decisions(doc)
    check(len(ds) == 1, "recipients: %d decisions" % len(ds))
    who, d = ds[0]
    check(who == "child ******1014" and d["rule"] == "under5_multiagency",
          "recipients: decision %s %s" % (who, d["rule"]))
    check(d["changes"] == ["recipients", "respond_by", "ladder", "escalations"],
          "recipients: changes %s" % d["changes"])
    check(d["recipients"] == {"added": ["hv_team_leader"], "removed": ["health_visitor"]},
          "recipients: %s" % d["recipients"])
    a, b = d["policy"], d["compare"]
    check(a["respond_by"] == {"at": "2025-04-15T16:00:00.000Z",
                              "local": "Tuesday 15 April 2025 at 17:00 BST"},
          "recipients: policy respond_by %s" % a["respond_by"])
    check(b["respond_by"] == {"at": "2025-04-11T16:00:00.000Z",
                              "local": "Friday 11 April 2025 at 17:00 BST"},
          "recipients: compare respond_by %s" % b["respond_by"])
    check(a["tier"] == b["tier"] == "priority", "recipients: tiers %s %s" % (a["tier"], b["tier"]))
    check([(r["roles"], r["tier"], r["due"]["at"]) for r in b["ladder"]] ==
          [(["named_nurse"], "priority", "2025-04-12T16:00:00.000Z"),
           (["safeguarding_team"], "urgent", "2025-04-14T16:00:00.000Z")],
          "recipients: compare ladder %s" % b["ladder"])
    check((a["escalations"], b["escalations"]) == (1, 2),
          "recipients: escalations %s %s" % (a["escalations"], b["escalations"]))
    check(d["evidence"]["appointments"] == 2 and
          d["evidence"]["latest"]["at"] == "2025-04-08T09:00:00.000Z",
          "recipients: evidence %s" % d["evidence"])
    same = replay(nb, src, "recipients.yaml", "--format", "json")
    check(same == out, "--format json and --json differ")
    utc = json.loads(replay(nb, src, "recipients.yaml", "--json", "--timezone", "UTC"))
    check(decisions(utc)[0][1]["compare"]["respond_by"]["local"] ==
          "Friday 11 April 2025 at 16:00 UTC", "--timezone UTC: %s" % decisions(utc))
    short = replay(nb, src, "recipients.yaml", "--limit", "0")
    check("  ... and 1 more child\n1 of 2 children change" in short and
          "child ******1014" not in short, "--limit 0:\n" + short)


def test_tier(nb, src):
    text = replay(nb, src, "tier.yaml")
    check("  pregnancy ******1022 EDD 2025-09-01\n    antenatal_wnb: raised 10 Apr 2025 13:00 "
          "BST on 1 appointment" in text and "      tier: routine -> priority\n" in text,
          "tier, text:\n" + text)
    doc = json.loads(replay(nb, src, "tier.yaml", "--json"))
    ds = decisions(doc)
    check(len(ds) == 1 and ds[0][1]["changes"] == ["tier"], "tier: %s" % ds)
    d = ds[0][1]
    check(ds[0][0] == "pregnancy ******1022 EDD 2025-09-01" and d["rule"] == "antenatal_wnb",
          "tier: decision %s" % ds[0][0])
    check((d["policy"]["tier"], d["compare"]["tier"]) == ("routine", "priority"),
          "tier: %s" % d)
    check(d["recipients"] == {"added": [], "removed": []}, "tier: recipients %s" % d)


def test_suppressed(nb, src):
    text = replay(nb, src, "suppress.yaml")
    check("      raised with the policy only: priority, to gp_safeguarding_lead, health_visitor\n"
          "        respond by Tuesday 15 April 2025 at 17:00 BST; escalated 1 of 2" in text,
          "suppress, text:\n" + text)
    doc = json.loads(replay(nb, src, "suppress.yaml", "--json"))
    ds = decisions(doc)
    check(len(ds) == 1 and ds[0][1]["changes"] == ["only_policy"] and
          ds[0][1]["compare"] is None and ds[0][1]["policy"]["tier"] == "priority",
          "suppress: %s" % ds)
    check(doc["changes"]["by_kind"]["only_policy"] == 1, "suppress: %s" % doc["changes"])
    u5 = {r["rule"]: r for r in doc["rules"]}["under5_multiagency"]
    check(u5["compare"]["shadow"] and u5["compare"]["shadow_decisions"] == 1,
          "suppress: rule counts %s" % u5)
    # The other way round: the notification is gained.
    doc = json.loads(replay(nb, src, "suppress.yaml", "--json", reverse=True))
    ds = decisions(doc)
    check(len(ds) == 1 and ds[0][1]["changes"] == ["only_compare"] and
          ds[0][1]["policy"] is None, "suppress reversed: %s" % ds)


def test_bad_options(nb, src):
    ev = "tests/cli/data/compare/events.jsonl"
    pol = ["--policy", "config/policy/wnb-wales-base.yaml"]
    for args, want in [(["--format", "xml"], "--format 'xml': text or json"),
                       (["--timezone", "Mars"], "--timezone 'Mars': Europe/London or UTC"),
                       (["--limit", "-1"], "--limit '-1': a whole number from 0 to 1000000"),
                       (["--limit", "ten"], "--limit 'ten': a whole number from 0 to 1000000")]:
        out = run(nb, src, *pol, *args, ev, rc=2)
        check(want in out, "%s: %r not in %r" % (args, want, out))


def main():
    nb, src = sys.argv[1], sys.argv[2]
    for t in (test_same_policy, test_recipients_and_respond_by, test_tier, test_suppressed,
              test_bad_options):
        t(nb, src)
    if FAILURES:
        print("%d checks failed" % len(FAILURES))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
