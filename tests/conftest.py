"""Shared fixtures: a tiny random BERT, a small prepared volume and a registry holding it.

The tiny model (2 layers, hidden 32) trains in seconds, so the whole pipeline runs in unit
tests; a few tests marked `slow` use the real packaged base model instead.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers.data import sample_rows, write_csv


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT with a WordPiece vocabulary built from the sample."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = Counter()
    for _, text in sample_rows(6000):
        words.update(re.findall(r"[a-z]+|[^\sa-z0-9]", text.lower()))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = specials + [w for w, _ in words.most_common(3000) if w not in specials]
    tokenizer = BertTokenizer(vocab={word: i for i, word in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)  # the same random start every run: results that depend on it do not vary
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory) -> Path:
    """`data prepare` output for 5,000 sample tweets (small daily batches of 200)."""
    from sentiops.data.prepare import SplitPlan, prepare

    root = tmp_path_factory.mktemp("volume")
    source = write_csv(root / "tweets.csv", sample_rows(5000))
    plan = SplitPlan(seed=7, validation_rows=150, holdout_rows=150, day_rows=200, feedback_part_rows=300)
    prepare([source], root / "data", plan)
    return root / "data"


@pytest.fixture(scope="session")
def _trained_registry(tmp_path_factory, tiny_base_model, prepared_data) -> Path:
    from sentiops.registry import Registry
    from sentiops.training.finetune import TrainOptions
    from sentiops.training.train import train

    root = tmp_path_factory.mktemp("registry-template")
    options = TrainOptions(
        base_model=str(tiny_base_model),
        max_examples=2400,
        epochs=2,
        batch_size=32,
        learning_rate=3e-3,
        max_length=48,
        seed=1,
    )
    train(Registry(root), prepared_data, options)
    return root


@pytest.fixture(scope="session")
def three_class_home(tmp_path_factory, prepared_data, _trained_registry):
    """(root, decision): root/registry holds the binary tiny model (1) and a three-class version
    widened from it on people's labels (2, production); root/data the labels. Copy before changing."""
    from tests.helpers.neutral import three_class_home

    root = tmp_path_factory.mktemp("three-class")
    return root, three_class_home(root, prepared_data, _trained_registry)


@pytest.fixture
def registry_dir(tmp_path, _trained_registry) -> Path:
    """A private copy of a registry whose version 1 (production) is the trained tiny model."""
    target = tmp_path / "registry"
    shutil.copytree(_trained_registry, target)
    return target


@pytest.fixture
def registry(registry_dir):
    from sentiops.registry import Registry

    return Registry(registry_dir)


@pytest.fixture(autouse=True)
def _one_labeller_per_item(monkeypatch):
    """No second labeller unless a test asks for one: prediction ids are random, so which items
    need one would vary from run to run (commands read the share from the environment)."""
    monkeypatch.setenv("SENTIOPS_LABEL_OVERLAP_SHARE", "0")


@pytest.fixture(autouse=True)
def _restore_logging():
    """Commands run in-process (CliRunner) set up logging on a stream that closes with them;
    put the root logger and the record factory back so later tests do not log into it."""
    import logging

    root = logging.getLogger()
    handlers, level, factory = list(root.handlers), root.level, logging.getLogRecordFactory()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.setLogRecordFactory(factory)


@pytest.fixture
def serve_env(tmp_path, registry_dir):
    """The environment of a `sentiops serve` process over a private copy of the registry."""
    return {
        **os.environ,
        "SENTIOPS_HOME": str(tmp_path / "home"),
        "SENTIOPS_REGISTRY_DIR": str(registry_dir),
        "SENTIOPS_RESULTS_DIR": str(tmp_path / "results"),
        "SENTIOPS_BACKEND": "ort-int8",
        "HOSTNAME": "api-pod",  # both "replicas" on one host name: their files must still differ
    }
