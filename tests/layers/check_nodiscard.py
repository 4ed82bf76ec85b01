#!/usr/bin/env python3
"""Checks that every function returning nb_err_t is declared NB_NODISCARD (notbrought/err.h).

Errors are never swallowed: NB_NODISCARD is warn_unused_result, so with -Werror a call that
drops an nb_err_t does not compile, and a deliberate discard has to be spelt NB_IGNORE() with
a comment saying why. The attribute only helps where it is written, so this check fails
(exit 1, one line per problem) when, in any .c or .h under include/, src/, tests/ or bench/:
  - a declaration of a function returning nb_err_t (a prototype, at any depth) lacks it;
  - a definition of such a function lacks it and no earlier declaration in the same file has
    it (nor, for a function that is not static, a declaration in a header);
  - a pointer to a function returning nb_err_t (typedef, member or variable) lacks it: GCC
    then warns for calls through the pointer as well;
  - a call to such a function (declared in a header or in the same file) is cast to void:
    GCC does not take that for a discard, clang does, so it would break the GCC build of a
    file only clang builds (the fuzz harnesses). A discard is NB_IGNORE(), with a comment.
NB_NODISCARD must come before the return type, e.g. "NB_NODISCARD static nb_err_t f(void);".

usage: check_nodiscard.py --source-dir DIR [--list] [--self-test]

--list prints every function and function pointer found, attributed or not. --self-test first
runs the check on made-up sources (each kind of omission, and forms that must pass) and fails
unless each is judged as expected; so this test is known to be able to fail. python3, standard
library only. The scan is lexical (comments, strings and preprocessor lines are skipped), so a
function declared by a macro's expansion would not be seen; there is none.
"""

import argparse
import os
import re
import sys
import tempfile

ATTR = "NB_NODISCARD"
RET = "nb_err_t"
DIRS = ("include", "src", "tests", "bench")

TOKEN_RE = re.compile(
    r"(?P<nl>\n)"
    r"|(?P<ws>[ \t\r\f\v]+|\\\n)"
    r"|(?P<comment>/\*.*?\*/|//[^\n]*)"
    r"|(?P<str>\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*')"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<num>\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.])*)"
    r"|(?P<punct>.)",
    re.S)


def tokens(text):
    """[(token, line, offset)] of C text, without comments, literals and preprocessor lines."""
    out, line, at_line_start, in_pp = [], 1, True, False
    for m in TOKEN_RE.finditer(text):
        kind, s = m.lastgroup, m.group(0)
        if kind == "nl":
            line += 1
            at_line_start, in_pp = True, False
            continue
        if kind in ("ws", "comment"):
            line += s.count("\n")
            continue
        if at_line_start and s == "#":
            in_pp = True
        at_line_start = False
        if in_pp or kind == "str":
            continue
        out.append((s, line, m.start()))
    return out


def is_id(s):
    return s[0].isalpha() or s[0] == "_"


def match_paren(toks, i):
    """Index of the ')' that closes the '(' at i, or len(toks)."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j][0] == "(":
            depth += 1
        elif toks[j][0] == ")":
            depth -= 1
            if depth == 0:
                return j
    return len(toks)


class Found:
    """A declarator of a function returning nb_err_t, or of a pointer to one."""

    def __init__(self, path, line, name, kind, attributed, static, start):
        self.path, self.line, self.name = path, line, name
        self.kind = kind  # "declaration", "definition", "type" or "pointer"
        self.attributed, self.static = attributed, static
        self.start = start  # offset of the declaration's first token


def void_casts(toks):
    """[(name, line)] of the calls cast to void: "(void)name(" and "(void) name (" alike."""
    out = []
    for i in range(len(toks) - 4):
        if [t[0] for t in toks[i:i + 3]] == ["(", "void", ")"] and is_id(toks[i + 3][0]) \
                and toks[i + 4][0] == "(":
            out.append((toks[i + 3][0], toks[i + 3][1]))
    return out


def scan(path, text):
    """(every Found in the text, in order; the calls cast to void)."""
    toks = tokens(text)
    found = []
    for i, (t, line, _) in enumerate(toks):
        if t != RET or i + 2 >= len(toks):
            continue
        nxt = [x[0] for x in toks[i + 1:i + 6]]
        if is_id(nxt[0]) and nxt[1] == "(":
            kind, name, params = "declaration", nxt[0], i + 2
        elif nxt[:2] == ["(", "*"] and len(nxt) >= 5 and is_id(nxt[2]) and nxt[3:5] == [")", "("]:
            kind, name, params = "pointer", nxt[2], None
        else:
            continue
        # The declaration's specifiers: back to the end of the previous statement or block.
        j = i - 1
        while j >= 0 and toks[j][0] not in (";", "{", "}"):
            j -= 1
        prefix = [x[0] for x in toks[j + 1:i]]
        if kind == "declaration":
            # What follows the parameter list, past any attributes, says whether this is a
            # definition: a body.
            k = match_paren(toks, params) + 1
            while k < len(toks) and toks[k][0] not in ("{", ";", ",", "="):
                k += 1
            if k < len(toks) and toks[k][0] == "{":
                kind = "definition"
        if kind == "declaration" and "typedef" in prefix:
            kind = "type"
        found.append(Found(path, line, name, kind, ATTR in prefix, "static" in prefix,
                           toks[j + 1][2]))
    return found, void_casts(toks)


def source_files(root):
    for d in DIRS:
        top = os.path.join(root, d)
        for base, dirs, files in os.walk(top):
            dirs.sort()
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(base, f)


def check(root):
    """(problems, every Found) for the tree at root."""
    per_file, casts = {}, {}
    for path in source_files(root):
        with open(path, encoding="utf-8", errors="replace") as f:
            rel = os.path.relpath(path, root)
            per_file[rel], casts[rel] = scan(path, f.read())
    in_headers = {x.name for rel, xs in per_file.items() if rel.endswith(".h")
                  for x in xs if x.attributed and x.kind == "declaration"}
    problems, everything = [], []
    for rel, xs in per_file.items():
        mine = in_headers | {x.name for x in xs if x.kind in ("declaration", "definition")}
        for name, line in casts[rel]:
            if name in mine:
                problems.append(f"{rel}:{line}: {name} returns {RET}: a cast to void does not "
                                f"discard it for GCC; write NB_IGNORE() and say why")
        earlier = set()
        for x in xs:
            everything.append((rel, x))
            if x.attributed:
                earlier.add(x.name)
                continue
            if x.kind == "pointer":
                problems.append(f"{rel}:{x.line}: {x.name} points to a function returning "
                                f"{RET}, but is not declared {ATTR}")
            elif x.kind == "type":
                problems.append(f"{rel}:{x.line}: {x.name} is a function type returning "
                                f"{RET}, but is not declared {ATTR}")
            elif x.kind == "declaration":
                problems.append(f"{rel}:{x.line}: {x.name} returns {RET}, but its declaration "
                                f"is not {ATTR}")
            elif x.name in earlier or (not x.static and x.name in in_headers):
                pass  # the attribute is on a declaration the compiler has seen first
            else:
                problems.append(f"{rel}:{x.line}: {x.name} returns {RET}, but neither its "
                                f"definition nor an earlier declaration is {ATTR}")
    return problems, everything


# ---- self-test -------------------------------------------------------------------------------

GOOD = {
    "include/notbrought/a.h": (
        "#define NB_NODISCARD __attribute__((warn_unused_result))\n"
        "/* nb_err_t nb_in_comment(void); */\n"
        "NB_NODISCARD nb_err_t nb_a_f(int x);\n"
        "NB_NODISCARD nb_err_t\nnb_a_split(int x,\n    int y);\n"
        "typedef NB_NODISCARD nb_err_t (*nb_a_cb_t)(void *opaque);\n"
        "typedef NB_NODISCARD nb_err_t nb_a_fn(int x);\n"
        "const char *nb_err_name(nb_err_t err);\n"
        "NB_NODISCARD static inline nb_err_t nb_a_inline(void)\n{\n    return 0;\n}\n"),
    "src/a/a.c": (
        '#include "notbrought/a.h"\n'
        'static const char *s = "nb_err_t nb_in_string(void);";\n'
        "NB_NODISCARD static nb_err_t nb__fwd(int x);\n"
        "nb_err_t nb_a_f(int x)\n{\n    nb_err_t err = nb__fwd(x);\n    return err;\n}\n"
        "static nb_err_t nb__fwd(int x)\n{\n    return (nb_err_t)x;\n}\n"
        "NB_NODISCARD static nb_err_t nb__def(void)\n{\n    return sizeof(nb_err_t);\n}\n"
        "struct vt {\n    NB_NODISCARD nb_err_t (*fn)(int);\n    nb_err_t err;\n};\n"
        "static void use(nb_err_t e)\n{\n    (void)e;\n    (void)nb_err_name(e);\n"
        "    NB_IGNORE(nb_a_f(1)); /* why */\n}\n"),
}


def self_test():
    """Each case: (name, changed files, expected text of a problem, or None for none)."""
    cases = [
        ("a good tree passes", {}, None),
        ("a public prototype without the attribute",
         {"include/notbrought/b.h": "nb_err_t nb_b_f(int x);\n"},
         "include/notbrought/b.h:1: nb_b_f returns nb_err_t, but its declaration is not"),
        ("a prototype split over lines",
         {"src/a/internal.h": "int nb__x;\nnb_err_t\nnb__split(void);\n"},
         "src/a/internal.h:2: nb__split returns nb_err_t, but its declaration is not"),
        ("a static definition without it",
         {"src/a/b.c": "static int x;\nstatic nb_err_t nb__g(void)\n{\n    return 0;\n}\n"},
         "src/a/b.c:2: nb__g returns nb_err_t, but neither its definition nor an earlier"),
        ("a static inline definition in a header without it",
         {"include/notbrought/b.h": "static inline nb_err_t nb_b_i(void)\n{\n    return 0;\n}\n"},
         "include/notbrought/b.h:1: nb_b_i returns nb_err_t, but neither"),
        ("a static function whose only attributed declaration comes after its definition",
         {"src/a/b.c": "static nb_err_t nb__late(void)\n{\n    return 0;\n}\n"
                       "NB_NODISCARD static nb_err_t nb__late(void);\n"},
         "src/a/b.c:1: nb__late returns nb_err_t, but neither"),
        ("a static function named like an attributed public one",
         {"src/a/b.c": "static nb_err_t nb_a_f(int x)\n{\n    return 0;\n}\n"},
         "src/a/b.c:1: nb_a_f returns nb_err_t, but neither"),
        ("a function pointer typedef without it",
         {"include/notbrought/b.h": "typedef nb_err_t (*nb_b_cb_t)(int);\n"},
         "include/notbrought/b.h:1: nb_b_cb_t points to a function returning nb_err_t"),
        ("a function type without it",
         {"include/notbrought/b.h": "typedef nb_err_t nb_b_fn(int x);\n"},
         "include/notbrought/b.h:1: nb_b_fn is a function type returning nb_err_t"),
        ("a function pointer member without it",
         {"src/a/b.c": "struct s {\n    int n;\n    nb_err_t (*step)(void *);\n};\n"},
         "src/a/b.c:3: step points to a function returning nb_err_t"),
        ("a test helper without it",
         {"tests/unit/test_b.c": "static nb_err_t sink(void *o)\n{\n    return 0;\n}\n"},
         "tests/unit/test_b.c:1: sink returns nb_err_t"),
        ("a discard by a cast to void",
         {"tests/fuzz/fuzz_a.c": "void t(void)\n{\n    (void) nb_a_f(1);\n}\n"},
         "tests/fuzz/fuzz_a.c:3: nb_a_f returns nb_err_t: a cast to void"),
        ("a discard by a cast to void of a static function",
         {"src/a/b.c": "NB_NODISCARD static nb_err_t g(void);\nvoid t(void)\n{\n"
                       "    (void)g();\n}\n"},
         "src/a/b.c:4: g returns nb_err_t: a cast to void"),
        ("a public definition whose header lacks it",
         {"include/notbrought/b.h": "nb_err_t nb_b_g(void);\n",
          "src/a/b.c": "nb_err_t nb_b_g(void)\n{\n    return 0;\n}\n"},
         "src/a/b.c:1: nb_b_g returns nb_err_t, but neither"),
    ]
    failures = []
    for name, changes, expect in cases:
        with tempfile.TemporaryDirectory(prefix="nb-nodiscard-") as root:
            for path, text in {**GOOD, **changes}.items():
                full = os.path.join(root, path)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "w", encoding="utf-8") as f:
                    f.write(text)
            problems, everything = check(root)
            if expect is None:
                names = sorted({x.name for _, x in everything})
                want = ["fn", "nb__def", "nb__fwd", "nb_a_cb_t", "nb_a_f", "nb_a_fn",
                        "nb_a_inline", "nb_a_split"]
                if problems:
                    failures.append(f"self-test '{name}': expected no problem, got: {problems}")
                elif names != want:
                    failures.append(f"self-test '{name}': found {names}, expected {want}")
            elif not any(expect in p for p in problems):
                failures.append(f"self-test '{name}': expected a problem with '{expect}', "
                                f"got: {problems or 'none'}")
    return failures, len(cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--list", action="store_true", help="print every declarator found")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    status = 0
    if a.self_test:
        failures, n = self_test()
        for f in failures:
            print(f"check_nodiscard: {f}")
        if failures:
            status = 1
        else:
            print(f"check_nodiscard: self-test: all {n} made-up trees judged as expected")
    if not all(os.path.isdir(os.path.join(a.source_dir, d)) for d in ("include", "src")):
        print(f"check_nodiscard: {a.source_dir}: no include/ and src/ here")
        return 1
    problems, everything = check(a.source_dir)
    if a.list:
        for rel, x in everything:
            print(f"{rel}:{x.line}: {x.kind} {'static ' if x.static else ''}{x.name}"
                  f"{' ' + ATTR if x.attributed else ''}")
    for p in problems:
        print(f"check_nodiscard: {p}")
    if problems:
        print(f"check_nodiscard: {len(problems)} problem(s); {ATTR} and NB_IGNORE() are "
              f"described in include/notbrought/err.h and docs/style.md (Errors)")
        return 1
    print(f"check_nodiscard: {len(everything)} declarators of functions returning {RET} "
          f"(or pointers to them), all {ATTR}: OK")
    return status


if __name__ == "__main__":
    sys.exit(main())
