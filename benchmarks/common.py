"""What every benchmark shares: the tweet sample it draws from, the CPU line it prints, a child's
peak memory, a copy of a registry version."""

from __future__ import annotations

import csv
import gzip
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "sentiment140_30k.csv.gz"


def sample_rows() -> list[list[str]]:
    """The sample's rows (target, text), header dropped, in file order (negatives first)."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))[1:]


def cpu_model() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", info)
    flags = re.search(r"flags\s*:\s*(.+)", info)
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
    have = [f for f in wanted if flags and f in flags.group(1).split()]
    return f"{model.group(1) if model else platform.processor()} ({', '.join(have)}; {os.cpu_count()} cores)"


def tweets_file(n: int = 5000) -> Path:
    """The sample's first ``n`` tweets as a JSON list in a temp file (what the load generators rotate)."""
    import json
    import tempfile

    path = Path(tempfile.mkdtemp()) / "tweets.json"
    path.write_text(json.dumps([row[1] for row in sample_rows()][:n]))
    return path


# A child's own peak RSS, measured by a parent that has no other child.
MEASURE = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_rss(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run `command`; (wall seconds, its peak RSS in MB)."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], env=env, check=True, capture_output=True, text=True)
    return round(time.perf_counter() - started, 1), round(int(out.stdout.split()[-1]) / 1024, 1)


def copy_as_new_version(registry, source: str) -> str:  # noqa: ANN001 (a sentiops Registry)
    """Publish a byte-for-byte copy of a version under the next number (the same model, a new
    version): the tests' copier, so there is one."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: tests/
    from tests.helpers.serving import clone_version

    return clone_version(registry, source)
