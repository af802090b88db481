"""Length bucketing: order kept, sizes capped, padding bounded."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sentiops.inference import length_buckets, softmax


@given(st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=300), st.integers(1, 64))
def test_buckets_cover_every_text_once_cap_size_and_bound_padding(lengths, max_size):
    lengths = np.array(lengths)
    order = np.argsort(lengths, kind="stable")
    buckets = length_buckets(order, lengths, max_size, max_padding=0.1)
    flat = np.concatenate(buckets)
    assert flat.tolist() == order.tolist()
    for bucket in buckets:
        assert 1 <= len(bucket) <= max_size
        padded = lengths[bucket].max() * len(bucket)
        real = lengths[bucket].sum()
        # A bucket of one has no padding; bigger ones waste at most 10% over their real tokens.
        assert len(bucket) == 1 or padded <= real * 1.1 + 1e-9


def test_equal_lengths_fill_whole_buckets():
    lengths = np.full(100, 12)
    buckets = length_buckets(np.arange(100), lengths, 32)
    assert [len(b) for b in buckets] == [32, 32, 32, 4]


def test_softmax_rows_sum_to_one_and_survive_large_logits():
    probs = softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    assert probs.sum(axis=1).tolist() == [1.0, 1.0]
    assert probs[1].tolist() == [0.5, 0.5]
