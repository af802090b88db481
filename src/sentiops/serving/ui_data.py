"""What the dashboard shows, read from the registry and the results folder (read-only).

Kept apart from the routes so the pages are plain functions of files, and fast: the drift
history is one Parquet file, decisions and alias changes are JSON lines, and checksum
verification is cached per version folder (hashing every model on every page load would not
stay under a few hundred milliseconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sentiops import charts
from sentiops.config import Settings
from sentiops.monitoring.checks import CHECKS
from sentiops.registry import Registry, RegistryError
from sentiops.volume import DateFiles, drift_history

_verified: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


@dataclass
class Chart:
    """One drift trend: a value per date, the thresholds drawn as lines."""

    title: str
    column: str
    points: list[tuple[str, float]]
    thresholds: dict[str, float] = field(default_factory=dict)

    def svg(self, width: int = 560, height: int = 160) -> str:
        return charts.trend(self.points, self.thresholds, width=width, height=height)


def registry_overview(settings: Settings) -> dict[str, Any]:
    registry = Registry(settings.registry)
    aliases = registry.aliases()
    history = registry.alias_history()
    found = {}
    for alias in ("production", "staging"):
        version = aliases.get(alias)
        if version is None:
            continue
        last: dict[str, Any] = next((h for h in reversed(history) if h["alias"] == alias and h["to"] == version), {})
        found[alias] = {
            "version": version,
            "since": last.get("time", ""),
            "by": last.get("reason", ""),
            "holdout": _report(registry.folder(version).metrics().holdout),
        }
    return found


def versions(settings: Settings) -> list[dict[str, Any]]:
    registry = Registry(settings.registry)
    aliases = registry.aliases()
    rows = []
    for version in reversed(registry.versions()):
        files = registry.folder(version)
        metrics, training, folder = files.metrics(), files.training(), files.path
        rows.append(
            {
                "version": version,
                "aliases": [a for a, v in aliases.items() if v == version],
                "classes": files.labels().labels,
                "holdout": _report(metrics.holdout),
                "validation": _report(metrics.validation),
                "agreement": metrics.parity.int8_fp32_agreement,
                "backends": {name: entry.model_dump() for name, entry in metrics.backends.items()},
                "parent": training.parent_version,
                "created": training.created,
                "data_sha": (training.data.manifest_sha256 or "")[:12],
                "examples": training.examples,
                "checksums": checksum_status(registry, version, folder),
                "plots": sorted(p.name for p in folder.glob("*.png")),
            }
        )
    return rows


def checksum_status(registry: Registry, version: str, folder: Path) -> str:
    # Keyed by every file's size and mtime, not the CHECKSUMS file's alone: a changed model file
    # must show as failed on the next page load.
    key = (str(folder), _file_stamps(folder))
    if key not in _verified:
        try:
            registry.verify(version)
            _verified[key] = "ok"
        except RegistryError as exc:
            _verified[key] = f"FAILED: {exc}"
    return _verified[key]


def drift(settings: Settings) -> dict[str, Any]:
    path = drift_history(settings.results)
    if not path.is_file():
        return {"days": [], "charts": []}
    table = pq.read_table(path).to_pylist()
    thresholds = settings.drift.model_dump()
    charts = []
    for spec in (chart for check in CHECKS for chart in check.charts):
        points = [(row["date"], _number(row.get(spec.column))) for row in table]
        if all(math.isnan(v) for _, v in points):
            continue
        lines = {k: float(thresholds[v]) for k, v in spec.lines.items()}
        charts.append(Chart(spec.title, spec.column, points, lines))
    days = [
        {
            "date": row["date"],
            "status": row["status"],
            "n": row["n"],
            "version": row["model_version"],
            "source": "API answers" if row.get("source") == "api" else "batch",  # older rows: batch
            "realized": row.get("realized_accuracy") if _real(row.get("realized_accuracy")) else None,
            "report": DateFiles(settings.results, row["date"]).report.is_file(),
        }
        for row in reversed(table)
    ]
    return {"days": days, "charts": charts}


def decisions(settings: Settings) -> list[dict[str, Any]]:
    rows = []
    for entry in reversed(Registry(settings.registry).decisions()):
        n = entry.get("numbers", {})
        paired = n.get("paired", {})
        rows.append(
            {
                "challenger": entry.get("challenger"),
                "champion": entry.get("champion"),
                "action": entry.get("action"),
                "time": entry.get("time"),
                "live": entry.get("kind") == "live",  # promote --if-live, on shadow pairs
                "reasons": entry.get("reasons", []),
                "difference": paired.get("difference", n.get("holdout_change")),
                "interval": paired.get("interval"),
                "n": paired.get("n"),
                "holdout": (
                    n.get("challenger", {}).get("holdout", {}).get("accuracy"),
                    n.get("champion", {}).get("holdout", {}).get("accuracy"),
                ),
            }
        )
    return rows


def _file_stamps(folder: Path) -> tuple[tuple[str, int, int], ...]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            found.append((path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def _report(report: Any) -> dict[str, Any]:
    return report.model_dump() if report is not None else {}


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def labelling(settings: Settings) -> dict[str, Any]:
    """The Overview's labelling card: the queue, this week's labels, realized beside estimated accuracy."""
    import datetime as dt

    from sentiops.data.feedback_reader import current_labels
    from sentiops.labelling.queue import waiting_items
    from sentiops.labelling.standing import standings

    waiting = len(waiting_items(settings.data, settings.label_overlap_share))
    labels = current_labels(settings.data)
    week_ago = pa.scalar(dt.datetime.now(dt.UTC) - dt.timedelta(days=7), labels.schema.field("received_at").type)
    week = labels.filter(pc.fill_null(pc.greater_equal(labels.column("received_at"), week_ago), False))
    trusted = int(pc.sum(pc.fill_null(week.column("trusted"), False)).as_py() or 0)
    found: dict[str, Any] = {"waiting": waiting, "week": week.num_rows, "week_trusted": trusted}
    found["labellers"] = standings(settings.data, settings.label_min_overlaps)
    found["min_kappa"] = settings.label_min_kappa
    path = drift_history(settings.results)
    if path.is_file():
        table = pq.read_table(path).sort_by("date").to_pylist()
        with_labels = [r for r in table if _real(r.get("realized_accuracy"))]
        if with_labels:
            newest = with_labels[-1]
            found.update(
                date=newest["date"],
                realized=newest["realized_accuracy"],
                realized_n=newest.get("realized_labels"),
                estimated=newest.get("estimated_accuracy"),
            )
    return found


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and not math.isnan(value)


def live_trial(settings: Settings) -> dict[str, Any] | None:
    """The Overview's live-trial card: production against staging on the shadow pairs (the numbers
    of `sentiops models compare --live`), and a canary stop if the guard made one. None without
    a staging version."""
    from sentiops.monitoring.live import canary_stops, compare_live

    comparison = compare_live(settings)
    if comparison.staging is None:
        return None
    found = comparison.as_dict()
    found["stop"] = canary_stops(settings).get(comparison.staging)
    return found
