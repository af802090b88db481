"""A day of the API's answers, read from the prediction log the way the drift check reads a scored day.

An API-only deployment has no batch scores, yet its prediction log holds every answer's scores
and (unless only hashes are kept) its text: the check profiles those answers (token counts from
the version's own tokenizer, as the batch job counts them), estimates accuracy without labels,
and realized accuracy joins the labels that came back to them, as for a batch day. Shadow rows
are left out (no caller got them); rows logged without their text count in no text statistic.
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import Tokenizer

from sentiops.data.predictions import ANSWERED_ROLES, log_files, read_log_file
from sentiops.monitoring.scored import Day, DayBuilder
from sentiops.text import clean_text
from sentiops.version import VersionFolder

COLUMNS = ["role", "model_version", "text", "scores"]


def _answered(file: Path) -> pa.Table:
    table = read_log_file(file, COLUMNS)
    return table.filter(pc.is_in(table.column("role"), pa.array(ANSWERED_ROLES)))


def logged_versions(results: Path, date: str) -> collections.Counter[str]:
    """How many answers of the date each model version gave."""
    counts: collections.Counter[str] = collections.Counter()
    for file in log_files(results, date):
        counts.update(v for v in _answered(file).column("model_version").to_pylist() if v)
    return counts


def read_logged_day(results: Path, date: str, files: VersionFolder, temperature: float | None) -> Day:
    """One pass over the date's logged answers, a file at a time: profile and estimate."""
    labels = files.labels().labels
    tokenizer = Tokenizer.from_file(str(files.path / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(files.training().max_length)
    unk = tokenizer.token_to_id("[UNK]")
    day = DayBuilder(labels, temperature, None)
    for file in log_files(results, date):
        table = _answered(file)
        table = table.filter(pc.is_valid(table.column("text")))
        if table.num_rows == 0:
            continue
        texts = table.column("text").to_pylist()
        scores = [dict(row or []) for row in table.column("scores").to_pylist()]
        probs = np.array([[row.get(label, 0.0) for label in labels] for row in scores], dtype=np.float32)
        encodings = tokenizer.encode_batch([clean_text(t) for t in texts])
        tokens = np.array([len(e.ids) for e in encodings])
        unknown = np.array([e.ids.count(unk) if unk is not None else 0 for e in encodings])
        day.add(texts, probs, tokens, unknown, None)
    return day.day()
