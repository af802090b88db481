"""The real packaged base model (all-MiniLM-L6-v2): a few steps of fine-tuning, end to end."""

import numpy as np
import pytest
import torch

from sentiops.inference import Predictor
from sentiops.registry import Registry
from sentiops.text import clean_text
from tests.helpers.data import sample_rows

pytestmark = pytest.mark.slow


def _mean_loss(model, tokenizer, texts, labels) -> float:
    enc = tokenizer([clean_text(t) for t in texts], padding=True, truncation=True, max_length=48, return_tensors="pt")
    with torch.no_grad():
        return float(model(**enc, labels=torch.tensor(labels)).loss)


def test_real_base_model_fine_tunes_exports_registers_and_predicts(tmp_path):
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from sentiops.training.finetune import TrainOptions, default_base_model, fine_tune
    from sentiops.training.package import package_version

    rows = sample_rows(260)
    texts = [t for _, t in rows]
    labels = [0 if y == "0" else 1 for y, _ in rows]
    train_t, train_y, eval_t, eval_y = texts[:200], labels[:200], texts[200:], np.array(labels[200:])
    base = default_base_model()
    options = TrainOptions(base_model=base, epochs=3, batch_size=16, learning_rate=1e-4, max_length=48, seed=3)

    transformers.set_seed(options.seed)  # the same fresh head fine_tune starts from
    tokenizer = AutoTokenizer.from_pretrained(base)
    initial = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
    loss_before = _mean_loss(initial, tokenizer, train_t, train_y)

    tuned = fine_tune(train_t, train_y, base, options)
    loss_after = _mean_loss(tuned.model, tokenizer, train_t, train_y)
    assert loss_after < loss_before - 0.05

    registry = Registry(tmp_path / "registry")
    sets = {"validation": (eval_t, eval_y), "holdout": (eval_t, eval_y)}
    version, metrics = package_version(registry, tuned, options, sets, {"parent_version": None})
    registry.set_alias("production", version)
    assert metrics.parity.max_abs_logit_diff_fp32_onnx_vs_torch < 1e-3

    predictor = Predictor.load(registry)
    results = predictor.predict(["I love this, what a wonderful day!", "This is awful, I hate it."])
    assert predictor.version == version
    assert [r.label for r in results] == ["positive", "negative"]
