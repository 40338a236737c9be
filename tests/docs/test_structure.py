"""The shape of the source tree: no two files of a component call each other
(a file that calls back into a file that calls it), and no line over 100
columns.  Cheap checks that keep the structure from drifting back."""
import os
import re

SRC = os.environ.get("IL_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

DEFINITION = re.compile(r"^(?!static)[a-zA-Z_][\w \*]*?\b(\w+)\(", re.M)
COMMENT = re.compile(r"/\*.*?\*/", re.S)
KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof"}


def c_files(*roots):
    for root in roots:
        for dirpath, _dirs, names in os.walk(os.path.join(SRC, root)):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    yield os.path.join(dirpath, n)


def test_no_two_way_file_dependencies():
    """Within src/, a file that uses a function of another file (a call or a
    function pointer) must not be used back by it."""
    sources = [p for p in c_files("src") if p.endswith(".c")]
    defined_in = {}
    for p in sources:
        with open(p) as f:
            for m in DEFINITION.finditer(f.read()):
                if m.group(1) not in KEYWORDS:
                    defined_in.setdefault(m.group(1), p)
    uses = {}
    for p in sources:
        with open(p) as f:
            words = set(re.findall(r"\b\w+\b", COMMENT.sub("", f.read())))
        uses[p] = {defined_in[w] for w in words if defined_in.get(w, p) != p}
    pairs = sorted({tuple(sorted((os.path.relpath(a, SRC), os.path.relpath(b, SRC))))
                    for a in sources for b in uses[a] if a in uses.get(b, ())})
    assert not pairs, "files that use each other: " + "; ".join(f"{a} <-> {b}" for a, b in pairs)


def test_no_line_over_100_columns():
    long = []
    for p in c_files("src", "tests", "bench"):
        with open(p, errors="replace") as f:
            for i, line in enumerate(f, 1):
                if len(line.rstrip("\n")) > 100:
                    long.append(f"{os.path.relpath(p, SRC)}:{i}")
    assert not long, "lines over 100 columns: " + ", ".join(long[:20])
