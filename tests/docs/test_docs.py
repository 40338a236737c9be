"""The docs name every configuration key each daemon reads, and their links resolve.

Each daemon prints its keys with --help-config (from the same table the code
parses), so a key added without a line on the daemon's page fails here."""
import os
import re
import subprocess

import pytest

SRC = os.environ.get("IL_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("IL_BIN_DIR") or os.path.join(SRC, "build", "bin")
DOCS = os.path.join(SRC, "docs")

# daemon -> its page
PAGES = {
    "interlink": "interlink.md",
    "interlink-local": "local.md",
    "interlink-slurm": "slurm.md",
    "interlink-vk": "vk.md",
    "interlink-htcondor": "htcondor.md",
    "interlink-gateway": "interactive.md",
}


def config_keys(daemon):
    out = subprocess.run([os.path.join(BIN, daemon), "--help-config"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    lines = out.splitlines()
    assert lines and lines[0].split()[0] == "KEY", f"{daemon} --help-config: unexpected header {lines[:1]}"
    return [line.split()[0] for line in lines[1:] if line.strip()]


@pytest.mark.parametrize("daemon", sorted(PAGES))
def test_every_config_key_is_documented(daemon):
    if not os.path.exists(os.path.join(BIN, daemon)):
        pytest.skip(f"{daemon} is not built in {BIN}")
    with open(os.path.join(DOCS, PAGES[daemon])) as f:
        page = f.read()
    keys = config_keys(daemon)
    assert len(keys) > 5, f"{daemon} printed only {keys}"
    missing = [k for k in keys if f"`{k}`" not in page]
    assert not missing, f"docs/{PAGES[daemon]} does not name {missing} (printed by {daemon} --help-config)"


def markdown_files():
    files = [os.path.join(SRC, "README.md")]
    for root, _dirs, names in os.walk(DOCS):
        files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".md")]
    return files


def anchors(path):
    """GitHub-style anchors of a markdown file's headings."""
    out = set()
    fence = False
    with open(path) as f:
        for line in f:
            if line.startswith("```"):
                fence = not fence
            m = None if fence else re.match(r"^#+\s+(.*)", line)
            if m:
                text = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
                out.add(text.replace(" ", "-"))
    return out


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: os.path.relpath(p, SRC))
def test_links_resolve(path):
    bad = []
    with open(path) as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):      # http:, https:, mailto:: not checked (no network here)
            continue
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(dest):
            bad.append(f"{target}: no such file")
        elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
            bad.append(f"{target}: no such heading")
        elif not os.path.realpath(dest).startswith(os.path.realpath(SRC) + os.sep):
            bad.append(f"{target}: points outside the repository")
    assert not bad, f"{os.path.relpath(path, SRC)}: " + "; ".join(bad)


def test_docs_do_not_point_outside_the_repository():
    """What we rely on from upstream is in docs/upstream.md, in our words."""
    offenders = []
    for root in ("src", "docs", "tests", "scripts", "bench"):
        for dirpath, _dirs, names in os.walk(os.path.join(SRC, root)):
            for n in names:
                if not n.endswith((".c", ".h", ".md", ".py", ".sh")):
                    continue
                p = os.path.join(dirpath, n)
                if p == os.path.abspath(__file__):
                    continue
                with open(p, errors="replace") as f:
                    for i, line in enumerate(f, 1):
                        if "shared/reference" in line:
                            offenders.append(f"{os.path.relpath(p, SRC)}:{i}")
    assert not offenders, "points into ../shared/reference: " + ", ".join(offenders)
