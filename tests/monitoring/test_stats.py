"""Drift statistics against values computed by hand or given in scipy's documentation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sentiops.monitoring import stats


def test_psi_by_hand():
    # (0.6-0.5)ln(0.6/0.5) + (0.4-0.5)ln(0.4/0.5)
    expected = 0.1 * math.log(1.2) + 0.1 * math.log(1.25)
    assert stats.psi(np.array([0.5, 0.5]), np.array([0.6, 0.4])) == pytest.approx(expected)
    assert stats.psi(np.array([0.3, 0.7]), np.array([0.3, 0.7])) == pytest.approx(0.0)


def test_psi_stays_finite_with_an_empty_bin():
    assert math.isfinite(stats.psi(np.array([0.5, 0.5, 0.0]), np.array([0.4, 0.4, 0.2])))


def test_js_distance_bounds_and_a_hand_value():
    assert stats.js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert stats.js_distance(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == pytest.approx(0.0)
    # JS divergence of (1,0) and (1/2,1/2), base 2: 1/2*log2(4/3) + 1/2*(1/2*log2(2/3)... ) by hand:
    p, q = np.array([1.0, 0.0]), np.array([0.5, 0.5])
    m = (p + q) / 2
    kl = lambda a, b: sum(x * math.log2(x / y) for x, y in zip(a, b, strict=True) if x > 0)  # noqa: E731
    assert stats.js_distance(p, q) == pytest.approx(math.sqrt((kl(p, m) + kl(q, m)) / 2))


def test_chi_square_matches_the_scipy_documentation_example():
    # scipy.stats.chisquare([16, 18, 16, 14, 12, 12]) -> statistic 2.0, p 0.84914503608460956
    assert stats.chi_square_p(np.full(6, 1 / 6), np.array([16, 18, 16, 14, 12, 12])) == pytest.approx(
        0.84914503608460956
    )
    assert stats.chi_square_p(np.array([0.5, 0.5]), np.array([0, 0])) == 1.0


def test_ks_on_disjoint_samples():
    # Statistic 1; exact two-sided p = 2 / C(6, 3) = 0.1.
    statistic, p = stats.ks([1.0, 2.0, 3.0], np.array([4.0, 5.0, 6.0]))
    assert statistic == pytest.approx(1.0)
    assert p == pytest.approx(0.1)
    assert stats.ks([], np.array([1.0])) == (0.0, 1.0)


def test_binned_shares_puts_values_past_the_ends_in_the_end_bins():
    shares = stats.binned_shares(np.array([-5.0, 5.0, 15.0, 100.0]), [0.0, 10.0, 20.0])
    assert shares.tolist() == pytest.approx([0.5, 0.5])
