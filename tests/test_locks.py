"""The committed locks agree with pyproject.toml: every declared dependency is pinned, within its range."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.helpers.data import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
LOCKS = {
    "serve": ["serve", "openvino"],
    "train": ["serve", "openvino", "train"],
    "dev": ["serve", "openvino", "train", "dev"],
}


def _pins(name: str) -> dict[str, Version]:
    pins = {}
    for line in (REPO / "requirements" / f"{name}.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        if match:
            pins[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pins


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_dependency_is_pinned_within_its_range(lock):
    pins = _pins(lock)
    declared = PROJECT["dependencies"] + [d for extra in LOCKS[lock] for d in PROJECT["optional-dependencies"][extra]]
    problems = []
    for spec in declared:
        requirement = Requirement(spec)
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name} is not in requirements/{lock}.txt")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement.name}=={pinned} is outside {requirement.specifier}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_the_serve_lock_carries_no_torch():
    assert "torch" not in _pins("serve")


def test_torch_is_pinned_in_one_place():
    mentions = [
        str(path.relative_to(REPO))
        for path in [REPO / "Makefile", REPO / "deploy" / "Dockerfile", *REPO.glob("src/**/*.py")]
        if re.search(r"torch==", path.read_text())
    ]
    assert mentions == []
    assert "torch==2.13.0" in PROJECT["optional-dependencies"]["train"]
