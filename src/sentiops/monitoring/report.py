"""A self-contained HTML drift report: inline SVG charts (sentiops.charts), no scripts, no CDN."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyarrow as pa

from sentiops import charts
from sentiops.monitoring.drift import DriftReport
from sentiops.monitoring.profile import Histogram, Profile

COLORS = {"too_few": "#757575", "ok": "#2e7d32", "warning": "#ef6c00", "drift": "#c62828"}


def _shares(histogram: Histogram) -> list[float]:
    counts = np.array(histogram["counts"], float)
    return (counts / max(1, counts.sum())).tolist()


def _trend(history: pa.Table, column: str, title: str) -> str:
    points = list(zip(history.column("date").to_pylist(), history.column(column).to_pylist(), strict=True))
    return charts.trend([(str(d), float("nan") if v is None else float(v)) for d, v in points], title=title, width=420)


def render(date: str, version: str, report: DriftReport, reference: Profile, batch: Profile, history: pa.Table) -> str:
    labels = reference.labels
    conf_labels = _edge_labels(reference.confidence_histogram["edges"])
    len_labels = _edge_labels(reference.token_length_histogram["edges"])
    profiles = {"reference": reference, "batch": batch}
    shares = {name: [profile.class_shares[k] for k in labels] for name, profile in profiles.items()}
    figures = [
        charts.bars("Predicted class shares", labels, shares),
        charts.bars(
            "Confidence",
            conf_labels,
            {"reference": _shares(reference.confidence_histogram), "batch": _shares(batch.confidence_histogram)},
        ),
        charts.bars(
            "Text length (tokens)",
            len_labels,
            {"reference": _shares(reference.token_length_histogram), "batch": _shares(batch.token_length_histogram)},
        ),
    ]
    if history.num_rows > 1:
        figures += [
            _trend(history, "prediction_psi", "Prediction PSI over time"),
            _trend(history, "mean_confidence", "Mean confidence over time"),
            _trend(history, "positive_share", "Positive share over time"),
        ]
    rows = "".join(
        f"<tr><td>{html.escape(c.name)}</td><td style='color:{COLORS[c.status]}'><b>{c.status}</b></td>"
        f"<td>{html.escape(c.message)}</td><td><code>{html.escape(_numbers(c.numbers))}</code></td></tr>"
        for c in report.checks
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>sentiops drift report {html.escape(date)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} td,th{{border-bottom:1px solid #ddd;
padding:4px 8px;vertical-align:top;font-size:13px}} table{{border-collapse:collapse}}
.charts{{display:flex;flex-wrap:wrap;gap:12px}} .charts svg{{width:420px;height:auto}}</style></head>
<body><h1>Drift report: {html.escape(date)}</h1>
<p>Model version <b>{html.escape(version)}</b>, {report.n} scored rows. Overall status:
<b style="color:{COLORS[report.status]}">{report.status}</b></p>
<table><tr><th>check</th><th>status</th><th>summary</th><th>numbers</th></tr>{rows}</table>
<div class="charts">{"".join(figures)}</div>
</body></html>
"""


def _edge_labels(edges: list[float]) -> list[str]:
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _numbers(numbers: dict[str, Any]) -> str:
    return ", ".join(f"{k}={round(v, 4) if isinstance(v, float) else v}" for k, v in numbers.items())
