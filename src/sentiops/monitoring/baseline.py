"""A reference profile taken from production: what scored days looked like, not the training data.

The training reference is a balanced validation split; real traffic can have a different but
stable class balance (or tweet length, or share of links), and would then alarm every day.
`sentiops drift baseline --dates ...` profiles chosen scored days of one model version and
stores the profile with its provenance; drift checks then grade the distribution checks
against it (and still report against the training reference beside it).

    results/drift/baseline.json   {"profile": {...}, "provenance": {"dates", "rows", "model_version", ...}}
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sentiops.config import Settings
from sentiops.files import write_json_atomic
from sentiops.monitoring.profile import Profile
from sentiops.monitoring.scored import read_day, version_counts
from sentiops.version import LabelMap
from sentiops.volume import DateFiles, drift_dir


def baseline_path(settings: Settings) -> Path:
    return drift_dir(settings.results) / "baseline.json"


def build_baseline(settings: Settings, dates: list[str], labels: LabelMap) -> dict[str, Any]:
    """Profile the scored rows of ``dates`` (one model version) and store it as the baseline."""
    if not dates:
        raise ValueError("give at least one scored date for the baseline")
    folders = []
    for date in dates:
        folder = DateFiles(settings.results, date).scores
        if not folder.is_dir():
            raise FileNotFoundError(f"no scored results for {date} in {settings.results / 'scores'}")
        folders.append(folder)
    versions = version_counts(folders)
    if len(versions) != 1:
        raise ValueError(f"the dates were scored by several model versions {dict(versions)}: pick days of one version")
    profile = read_day(folders, labels.labels).profile  # chunk by chunk: memory does not grow with the days
    record = {
        "profile": profile.as_dict(),
        "provenance": {
            "dates": sorted(dates),
            "rows": profile.n,
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
