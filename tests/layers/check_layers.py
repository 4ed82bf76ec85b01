#!/usr/bin/env python3
"""Checks the module layers against the one table that declares them, src/modules.txt.

Fails (exit 1, one line per problem) when:
  - the table is malformed, names a module that does not exist, or has a cycle;
  - a directory under src/ or a header under include/notbrought/ belongs to no module;
  - a file of a module (src/<module>/*.c, *.h, or a public header the module owns) includes
    a notbrought header of a module the table does not let it use, or a private header of
    another module (src/<other>/*.h, included as "<other>/...");
  - an object of a module references a global symbol (nm) defined in a module the table does
    not let it use, or two modules define the same global symbol.

usage: check_layers.py --source-dir DIR [--nm NM] [--lib MODULE=ARCHIVE ...]
                       [--self-test --cc CC]

Without --lib only the table and the includes are checked. --self-test first runs the checks
on small made-up trees (a bad include, a private header, an undeclared call, a cycle, a name
that is not a module) and fails unless each is caught and a good tree passes; so this test is
known to be able to fail. python3, standard library only.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*[<"]([^>"]+)[>"]', re.M)
MODULE_RE = re.compile(r"^([a-z][a-z0-9_]*):(.*)$")
HEADER_RE = re.compile(r"^header[ \t]+([a-z][a-z0-9_]*\.h):[ \t]*([a-z][a-z0-9_]*)[ \t]*$")


class Table:
    def __init__(self):
        self.uses = {}  # module -> [modules], in table order
        self.headers = {}  # "x.h" -> module, for headers not named after their module
        self.problems = []


def read_table(path):
    t = Table()
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        t.problems.append(f"{path}: {e.strerror}")
        return t
    where = {}
    for no, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = HEADER_RE.match(line)
        if m:
            t.headers[m.group(1)] = (m.group(2), no)
            continue
        m = MODULE_RE.match(line)
        if not m:
            t.problems.append(f"{path}:{no}: expected 'module: modules it uses' or "
                              f"'header name.h: module', not '{raw.strip()}'")
            continue
        mod, deps = m.group(1), m.group(2).split()
        if mod in t.uses:
            t.problems.append(f"{path}:{no}: module {mod} is declared twice "
                              f"(first at line {where[mod]})")
            continue
        t.uses[mod] = deps
        where[mod] = no
    for mod, deps in t.uses.items():
        for d in deps:
            if d == mod:
                t.problems.append(f"{path}:{where[mod]}: {mod} names itself")
            elif d not in t.uses:
                t.problems.append(f"{path}:{where[mod]}: {mod} uses {d}, which is not a module")
        if len(set(deps)) != len(deps):
            t.problems.append(f"{path}:{where[mod]}: {mod} names a module twice")
    for h, (mod, no) in list(t.headers.items()):
        if mod not in t.uses:
            t.problems.append(f"{path}:{no}: header {h} belongs to {mod}, which is not a module")
        t.headers[h] = mod
    t.problems.extend(f"{path}: {c}" for c in cycles(t.uses))
    return t


def cycles(uses):
    """One message per cycle found by a depth-first walk ('a -> b -> a')."""
    found, state, stack = [], {}, []

    def walk(m):
        state[m] = 1
        stack.append(m)
        for d in uses.get(m, []):
            if d not in uses:
                continue
            if state.get(d) == 1:
                loop = stack[stack.index(d):] + [d]
                found.append("the module graph has a cycle: " + " -> ".join(loop))
            elif d not in state:
                walk(d)
        stack.pop()
        state[m] = 2

    for m in uses:
        if m not in state:
            walk(m)
    return found


def blank_comments(text):
    """The text with comments replaced by spaces (line breaks kept, so line numbers hold)."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    # Strings and character literals are matched too, so that "//" or "/*" inside them is not
    # taken for a comment; they are kept as they are (an include's name is a string).
    return re.sub(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'",
                  lambda m: m.group(0) if m.group(0)[0] in "\"'" else blank(m), text, flags=re.S)


def header_owner(t, name):
    if name in t.headers:
        return t.headers[name]
    base = name[:-2] if name.endswith(".h") else name
    return base if base in t.uses else None


def module_files(src, inc, t):
    """{module: [paths]}: its sources and private headers, and the public headers it owns."""
    files = {m: [] for m in t.uses}
    for m in t.uses:
        d = os.path.join(src, m)
        if os.path.isdir(d):
            files[m] += [os.path.join(d, f) for f in sorted(os.listdir(d))
                         if f.endswith((".c", ".h"))]
    if os.path.isdir(inc):
        for f in sorted(os.listdir(inc)):
            if f.endswith(".h"):
                owner = header_owner(t, f)
                if owner:
                    files[owner].append(os.path.join(inc, f))
    return files


def check_tree(root, t):
    """Problems with the directories, the headers and the includes of the tree at root."""
    problems = []
    src, inc = os.path.join(root, "src"), os.path.join(root, "include", "notbrought")
    for d in sorted(os.listdir(src)) if os.path.isdir(src) else []:
        if os.path.isdir(os.path.join(src, d)) and d not in t.uses:
            problems.append(f"src/{d}/ is not a module of src/modules.txt")
    for m in t.uses:
        if not os.path.isdir(os.path.join(src, m)):
            problems.append(f"module {m} has no directory src/{m}/")
    for f in sorted(os.listdir(inc)) if os.path.isdir(inc) else []:
        if f.endswith(".h") and not header_owner(t, f):
            problems.append(f"include/notbrought/{f} belongs to no module (name it after one, "
                            f"or add 'header {f}: <module>' to src/modules.txt)")
    for m, paths in module_files(src, inc, t).items():
        allowed = {m, *t.uses[m]}
        for path in paths:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = blank_comments(f.read())
            rel = os.path.relpath(path, root)
            for mt in INCLUDE_RE.finditer(text):
                name = mt.group(1)
                no = text.count("\n", 0, mt.start()) + 1
                first = name.split("/", 1)[0]
                if first == "notbrought" and "/" in name:
                    h = name.split("/", 1)[1]
                    owner = header_owner(t, h)
                    if not os.path.exists(os.path.join(inc, h)):
                        problems.append(f"{rel}:{no}: {m} includes {name}, which does not exist")
                    elif owner is None:
                        pass  # reported above: a header of no module
                    elif owner not in allowed:
                        problems.append(f"{rel}:{no}: {m} includes {name} of module {owner}, "
                                        f"which src/modules.txt does not let {m} use")
                elif "/" in name and first in t.uses and first != m:
                    problems.append(f"{rel}:{no}: {m} includes {name}, a private header of "
                                    f"module {first}")
    return problems


def nm_symbols(nm, path):
    """(defined, undefined): {symbol: object} of the global symbols of an archive or object."""
    out = subprocess.run([nm, "-A", "-P", "-g", path], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{nm} {path}: {out.stderr.strip() or 'failed'}")
    defined, undefined = {}, {}
    for line in out.stdout.splitlines():
        m = re.match(r"^(.*?): (\S+) (\S)(?: |$)", line)
        if not m:
            continue
        where, sym, kind = m.groups()
        obj = where[where.rfind("[") + 1:-1] if where.endswith("]") else os.path.basename(where)
        if kind in "Uwv":
            undefined.setdefault(sym, obj)
        else:
            defined[sym] = obj
    return defined, undefined


def check_symbols(t, libs, nm):
    problems = []
    for m in t.uses:
        if m not in libs:
            problems.append(f"no library given for module {m} (--lib {m}=ARCHIVE)")
    for m in libs:
        if m not in t.uses:
            problems.append(f"--lib {m}: not a module of src/modules.txt")
    owner, syms = {}, {}
    for m, path in libs.items():
        if m not in t.uses:
            continue
        try:
            syms[m] = nm_symbols(nm, path)
        except (OSError, RuntimeError) as e:
            problems.append(f"module {m}: {e}")
            continue
        for s, obj in syms[m][0].items():
            if s in owner and owner[s][0] != m:
                problems.append(f"{s} is defined in module {owner[s][0]} ({owner[s][1]}) and in "
                                f"module {m} ({obj})")
            owner.setdefault(s, (m, obj))
    checked = 0
    for m, (_, undefined) in syms.items():
        bad = {}
        for s, obj in undefined.items():
            if s not in owner:
                continue  # the C library, a package, or the sanitizers' runtime
            other = owner[s][0]
            if other == m:
                continue
            checked += 1
            if other not in t.uses[m]:
                bad.setdefault(other, []).append(f"{obj}: {s}")
        for other, refs in sorted(bad.items()):
            refs.sort()
            more = f" and {len(refs) - 5} more" if len(refs) > 5 else ""
            problems.append(f"module {m} references symbols of module {other}, which "
                            f"src/modules.txt does not let {m} use: {', '.join(refs[:5])}{more}")
    return problems, checked


def run(root, libs, nm):
    t = read_table(os.path.join(root, "src", "modules.txt"))
    problems = list(t.problems)
    if not t.uses:
        return problems + ["src/modules.txt declares no module"], 0
    problems += check_tree(root, t)
    checked = 0
    if libs:
        p, checked = check_symbols(t, libs, nm)
        problems += p
    return problems, checked


# ---- self-test -------------------------------------------------------------------------------

def make_tree(root, table, files):
    for path, text in {"src/modules.txt": table, **files}.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)


def compile_libs(root, cc, modules):
    libs = {}
    for m in modules:
        d = os.path.join(root, "src", m)
        objs = []
        out = os.path.join(root, "obj", m)
        os.makedirs(out, exist_ok=True)
        for f in sorted(os.listdir(d)):
            if f.endswith(".c"):
                obj = os.path.join(out, f[:-2] + ".o")
                r = subprocess.run([cc, "-c", "-o", obj, "-I", os.path.join(root, "include"),
                                    "-I", os.path.join(root, "src"), os.path.join(d, f)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError(f"{cc} {f}: {r.stderr.strip()}")
                objs.append(obj)
        libs[m] = objs[0]  # one object per module here; nm reads an object as an archive
    return libs


GOOD_FILES = {
    "include/notbrought/low.h": "#pragma once\nint nb_low_f(void);\n",
    "include/notbrought/high.h": '#pragma once\n#include "notbrought/low.h"\n'
                                 "int nb_high_f(void);\n",
    "include/notbrought/err.h": "#pragma once\ntypedef int nb_err_t;\n",
    "src/low/internal.h": "#define NB__LOW 1\n",
    "src/low/low.c": '#include "notbrought/low.h"\n#include "notbrought/err.h"\n'
                     '#include "low/internal.h"\nint nb_low_f(void) { return NB__LOW; }\n',
    "src/high/high.c": '#include "notbrought/high.h"\n/* #include "notbrought/nope.h" */\n'
                       'int nb_high_f(void) { return nb_low_f() + 1; }\n',
}
GOOD_TABLE = "# test\nlow:\nhigh: low\n\nheader err.h: low\n"


def self_test(cc, nm):
    """Each case: (name, table, changed files, expected text of a problem, or None for none)."""
    cases = [
        ("a good tree passes", GOOD_TABLE, {}, None),
        ("an include of a header of an undeclared module", GOOD_TABLE,
         {"src/low/low.c": '#include "notbrought/high.h"\nint nb_low_f(void) { return 0; }\n'},
         "src/low/low.c:1: low includes notbrought/high.h of module high, which "
         "src/modules.txt does not let low use"),
        ("a public header including upwards", GOOD_TABLE,
         {"include/notbrought/low.h": '#pragma once\n#include "notbrought/high.h"\n'
                                      "int nb_low_f(void);\n"},
         "include/notbrought/low.h:2: low includes notbrought/high.h of module high"),
        ("another module's private header", GOOD_TABLE,
         {"src/high/high.c": '#include "notbrought/high.h"\n#include "low/internal.h"\n'
                             'int nb_high_f(void) { return nb_low_f() + NB__LOW; }\n'},
         "src/high/high.c:2: high includes low/internal.h, a private header of module low"),
        ("a call to an undeclared module, without its header", GOOD_TABLE,
         {"src/low/low.c": "int nb_high_f(void);\nint nb_low_f(void) { return nb_high_f(); }\n"},
         "module low references symbols of module high, which src/modules.txt does not let "
         "low use: low.o: nb_high_f"),
        ("a symbol defined in two modules", GOOD_TABLE,
         {"src/high/high.c": '#include "notbrought/high.h"\nint nb_low_f(void) { return 2; }\n'
                             "int nb_high_f(void) { return 1; }\n"},
         "nb_low_f is defined in module"),
        ("a cycle", "low: high\nhigh: low\nheader err.h: low\n", {},
         "the module graph has a cycle: low -> high -> low"),
        ("a name that is not a module", "low: lower\nhigh: low\nheader err.h: low\n", {},
         "low uses lower, which is not a module"),
        ("a directory that is not a module", GOOD_TABLE,
         {"src/extra/x.c": "int nb_extra;\n"}, "src/extra/ is not a module of src/modules.txt"),
        ("a header of no module", "low:\nhigh: low\n", {},
         "include/notbrought/err.h belongs to no module"),
    ]
    failures = []
    for name, table, changes, expect in cases:
        with tempfile.TemporaryDirectory(prefix="nb-layers-") as root:
            make_tree(root, table, {**GOOD_FILES, **changes})
            try:
                libs = compile_libs(root, cc, [m for m in ("low", "high")])
            except (OSError, RuntimeError) as e:
                failures.append(f"self-test '{name}': cannot compile: {e}")
                continue
            problems, _ = run(root, libs, nm)
            if expect is None and problems:
                failures.append(f"self-test '{name}': expected no problem, got: {problems}")
            elif expect is not None and not any(expect in p for p in problems):
                failures.append(f"self-test '{name}': expected a problem with '{expect}', "
                                f"got: {problems or 'none'}")
    return failures, len(cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--lib", action="append", default=[], metavar="MODULE=ARCHIVE")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--cc", default="cc")
    a = ap.parse_args()
    libs = {}
    for spec in a.lib:
        mod, sep, path = spec.partition("=")
        if not sep or not mod or not path:
            sys.exit(f"check_layers: --lib {spec}: expected MODULE=ARCHIVE")
        libs[mod] = path
    status = 0
    if a.self_test:
        failures, n = self_test(a.cc, a.nm)
        for f in failures:
            print(f"check_layers: {f}")
        if failures:
            status = 1
        else:
            print(f"check_layers: self-test: all {n} made-up trees judged as expected")
    problems, checked = run(a.source_dir, libs, a.nm)
    for p in problems:
        print(f"check_layers: {p}")
    if problems:
        print(f"check_layers: {len(problems)} problem(s); the layers are declared in "
              f"src/modules.txt (docs/architecture.md, 'Module graph')")
        status = 1
    else:
        t = read_table(os.path.join(a.source_dir, "src", "modules.txt"))
        print(f"check_layers: {len(t.uses)} modules, includes checked"
              + (f", {checked} cross-module symbol references checked" if libs else
                 " (no libraries given: symbols not checked)") + ": OK")
    return status


if __name__ == "__main__":
    sys.exit(main())
