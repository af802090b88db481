"""The promotion gate: champion and challenger on the same rows, plus behavioural checks.

Only a challenger that is not worse than the champion on the fixed holdout (by more than a
margin), better on the newest labelled data, and that passes the behavioural checks replaces
`production`. Every decision carries its numbers and reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from sentiops.config import Settings
from sentiops.evaluation.metrics import classification_report
from sentiops.inference import Predictor
from sentiops.registry import AliasMoved, Registry
from sentiops.training import behaviour

Policy = Literal["auto", "staging"]  # auto: promote when the gate passes; staging: only set staging
Action = Literal["promoted", "staged", "rejected"]
EvalSet = tuple[list[str], np.ndarray]


@dataclass
class Decision:
    challenger: str
    champion: str
    action: Action
    reasons: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)


def gate(
    settings: Settings,
    registry: Registry,
    champion: str,
    challenger: str,
    metrics: dict[str, Any],
    holdout: EvalSet,
    newest: EvalSet,
    policy: Policy,
) -> Decision:
    old = Predictor.from_settings(settings, champion)
    new = Predictor.from_settings(settings, challenger)
    numbers: dict[str, Any] = {"challenger": {}, "champion": {}}
    for name, (texts, y) in (("holdout", holdout), ("newest", newest)):
        numbers["challenger"][name] = {k: metrics[name][k] for k in ("accuracy", "macro_f1")}
        probs, _, _ = old.probabilities(texts)
        report = classification_report(y, probs, old.labels)
        numbers["champion"][name] = {k: report[k] for k in ("accuracy", "macro_f1")}
    mft = behaviour.minimum_functionality(new)
    inv = behaviour.invariance(new, holdout[0])
    agree = behaviour.agreement(new, old, holdout[0])
    numbers["behaviour"] = {"minimum_functionality": mft, "invariance": inv, "champion_agreement": agree}

    reasons = []
    holdout_change = numbers["challenger"]["holdout"]["accuracy"] - numbers["champion"]["holdout"]["accuracy"]
    newest_gain = numbers["challenger"]["newest"]["accuracy"] - numbers["champion"]["newest"]["accuracy"]
    if holdout_change < -settings.retrain_holdout_margin:
        reasons.append(f"holdout accuracy fell by {-holdout_change:.4f} (margin {settings.retrain_holdout_margin})")
    if newest_gain <= settings.retrain_newest_min_gain:
        reasons.append(f"newest-data accuracy gain {newest_gain:+.4f} is not above {settings.retrain_newest_min_gain}")
    if mft["pass_rate"] < settings.retrain_min_functionality:
        reasons.append(f"minimum functionality {mft['pass_rate']:.2f} < {settings.retrain_min_functionality}")
    if inv["invariant_rate"] < 1.0:
        reasons.append(f"mention/URL invariance {inv['invariant_rate']:.4f} < 1.0")
    if agree < settings.retrain_min_agreement:
        reasons.append(f"agreement with champion {agree:.4f} < {settings.retrain_min_agreement}")
    numbers.update(holdout_change=holdout_change, newest_gain=newest_gain)

    action: Action
    if policy == "staging":
        registry.set_alias("staging", challenger, reason="retrain (staging policy)")
        action = "staged"
    elif reasons:
        action = "rejected"
    else:
        try:
            # Compare-and-swap: the gate compared against `champion`; if someone promoted or
            # rolled back meanwhile, that comparison no longer holds.
            registry.set_alias("production", challenger, reason="retrain gate passed", only_if=champion)
            action = "promoted"
        except AliasMoved as exc:
            registry.set_alias("staging", challenger, reason="retrain: production moved during the retrain")
            reasons.append(f"not promoted: {exc} while the challenger trained; staged for review")
            action = "staged"
    return Decision(challenger, champion, action, reasons or ["all gate checks passed"], numbers)


def decision_lines(decision: Decision) -> list[str]:
    n = decision.numbers
    new, old = n["challenger"], n["champion"]
    lines = [
        f"- challenger {decision.challenger} vs champion {decision.champion}: {decision.action}",
        f"- holdout accuracy {new['holdout']['accuracy']:.4f} vs {old['holdout']['accuracy']:.4f}",
        f"- newest-data accuracy {new['newest']['accuracy']:.4f} vs {old['newest']['accuracy']:.4f}",
        f"- minimum functionality {n['behaviour']['minimum_functionality']['pass_rate']:.2f}, "
        f"invariance {n['behaviour']['invariance']['invariant_rate']:.4f}, "
        f"agreement {n['behaviour']['champion_agreement']:.4f}",
    ]
    return lines + [f"- {reason}" for reason in decision.reasons]
