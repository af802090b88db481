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
from sentiops.data.json_records import json_records
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
    <Choice value="neutral"/>
  </Choices>
</View>
"""


def is_prediction_id(value: object) -> bool:
    return isinstance(value, str) and (partition_of(value) is not None or batch_date_of(value) is not None)


# A cell starting with one of these is a formula to a spreadsheet (OWASP's CSV injection): a tweet
# "=HYPERLINK(...)" must reach the labeller as text. Exported cells get a leading apostrophe,
# which spreadsheets hide and `unescape_cell` takes off again on import.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def unescape_cell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS) else value


# -- export ------------------------------------------------------------------------------------
def render_items(items: list[dict[str, Any]], fmt: ExportFormat) -> str:
    """Queue items (item_id, text, picked) in a labelling tool's import format."""
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["id", "text", "target", "picked"])
        writer.writerows([escape_cell(i["item_id"]), escape_cell(i["text"]), "", i["picked"]] for i in items)
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
    """A tool's JSON export, streamed twice (json_records: memory follows one record): once to
    find JSON-MIN's label field, once to read the labels. A record of the wrong shape is that
    record's reject, never the file's failure."""
    finder = FieldFinder()  # Label Studio's JSON-MIN: the task's data and each control's value, flat
    for _, item, _ in json_records(path):
        if isinstance(item, dict) and not _nested(item) and "annotations" not in item and "data" not in item:
            finder.add(item)
    field = finder.field()
    labels = []
    for n, item, problem in json_records(path):
        row = f"{path.name}:{n}"
        if problem is not None or not isinstance(item, dict):
            labels.append(Label("", None, None, source, picked, row, problem or "not a JSON object"))
            continue
        try:
            labels.append(_record_label(item, field, source, picked, row))
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            # A field of the wrong type (`data` a list, `result` a string, ...): this record only.
            labels.append(Label("", None, None, source, picked, row, f"malformed record ({type(exc).__name__}: {exc})"))
    return labels


def _record_label(item: dict[str, Any], field: str | None, source: str, picked: str, row: str) -> Label:
    if "annotations" in item or "data" in item:
        return _label_studio_task(item, source, picked, row)
    if _nested(item):
        return _argilla_record(item, source, picked, row)
    raw = _choice(item.get(field)) if field else None
    return _tool_label(raw, item.get("text"), item.get("prediction_id"), source, picked, row, item.get("annotator"))


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


class FieldFinder:
    """The field holding the label, from rows seen one at a time: label, target or sentiment, else
    the one field whose filled values are all class names (a labelling config whose control has
    another name, say `mood`)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.all_named: dict[str, bool] = {}  # field -> every filled value so far is a class name

    def add(self, row: dict[str, Any]) -> None:
        for name, value in row.items():
            if not isinstance(name, str):
                continue
            self.names.add(name)
            value = _choice(value)
            if value not in (None, "", []):
                self.all_named[name] = self.all_named.get(name, True) and _named(value) is not None

    def field(self) -> str | None:
        for name in ("label", "target", QUESTION):
            if name in self.names:
                return name
        for name in sorted(self.names - _NOT_LABELS):
            if self.all_named.get(name):
                return name
        return None


def label_field(rows: list[dict[str, Any]]) -> str | None:
    finder = FieldFinder()
    for row in rows:
        finder.add(row)
    return finder.field()


def _choice(raw: Any) -> Any:
    """A Label Studio value as one class name: `{"choices": ["positive"]}` (JSON-MIN) or the name."""
    if isinstance(raw, dict):
        choices = raw.get("choices")
        return choices[0] if isinstance(choices, list) and choices else None
    return raw


def _id_rows(path: Path, source: str, scheme: Scheme | None, picked: str) -> list[Label]:
    read = _plain_rows(path)
    field = label_field([r for _, r, _ in read if r is not None])
    raw_labels = [_choice(r.get(field)) if field and r is not None else None for _, r, _ in read]
    found_scheme = scheme or detect_scheme(x for x in raw_labels if x not in (None, "") and isinstance(x, str | int))
    labels = []
    for (line, r, problem), raw in zip(read, raw_labels, strict=True):
        row = f"{path.name}:{line}"
        if r is None:
            labels.append(Label("", None, None, source, picked, row, problem))
            continue
        if raw in (None, ""):
            labels.append(Label("", None, None, source, picked, row, UNLABELLED))
            continue
        pid = r.get("prediction_id") or (r.get("id") if is_prediction_id(r.get("id")) else None)
        text = r.get("text")
        labels.append(
            Label(
                map_label(raw, found_scheme) or "",
                unescape_cell(text) if isinstance(text, str) and text else None,
                str(pid) if pid else None,
                source,
                picked,
                row,
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
    return f"label {raw!r} is unknown in the {scheme} scheme: expected one of {', '.join(LABELS)}"


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


def _plain_rows(path: Path) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    """(line, row, problem): each row of a CSV (with a header), JSONL or Parquet file; a line that
    is not a row (not a JSON object, a CSV field over the csv module's limit) is its problem."""
    fmt = file_format(path)
    if fmt == "parquet":
        with reading(path):
            return [(i, row, None) for i, row in enumerate(pq.read_table(path).to_pylist(), 1)]
    found: list[tuple[int, dict[str, Any] | None, str | None]] = []
    with open_text(path) as handle:
        if fmt == "jsonl":
            for i, line in enumerate(handle, 1):
                if line.strip():
                    found.append((i, *_json_line(line)))
            return found
        reader = csv.reader(handle)
        header = next(reader, [])
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return found
            except csv.Error as exc:  # a field over the limit: this row only
                found.append((reader.line_num, None, f"unreadable CSV row: {exc}"))
                continue
            found.append((reader.line_num, dict(zip(header, values, strict=False)), None))


def _json_line(line: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return None, f"malformed JSON ({type(exc).__name__})"
    return (value, None) if isinstance(value, dict) else (None, "not a JSON object")
