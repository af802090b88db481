"""A self-contained HTML drift report: inline SVG charts (sentiops.charts), no scripts, no CDN.

One section per check, as each check describes itself (monitoring/checks/)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyarrow as pa

from sentiops import charts
from sentiops.monitoring.checks import BY_NAME
from sentiops.monitoring.drift import Check, DriftReport
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
    rows = "".join(
        f"<tr><td><a href='#{c.name}'>{html.escape(c.name)}</a></td>"
        f"<td style='color:{COLORS[c.status]}'><b>{c.status}</b></td><td>{html.escape(c.message)}</td></tr>"
        for c in report.checks
    )
    sections = "".join(_section(c, history) for c in report.checks)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>sentiops drift report {html.escape(date)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} td,th{{border-bottom:1px solid #ddd;
padding:4px 8px;vertical-align:top;font-size:13px;text-align:left}} table{{border-collapse:collapse}}
.charts{{display:flex;flex-wrap:wrap;gap:12px}} .charts svg{{width:420px;height:auto}}
section{{border-top:1px solid #ccc;margin-top:1.5em}} .test,.advice{{font-size:13px}}</style></head>
<body><h1>Drift report: {html.escape(date)}</h1>
<p>Model version <b>{html.escape(version)}</b>, {report.n} scored rows. Overall status:
<b style="color:{COLORS[report.status]}">{report.status}</b>. Every number is in <code>drift.json</code> beside
this report.</p>
<table><tr><th>check</th><th>status</th><th>summary</th></tr>{rows}</table>
<div class="charts">{"".join(figures)}</div>
{sections}
</body></html>
"""


def _section(result: Check, history: pa.Table) -> str:
    """One check: its status, its few numbers named and rounded, the test behind it, what to do."""
    check = BY_NAME[result.name]
    shown = "".join(
        f"<tr><th>{html.escape(item.label)}</th><td>{_format(result.numbers.get(item.key), item.format)}</td></tr>"
        for item in check.shown
        if item.key in result.numbers
    )
    adjusted = result.numbers.get("holm_p", {})
    if adjusted:
        smallest = min(adjusted.values())
        shown += f"<tr><th>smallest p after Holm's correction</th><td>{smallest:.2g}</td></tr>"
    trends = ""
    if history.num_rows > 1:
        trends = "".join(_trend(history, chart.column, chart.title) for chart in check.charts)
    advice = (
        f"<p class='advice'><b>When it fires:</b> {html.escape(check.advice)}</p>"
        if result.status in ("warning", "drift")
        else f"<p class='advice'>When it fires: {html.escape(check.advice)}</p>"
    )
    return f"""<section id="{result.name}"><h2>{html.escape(check.title)} (<code>{result.name}</code>):
<span style="color:{COLORS[result.status]}">{result.status}</span></h2>
<p>{html.escape(result.message)}</p><table>{shown}</table>
<p class="test">Test: {html.escape(check.test)}.</p>{advice}<div class="charts">{trends}</div></section>
"""


def _format(value: Any, spec: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int | float):
        return format(int(value) if spec == "d" else float(value), spec)
    return html.escape(str(value))


def _edge_labels(edges: list[float]) -> list[str]:
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
