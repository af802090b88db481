"""Three-way sentiment: a binary champion's head widened to neutral once enough of people's
neutral labels would train, judged on macro-recall across label sets, its polarity guarded; the
two-class view; binary and three-class versions side by side in one registry."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from sentiops.data.labels import LABELS
from sentiops.evaluation.metrics import binary_view, classification_report
from sentiops.evaluation.paired import compare
from sentiops.inference import Prediction, Predictor
from sentiops.registry import Registry
from sentiops.training.finetune import adjust_for_prior, widen_head
from sentiops.training.gate import decision_lines
from sentiops.training.retrain import gather_data
from tests.helpers.neutral import NEUTRAL, people_labels
from tests.training.test_retraining import TINY, _settings


def test_widening_the_head_keeps_the_old_answers(registry):
    model = AutoModelForSequenceClassification.from_pretrained(registry.folder("1").path / "hf")
    model.eval()
    inputs = {"input_ids": torch.tensor([[2, 50, 60, 70, 3]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    with torch.no_grad():
        before = model(**inputs).logits
        widen_head(model, 3)
        after = model(**inputs).logits
    assert after.shape == (1, 3) and model.config.num_labels == 3
    assert torch.allclose(after[:, :2], before, atol=1e-5)  # negative and positive as they were
    # Neutral starts where the two tie, as likely there as both together (bias + ln 2).
    assert torch.allclose(after[:, 2], before.mean(dim=1) + math.log(2), atol=1e-5)


def test_a_prior_shift_moves_the_biases_by_the_log_ratio(registry):
    model = AutoModelForSequenceClassification.from_pretrained(registry.folder("1").path / "hf")
    widen_head(model, 3)
    before = model.classifier.bias.detach().clone()
    shift = adjust_for_prior(model, np.array([0.4, 0.4, 0.2]), np.array([0.3, 0.2, 0.5]))
    assert shift == pytest.approx(np.log([0.75, 0.5, 2.5]).tolist(), abs=1e-4)
    assert torch.allclose(model.classifier.bias - before, torch.tensor(shift), atol=1e-4)


def test_enough_neutral_labels_train_a_three_class_challenger(three_class_home):
    root, decision = three_class_home
    registry = Registry(root / "registry")
    assert registry.folder(decision.challenger).labels().labels == list(LABELS)
    assert registry.training(decision.challenger).init_from == "version 1"  # widened from the champion
    n = decision.numbers
    assert n["classes"] == {"challenger": list(LABELS), "champion": ["negative", "positive"]}
    # Across label sets the gate compares macro-recall on people's labels: the binary champion
    # scores 0 on neutral, and the challenger learned it.
    assert n["evidence"] == "trusted" and n["paired"]["metric"] == "macro_recall"
    assert n["champion"]["newest"]["recall"]["neutral"] == 0.0
    assert n["challenger"]["newest"]["recall"]["neutral"] > 0.5
    assert n["paired"]["challenger_metric"] > n["paired"]["champion_metric"]
    assert set(n["class_guard"]["recall_two_class"]) == {"negative", "positive"}
    assert decision.action == "promoted", decision.reasons
    # Replay holds no neutral: the head's biases were shifted from the training mix to balanced shares.
    priors = registry.training(decision.challenger).data.class_priors
    neutral = LABELS.index("neutral")
    assert priors["target"] == pytest.approx([1 / 3] * 3, abs=1e-5)
    assert priors["train"][neutral] < 1 / 3 and priors["bias_shift"][neutral] > 0
    assert "better in macro-recall" in decision.reasons[0]
    assert any("macro_recall" in line for line in decision_lines(decision))


def test_a_three_class_model_answers_neutral_and_folds_to_two(three_class_home):
    root, decision = three_class_home
    settings = _settings(root, root / "data", root / "registry")
    predictor = Predictor.from_settings(settings, decision.challenger, "ort-fp32")
    [answer] = predictor.predict([NEUTRAL[-1]])  # never labelled: the last 100 stayed out
    assert answer.label == "neutral" and set(answer.scores) == set(LABELS)
    folded = answer.two_class()
    assert set(folded.scores) == {"negative", "positive"} and abs(sum(folded.scores.values()) - 1) < 1e-6
    assert folded.label == max(folded.scores, key=folded.scores.__getitem__)
    assert (folded.scores["positive"] > folded.scores["negative"]) == (
        answer.scores["positive"] > answer.scores["negative"]
    )


def test_too_few_neutral_labels_keep_the_challenger_binary(tmp_path, prepared_data, registry):
    shutil.copytree(prepared_data, tmp_path / "data")
    settings = _settings(tmp_path, tmp_path / "data", registry.root, neutral_min_labels=1000)
    people_labels(settings, 200)
    data = gather_data(settings, registry, "1", TINY)
    assert data["classes"] == ["negative", "positive"]
    assert set(data["train"].column("label").to_pylist()) == {0, 1}  # neutral waits in the store
    assert data["rows"]["neutral_waiting"] > 100


def test_macro_recall_is_compared_pair_by_pair():
    truth = np.array([0, 0, 1, 1, 2, 2] * 20)
    binary = truth != 2  # right on every negative and positive, never on neutral
    three = np.ones_like(binary)
    found = compare(binary, three, resamples=500, truth=truth)
    assert found.metric == "macro_recall"
    assert found.champion_metric == pytest.approx(2 / 3) and found.challenger_metric == 1.0
    assert found.difference == pytest.approx(1 / 3) and found.interval[0] > 0.2
    plain = compare(binary, three, resamples=500)
    assert plain.metric == "accuracy" and plain.difference == pytest.approx(1 / 3)


def test_a_binary_model_on_three_way_labels_scores_zero_on_neutral():
    truth = np.array([0, 1, 2, 2])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    report = classification_report(truth, probs, LABELS)
    assert report["per_class"]["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert report["accuracy"] == 0.5 and report["macro_recall"] == pytest.approx(2 / 3)
    assert np.allclose(binary_view(np.array([[0.2, 0.2, 0.6]])), [[0.5, 0.5]])


def test_a_binary_answer_is_its_own_two_class_view():
    answer = Prediction("positive", 0.8, {"negative": 0.2, "positive": 0.8})
    assert answer.two_class() is answer
    three = Prediction("neutral", 0.5, {"negative": 0.1, "positive": 0.4, "neutral": 0.5})
    folded = three.two_class()
    assert folded.label == "positive" and folded.confidence == pytest.approx(0.8)
    assert folded.scores == pytest.approx({"negative": 0.2, "positive": 0.8})


class _LoudIsPositive:
    """Neutral for plain statements; "!!!" makes a statement positive; words of sentiment decide."""

    def predict(self, texts):
        found = []
        for text in texts:
            if "love" in text.lower() or "happy" in text.lower():
                found.append(Prediction("positive", 0.9, {"negative": 0.05, "positive": 0.9, "neutral": 0.05}))
            elif "hate" in text.lower() or "awful" in text.lower():
                found.append(Prediction("negative", 0.9, {"negative": 0.9, "positive": 0.05, "neutral": 0.05}))
            elif text.endswith("!!!"):
                found.append(Prediction("positive", 0.5, {"negative": 0.1, "positive": 0.5, "neutral": 0.4}))
            else:  # a near-tie between negative and positive: a name swap may flip its two-class view
                tilt = 0.01 if len(text) % 2 else -0.01
                found.append(
                    Prediction("neutral", 0.6, {"negative": 0.2 - tilt, "positive": 0.2 + tilt, "neutral": 0.6})
                )
        return found


def test_across_label_sets_invariance_asks_only_what_a_binary_model_can_answer():
    from sentiops.training import behaviour

    texts = [*NEUTRAL[:40], "I love my new phone", "I hate mondays", "what an awful film"]
    own = behaviour.invariance(_LoudIsPositive(), texts)
    shared = behaviour.invariance(_LoudIsPositive(), texts, two_class=True)
    assert own["punctuation"]["rate"] < 0.2  # every statement moves out of neutral
    # Only the texts that take a side (ours and a few of the check's own) are asked, and they hold.
    assert shared["punctuation"]["rate"] == 1.0 and 3 <= shared["punctuation"]["tested"] < 20
    assert own["punctuation"]["tested"] > 40
