"""The docs a newcomer reads name only files and scripts the repo holds, and nothing outside it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    "README.md",
    "docs/architecture.md",
    "docs/operations.md",
    "docs/keap/README.md",
    "bench/README.md",
    "webapp/sandbox/README.md",
]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
REPO_PATH = re.compile(r"`((?:webapp|tests|bench|docs|templates|static|\.ci)/[A-Za-z0-9_./-]*)`")
SCRIPT = re.compile(r"python3? ((?:bench|webapp|tests)/[A-Za-z0-9_/]+\.py)")


def test_the_readme_is_a_front_door_that_links_each_readers_doc():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for doc in ("docs/architecture.md", "docs/operations.md", "webapp/sandbox/README.md",
                "bench/README.md", ".env.example"):  # fmt: skip
        assert f"]({doc}" in readme, f"the README does not link {doc}"
    assert "make run" in readme and "make test" in readme


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_a_doc_names_exists_in_the_repo(doc):
    path = ROOT / doc
    text = path.read_text()
    missing = [
        target
        for target in LINK.findall(text)
        if not target.startswith(("http://", "https://", "mailto:"))
        and not (path.parent / target).exists()
    ]
    missing += [
        named
        for named in REPO_PATH.findall(text) + SCRIPT.findall(text)
        if "<" not in named and "*" not in named and not (ROOT / named.rstrip(".")).exists()
    ]
    assert not missing, f"{doc} names what the repo does not hold: {missing}"


def test_nothing_in_the_repo_reads_from_beside_it():
    outside = re.compile(r"\.\./shared|parents\[\d\]\.parent\s*/\s*\"shared\"")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("webapp", "tests", "bench")
        for path in (ROOT / folder).rglob("*.py")
        if path != Path(__file__) and outside.search(path.read_text())
    ]
    assert not offenders
