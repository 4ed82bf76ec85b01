#!/usr/bin/env python3
"""Keeps the clinical safety case (docs/clinical-safety.md) honest.

The hazard log cites tests as evidence for its controls, by ctest name (`unit.policy`) or by
ctest name and test function (`unit.policy_timers::test_quiet_baby_timer_at_day_14`). This
check fails, listing every problem, when:

  - a cited ctest test does not exist (ctest names come from `ctest --show-only=json-v1` in
    the build directory; fuzz.* tests, registered only in the clang fuzz build, from
    tests/fuzz/fuzz_<target>.c as tests/fuzz/CMakeLists.txt registers them);
  - a cited test function does not exist in that test's source, or, in a cmocka file, is
    defined but not run (not in a cmocka_unit_test() entry);
  - a hazard (### H-NN) lacks a column of the log (hazard, cause, effect, initial severity and
    likelihood and risk, controls, residual severity and likelihood and risk, evidence), its
    evidence cites no test or holds a placeholder, or a risk rating disagrees with the
    document's own risk matrix;
  - one of the hazards issue 20 lists is not covered by any hazard's "Listed hazard" row;
  - a control (C-NN) or open action (A-NN) referred to is not defined in its table, or the
    summary table (rows H-NN) misses a hazard or gives ratings other than its entry's.

usage: safety_case.py --source-dir DIR [--build-dir DIR] [--ctest CTEST] [--doc FILE]
                      [--self-test]
  --self-test  also checks that the check fails: a made-up test name, a made-up function,
               a hazard without evidence, a listed hazard removed, a summary that disagrees,
               an undefined control and a wrong rating must each be reported.
Exit status: 0 when the document is consistent, 1 when it is not, 2 on a usage error.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys

# The hazards issue 20 lists, in its words. Each must appear in the "Listed hazard" row of
# at least one hazard of the log.
LISTED_HAZARDS = [
    "a quiet family never flagged",
    "a wrong-child join",
    "lost antenatal history",
    "alert flooding",
    "flapping",
    "escalation before the deadline",
    "a missed escalation",
    "duplicate notifications",
    "a notification to the wrong team",
    "disclosure of personal data",
    "a policy misconfiguration",
    "replay disagreeing with production",
    "clock errors",
    "time zone errors",
    "bank-holiday errors",
    "a broker outage",
    "a disk outage",
    "a stuck source",
]

# The columns of the hazard log, as the first cell of a row of each hazard's table.
REQUIRED_FIELDS = [
    "listed hazard",
    "hazard",
    "cause",
    "effect",
    "initial severity",
    "initial likelihood",
    "initial risk",
    "controls",
    "residual severity",
    "residual likelihood",
    "residual risk",
    "evidence",
    "open actions",
]

SEVERITIES = ["minor", "significant", "considerable", "major", "catastrophic"]
LIKELIHOODS = ["very low", "low", "medium", "high", "very high"]

# A cited test: `kind.name` or `kind.name::function`, in backquotes.
CITATION = re.compile(
    r"`((?:unit|cli|integration|e2e|interop|fuzz)\.[A-Za-z0-9_]+)(?:::([A-Za-z_][A-Za-z0-9_]*))?`")
HAZARD_HEADING = re.compile(r"^###\s+(H-\d{2,3})\b\s*(.*)$")
ANY_HEADING = re.compile(r"^#{1,3}\s")


def table_rows(lines):
    """(first cell, other cells joined, line number) of each row of the markdown tables in
    lines, a list of (number, text); header separators are skipped."""
    rows = []
    for no, text in lines:
        s = text.strip()
        if not s.startswith("|"):
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
            continue
        rows.append((cells[0], " | ".join(cells[1:]), no))
    return rows


def parse_matrix(lines):
    """The risk matrix: {(likelihood, severity): rating} from the table whose header row names
    the five severities."""
    matrix = {}
    header = None
    for no, text in lines:
        s = text.strip()
        if not s.startswith("|"):
            header = None if not s else header
            continue
        cells = [c.strip().strip("*").strip().lower() for c in s.strip("|").split("|")]
        if header is None:
            if [c for c in cells[1:]] == SEVERITIES:
                header = cells
            continue
        if all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
            continue
        like = cells[0]
        if like not in LIKELIHOODS:
            header = None
            continue
        for sev, val in zip(SEVERITIES, cells[1:]):
            m = re.match(r"(\d)", val)
            if m:
                matrix[(like, sev)] = int(m.group(1))
    return matrix


def parse_doc(text):
    """Hazards {id: {"title", "line", "fields": {name: (value, line)}}}, the matrix, and the
    citations [(test, function or None, line)] of the whole document."""
    lines = list(enumerate(text.splitlines(), start=1))
    hazards = {}
    order = []
    problems = []
    current = None
    body = []

    def close():
        if current is None:
            return
        fields = {}
        for first, rest, no in table_rows(body):
            key = re.sub(r"\s+", " ", first.strip("*").strip().lower())
            if key in ("field", ""):
                continue
            if key in fields:
                problems.append(f"line {no}: {current}: the row '{key}' is given twice")
            fields[key] = (rest, no)
        hazards[current]["fields"] = fields

    for no, line in lines:
        m = HAZARD_HEADING.match(line)
        if m:
            close()
            current = m.group(1)
            if current in hazards:
                problems.append(f"line {no}: {current} is defined twice")
            hazards[current] = {"title": m.group(2).strip(), "line": no, "fields": {}}
            order.append(current)
            body = []
            continue
        if current is not None and ANY_HEADING.match(line):
            close()
            current = None
            body = []
            continue
        if current is not None:
            body.append((no, line))
    close()

    citations = []
    for no, line in lines:
        for m in CITATION.finditer(line):
            citations.append((m.group(1), m.group(2), no))
    return hazards, order, parse_matrix(lines), citations, problems


def cross_references(text, hazards, order):
    """Problems of the document's ids: every control (C-NN) and action (A-NN) it refers to is
    defined (the first cell of a row of the controls and actions tables), and the summary
    table (rows whose first cell is H-NN) lists every hazard once, with the ratings of its
    entry."""
    problems = []
    rows = []  # (cells, line)
    for no, line in enumerate(text.splitlines(), start=1):
        st = line.strip()
        if st.startswith("|"):
            rows.append(([c.strip() for c in st.strip("|").split("|")], no))
    defined = {"C": set(), "A": set()}
    summary = {}
    for cells, no in rows:
        first = cells[0].strip("*").strip()
        if re.fullmatch(r"[CA]-\d{2}", first):
            if first in defined[first[0]]:
                problems.append(f"line {no}: {first} is defined twice")
            defined[first[0]].add(first)
        elif re.fullmatch(r"H-\d{2,3}", first):
            if first in summary:
                problems.append(f"line {no}: {first} is in the summary twice")
            summary[first] = (cells, no)
    for no, line in enumerate(text.splitlines(), start=1):
        st = line.strip()
        if st.startswith("|") and re.fullmatch(r"[CA]-\d{2}", st.strip("|").split("|")[0]
                                               .strip().strip("*").strip()):
            line = "|".join(st.strip("|").split("|")[1:])
        for m in re.finditer(r"\b([CA])-(\d{2})\b", line):
            ref = f"{m.group(1)}-{m.group(2)}"
            if ref not in defined[m.group(1)]:
                what = "control" if m.group(1) == "C" else "open action"
                problems.append(f"line {no}: {ref} is not a defined {what}")
    for hid in order:
        if hid not in summary:
            problems.append(f"{hid} is not in the summary table")
            continue
        cells, no = summary[hid]
        f = hazards[hid]["fields"]
        for stage, col in (("initial", 2), ("residual", 3)):
            got = re.match(r"\s*\**\s*(\d)", cells[col]) if len(cells) > col else None
            want = re.match(r"\s*\**\s*(\d)", f.get(f"{stage} risk", ("", 0))[0])
            if not got:
                problems.append(f"line {no}: the summary gives {hid} no {stage} rating")
            elif want and got.group(1) != want.group(1):
                problems.append(f"line {no}: the summary gives {hid} {stage} risk "
                                f"{got.group(1)}, its entry {want.group(1)}")
    for hid, (_, no) in summary.items():
        if hid not in hazards:
            problems.append(f"line {no}: the summary lists {hid}, which has no entry")
    return problems


# ---- what exists -------------------------------------------------------------------------------

def ctest_tests(ctest, build_dir):
    """{name: command list or None} from ctest, which reads the build's registration."""
    try:
        out = subprocess.run([ctest, "--test-dir", build_dir, "--show-only=json-v1"],
                             capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        sys.exit(f"safety_case: cannot run {ctest}: {e}")
    if out.returncode != 0:
        sys.exit(f"safety_case: '{ctest} --show-only=json-v1' in {build_dir} failed: "
                 f"{out.stderr.strip()[:500]}")
    try:
        doc = json.loads(out.stdout)
    except ValueError as e:
        sys.exit(f"safety_case: ctest's JSON could not be read: {e}")
    return {t["name"]: t.get("command") for t in doc.get("tests", [])}


def cmake_tests(source_dir):
    """{name: None} from the CMake files, for a run without a build directory: the globbed
    unit and integration tests and every add_test(NAME ...) and nb_cli_test(...)."""
    names = {}
    for kind in ("unit", "integration"):
        for path in glob.glob(os.path.join(source_dir, "tests", kind, "test_*.c")):
            names[f"{kind}.{os.path.basename(path)[5:-2]}"] = None
    for path in glob.glob(os.path.join(source_dir, "tests", "**", "*.cmake"), recursive=True):
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"add_test\(\s*NAME\s+([A-Za-z0-9_.]+)", text):
            if "${" not in m.group(1):
                names[m.group(1)] = None
        for m in re.finditer(r"^\s*nb_cli_test\(\s*([A-Za-z0-9_]+)", text, re.M):
            names["cli." + m.group(1)] = None
    return names


def fuzz_tests(source_dir):
    """fuzz.<target> for tests/fuzz/fuzz_<target>.c, as tests/fuzz/CMakeLists.txt registers
    them (only in the clang build with NB_FUZZ=ON, so never in the build ctest reads here)."""
    return {"fuzz." + os.path.basename(p)[5:-2]: None
            for p in glob.glob(os.path.join(source_dir, "tests", "fuzz", "fuzz_*.c"))}


def source_of(name, command, source_dir):
    """The source file of a ctest test, or None when it has none with functions."""
    kind, _, short = name.partition(".")
    conventional = {
        "unit": os.path.join(source_dir, "tests", "unit", f"test_{short}.c"),
        "integration": os.path.join(source_dir, "tests", "integration", f"test_{short}.c"),
        "fuzz": os.path.join(source_dir, "tests", "fuzz", f"fuzz_{short}.c"),
    }
    if kind in conventional:
        return conventional[kind] if os.path.isfile(conventional[kind]) else None
    for arg in command or []:
        if arg.endswith((".py", ".sh")) and os.path.isfile(arg):
            return arg
    return None


def has_function(path, func):
    """'' when path defines func (and, in a cmocka file, runs it), else why not."""
    text = open(path, encoding="utf-8", errors="replace").read()
    if path.endswith(".c"):
        defined = re.search(r"^[A-Za-z_][\w \t*]*\b" + re.escape(func) + r"\s*\([^;{]*\)\s*\{",
                            text, re.M)
        if not defined:
            return "is not defined there"
        if "cmocka_unit_test" in text and not re.search(
                r"cmocka_unit_test\w*\(\s*" + re.escape(func) + r"\b", text):
            return "is defined but never run (no cmocka_unit_test entry)"
        return ""
    if path.endswith(".py"):
        return "" if re.search(r"^\s*def\s+" + re.escape(func) + r"\s*\(", text, re.M) \
            else "is not defined there"
    if path.endswith(".sh"):
        return "" if re.search(r"^\s*(function\s+)?" + re.escape(func) + r"\s*\(\s*\)", text,
                               re.M) else "is not defined there"
    return "cannot be looked for in this kind of file"


# ---- the check ---------------------------------------------------------------------------------

def check(text, tests, source_dir):
    """Every problem of the document, as lines; [] when it is consistent."""
    hazards, order, matrix, citations, problems = parse_doc(text)
    if not hazards:
        problems.append("no hazard found (a hazard is a '### H-NN title' section)")
    if len(matrix) != 25:
        problems.append(f"the risk matrix (a table headed by the five severities, one row per "
                        f"likelihood) has {len(matrix)} of its 25 cells")

    for hid in order:
        h = hazards[hid]
        f = h["fields"]
        where = f"line {h['line']}: {hid}"
        for name in REQUIRED_FIELDS:
            if name not in f or not f[name][0].strip():
                problems.append(f"{where}: no '{name}' column")
        ev = f.get("evidence", ("", 0))[0]
        if ev.strip() and not CITATION.search(ev):
            problems.append(f"{where}: its evidence cites no test (`ctest_name` or "
                            f"`ctest_name::test_function`)")
        if re.search(r"placeholder|\btodo\b|\btbd\b", CITATION.sub("", ev), re.I):
            problems.append(f"{where}: its evidence holds a placeholder; placeholders belong "
                            f"in the open actions")
        for stage in ("initial", "residual"):
            sev = f.get(f"{stage} severity", ("", 0))[0].strip().strip("*").lower()
            like = f.get(f"{stage} likelihood", ("", 0))[0].strip().strip("*").lower()
            risk = f.get(f"{stage} risk", ("", 0))[0]
            sev_w = next((s for s in SEVERITIES if re.match(re.escape(s) + r"\b", sev)), None)
            like_w = next((l for l in sorted(LIKELIHOODS, key=len, reverse=True)
                           if re.match(re.escape(l) + r"\b", like)), None)
            if sev and not sev_w:
                problems.append(f"{where}: {stage} severity '{sev}' is not one of "
                                f"{', '.join(SEVERITIES)}")
            if like and not like_w:
                problems.append(f"{where}: {stage} likelihood '{like}' is not one of "
                                f"{', '.join(LIKELIHOODS)}")
            m = re.match(r"\s*\**\s*(\d)", risk)
            if risk.strip() and not m:
                problems.append(f"{where}: {stage} risk '{risk.strip()[:40]}' does not start "
                                f"with its rating (1-5)")
            if m and sev_w and like_w and (like_w, sev_w) in matrix:
                want = matrix[(like_w, sev_w)]
                if int(m.group(1)) != want:
                    problems.append(f"{where}: {stage} risk {m.group(1)} disagrees with the "
                                    f"matrix: {like_w} likelihood and {sev_w} severity give "
                                    f"{want}")

    problems.extend(cross_references(text, hazards, order))

    listed = " ".join(hazards[h]["fields"].get("listed hazard", ("", 0))[0].lower()
                      for h in order)
    for phrase in LISTED_HAZARDS:
        if phrase not in listed:
            problems.append(f"the hazard '{phrase}' (issue 20) is in no hazard's "
                            f"'Listed hazard' row")

    lines_of = {}
    for name, func, no in citations:
        lines_of.setdefault((name, func), []).append(str(no))
    seen = set()
    for name, func, _ in citations:
        if (name, func) in seen:
            continue
        seen.add((name, func))
        no = ", ".join(dict.fromkeys(lines_of[(name, func)]))
        if name not in tests:
            problems.append(f"line {no}: `{name}` is not a ctest test")
            continue
        if func is None:
            continue
        src = source_of(name, tests[name], source_dir)
        if src is None:
            problems.append(f"line {no}: `{name}::{func}`: {name} has no source with test "
                            f"functions")
            continue
        why = has_function(src, func)
        if why:
            problems.append(f"line {no}: `{name}::{func}`: {func} {why} "
                            f"({os.path.relpath(src, source_dir)})")
    return problems, len(order), len(seen)


def self_test(text, tests, source_dir):
    """Each way the document can go wrong must be reported: '' when all are, else why not."""
    hazards, order, _, _, _ = parse_doc(text)
    first = hazards[order[0]]
    ev_line = first["fields"]["evidence"][1]
    lines = text.splitlines()

    def without_line(no):
        return "\n".join(l for i, l in enumerate(lines, start=1) if i != no) + "\n"

    def replace_line(no, new):
        return "\n".join(new if i == no else l for i, l in enumerate(lines, start=1)) + "\n"

    listed_line = next(hazards[h]["fields"]["listed hazard"] for h in order
                       if "a stuck source" in hazards[h]["fields"]["listed hazard"][0].lower())
    sev = first["fields"]["initial severity"][0].strip().lower()
    like = first["fields"]["initial likelihood"][0].strip().lower()
    risk_no = first["fields"]["initial risk"][1]
    rating = int(re.match(r"\s*\**\s*(\d)", first["fields"]["initial risk"][0]).group(1))
    wrong = 1 if rating != 1 else 2
    cases = [
        ("a made-up test name",
         text + "\nAlso `unit.no_such_module_for_the_self_test`.\n",
         "`unit.no_such_module_for_the_self_test` is not a ctest test"),
        ("a made-up test function",
         text + "\nAlso `unit.policy::test_no_such_function_for_the_self_test`.\n",
         "test_no_such_function_for_the_self_test is not defined there"),
        ("a hazard without evidence", without_line(ev_line),
         f"{order[0]}: no 'evidence' column"),
        ("a hazard that cites no test",
         replace_line(ev_line, "| Evidence | none yet |"),
         f"{order[0]}: its evidence cites no test"),
        ("a listed hazard removed",
         replace_line(listed_line[1], "| Listed hazard | (none) |"),
         "the hazard 'a stuck source' (issue 20) is in no hazard's"),
        ("a summary that disagrees with the entry",
         re.sub(r"^\| " + order[0] + r" \|([^|]*)\| \d \|", "| " + order[0] + r" |\\1| "
                + str(wrong) + " |", text, count=1, flags=re.M),
         f"the summary gives {order[0]} initial risk {wrong}"),
        ("an undefined control",
         replace_line(first["fields"]["controls"][1], "| Controls | C-99 made up |"),
         "C-99 is not a defined control"),
        ("a rating the matrix does not give",
         replace_line(risk_no, f"| Initial risk | {wrong} |"),
         f"initial risk {wrong} disagrees with the matrix"),
    ]
    for what, doc, expect in cases:
        problems, _, _ = check(doc, tests, source_dir)
        if not any(expect in p for p in problems):
            return f"{what} was not reported (expected '{expect}'; got {problems[:5]})"
        print(f"safety_case: self-test: {what} is reported: "
              f"{next(p for p in problems if expect in p)}")
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--build-dir", help="a configured build directory (ctest reads it)")
    ap.add_argument("--ctest", default="ctest")
    ap.add_argument("--doc", help="default: SOURCE_DIR/docs/clinical-safety.md")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()

    source_dir = os.path.abspath(a.source_dir)
    doc = a.doc or os.path.join(source_dir, "docs", "clinical-safety.md")
    try:
        text = open(doc, encoding="utf-8").read()
    except OSError as e:
        print(f"safety_case: cannot read {doc}: {e.strerror}", file=sys.stderr)
        return 1
    tests = ctest_tests(a.ctest, a.build_dir) if a.build_dir else cmake_tests(source_dir)
    if not tests:
        print("safety_case: no ctest test found (is the build directory configured?)",
              file=sys.stderr)
        return 2
    tests.update(fuzz_tests(source_dir))

    problems, n_hazards, n_cited = check(text, tests, source_dir)
    name = os.path.relpath(doc, source_dir) if doc.startswith(source_dir) else doc
    if problems:
        print(f"safety_case: {name}: {len(problems)} problem(s):")
        for p in problems:
            print(f"  {p}")
        return 1
    print(f"safety_case: {name}: {n_hazards} hazards, {n_cited} distinct tests and test "
          f"functions cited, all of them exist; every listed hazard is covered")
    if a.self_test:
        why = self_test(text, tests, source_dir)
        if why:
            print(f"safety_case: self-test FAILED: {why}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
