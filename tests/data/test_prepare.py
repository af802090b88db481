import json

import pyarrow.parquet as pq

from sentiops.data.prepare import SplitPlan, prepare
from sentiops.text import dedup_key
from tests.helpers.data import distinct_rows, sample_rows, write_csv


def test_prepare_counts_drops_and_splits(tmp_path):
    rows = distinct_rows(sample_rows(1010))[:1000]
    rows += rows[:10]  # exact duplicates
    rows += [("2", "a neutral tweet"), ("7", "odd label"), ("0", "@someone http://x.co")]
    source = write_csv(tmp_path / "in.csv", rows)
    manifest = prepare([source], tmp_path / "out", SplitPlan(seed=3, day_rows=100, feedback_part_rows=150))
    assert manifest["dropped"]["duplicate"] == 10
    assert "neutral" not in manifest["dropped"]  # kept: a three-class model can learn it
    assert manifest["dropped"]["rejected"] == 1
    splits = manifest["splits"]
    assert sum(s["rows"] for s in splits.values()) == manifest["rows_usable"] == 1001
    assert sum(s["classes"]["neutral"] for s in splits.values()) == 1
    assert manifest["dropped"]["empty_after_cleaning"] == 1  # only a mention and a link
    assert splits["validation"]["rows"] == splits["holdout"]["rows"] == 60
    assert splits["incoming"]["days"] == 2
    out = tmp_path / "out"
    assert pq.read_table(out / "incoming" / "day-0001.parquet").column_names == ["id", "text"]
    assert pq.read_table(out / "feedback" / "part-0001.parquet").column_names == ["id", "text", "label"]
    rejects = pq.read_table(out / "rejects.parquet").to_pylist()
    assert rejects == [
        {"row_id": "in.csv:1012", "reason": "unknown label '7' (sentiment140 scheme)", "raw": "odd label"}
    ]
    assert json.loads((out / "manifest.json").read_text())["inputs"][0]["sha256"]


def test_prepare_is_deterministic_and_disjoint(tmp_path):
    source = write_csv(tmp_path / "in.csv", sample_rows(600))
    prepare([source], tmp_path / "a", SplitPlan(seed=11))
    prepare([source], tmp_path / "b", SplitPlan(seed=11))
    prepare([source], tmp_path / "c", SplitPlan(seed=12))
    ids = {}
    for run in "abc":
        ids[run] = {
            s: pq.read_table(tmp_path / run / f"{s}.parquet").column("id").to_pylist()
            for s in ("train", "validation", "holdout")
        }
    assert ids["a"] == ids["b"]
    assert ids["a"] != ids["c"]
    train, val, hold = (set(ids["a"][s]) for s in ("train", "validation", "holdout"))
    assert not (train & val) and not (train & hold) and not (val & hold)


def test_failed_prepare_keeps_previous_output(tmp_path):
    source = write_csv(tmp_path / "in.csv", sample_rows(200))
    prepare([source], tmp_path / "out")
    before = (tmp_path / "out" / "manifest.json").read_text()
    empty = write_csv(tmp_path / "empty.csv", [("0", " ")])
    try:
        prepare([empty], tmp_path / "out")
    except ValueError as exc:
        assert "usable" in str(exc)
    assert (tmp_path / "out" / "manifest.json").read_text() == before


def test_near_duplicates_never_land_in_two_splits(tmp_path):
    base = distinct_rows(sample_rows(400))
    copies = [(t, f"@someone {text} http://t.co/{i}") for i, (t, text) in enumerate(base)]
    copies += [(t, text.upper()) for t, text in base[:50]]
    source = write_csv(tmp_path / "in.csv", base + copies)
    manifest = prepare([source], tmp_path / "out", SplitPlan(seed=5, day_rows=50, feedback_part_rows=50))
    assert manifest["rows_usable"] == len(base)
    out = tmp_path / "out"
    keys: dict[str, str] = {}
    for path in [*out.glob("*.parquet"), *out.glob("incoming/day-*.parquet"), *out.glob("feedback/*.parquet")]:
        if path.name == "rejects.parquet":
            continue
        for text in pq.read_table(path).column("text").to_pylist():
            key = dedup_key(text)
            assert keys.setdefault(key, path.name) == path.name, f"{text!r} in {keys[key]} and {path.name}"
