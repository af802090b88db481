import pytest

from sentiops.data.labels import LabelSchemeError, detect_scheme, map_label


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", "negative"),
        ("4", "positive"),
        ("2", "neutral"),
        (0, "negative"),
        (1, "positive"),
        (4.0, "positive"),
        ("Positive", "positive"),
        (" neg ", "negative"),
        ("neutral", "neutral"),
        ("3", None),
        ("maybe", None),
        (None, None),
        (True, None),
        (0.5, None),
    ],
)
def test_map_label(raw, expected):
    assert map_label(raw, "sentiment140" if raw != 1 else "binary") == expected


@pytest.mark.parametrize(
    ("labels", "scheme"),
    [
        (["0", "4", "2", "4"], "sentiment140"),
        (["0", "4", "7"], "sentiment140"),  # 7 decides nothing; it becomes a reject
        ([0, 1, 1, 0], "binary"),
        (["negative", "positive", "neutral"], "words"),
        (["0", "0"], "binary"),
        (["pos", "1", "0"], "binary"),
    ],
)
def test_detect_scheme(labels, scheme):
    assert detect_scheme(labels) == scheme


@pytest.mark.parametrize("labels", [["0", "1", "2"], ["0", "2"], ["0", "1", "4"]])
def test_ambiguous_numbers_are_refused(labels):
    with pytest.raises(LabelSchemeError, match="--label-scheme"):
        detect_scheme(labels)


@pytest.mark.parametrize(
    ("scheme", "raw", "expected"),
    [
        ("sentiment140", "2", "neutral"),
        ("sentiment140", "1", None),
        ("binary", "1", "positive"),
        ("binary", "4", None),
        ("three-class", "1", "neutral"),
        ("three-class", "2", "positive"),
        ("words", "positive", "positive"),
        ("words", "0", None),
    ],
)
def test_each_scheme_maps_its_own_numbers(scheme, raw, expected):
    assert map_label(raw, scheme) == expected


def test_a_three_class_file_is_refused_unless_named(tmp_path):
    from sentiops.data.prepare import read_labelled
    from tests.helpers.data import write_csv

    source = write_csv(tmp_path / "three.csv", [("0", "awful day"), ("1", "it is a day"), ("2", "lovely day")])
    with pytest.raises(LabelSchemeError):
        read_labelled([source])
    rows, _, dropped = read_labelled([source], "three-class")
    # Neutral is kept (id 2: ids follow LABELS, not the file's numbers).
    assert [(text, label) for _, text, label in rows] == [("awful day", 0), ("it is a day", 2), ("lovely day", 1)]
    assert "neutral" not in dropped
