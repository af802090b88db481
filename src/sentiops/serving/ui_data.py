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

import pyarrow.parquet as pq

from sentiops import charts
from sentiops.config import Settings
from sentiops.registry import Registry, RegistryError

_verified: dict[tuple[str, float], str] = {}


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
        metrics = registry.read_json(version, "metrics.json")
        found[alias] = {
            "version": version,
            "since": last.get("time", ""),
            "by": last.get("reason", ""),
            "holdout": metrics.get("holdout", {}),
        }
    return found


def versions(settings: Settings) -> list[dict[str, Any]]:
    registry = Registry(settings.registry)
    aliases = registry.aliases()
    rows = []
    for version in reversed(registry.versions()):
        metrics = registry.read_json(version, "metrics.json")
        training = registry.read_json(version, "training.json")
        folder = registry.path(version)
        rows.append(
            {
                "version": version,
                "aliases": [a for a, v in aliases.items() if v == version],
                "holdout": metrics.get("holdout", {}),
                "validation": metrics.get("validation", {}),
                "agreement": metrics.get("parity", {}).get("int8_fp32_agreement"),
                "backends": metrics.get("backends", {}),
                "parent": training.get("parent_version"),
                "created": training.get("created", ""),
                "data_sha": (training.get("data", {}).get("manifest_sha256") or "")[:12],
                "examples": training.get("examples"),
                "checksums": checksum_status(registry, version, folder),
                "plots": sorted(p.name for p in folder.glob("*.png")),
            }
        )
    return rows


def checksum_status(registry: Registry, version: str, folder: Path) -> str:
    key = (str(folder), (folder / "CHECKSUMS").stat().st_mtime if (folder / "CHECKSUMS").is_file() else 0.0)
    if key not in _verified:
        try:
            registry.verify(version)
            _verified[key] = "ok"
        except RegistryError as exc:
            _verified[key] = f"FAILED: {exc}"
    return _verified[key]


CHARTS = [
    ("Share of positive predictions", "positive_share", {}),
    ("Prediction PSI", "prediction_psi", {"warning": "psi_warning", "drift": "psi_drift"}),
    ("Jensen-Shannon distance of class shares", "js_distance", {"warning": "js_warning", "drift": "js_drift"}),
    ("Mean confidence", "mean_confidence", {}),
    ("Confidence KS statistic", "confidence_ks", {"warning": "ks_warning", "drift": "ks_drift"}),
    ("Token-length PSI", "token_length_psi", {"warning": "psi_warning", "drift": "psi_drift"}),
    ("Unknown-token share", "unknown_token_share", {}),
    ("Accuracy (labelled days)", "accuracy", {}),
    ("Estimated accuracy (no labels)", "estimated_accuracy", {}),
]


def drift(settings: Settings) -> dict[str, Any]:
    path = settings.results / "drift" / "history.parquet"
    if not path.is_file():
        return {"days": [], "charts": []}
    table = pq.read_table(path).to_pylist()
    thresholds = settings.drift.model_dump()
    charts = []
    for title, column, lines in CHARTS:
        points = [(row["date"], _number(row.get(column))) for row in table]
        if all(math.isnan(v) for _, v in points):
            continue
        charts.append(Chart(title, column, points, {k: float(thresholds[v]) for k, v in lines.items()}))
    days = [
        {
            "date": row["date"],
            "status": row["status"],
            "n": row["n"],
            "version": row["model_version"],
            "report": (settings.results / "drift" / f"date={row['date']}" / "report.html").is_file(),
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


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")
