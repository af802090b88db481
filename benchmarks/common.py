"""What every benchmark shares: the tweet sample it draws from and the CPU line it prints."""

from __future__ import annotations

import csv
import gzip
import os
import platform
import re
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
