"""The README and docs/ stay true: every relative link resolves, every command block starts with
a real command or make target, and the README stays a front page."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.helpers.data import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
COMMAND_BLOCK = re.compile(r"^```(?:sh|bash)\n(.*?)^```", re.S | re.M)
# Tools a command block may start with that this machine need not have (the cluster's and the load
# generator's); everything else must be on the PATH, in the repository, or a make target.
ELSEWHERE = {"kubectl", "minikube", "podman", "wrk", "openssl", "docker"}


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z][\w-]*):", (REPO / "Makefile").read_text(), re.M))


def _commands(page: Path) -> list[str]:
    lines = []
    for block in COMMAND_BLOCK.findall(page.read_text()):
        lines += [line.strip() for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return lines


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor on the same page
        if not (page.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    assert broken == []


def _words(line: str) -> list[str]:
    """The words of the command a shell line runs: past leading VAR=value words, into VAR=$(command)."""
    line = re.sub(r"\s+#.*$", "", line)  # a trailing comment
    words = re.sub(r"^[A-Z_][A-Z0-9_]*=\$\(", "", line).split()
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words.pop(0)
    return words or [""]


def _is_real(first: str, rest: list[str], targets: set[str]) -> bool:
    if first == "make":
        return all(w in targets for w in rest if "=" not in w)
    if first.startswith(".venv/bin/"):
        return first.removeprefix(".venv/bin/") in ("sentiops", "python", "pytest")  # what `make install` puts there
    if "/" in first:
        return (REPO / first).exists()  # a script of the repository
    return first in ELSEWHERE or shutil.which(first) is not None


@pytest.mark.parametrize("page", [p for p in PAGES if _commands(p)], ids=lambda p: p.name)
def test_each_command_starts_with_a_real_command_or_make_target(page):
    targets = _make_targets()
    wrong = [line for line in _commands(page) if not _is_real(_words(line)[0], _words(line)[1:], targets)]
    assert wrong == []


def test_the_readme_is_a_front_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    linked = set(LINK.findall(readme))
    assert {f"docs/{p.name}" for p in PAGES[1:]} <= linked  # every docs page is reachable from it
    quick_start = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    assert _commands_in(quick_start) == ["make demo", "make test"]


def _commands_in(text: str) -> list[str]:
    return [line for block in COMMAND_BLOCK.findall(text) for line in block.splitlines() if line.strip()]
