"""Inline SVG charts for the HTML pages (drift report, dashboard): grouped bars and trend lines.

Two small chart kinds are all the pages draw, so they are written as SVG text here rather than
rendered by a plotting library: the serve image then carries no matplotlib (about 95 MB with
its font and image dependencies), and the pages stay self-contained.
"""

from __future__ import annotations

import html
import math

SERIES_COLORS = ("#90a4ae", "#1565c0", "#ef6c00")
THRESHOLD_COLORS = {"warning": "#ef6c00", "drift": "#c62828"}


def bars(title: str, labels: list[str], series: dict[str, list[float]], width: int = 420, height: int = 240) -> str:
    """Grouped bars: one group per label, one bar per series, with a legend and a value axis."""
    left, right, top, bottom = 40, 10, 34, 46
    high = max([v for values in series.values() for v in values if not math.isnan(v)] + [1e-9])
    group = (width - left - right) / max(1, len(labels))
    bar = group * 0.8 / max(1, len(series))
    plot_h = height - top - bottom

    def y(v: float) -> float:
        return top + plot_h * (1 - v / high)

    parts = [_open(width, height, title), _text(width / 2, 16, title, size=13, anchor="middle", bold=True)]
    for i, (name, values) in enumerate(series.items()):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        parts.append(f'<rect x="{left + 90 * i}" y="22" width="10" height="8" fill="{color}"/>')
        parts.append(_text(left + 90 * i + 14, 30, name, size=10))
        for j, value in enumerate(values):
            x = left + group * j + group * 0.1 + bar * i
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y(value):.1f}" width="{bar:.1f}" '
                f'height="{top + plot_h - y(value):.1f}" fill="{color}">'
                f"<title>{html.escape(name)} {html.escape(labels[j])}: {value:.4f}</title></rect>"
            )
    base = top + plot_h
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="#555"/>')
    parts.append(_text(left - 4, top + 4, f"{high:.2g}", size=9, anchor="end"))
    parts.append(_text(left - 4, base, "0", size=9, anchor="end"))
    for j, label in enumerate(labels):
        x = left + group * (j + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{base + 12}" font-size="9" text-anchor="end" '
            f'transform="rotate(-30 {x:.1f} {base + 12})">{html.escape(label)}</text>'
        )
    return "".join(parts) + "</svg>"


def trend(
    points: list[tuple[str, float]],
    thresholds: dict[str, float] | None = None,
    title: str = "",
    width: int = 560,
    height: int = 160,
) -> str:
    """A value per date as a line with points; thresholds as dashed lines. Empty without data."""
    thresholds = thresholds or {}
    values = [v for _, v in points if not math.isnan(v)] + list(thresholds.values())
    if not points or not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    pad = 24

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / max(1, len(points) - 1))

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * (v - low) / span

    parts = [_open(width, height, title)]
    if title:
        parts.append(_text(width / 2, 14, title, size=12, anchor="middle", bold=True))
    for name, value in thresholds.items():
        parts.append(
            f'<line class="threshold" x1="{pad}" x2="{width - pad}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="{THRESHOLD_COLORS.get(name, "#888")}" stroke-dasharray="4 3"><title>{name} {value}</title></line>'
        )
    path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points) if not math.isnan(v))
    parts.append(f'<polyline points="{path}" fill="none" stroke="#1565c0" stroke-width="1.5"/>')
    for i, (date, v) in enumerate(points):
        if not math.isnan(v):
            parts.append(
                f'<circle class="point" cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="#1565c0">'
                f"<title>{html.escape(date)}: {v:.4f}</title></circle>"
            )
    parts.append(_text(pad, 14 if not title else 26, f"{high:.3f}", size=11))
    parts.append(_text(pad, height - 6, f"{low:.3f}", size=11))
    return "".join(parts) + "</svg>"


def _open(width: int, height: int, title: str) -> str:
    label = f' aria-label="{html.escape(title)}"' if title else ""
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img"{label}>'


def _text(x: float, y: float, text: str, size: int = 11, anchor: str = "start", bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{weight} '
        f'font-family="sans-serif">{html.escape(text)}</text>'
    )
