import pytest

from sentiops.data.labels import map_label


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
    assert map_label(raw) == expected
