"""Live evidence on staging: both models' answers to the same requests, read from the prediction log.

A shadow row names the answer it was scored beside (`shadow_of`), so every shadowed request is
a pair: production's answer and staging's, whichever of them the caller got. Per model: n,
label shares, mean confidence, estimated accuracy (mean calibrated confidence, each version its
own temperature); per pair: agreement with a Wilson interval, and, where labels have come back
for the answered prediction ids, both models' realized accuracy on those same predictions
(paired: bootstrap interval + exact McNemar, evaluation/paired.py).

`live_decision` judges `models promote staging --if-live` on that evidence; every decision
goes to registry/decisions.jsonl with its numbers, promoted or refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import binomtest

from sentiops.config import Settings
from sentiops.data.feedback import current_labels
from sentiops.data.labels import LABELS
from sentiops.data.predictions import SHADOW, log_files, read_log_file
from sentiops.evaluation.calibration import calibrate
from sentiops.evaluation.paired import compare
from sentiops.files import read_json_lines
from sentiops.registry import AliasMoved, Registry, RegistryError

COLUMNS = ["prediction_id", "time", "model_version", "role", "label", "confidence", "scores", "shadow_of"]


@dataclass
class ModelLive:
    version: str
    alias: str  # production or staging
    n: int = 0
    answered: int = 0  # of n, answers callers received (the rest: shadow rows)
    shares: dict[str, float] = field(default_factory=dict)
    mean_confidence: float | None = None
    estimated_accuracy: float | None = None
    realized_accuracy: float | None = None  # on the labelled pairs


@dataclass
class LiveComparison:
    production: str | None
    staging: str | None
    since: str
    models: list[ModelLive]
    pairs: int = 0
    agreement: float | None = None
    agreement_interval: tuple[float, float] | None = None
    first_pair: str | None = None
    last_pair: str | None = None
    labelled_pairs: int = 0
    paired: dict[str, Any] | None = None  # evaluation.paired.compare, champion = production

    @property
    def hours(self) -> float:
        """How long staging has been shadowing: from the first pair until now."""
        if self.first_pair is None:
            return 0.0
        return (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(self.first_pair)).total_seconds() / 3600

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hours": self.hours}


def staging_since(registry: Registry, staging: str | None) -> dt.datetime:
    """When the staging alias last moved to this version (else a week ago)."""
    for entry in reversed(registry.alias_history()):
        if entry["alias"] == "staging" and entry["to"] == staging:
            return dt.datetime.fromtimestamp(entry["time"], dt.UTC)
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=7)


def compare_live(settings: Settings, since: dt.datetime | None = None) -> LiveComparison:
    """Production against staging (as the registry names them now) on the log since `since`
    (default: when staging was set)."""
    registry = Registry(settings.registry)
    aliases = registry.aliases()
    production, staging = aliases.get("production"), aliases.get("staging")
    if staging == production:
        staging = None
    start = since or staging_since(registry, staging)
    versions = {v: alias for alias, v in (("production", production), ("staging", staging)) if v}
    rows = _rows(settings, start, set(versions))
    models = [_model(registry, version, alias, rows) for version, alias in versions.items()]
    comparison = LiveComparison(production, staging, start.isoformat(), models)
    if production and staging:
        _pairs(settings, comparison, rows, production, staging)
    return comparison


def _rows(settings: Settings, since: dt.datetime, versions: set[str]) -> dict[str, list[Any]]:
    """The log's rows of these versions since `since`, as columns."""
    found: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    if not versions:
        return found
    days = (dt.datetime.now(dt.UTC).date() - since.date()).days
    for i in range(days + 1):
        date = (since.date() + dt.timedelta(days=i)).isoformat()
        for file in log_files(settings.results, date):
            table = read_log_file(file, COLUMNS)
            keep = pc.and_(
                pc.is_in(table.column("model_version"), pa.array(sorted(versions))),
                pc.greater_equal(table.column("time"), pa.scalar(since, type=table.schema.field("time").type)),
            )
            table = table.filter(keep)
            for name in COLUMNS:
                found[name] += table.column(name).to_pylist()
    return found


def _model(registry: Registry, version: str, alias: str, rows: dict[str, list[Any]]) -> ModelLive:
    mine = [i for i, v in enumerate(rows["model_version"]) if v == version]
    model = ModelLive(version, alias, n=len(mine))
    if not mine:
        return model
    labels = [rows["label"][i] for i in mine]
    model.answered = sum(rows["role"][i] != SHADOW for i in mine)
    model.shares = {name: labels.count(name) / len(labels) for name in LABELS}
    model.mean_confidence = float(np.mean([rows["confidence"][i] for i in mine]))
    try:
        temperature = registry.folder(version).metrics().temperature
    except (RegistryError, OSError, ValueError):
        temperature = None
    if temperature:
        probs = np.array([[dict(rows["scores"][i])[k] for k in sorted(LABELS)] for i in mine], dtype=float)
        model.estimated_accuracy = float(calibrate(probs, temperature).max(axis=1).mean())
    return model


def _pairs(settings: Settings, comparison: LiveComparison, rows: dict[str, list[Any]], prod: str, stag: str) -> None:
    answered = {
        pid: (version, label)
        for pid, version, label, role in zip(
            rows["prediction_id"], rows["model_version"], rows["label"], rows["role"], strict=True
        )
        if role != SHADOW
    }
    pairs: list[tuple[str, str, str, Any]] = []  # (answered id, production's label, staging's, time)
    for version, label, of, time in zip(
        rows["model_version"], rows["label"], rows["shadow_of"], rows["time"], strict=True
    ):
        if of is None or of not in answered:
            continue
        other_version, other_label = answered[of]
        if {version, other_version} != {prod, stag}:
            continue
        pairs.append((of, label if version == prod else other_label, label if version == stag else other_label, time))
    if not pairs:
        return
    agreed = sum(p == s for _, p, s, _ in pairs)
    interval = binomtest(agreed, len(pairs)).proportion_ci(method="wilson")
    times = sorted(t for *_, t in pairs)
    comparison.pairs, comparison.agreement = len(pairs), agreed / len(pairs)
    comparison.agreement_interval = (float(interval.low), float(interval.high))
    comparison.first_pair, comparison.last_pair = times[0].isoformat(), times[-1].isoformat()
    truth = _labels_by_id(settings, {of for of, *_ in pairs})
    labelled = [(truth[of], p, s) for of, p, s, _ in pairs if of in truth]
    comparison.labelled_pairs = len(labelled)
    if labelled:
        prod_right = np.array([t == p for t, p, _ in labelled])
        stag_right = np.array([t == s for t, _, s in labelled])
        comparison.paired = compare(prod_right, stag_right).as_dict()
        for model in comparison.models:
            model.realized_accuracy = float((prod_right if model.version == prod else stag_right).mean())


def _labels_by_id(settings: Settings, ids: set[str]) -> dict[str, str]:
    table = current_labels(settings.data).select(["prediction_id", "label"])
    return {
        pid: LABELS[int(label)]
        for pid, label in zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True)
        if pid in ids
    }


def judge(settings: Settings, comparison: LiveComparison, stopped: dict[str, dict[str, Any]]) -> list[str]:
    """Why staging may not replace production on this evidence ([] when it may)."""
    s, c = settings, comparison
    if c.staging is None:
        return ["no staging version beside production"]
    reasons = []
    if c.staging in stopped:
        reasons.append(f"the canary guard stopped version {c.staging}: {stopped[c.staging].get('reason')}")
    if c.hours < s.live_min_hours:
        reasons.append(f"shadow period {c.hours:.1f} h < {s.live_min_hours:g} h")
    if c.pairs < s.live_min_pairs:
        reasons.append(f"{c.pairs} shadow pairs < {s.live_min_pairs}")
    if c.agreement is not None and c.agreement < s.live_min_agreement:
        reasons.append(f"live agreement with production {c.agreement:.4f} < {s.live_min_agreement}")
    if c.paired is not None and c.labelled_pairs >= s.live_min_labelled and c.paired["difference"] < -s.live_margin:
        reasons.append(
            f"realized accuracy on {c.labelled_pairs} labelled predictions: staging "
            f"{c.paired['challenger_accuracy']:.4f} against production {c.paired['champion_accuracy']:.4f} "
            f"({c.paired['difference']:+.4f}, worse by more than {s.live_margin})"
        )
    return reasons


def canary_stops_file(results: Path) -> Path:
    """Where the API's canary guard records its stops (serving/canary.py), one JSON line each."""
    return results / "live" / "canary_stops.jsonl"


def canary_stops(settings: Settings) -> dict[str, dict[str, Any]]:
    """Canary stops the API's guard recorded, by staging version."""
    return {r["version"]: r for r in read_json_lines(canary_stops_file(settings.results)) if "version" in r}


def live_decision(settings: Settings, since: dt.datetime | None = None) -> dict[str, Any]:
    """Judge staging on live evidence and, when it passes, make it production (compare-and-swap
    on the production it was compared with). Logged either way."""
    registry = Registry(settings.registry)
    comparison = compare_live(settings, since)
    reasons = judge(settings, comparison, canary_stops(settings))
    action = "refused" if reasons else "promoted"
    if not reasons:
        assert comparison.staging is not None and comparison.production is not None
        try:
            registry.verify(comparison.staging)
            registry.set_alias("production", comparison.staging, "promote --if-live", only_if=comparison.production)
        except (AliasMoved, RegistryError) as exc:
            action, reasons = "refused", [f"not promoted: {exc}"]
    decision = {
        "kind": "live",
        "challenger": comparison.staging,
        "champion": comparison.production,
        "action": action,
        "reasons": reasons or ["live evidence passed every check"],
        "numbers": {"evidence": "live", "live": comparison.as_dict(), "paired": comparison.paired or {}},
    }
    registry.log_decision(decision)
    return decision


def decision_lines(decision: dict[str, Any]) -> list[str]:
    live = decision["numbers"]["live"]
    lines = [
        f"{decision['action']}: staging {decision['challenger']} against production {decision['champion']}",
        *(f"  - {r}" for r in decision["reasons"]),
    ]
    lines += comparison_lines(live)
    return lines


def comparison_lines(live: dict[str, Any]) -> list[str]:
    lines = [f"since {live['since']} ({live['hours']:.1f} h of shadow pairs)"]
    for m in live["models"]:
        shares = ", ".join(f"{k} {v:.3f}" for k, v in m["shares"].items())
        lines.append(
            f"  {m['alias']:<10} v{m['version']:<4} n={m['n']} (answered {m['answered']})  {shares or '-'}  "
            f"mean confidence {_fmt(m['mean_confidence'])}  estimated accuracy {_fmt(m['estimated_accuracy'])}  "
            f"realized {_fmt(m['realized_accuracy'])}"
        )
    if live["pairs"]:
        low, high = live["agreement_interval"]
        lines.append(f"  agreement {live['agreement']:.4f} [{low:.4f}, {high:.4f}] on {live['pairs']} pairs")
    else:
        lines.append("  no shadow pairs yet")
    paired = live.get("paired")
    if paired:
        low, high = paired["interval"]
        lines.append(
            f"  realized on {paired['n']} labelled pairs: staging - production {paired['difference']:+.4f} "
            f"[{low:+.4f}, {high:+.4f}], McNemar p {paired['mcnemar_p']:.4f}"
        )
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
