"""Files of labels, in and out: what `sentiops feedback import` reads and `sentiops label export` writes.

Reads: text + label in any format `data prepare` reads (the official Sentiment140 layout
included); prediction id + label (CSV with a header, JSONL, Parquet; the plain CSV this module
exports, whose `id` is the prediction id); Label Studio's JSON, JSON-MIN and CSV exports; Argilla's
records (`dataset.records.to_json`, the records.json of `dataset.to_disk`, flattened or nested).

Writes the queue as Label Studio tasks (`data.text`, with the project's labelling config in
LABEL_STUDIO_CONFIG), Argilla records (`fields.text`, a `sentiment` label question), or a CSV with
`id`, `text` and an empty `target` for people to fill.

Rows nobody labelled yet (an empty target, a task without annotations, a skipped one) are not
errors: they come back marked UNLABELLED and are counted, not rejected.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import pyarrow.parquet as pq

from sentiops.data.feedback import Label
from sentiops.data.labels import LABELS, Scheme, detect_scheme, map_label
from sentiops.data.predictions import batch_date_of, partition_of
from sentiops.data.readers import file_format, iter_chunks, open_text, reading
from sentiops.files import replaced_atomically

ExportFormat = Literal["label-studio", "argilla", "csv"]
UNLABELLED = "not labelled yet"
QUESTION = "sentiment"  # the choice's name in Label Studio's config and Argilla's question
LABEL_STUDIO_CONFIG = f"""<View>
  <Text name="text" value="$text"/>
  <Choices name="{QUESTION}" toName="text" choice="single" showInline="true">
    <Choice value="negative"/>
    <Choice value="positive"/>
  </Choices>
</View>
"""


def is_prediction_id(value: object) -> bool:
    return isinstance(value, str) and (partition_of(value) is not None or batch_date_of(value) is not None)


# -- export ------------------------------------------------------------------------------------
def render_items(items: list[dict[str, Any]], fmt: ExportFormat) -> str:
    """Queue items (item_id, text, picked) in a labelling tool's import format."""
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["id", "text", "target", "picked"])
        writer.writerows([i["item_id"], i["text"], "", i["picked"]] for i in items)
        return out.getvalue()
    if fmt == "label-studio":
        tasks = [{"data": {"text": i["text"], "prediction_id": i["item_id"], "picked": i["picked"]}} for i in items]
        return json.dumps(tasks, ensure_ascii=False, indent=1)
    if fmt == "argilla":
        records = [
            {
                "id": i["item_id"],
                "fields": {"text": i["text"]},
                "metadata": {"picked": i["picked"]},
                "suggestions": {},
                "responses": {},
                "vectors": {},
            }
            for i in items
        ]
        return json.dumps(records, ensure_ascii=False, indent=1)
    raise ValueError(f"unknown export format {fmt!r}: label-studio, argilla or csv")


def export_items(items: list[dict[str, Any]], fmt: ExportFormat, path: Path) -> int:
    """Write queue items in a tool's import format (under a temporary name, then renamed)."""
    text = render_items(items, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return len(items)


# -- import ------------------------------------------------------------------------------------
def read_import(
    path: Path, source: str, scheme: Scheme | None = None, picked: str = "random", trusted: bool = False
) -> list[Label]:
    """The labels of a file (see the module's docstring for the formats). Unreadable rows and
    unknown labels come back with an empty label name and the problem, so that `add_labels`
    rejects them with the reason in `row`; unlabelled rows come back with UNLABELLED."""
    if path.is_dir() and (path / "records.json").is_file():  # Argilla's dataset.to_disk folder
        path = path / "records.json"
    if path.suffix.lower() == ".json":
        labels = _json_export(path, source, picked)
    elif _has_prediction_ids(path):
        labels = _id_rows(path, source, scheme, picked)
    else:
        labels = _text_rows(path, source, scheme, picked)
    for label in labels:
        label.trusted = trusted
    return labels


def unlabelled(labels: list[Label]) -> int:
    return sum(1 for x in labels if x.problem == UNLABELLED)


def _named(raw: object) -> str | None:
    """A tool's class name (any case) as ours, None when it is none of them."""
    name = str(raw).strip().lower() if raw is not None else ""
    return name if name in LABELS else None


def _tool_label(raw: object, text: Any, pid: Any, source: str, picked: str, row: str, by: Any) -> Label:
    if raw in (None, "", []):
        return Label("", None, None, source, picked, row, UNLABELLED)
    name = _named(raw)
    problem = None if name else f"label {raw!r} is not one of {', '.join(LABELS)}"
    pid = str(pid) if is_prediction_id(pid) else None
    text = text if isinstance(text, str) and text else None
    return Label(name or "", text, pid, source, picked, row, problem, labelled_by=str(by) if by else None)


def _json_export(path: Path, source: str, picked: str) -> list[Label]:
    with open_text(path) as handle:
        try:
            items = json.load(handle)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of tasks or records")
    flat = [i for i in items if isinstance(i, dict) and not _nested(i) and "annotations" not in i and "data" not in i]
    field = label_field(flat)  # Label Studio's JSON-MIN: the task's data and each control's value, flat
    labels = []
    for n, item in enumerate(items, 1):
        row = f"{path.name}:{n}"
        if not isinstance(item, dict):
            labels.append(Label("", None, None, source, picked, row, "not a JSON object"))
        elif "annotations" in item or "data" in item:
            labels.append(_label_studio_task(item, source, picked, row))
        elif _nested(item):
            labels.append(_argilla_record(item, source, picked, row))
        else:
            raw = _choice(item.get(field)) if field else None
            labels.append(
                _tool_label(
                    raw, item.get("text"), item.get("prediction_id"), source, picked, row, item.get("annotator")
                )
            )
    return labels


def _nested(item: dict[str, Any]) -> bool:
    """An Argilla record, nested or flattened (`<question>.responses`)."""
    return "fields" in item or any(k.endswith(".responses") for k in item)


def _label_studio_task(task: dict[str, Any], source: str, picked: str, row: str) -> Label:
    data = task.get("data") or {}
    pid = data.get("prediction_id", task.get("prediction_id"))
    # The newest annotation that was not skipped (a task labelled twice keeps the last word).
    done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    choices: list[Any] = []
    by = None
    if done:
        newest = max(done, key=lambda a: str(a.get("updated_at") or a.get("created_at") or ""))
        by = newest.get("completed_by")
        if isinstance(by, dict):
            by = by.get("email") or by.get("id")
        for result in newest.get("result") or []:
            if result.get("type") == "choices":
                choices += (result.get("value") or {}).get("choices") or []
    if len(choices) > 1:
        return Label("", None, None, source, picked, row, f"more than one choice: {choices}")
    return _tool_label(choices[0] if choices else None, data.get("text"), pid, source, picked, row, by)


def _argilla_record(record: dict[str, Any], source: str, picked: str, row: str) -> Label:
    if "fields" in record:
        text = (record.get("fields") or {}).get("text")
        responses = record.get("responses") or {}
        # The label question: `sentiment`, else the one whose answers are class names.
        answers: list[dict[str, Any]] = responses.get(QUESTION) or next(
            (a for a in responses.values() if a and all(_named(x.get("value")) for x in a)), []
        )
        # Submitted answers only (a draft or a discarded record is not a label yet).
        values = [a.get("value") for a in answers if a.get("status", "submitted") == "submitted"]
        users = [a.get("user_id") for a in answers if a.get("status", "submitted") == "submitted"]
    else:  # records.to_list(flatten=True) / to_datasets(): "<question>.responses" columns
        text = record.get("text")
        questions = [k.removesuffix(".responses") for k in record if k.endswith(".responses")]
        question = QUESTION if QUESTION in questions else (questions or [QUESTION])[0]
        values = list(record.get(f"{question}.responses") or [])
        users = list(record.get(f"{question}.responses.users") or [])
    if not values:
        return _tool_label(None, text, record.get("id"), source, picked, row, None)
    tally = Counter(_named(v) or str(v) for v in values)
    (top, n), *others = tally.most_common()
    if others and others[0][1] == n:
        return Label("", None, None, source, picked, row, f"annotators disagree: {dict(tally)}")
    by = ",".join(str(u) for u in users if u) or None
    return _tool_label(top, text, record.get("id"), source, picked, row, by)


# Fields a tool writes beside the label (Label Studio's JSON-MIN and CSV, the queue's own export).
_NOT_LABELS = {"id", "text", "prediction_id", "picked", "annotator", "annotation_id", "created_at", "updated_at",
               "lead_time", "row_id", "source", "model_version"}  # fmt: skip


def label_field(rows: list[dict[str, Any]]) -> str | None:
    """The field holding the label: label, target or sentiment, else the one field whose filled
    values are all class names (a labelling config whose control has another name, say `mood`)."""
    names: set[str] = set().union(*(r.keys() for r in rows)) if rows else set()
    for name in ("label", "target", QUESTION):
        if name in names:
            return name
    for name in sorted(names - _NOT_LABELS):
        values = [_choice(r.get(name)) for r in rows if r.get(name) not in (None, "", [])]
        if values and all(_named(v) for v in values):
            return name
    return None


def _choice(raw: Any) -> Any:
    """A Label Studio value as one class name: `{"choices": ["positive"]}` (JSON-MIN) or the name."""
    if isinstance(raw, dict):
        return (raw.get("choices") or [None])[0]
    return raw


def _id_rows(path: Path, source: str, scheme: Scheme | None, picked: str) -> list[Label]:
    rows = [(str(i + 1), r) for i, r in enumerate(_plain_rows(path))]
    field = label_field([r for _, r in rows])
    raw_labels = [_choice(r.get(field)) if field else None for _, r in rows]
    found_scheme = scheme or detect_scheme(x for x in raw_labels if x not in (None, ""))
    labels = []
    for (line, r), raw in zip(rows, raw_labels, strict=True):
        pid = r.get("prediction_id") or (r.get("id") if is_prediction_id(r.get("id")) else None)
        if raw in (None, ""):
            labels.append(Label("", None, None, source, picked, f"{path.name}:{line}", UNLABELLED))
            continue
        labels.append(
            Label(
                map_label(raw, found_scheme) or "",
                r.get("text") or None,
                str(pid) if pid else None,
                source,
                picked,
                f"{path.name}:{line}",
                _label_problem(raw, found_scheme),
                labelled_by=str(r["annotator"]) if r.get("annotator") else None,
            )
        )
    return labels


def _text_rows(path: Path, source: str, scheme: Scheme | None, picked: str) -> list[Label]:
    labels: list[Label] = []
    records = []
    for chunk, bad in iter_chunks(path):
        records.extend(chunk)
        labels += [Label("", None, None, source, picked, r.row_id, r.reason) for r in bad]
    found_scheme = scheme or detect_scheme(r.label for r in records)
    labels += [
        Label(
            map_label(r.label, found_scheme) or "",
            r.text,
            None,
            source,
            picked,
            r.row_id,
            _label_problem(r.label, found_scheme),
        )
        for r in records
    ]
    return labels


def _label_problem(raw: object, scheme: Scheme) -> str | None:
    name = map_label(raw, scheme)
    if name in LABELS:
        return None
    return f"label {raw!r} is {name or 'unknown'} in the {scheme} scheme: only negative and positive train"


def _has_prediction_ids(path: Path) -> bool:
    fmt = file_format(path)
    if fmt == "parquet":
        with reading(path):
            names = pq.ParquetFile(path).schema_arrow.names
        return "prediction_id" in names
    with open_text(path) as handle:
        first, second = handle.readline(), handle.readline()
    if fmt == "jsonl":
        return '"prediction_id"' in first
    header = next(csv.reader([first]), [])
    if "prediction_id" in header:
        return True
    # The plain CSV `label export` writes: its `id` column holds prediction ids.
    values = dict(zip(header, next(csv.reader([second]), []), strict=False))
    return "id" in header and is_prediction_id(values.get("id"))


def _plain_rows(path: Path) -> list[dict]:
    fmt = file_format(path)
    if fmt == "parquet":
        with reading(path):
            return pq.read_table(path).to_pylist()
    with open_text(path) as handle:
        if fmt == "jsonl":
            return [json.loads(line) for line in handle if line.strip()]
        return list(csv.DictReader(handle))
