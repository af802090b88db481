"""A round trip with labelling tools: `label export` writes the queue in each tool's import format,
`feedback import --trusted` reads each tool's export (files shaped as the tools write them) back."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from sentiops.cli import app as cli
from sentiops.data.feedback_reader import current_labels
from sentiops.data.label_files import UNLABELLED, read_import
from sentiops.data.labels import LABELS
from sentiops.labelling.picking import refresh_queue
from sentiops.labelling.queue import all_items
from tests.helpers.feedback import predict
from tests.labelling.conftest import TWEETS

TODAY = dt.datetime.now(dt.UTC).date()
runner = CliRunner()


@pytest.fixture
def queued(client, settings, monkeypatch):
    predict(client, settings, TWEETS[140:146])
    refresh_queue(settings, TODAY, TODAY, size=6, seed=0)
    for name, value in {
        "SENTIOPS_DATA_DIR": settings.data,
        "SENTIOPS_RESULTS_DIR": settings.results,
        "SENTIOPS_REGISTRY_DIR": settings.registry,
    }.items():
        monkeypatch.setenv(name, str(value))
    from sentiops.config import get_settings

    get_settings.cache_clear()
    yield all_items(settings.data)
    get_settings.cache_clear()


def _answer(i):  # the labeller's answers: in turn (neutral too), the last left unlabelled
    return LABELS[i % 3]


def _label_studio_json(tasks):
    out = []
    for n, task in enumerate(tasks):
        annotations = []
        if n < len(tasks) - 1:
            annotations.append(
                {
                    "id": 100 + n,
                    "completed_by": {"id": 7, "email": "ada@example.org"},
                    "result": [
                        {
                            "value": {"choices": [_answer(n)]},
                            "id": "r1",
                            "from_name": "sentiment",
                            "to_name": "text",
                            "type": "choices",
                            "origin": "manual",
                        }
                    ],
                    "was_cancelled": False,
                    "ground_truth": False,
                    "created_at": "2026-12-01T10:00:00.000000Z",
                    "updated_at": "2026-12-01T10:00:00.000000Z",
                    "lead_time": 3.2,
                }
            )
        out.append({"id": n + 1, "annotations": annotations, "data": task["data"], "project": 1})
    return out


def _label_studio_csv(tasks, path):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["annotation_id", "annotator", "created_at", "id", "lead_time", "picked", "prediction_id",
                         "sentiment", "text", "updated_at"])  # fmt: skip
        for n, task in enumerate(tasks):
            d = task["data"]
            label = _answer(n) if n < len(tasks) - 1 else ""
            writer.writerow([100 + n, 7, "2026-12-01T10:00:00Z", n + 1, 3.2, d["picked"], d["prediction_id"], label,
                             d["text"], "2026-12-01T10:00:00Z"])  # fmt: skip


def _argilla(records, flat=False):
    out = []
    for n, record in enumerate(records):
        responses = {} if n == len(records) - 1 else {"sentiment": [{"value": _answer(n), "user_id": "u-1"}]}
        if flat:
            row = {"id": record["id"], "text": record["fields"]["text"], "_server_id": f"s-{n}"}
            if responses:
                row |= {"sentiment.responses": [_answer(n)], "sentiment.responses.users": ["u-1"],
                        "sentiment.responses.status": ["submitted"]}  # fmt: skip
            out.append(row)
        else:
            out.append({**record, "responses": responses, "_server_id": f"s-{n}"})
    return out


@pytest.mark.parametrize("tool", ["label-studio-json", "label-studio-min", "label-studio-csv", "argilla",
                                  "argilla-flat", "argilla-folder", "csv"])  # fmt: skip
def test_round_trip(queued, settings, tmp_path, tool):
    fmt = "label-studio" if tool.startswith("label-studio") else "argilla" if tool.startswith("argilla") else "csv"
    exported = tmp_path / f"export.{'csv' if fmt == 'csv' else 'json'}"
    result = runner.invoke(cli, ["label", "export", "--format", fmt, "--output", str(exported)])
    assert result.exit_code == 0, result.output
    back = tmp_path / "back.json"
    if fmt == "csv":
        with open(exported, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [r["target"] for r in rows] == [""] * 6 and {r["id"] for r in rows} == {i.item_id for i in queued}
        for n, r in enumerate(rows[:-1]):
            r["target"] = _answer(n)
        back = tmp_path / "back.csv"
        with open(back, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "label-studio":
        tasks = json.loads(exported.read_text())
        assert all(set(t["data"]) == {"text", "prediction_id", "picked"} for t in tasks)
        if tool == "label-studio-json":
            back.write_text(json.dumps(_label_studio_json(tasks)))
        elif tool == "label-studio-min":
            back.write_text(json.dumps([
                {**t["data"], "id": n + 1, "annotator": 7, "annotation_id": n,
                 **({"sentiment": _answer(n)} if n < len(tasks) - 1 else {})}
                for n, t in enumerate(tasks)
            ]))  # fmt: skip
        else:
            back = tmp_path / "back.csv"
            _label_studio_csv(tasks, back)
        expected = [(t["data"]["prediction_id"], _answer(n)) for n, t in enumerate(tasks[:-1])]
    else:
        records = json.loads(exported.read_text())
        assert all(set(r["fields"]) == {"text"} for r in records)
        if tool == "argilla-folder":
            back = tmp_path / "argilla-dataset"
            back.mkdir()
            (back / "records.json").write_text(json.dumps(_argilla(records)))
            (back / "settings.json").write_text("{}")
        else:
            back.write_text(json.dumps(_argilla(records, flat=tool == "argilla-flat")))
        expected = [(r["id"], _answer(n)) for n, r in enumerate(records[:-1])]
    if fmt == "csv":
        expected = [(r["id"], _answer(n)) for n, r in enumerate(rows[:-1])]

    result = runner.invoke(cli, ["feedback", "import", str(back), "--trusted", "--source", tool, "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output[result.output.index("{") :])
    assert counts["accepted"] == 5 and counts["unlabelled"] == 1 and counts["rejected"] == 0
    stored = {r["prediction_id"]: r for r in current_labels(settings.data).to_pylist() if r["source"] == tool}
    assert {pid: LABELS[r["label"]] for pid, r in stored.items()} == dict(expected)
    assert "neutral" in dict(expected).values()
    reasons = {i.item_id: i.picked for i in queued}
    assert all(r["trusted"] and r["picked"] == reasons[pid] for pid, r in stored.items())
    # Exported again: only the item nobody labelled is left.
    again = runner.invoke(cli, ["label", "export", "--format", "csv"])
    assert again.exit_code == 0 and len(list(csv.DictReader(again.output.splitlines()))) == 1


def test_tool_exports_with_problems_are_refused_row_by_row(tmp_path, settings):
    path = tmp_path / "ls.json"
    task = _label_studio_json([{"data": {"text": "fine day", "prediction_id": None}}] * 2)[0]
    two = {**task, "annotations": [{**task["annotations"][0], "result": task["annotations"][0]["result"] * 2}]}
    two["annotations"][0]["result"][1] = {"type": "choices", "value": {"choices": ["positive"]}}
    two["annotations"][0]["result"][0] = {"type": "choices", "value": {"choices": ["negative"]}}
    wrong = {**task, "annotations": [{**task["annotations"][0], "result": [
        {"type": "choices", "value": {"choices": ["Mixed"]}}]}]}  # fmt: skip
    cancelled = {**task, "annotations": [{**task["annotations"][0], "was_cancelled": True}]}
    path.write_text(json.dumps([two, wrong, cancelled, "junk"]))
    labels = read_import(path, "ls")
    assert "more than one choice" in labels[0].problem
    assert "not one of negative, positive, neutral" in labels[1].problem
    assert labels[2].problem == UNLABELLED
    assert labels[3].problem == "not a JSON object"
    disagree = tmp_path / "argilla.json"
    disagree.write_text(json.dumps([{"id": "x", "fields": {"text": "hm"}, "responses": {
        "sentiment": [{"value": "positive", "user_id": "a"}, {"value": "negative", "user_id": "b"}]}}]))  # fmt: skip
    assert "annotators disagree" in read_import(disagree, "argilla")[0].problem
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        read_import(tmp_path / "bad.json", "x")


def test_a_label_control_of_another_name_is_found(tmp_path):
    """A project whose choice control or question is called `mood`, with capitalised choices."""
    ids = ["2026120110-aaaaaaaaaaaaaaaaaaaa", "2026120110-bbbbbbbbbbbbbbbbbbbb"]
    minimal = tmp_path / "min.json"
    minimal.write_text(json.dumps([
        {"id": 1, "text": "so good", "prediction_id": ids[0], "mood": "Positive", "annotator": 3},
        {"id": 2, "text": "so bad", "prediction_id": ids[1], "mood": {"choices": ["Negative"]}, "annotator": 3},
    ]))  # fmt: skip
    with_csv = tmp_path / "ls.csv"
    with_csv.write_text(
        "annotation_id,annotator,id,mood,prediction_id,text\n"
        f"1,3,1,Positive,{ids[0]},so good\n2,3,2,Negative,{ids[1]},so bad\n"
    )
    nested = tmp_path / "argilla.json"
    nested.write_text(json.dumps([
        {"id": ids[0], "fields": {"text": "so good"}, "responses": {"mood": [{"value": "positive", "user_id": "u"}]}},
        {"id": ids[1], "fields": {"text": "so bad"}, "responses": {"mood": [{"value": "negative", "user_id": "u"}]}},
    ]))  # fmt: skip
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps([
        {"id": ids[0], "text": "so good", "mood.responses": ["positive"], "mood.responses.users": ["u"]},
        {"id": ids[1], "text": "so bad", "mood.responses": ["negative"], "mood.responses.users": ["u"]},
    ]))  # fmt: skip
    for path in (minimal, with_csv, nested, flat):
        labels = read_import(path, "tool")
        assert [(x.label, x.prediction_id, x.problem) for x in labels] == [
            ("positive", ids[0], None),
            ("negative", ids[1], None),
        ], path.name
