"""A self-contained HTML drift report: inline SVG charts (matplotlib), no scripts, no CDN."""

from __future__ import annotations

import html
import io
from typing import Any

import numpy as np
import pyarrow as pa

from sentiops.monitoring.drift import DriftReport
from sentiops.monitoring.profile import Histogram, Profile

COLORS = {"too_few": "#757575", "ok": "#2e7d32", "warning": "#ef6c00", "drift": "#c62828"}


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bars(title: str, labels: list[str], reference: list[float], batch: list[float]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 2.8))
    x = np.arange(len(labels))
    ax.bar(x - 0.2, reference, 0.4, label="reference", color="#90a4ae")
    ax.bar(x + 0.2, batch, 0.4, label="batch", color="#1565c0")
    ax.set_xticks(x, labels, rotation=30 if len(labels) > 4 else 0, fontsize=8)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _svg(fig)


def _shares(histogram: Histogram) -> list[float]:
    counts = np.array(histogram["counts"], float)
    return (counts / max(1, counts.sum())).tolist()


def _trend(history: pa.Table, column: str, title: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 2.5))
    ax.plot(history.column("date").to_pylist(), history.column(column).to_pylist(), "o-")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    return _svg(fig)


def render(date: str, version: str, report: DriftReport, reference: Profile, batch: Profile, history: pa.Table) -> str:
    labels = reference.labels
    conf_labels = _edge_labels(reference.confidence_histogram["edges"])
    len_labels = _edge_labels(reference.token_length_histogram["edges"])
    charts = [
        _bars(
            "Predicted class shares",
            labels,
            [reference.class_shares[k] for k in labels],
            [batch.class_shares[k] for k in labels],
        ),
        _bars(
            "Confidence",
            conf_labels,
            _shares(reference.confidence_histogram),
            _shares(batch.confidence_histogram),
        ),
        _bars(
            "Text length (tokens)",
            len_labels,
            _shares(reference.token_length_histogram),
            _shares(batch.token_length_histogram),
        ),
    ]
    if history.num_rows > 1:
        charts += [
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
<div class="charts">{"".join(charts)}</div>
</body></html>
"""


def _edge_labels(edges: list[float]) -> list[str]:
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _numbers(numbers: dict[str, Any]) -> str:
    return ", ".join(f"{k}={round(v, 4) if isinstance(v, float) else v}" for k, v in numbers.items())
