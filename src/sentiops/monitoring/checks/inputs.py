"""Did the text itself change? Token lengths, unknown tokens, empty or link-only tweets."""

from __future__ import annotations

from typing import Any

import numpy as np

from sentiops.config import Thresholds
from sentiops.monitoring import stats
from sentiops.monitoring.checks.base import Chart, DriftCheck, Effect, Inputs, Measured, Shown, number, share_p
from sentiops.version import Profile


class InputDrift(DriftCheck):
    name = "input_drift"
    title = "Input text"
    test = (
        "chi-square test of the token-length histogram; two-sample KS test of token lengths; "
        "exact binomial tests of the unknown-token and link-only shares"
    )
    advice = "Another language, bots, a broken scraper: check the source of the day's tweets."
    shown = (
        Shown("token_length_psi", "token-length PSI"),
        Shown("token_length_ks", "token-length KS"),
        Shown("mean_tokens", "mean tokens", ".1f"),
        Shown("unknown_change", "unknown-token share change", "+.3f"),
        Shown("link_only_change", "link-only share change", "+.3f"),
    )
    charts = (
        Chart("Token-length PSI", "token_length_psi", {"warning": "psi_warning", "drift": "psi_drift"}),
        Chart("Unknown-token share", "unknown_token_share"),
    )

    def min_rows(self, t: Thresholds) -> int:
        return t.min_rows_input

    def measure(self, inputs: Inputs) -> Measured:
        t, batch, reference = inputs.thresholds, inputs.batch, inputs.reference
        n = batch.n
        ref_len = np.array(reference.token_length_histogram["counts"], float)
        ref_len_shares = ref_len / max(1, ref_len.sum())
        batch_len_counts = np.array(batch.token_length_histogram["counts"], float)
        len_psi = stats.psi(ref_len_shares, batch_len_counts / max(1, batch_len_counts.sum()))
        len_chi_p = stats.chi_square_p(ref_len_shares, batch_len_counts)
        len_ks, len_p = stats.ks(np.array(reference.token_length_sample), np.array(batch.token_length_sample))
        delta_unknown = batch.unknown_token_share - reference.unknown_token_share
        tokens = max(1, round(batch.mean_tokens * n))
        unknown_p = share_p(round(batch.unknown_token_share * tokens), tokens, reference.unknown_token_share)
        delta_links = batch.empty_or_link_only_share - reference.empty_or_link_only_share
        links_p = share_p(round(batch.empty_or_link_only_share * n), n, reference.empty_or_link_only_share)
        effects = [
            Effect(self.name, "token_length_psi", len_psi, t.psi_warning, t.psi_drift, len_chi_p),
            Effect(self.name, "token_length_ks", len_ks, t.ks_warning, t.ks_drift, len_p),
            Effect(self.name, "unknown_change", delta_unknown, t.unknown_warning, t.unknown_drift, unknown_p),
            Effect(self.name, "link_only_change", delta_links, t.link_only_warning, t.link_only_drift, links_p),
        ]
        numbers = {
            "token_length_psi": len_psi,
            "token_length_chi2_p": len_chi_p,
            "token_length_ks": len_ks,
            "token_length_ks_p": len_p,
            "mean_tokens": batch.mean_tokens,
            "reference_mean_tokens": reference.mean_tokens,
            "unknown_token_share": batch.unknown_token_share,
            "unknown_change": delta_unknown,
            "empty_or_link_only_share": batch.empty_or_link_only_share,
            "link_only_change": delta_links,
        }
        message = f"token-length PSI {len_psi:.3f}, unknown-token share {batch.unknown_token_share:.3f}"
        return Measured(effects, numbers, message)

    def history(self, numbers: dict[str, Any], batch: Profile) -> dict[str, float]:
        return {
            "token_length_psi": number(numbers, "token_length_psi"),
            "unknown_token_share": float(batch.unknown_token_share),
        }
