"""Test data helpers: the bundled Sentiment140 extract and CSV writing."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample" / "sentiment140_30k.csv.gz"


def sample_rows(n: int | None = None) -> list[tuple[str, str]]:
    """(target, text) rows from the bundled extract, negatives and positives interleaved."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8", newline="") as handle:
        rows = [(r[0], r[1]) for r in list(csv.reader(handle))[1:]]
    neg = [r for r in rows if r[0] == "0"]
    pos = [r for r in rows if r[0] == "4"]
    mixed = [r for pair in zip(neg, pos, strict=False) for r in pair]
    return mixed[:n] if n else mixed


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, ...] = ("target", "text")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def distinct_rows(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Rows whose tweets all differ as `data prepare` sees them (the sample holds a few copies
    that differ only by a mention or a link, and a few tweets that are nothing but one)."""
    from sentiops.text import dedup_key

    kept: dict[str, tuple[str, str]] = {}
    for target, text in rows:
        if dedup_key(text):
            kept.setdefault(dedup_key(text), (target, text))
    return list(kept.values())
