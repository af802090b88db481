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
from sentiops.data.feedback_reader import trusted_labels
from sentiops.data.labels import BINARY, LABELS
from sentiops.data.predictions import SCHEMA, SHADOW, log_files, read_log_file
from sentiops.evaluation.calibration import calibrate
from sentiops.evaluation.paired import compare
from sentiops.files import read_json_lines
from sentiops.registry import AliasMoved, Registry, RegistryError

COLUMNS = [
    "prediction_id",
    "time",
    "model_version",
    "role",
    "label",
    "confidence",
    "scores",
    "shadow_of",
    "text_sha256",
]


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
        """How long the evidence spans: from the first pair to the last (not to now: a trial that
        saw one burst of traffic a day ago has one burst of evidence, not a day of it)."""
        if self.first_pair is None or self.last_pair is None:
            return 0.0
        span = dt.datetime.fromisoformat(self.last_pair) - dt.datetime.fromisoformat(self.first_pair)
        return span.total_seconds() / 3600

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
    (default: when staging was set). The log is read an hour partition at a time: memory follows
    the busiest hour, not the window."""
    registry = Registry(settings.registry)
    aliases = registry.aliases()
    production, staging = aliases.get("production"), aliases.get("staging")
    if staging == production:
        staging = None
    start = since or staging_since(registry, staging)
    versions = {v: alias for alias, v in (("production", production), ("staging", staging)) if v}
    models = {v: _Model(registry, v) for v in versions}
    pairs = _Pairs(settings, production, staging)
    hours = _hours(settings, start) if versions else []
    tables = {}  # at most this hour's and the next one's
    for i, hour in enumerate(hours):
        for h in hours[i : i + 2]:
            if h not in tables:
                tables[h] = _read_hour(settings, h, start, set(versions))
        current = tables.pop(hour)
        for version, model in models.items():
            model.add(current.filter(pc.equal(current.column("model_version"), version)))
        if production and staging:
            # A shadow row lands in its answer's hour or, scored later, in the next one.
            later = tables.get(hours[i + 1]) if i + 1 < len(hours) else None
            pairs.add(current, later, "".join(hour).replace("-", ""))
    comparison = LiveComparison(
        production, staging, start.isoformat(), [m.result(versions[v]) for v, m in models.items()]
    )
    if production and staging:
        pairs.result(comparison)
    return comparison


def _hours(settings: Settings, since: dt.datetime) -> list[tuple[str, str]]:
    """The log's (date, hour) partitions from `since` on, oldest first."""
    found = set()
    for file in log_files(settings.results):
        date, hour = file.parent.parent.name.split("=", 1)[1], file.parent.name.split("=", 1)[1]
        if f"{date}T{hour}" >= f"{since:%Y-%m-%dT%H}":
            found.add((date, hour))
    return sorted(found)


def _read_hour(settings: Settings, hour: tuple[str, str], since: dt.datetime, versions: set[str]) -> pa.Table:
    date, h = hour
    folder = settings.results / "predictions" / f"date={date}" / f"hour={h}"
    tables = []
    for file in sorted(folder.glob("*.parquet")):
        if file.name.startswith("."):
            continue
        try:
            table = read_log_file(file, COLUMNS)
        except FileNotFoundError:
            continue  # `predictions prune` removed its day while we read: those rows are gone for all
        keep = pc.and_(
            pc.is_in(table.column("model_version"), pa.array(sorted(versions))),
            pc.greater_equal(table.column("time"), pa.scalar(since, type=table.schema.field("time").type)),
        )
        tables.append(table.filter(keep))
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table().select(COLUMNS)


class _Model:
    """One version's running totals over the hours read."""

    def __init__(self, registry: Registry, version: str) -> None:
        self.version = version
        self.n = self.answered = 0
        self.confidence = self.calibrated = 0.0
        try:
            folder = registry.folder(version)
            self.temperature = folder.metrics().temperature
            self.counts = dict.fromkeys(folder.labels().labels, 0)  # the version's classes
        except (RegistryError, OSError, ValueError):
            self.temperature = None
            self.counts = dict.fromkeys(BINARY, 0)

    def add(self, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        self.n += rows.num_rows
        self.answered += rows.num_rows - pc.sum(pc.equal(rows.column("role"), SHADOW)).as_py()
        for name in self.counts:
            self.counts[name] += pc.sum(pc.equal(rows.column("label"), name)).as_py() or 0
        self.confidence += pc.sum(rows.column("confidence")).as_py()
        if self.temperature:
            self.calibrated += float(calibrate(_probabilities(rows), self.temperature).max(axis=1).sum())

    def result(self, alias: str) -> ModelLive:
        model = ModelLive(self.version, alias, n=self.n, answered=self.answered)
        if self.n:
            model.shares = {name: count / self.n for name, count in self.counts.items()}
            model.mean_confidence = self.confidence / self.n
            model.estimated_accuracy = self.calibrated / self.n if self.temperature else None
        return model


def _probabilities(rows: pa.Table) -> np.ndarray:
    """The scores map as an (n, classes) array in LABELS order, whatever order a model wrote them in
    (the rows of one version: all with the same classes)."""
    # As a list of structs: MapArray.keys / .items ignore a slice's offset, ListArray.flatten does not.
    entries = (
        rows.column("scores")
        .combine_chunks()
        .cast(pa.list_(pa.struct([("key", pa.string()), ("value", pa.float32())])))
    )
    flat = entries.flatten()
    keys = flat.field("key").to_numpy(zero_copy_only=False)
    values = flat.field("value").to_numpy(zero_copy_only=False)
    names = [name for name in LABELS if (keys == name).any()]
    return np.stack([values[keys == name] for name in names], axis=1).astype(float)


class _Pairs:
    """Production's and staging's answers to the same requests, joined an hour at a time; only
    counts are kept, and the labelled pairs (people's labels are few beside the traffic)."""

    def __init__(self, settings: Settings, production: str | None, staging: str | None) -> None:
        self.production, self.staging = production, staging
        labels = trusted_labels(settings.data).select(["prediction_id", "label"])  # no caller can forge these
        labels = labels.filter(pc.is_valid(labels.column("prediction_id")))
        self.label_ids = labels.column("prediction_id").combine_chunks()
        self.truth = {
            pid: LABELS[int(label)]
            for pid, label in zip(labels.column(0).to_pylist(), labels.column(1).to_pylist(), strict=True)
        }
        self.n = self.agreed = 0
        self.labelled: list[tuple[str, str, str]] = []  # (people's label, production's, staging's)
        self.first: dt.datetime | None = None
        self.last: dt.datetime | None = None

    def add(self, current: pa.Table, later: pa.Table | None, stamp: str) -> None:
        shadows = [t.filter(pc.equal(t.column("role"), SHADOW)) for t in (current, later) if t is not None]
        shadow = pa.concat_tables(shadows)
        shadow = shadow.filter(pc.starts_with(shadow.column("shadow_of"), stamp))
        answered = current.filter(pc.not_equal(current.column("role"), SHADOW))
        if not shadow.num_rows or not answered.num_rows:
            return
        left = pa.table(
            {
                "pid": shadow.column("shadow_of"),
                "s_version": shadow.column("model_version"),
                "s_label": shadow.column("label"),
                "time": shadow.column("time"),
            }
        )
        right = pa.table(
            {
                "pid": answered.column("prediction_id"),
                "a_version": answered.column("model_version"),
                "a_label": answered.column("label"),
                "text": answered.column("text_sha256"),
            }
        )
        joined = left.join(right, keys="pid", join_type="inner")
        staged = pc.and_(pc.equal(joined["s_version"], self.staging), pc.equal(joined["a_version"], self.production))
        canary = pc.and_(pc.equal(joined["s_version"], self.production), pc.equal(joined["a_version"], self.staging))
        joined = joined.append_column("staged", staged).filter(pc.or_(staged, canary))
        if not joined.num_rows:
            return
        distinct = _first_per_text(joined.sort_by("time"))
        self.n += distinct.num_rows
        self.agreed += pc.sum(pc.equal(distinct["s_label"], distinct["a_label"])).as_py() or 0
        low, high = pc.min(joined["time"]).as_py(), pc.max(joined["time"]).as_py()
        self.first = low if self.first is None else min(self.first, low)
        self.last = high if self.last is None else max(self.last, high)
        # Labelled pairs need no such step: a text has one current label, on one prediction id.
        if len(self.label_ids):
            mine = joined.filter(pc.is_in(joined["pid"], self.label_ids))
            for pid, staged_row, s_label, a_label in zip(
                *(mine[c].to_pylist() for c in ("pid", "staged", "s_label", "a_label")), strict=True
            ):
                prod, stag = (a_label, s_label) if staged_row else (s_label, a_label)
                self.labelled.append((self.truth[pid], prod, stag))

    def result(self, comparison: LiveComparison) -> None:
        if not self.n:
            return
        interval = binomtest(self.agreed, self.n).proportion_ci(method="wilson")
        comparison.pairs, comparison.agreement = self.n, self.agreed / self.n
        comparison.agreement_interval = (float(interval.low), float(interval.high))
        assert self.first is not None and self.last is not None
        comparison.first_pair, comparison.last_pair = self.first.isoformat(), self.last.isoformat()
        comparison.labelled_pairs = len(self.labelled)
        if self.labelled:
            prod_right = np.array([truth == prod for truth, prod, _ in self.labelled])
            stag_right = np.array([truth == stag for truth, _, stag in self.labelled])
            comparison.paired = compare(prod_right, stag_right).as_dict()
            for model in comparison.models:
                model.realized_accuracy = float((prod_right if model.alias == "production" else stag_right).mean())


def _first_per_text(pairs: pa.Table) -> pa.Table:
    """One pair per distinct text in an hour: a tweet sent 300 times is one piece of evidence, not
    300 (a caller repeating texts must not move the agreement)."""
    seen: set[str | None] = set()
    keep = []
    for i, text in enumerate(pairs.column("text").to_pylist()):
        if text is None or text not in seen:
            keep.append(i)
            seen.add(text)
    return pairs.take(pa.array(keep, pa.int64())) if len(keep) < pairs.num_rows else pairs


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
    try:
        reasons = judge(settings, comparison, canary_stops(settings))
    except OSError as exc:
        # Unreadable stops could hide a canary the guard stopped: no promotion on that.
        reasons = [f"the canary stops cannot be read ({exc.strerror or exc}): refusing until they can"]
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
