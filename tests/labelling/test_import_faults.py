"""Malformed and hostile label files: each bad record is its own reject with a reason, the good
ones are imported, nothing raises; spreadsheet formulas are neutralised on export and restored on
import; a label's text must be its prediction's; a UTF-8 BOM is read as such."""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sentiops.cli import app as cli
from sentiops.data.feedback import Label, add_labels
from sentiops.data.feedback_reader import current_labels
from sentiops.data.label_files import escape_cell, read_import, render_items, unescape_cell
from tests.helpers.feedback import predict
from tests.labelling.conftest import TWEETS
from tests.labelling.test_label_files import queued  # noqa: F401

runner = CliRunner()
PID = "2026120110-aaaaaaaaaaaaaaaaaaaa"
GOOD = {"data": {"text": "lovely day", "prediction_id": PID},
        "annotations": [{"result": [{"type": "choices", "value": {"choices": ["positive"]}}]}]}  # fmt: skip


def test_label_studio_and_argilla_records_of_the_wrong_shape_are_rejected_one_by_one(tmp_path):
    deep = "[" * 5000 + '{"x": 1}' + "]" * 5000  # json.dumps itself cannot write this
    records = [
        GOOD,
        {"data": ["not", "a", "map"], "annotations": []},
        {"data": {"text": "x"}, "annotations": "nope"},
        {"data": {"text": "x"}, "annotations": [{"result": "nope"}]},
        {"data": {"text": "x"}, "annotations": [{"result": [{"type": "choices", "value": "positive"}]}]},
        {"fields": "text", "responses": {}},
        {"fields": {"text": "x"}, "responses": {"sentiment": "positive"}},
        {"fields": {"text": "x"}, "responses": {"sentiment": [1, 2]}},
        [1, 2],
        "DEEP",
        {"data": {"text": "deep", "prediction_id": PID, "more": "DEEP"}},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(records).replace('"DEEP"', deep))
    labels = read_import(path, "ls")
    assert len(labels) == len(records)
    assert labels[0].problem is None and labels[0].label == "positive"
    assert all(x.problem for x in labels[1:]), [x.problem for x in labels]
    assert "nested deeper" in labels[-1].problem and "nested deeper" in labels[-2].problem
    assert labels[-3].problem == "not a JSON object"


def test_a_truncated_export_keeps_the_records_before_the_fault(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text(json.dumps([GOOD, GOOD])[:-40])
    labels = read_import(path, "ls")
    assert labels[0].problem is None and "not valid JSON from here on" in labels[-1].problem


def test_jsonl_and_csv_rows_of_the_wrong_shape_are_rejected_one_by_one(tmp_path):
    lines = tmp_path / "labels.jsonl"
    rows = [{"prediction_id": PID, "label": "positive"}, [1, 2], "text", {"prediction_id": PID, "label": ["x"]}]
    lines.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n" + "[" * 100_000 + "\n")
    labels = read_import(lines, "jsonl")
    problems = [x.problem for x in labels]
    assert problems[0] is None and problems.count("not a JSON object") == 2
    assert sum("malformed JSON" in (p or "") for p in problems) == 2 and len(labels) == 6
    big = tmp_path / "big.csv"
    big.write_text(f'prediction_id,label,text\n{PID},positive,"{"x" * 11_000_000}"\n{PID},negative,fine\n')
    labels = read_import(big, "csv")
    assert [x.problem is None for x in labels] == [False, True]
    assert "unreadable CSV row" in labels[0].problem


def test_a_bad_import_exits_as_documented_with_rejects_and_no_traceback(queued, settings, tmp_path):  # noqa: F811
    item = queued[0]
    path = tmp_path / "mixed.json"
    good = {"data": {"text": item.text, "prediction_id": item.item_id},
            "annotations": [{"result": [{"type": "choices", "value": {"choices": ["negative"]}}]}]}  # fmt: skip
    path.write_text(json.dumps([good, {"data": 7, "annotations": [{"result": [{}]}]}, [1]]))
    result = runner.invoke(cli, ["feedback", "import", str(path), "--trusted", "--json"])
    assert result.exit_code == 0 and result.exception is None, result.output
    counts = json.loads(result.output[result.output.index("{") :])
    assert counts["accepted"] == 1 and counts["rejected"] == 2


def test_memory_stays_bounded_on_a_100_mb_export(tmp_path):
    """A 100 MB Label Studio export: the reader's peak memory is far below what loading it whole
    takes (json.load of this file needs over 600 MB)."""
    path = tmp_path / "big.json"
    record = json.dumps({**GOOD, "data": {**GOOD["data"], "text": "x" * 200, "meta": "y" * 2000}})
    with open(path, "w") as handle:
        handle.write("[")
        n = 100_000_000 // len(record)
        handle.write(",".join([record] * n))
        handle.write("]")
    # VmHWM: this process's own peak (ru_maxrss would carry pytest's over the exec).
    probe = (
        "import re, sys; from pathlib import Path; from sentiops.data.label_files import read_import; "
        "labels = read_import(Path(sys.argv[1]), 'ls'); "
        "print(len(labels), re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text()).group(1))"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True)
    count, peak_kb = map(int, out.stdout.split())
    assert count == n
    assert peak_kb < 300_000, f"peak RSS {peak_kb / 1024:.0f} MB for a {path.stat().st_size / 1e6:.0f} MB export"


@pytest.mark.parametrize("text", ['=HYPERLINK("http://evil")', "+1 cool", "-2 bad", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_would_be_formulas_are_neutralised_and_restored(text):
    rendered = render_items([{"item_id": PID, "text": text, "picked": "random"}], "csv")
    row = next(csv.DictReader(rendered.splitlines(keepends=True)))
    assert row["text"] == "'" + text and unescape_cell(row["text"]) == text
    assert escape_cell("plain") == "plain" and unescape_cell("'plain") == "'plain"


def test_an_exported_formula_tweet_comes_back_as_its_text(client, settings, tmp_path):
    [answer] = predict(client, settings, ["=1+1 is my favourite sum"])
    path = tmp_path / "back.csv"
    path.write_text(render_items([{"item_id": answer["prediction_id"], "text": "=1+1 is my favourite sum",
                                   "picked": "random"}], "csv").replace('""', '"positive"', 1))  # fmt: skip
    labels = read_import(path, "csv", trusted=True)
    assert labels[0].text == "=1+1 is my favourite sum"
    assert add_labels(settings.data, settings.results, labels).accepted == 1


def test_a_label_whose_text_is_not_the_predictions_is_refused(client, settings):
    [answer] = predict(client, settings, TWEETS[190:191])
    outcome = add_labels(
        settings.data, settings.results, [Label("positive", "#NAME?", answer["prediction_id"], "import", trusted=True)]
    )
    assert outcome.accepted == 0 and "differs from the prediction's logged text" in outcome.rejected[0][1]
    same = Label("positive", TWEETS[190].upper(), answer["prediction_id"], "import", trusted=True)
    assert add_labels(settings.data, settings.results, [same]).accepted == 1  # cleaning-equal is the same text
    assert [r["text"] for r in current_labels(settings.data).to_pylist() if r["source"] == "import"] == [TWEETS[190]]


def test_a_utf8_bom_is_not_part_of_the_first_column(client, settings, tmp_path):
    [answer] = predict(client, settings, TWEETS[191:192])
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"prediction_id,label,picked\n{answer['prediction_id']},positive,x\n".encode())
    [label] = read_import(path, "excel")
    assert label.prediction_id == answer["prediction_id"] and label.problem is None
    today = dt.datetime.now(dt.UTC).date()
    assert today  # the id links the label to today's prediction
