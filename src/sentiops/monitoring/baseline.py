"""A reference profile taken from production: what scored days looked like, not the training data.

The training reference is a balanced validation split; real traffic can have a different but
stable class balance (or tweet length, or share of links), and would then alarm every day.
`sentiops drift baseline --dates ...` profiles chosen scored days of one model version and
stores the profile with its provenance; drift checks then grade the distribution checks
against it (and still report against the training reference beside it).

    results/drift/baseline.json   {"profile": {...}, "provenance": {"dates", "rows", "model_version", ...}}
"""

from __future__ import annotations

import collections
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sentiops.config import Settings
from sentiops.data.readers import reading
from sentiops.files import write_json_atomic
from sentiops.monitoring.profile import Profile, build_profile
from sentiops.version import LabelMap, score_column
from sentiops.volume import DateFiles, drift_dir

# The columns of the scores Parquet a profile needs, beside one probability column per class.
PROFILE_COLUMNS = ["text", "tokens", "unknown_tokens", "model_version"]


def baseline_path(settings: Settings) -> Path:
    return drift_dir(settings.results) / "baseline.json"


def score_probabilities(table: pa.Table, labels: list[str]) -> np.ndarray:
    """[n, classes] class probabilities of scored rows, in ``labels`` order, from the scores Parquet."""
    return np.stack([table.column(score_column(label)).to_numpy() for label in labels], 1)


def profile_scores(table: pa.Table, labels: list[str], seed: int = 1, probs: np.ndarray | None = None) -> Profile:
    """The profile of scored rows: what a drift check compares and a baseline stores."""
    probs = score_probabilities(table, labels) if probs is None else probs
    return build_profile(
        table.column("text").to_pylist(),
        probs,
        table.column("tokens").to_numpy(),
        table.column("unknown_tokens").to_numpy(),
        labels,
        seed=seed,
    )


def build_baseline(settings: Settings, dates: list[str], labels: LabelMap) -> dict[str, Any]:
    """Profile the scored rows of ``dates`` (one model version) and store it as the baseline."""
    if not dates:
        raise ValueError("give at least one scored date for the baseline")
    tables = []
    for date in dates:
        folder = DateFiles(settings.results, date).scores
        if not folder.is_dir():
            raise FileNotFoundError(f"no scored results for {date} in {settings.results / 'scores'}")
        with reading(folder):
            tables.append(pq.read_table(folder, columns=PROFILE_COLUMNS + labels.score_columns))
    table = pa.concat_tables(tables)
    versions = collections.Counter(table.column("model_version").to_pylist())
    if len(versions) != 1:
        raise ValueError(f"the dates were scored by several model versions {dict(versions)}: pick days of one version")
    record = {
        "profile": profile_scores(table, labels.labels).as_dict(),
        "provenance": {
            "dates": sorted(dates),
            "rows": table.num_rows,
            "model_version": next(iter(versions)),
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
        },
    }
    path = baseline_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, record)
    return record


def load_baseline(settings: Settings, model_version: str) -> tuple[Profile, dict[str, Any]] | None:
    """The stored baseline, if there is one for this model version (another model's predictions
    are not a baseline for this one's)."""
    path = baseline_path(settings)
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if record["provenance"]["model_version"] != model_version:
        return None
    return Profile.from_dict(record["profile"]), record["provenance"]
