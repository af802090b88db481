import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentiops.data.readers import InputError, Record, Reject, expand_inputs, iter_chunks


def _all(path, chunk_rows=4096):
    records, rejects = [], []
    for recs, bad in iter_chunks(path, chunk_rows):
        records += recs
        rejects += bad
    return records, rejects


def official_bytes() -> bytes:
    lines = [
        '"0","1467810369","Mon Apr 06 22:19:45 PDT 2009","NO_QUERY","u1","@sw http://t.co/2y1zl Aww"',
        '"4","1467822272","Mon Apr 06 22:22:45 PDT 2009","NO_QUERY","ersle","I love my Kindle2. caf\xe9 &amp; cr\xe8"',
        '"2","14","Mon May 11 03:17:40 UTC 2009","kindle2","tpryan","just a fact"',
        '"4","15","Mon May 11 03:17:40 UTC 2009","kindle2","someone"',
    ]
    return ("\n".join(lines) + "\n").encode("latin-1")


def test_official_layout_latin1(tmp_path):
    path = tmp_path / "training.1600000.processed.noemoticon.csv"
    path.write_bytes(official_bytes())
    records, rejects = _all(path)
    assert [r.row_id for r in records] == ["1467810369", "1467822272", "14"]
    assert records[1].text == "I love my Kindle2. café &amp; crè"
    assert [r.label for r in records] == ["0", "4", "2"]
    assert len(rejects) == 1 and "5 fields, expected 6" in rejects[0].reason


def test_headed_csv_with_undecodable_bytes(tmp_path):
    path = tmp_path / "tweets.csv"
    path.write_bytes(b'label,text\npositive,"fine tweet"\n0,"bad \xff\xfe bytes"\nnegative,"sad"\n')
    records, rejects = _all(path)
    assert [(r.label, r.text) for r in records] == [("positive", "fine tweet"), ("negative", "sad")]
    assert rejects[0].row_id == "tweets.csv:2"
    assert "undecodable" in rejects[0].reason
    assert "\\xff" in rejects[0].raw


def test_csv_without_text_column_is_an_input_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no text column"):
        _all(path)


def test_jsonl_with_bad_lines(tmp_path):
    path = tmp_path / "t.jsonl.gz"
    lines = [
        json.dumps({"id": 9, "text": "hello", "label": 1}).encode(),
        b"{not json",
        json.dumps([1]).encode(),
        json.dumps({"text": 5}).encode(),
        json.dumps({"label": 0}).encode(),
        b"",
        b'{"text": "   "}',
    ]
    with gzip.open(path, "wb") as handle:
        handle.write(b"\n".join(lines) + b"\n")
    records, rejects = _all(path)
    assert records == [Record("9", "hello", 1)]
    reasons = [r.reason for r in rejects]
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1] == "malformed JSON: not an object"
    assert reasons[2] == "text is not a string (int)"
    assert reasons[3] == "missing text"
    assert reasons[4] == "empty text"


def test_parquet_and_chunking(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(10)], "sentiment": ["pos"] * 10}), path)
    chunks = list(iter_chunks(path, chunk_rows=4))
    assert [len(r) for r, _ in chunks] == [4, 4, 2]
    assert chunks[2][0][-1] == Record("p.parquet:10", "t9", "pos")


def test_expand_inputs_folder_and_glob(tmp_path):
    (tmp_path / "b.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "a.csv").write_text("text\nx\n")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [p.name for p in expand_inputs(tmp_path)] == ["a.csv", "b.jsonl"]
    assert [p.name for p in expand_inputs(str(tmp_path / "*.csv"))] == ["a.csv"]
    with pytest.raises(InputError):
        expand_inputs(tmp_path / "nothing-*.csv")


def test_reject_is_a_value():
    assert Reject("a", "b", "c") == Reject("a", "b", "c")


def test_bad_unicode_in_jsonl_becomes_rejects_with_reasons(tmp_path):
    path = tmp_path / "day.jsonl"
    lines = [
        '{"id": "a", "text": "fine tweet"}',
        '{"id": "b", "text": "lone \\ud800 surrogate"}',
        '{"id": "c", "text": "nul \\u0000 inside"}',
        '{"id": "d", "text": "\\u200b\\u200c\\u2060"}',
        '{"id": "e", "text": "another fine one"}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records, rejects = _all(path)
    assert [r.row_id for r in records] == ["a", "e"]
    reasons = {r.row_id: r.reason for r in rejects}
    assert reasons == {
        "b": "invalid Unicode (lone surrogate)",
        "c": "contains a NUL character",
        "d": "no visible characters (only whitespace or zero-width)",
    }
    pq.write_table(pa.table({"raw": [r.raw for r in rejects]}), tmp_path / "rejects.parquet")  # valid UTF-8


def test_mixed_encodings_in_one_csv_reject_only_the_foreign_rows(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(b'target,text\n0,"plain ascii"\n4,"caf\xc3\xa9 in utf-8"\n0,"caf\xe9 in latin-1"\n4,"ok again"\n')
    records, rejects = _all(path)
    assert [r.text for r in records] == ["plain ascii", "café in utf-8", "ok again"]
    assert len(rejects) == 1 and rejects[0].reason == "undecodable bytes (not UTF-8)"
    assert "\\xe9" in rejects[0].raw
