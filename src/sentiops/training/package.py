"""Turn a fine-tuned model into a registry version, in three steps:

build     export ONNX (fp32), quantise (ONNX Runtime int8, OpenVINO int8), store the label map,
          the training record and the calibration tweets
evaluate  every split on int8 (what serves by default), engine parity and per-engine accuracy,
          temperature calibration, the reference profile for drift checks
publish   write metrics, reference and plots; the registry checksums the folder and renames it
          into place (`Registry.new_version`), so a reader never sees half a version

`package_version` runs the three; `sentiops train` and `retrain` both call it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoModelForSequenceClassification

from sentiops.card import packaging_card
from sentiops.data.labels import LABEL2ID, LABELS
from sentiops.engines import FILES, eligible, openvino_available
from sentiops.evaluation.calibration import calibration_record
from sentiops.evaluation.metrics import classification_report
from sentiops.evaluation.paired import mcnemar_p
from sentiops.evaluation.plots import save_plots
from sentiops.inference import Predictor, softmax
from sentiops.logs import library_output
from sentiops.monitoring.profile import build_profile
from sentiops.registry import Registry
from sentiops.text import clean_text
from sentiops.training.export import export_onnx, quantize_int8, quantize_openvino_int8, torch_logits
from sentiops.training.finetune import FineTuned, TrainOptions, training_record
from sentiops.version import LabelMap, Metrics, Profile, ReferenceMetrics, VersionFolder

EvalSets = dict[str, tuple[list[str], np.ndarray]]


@dataclass
class Evaluation:
    metrics: Metrics
    reference: Profile
    # (labels, probabilities) per split, for the plots
    outputs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def package_version(
    registry: Registry, tuned: FineTuned, options: TrainOptions, eval_sets: EvalSets, lineage: dict[str, Any]
) -> tuple[str, Metrics]:
    """Build, evaluate and publish ``tuned`` as a new version; returns (version, metrics).

    ``eval_sets`` must contain "validation" and "holdout"."""
    with registry.new_version() as pending:
        folder = VersionFolder(pending.path)
        build(folder, tuned, options, lineage)
        evaluation = evaluate(folder, tuned, options, eval_sets)
        publish(folder, evaluation)
    return pending.number, evaluation.metrics


def build(folder: VersionFolder, tuned: FineTuned, options: TrainOptions, lineage: dict[str, Any]) -> None:
    hf = folder.path / "hf"
    tuned.model.save_pretrained(hf)
    tuned.tokenizer.save_pretrained(hf)
    shutil.copy(hf / "tokenizer.json", folder.path / "tokenizer.json")
    classes = list(options.classes)
    folder.write_labels(LabelMap(labels=classes, label2id={name: LABEL2ID[name] for name in classes}))
    folder.write_training(training_record(tuned, options, lineage))
    # Reload with eager attention: it traces to an ONNX graph valid for any padding.
    export_model = AutoModelForSequenceClassification.from_pretrained(hf, attn_implementation="eager")
    export_onnx(export_model, tuned.tokenizer, folder.path / "model.onnx")
    quantize_int8(folder.path / "model.onnx", folder.path / "model.int8.onnx")
    calibration = _calibration_sample(tuned.train_texts, options.seed)
    folder.write_calibration_texts(calibration)
    if openvino_available():
        fp32 = Predictor.from_folder(folder.path, backend="ort-fp32", verify=False)
        quantize_openvino_int8(
            folder.path / "model.onnx",
            folder.path / FILES["openvino-int8"],
            fp32.feeds(calibration),
            quiet=not library_output(),
        )


def evaluate(folder: VersionFolder, tuned: FineTuned, options: TrainOptions, eval_sets: EvalSets) -> Evaluation:
    int8 = Predictor.from_folder(folder.path, backend="ort-int8", verify=False)
    fp32 = Predictor.from_folder(folder.path, backend="ort-fp32", verify=False)
    reports: dict[str, Any] = {}
    outputs = {}
    for name, (texts, labels) in eval_sets.items():
        outputs[name] = int8.probabilities(texts)
        reports[name] = classification_report(labels, outputs[name][0], LABELS)
    val_texts, val_labels = eval_sets["validation"]
    fp32_logits, _, _ = fp32.logits(val_texts)
    int8_probs, tokens, unknown = outputs["validation"]  # also the reference profile's input
    export_model = AutoModelForSequenceClassification.from_pretrained(folder.path / "hf", attn_implementation="eager")
    reference_logits = torch_logits(
        export_model, tuned.tokenizer, [clean_text(t) for t in val_texts], options.max_length
    )
    fp32_accuracy = classification_report(val_labels, softmax(fp32_logits), LABELS)["accuracy"]
    reports["parity"] = {
        "max_abs_logit_diff_fp32_onnx_vs_torch": float(np.abs(fp32_logits - reference_logits).max()),
        "int8_fp32_agreement": float((fp32_logits.argmax(1) == int8_probs.argmax(1)).mean()),
        "fp32_validation_accuracy": fp32_accuracy,
        "int8_validation_accuracy": reports["validation"]["accuracy"],
        "int8_minus_fp32_accuracy": reports["validation"]["accuracy"] - fp32_accuracy,
    }
    already = {"ort-fp32": fp32_logits.argmax(1), "ort-int8": int8_probs.argmax(1)}
    reports["backends"] = backend_accuracy(folder.path, val_texts, val_labels, already)
    # The temperature is fitted on the rows the model can answer (a binary model has no neutral).
    answerable = np.asarray(val_labels) < len(int8.labels)
    reports["calibration"] = calibration_record(int8_probs[answerable], np.asarray(val_labels)[answerable])
    metrics = Metrics.model_validate(reports)
    reference = build_profile(val_texts, int8_probs, tokens, unknown, int8.labels)
    reference.metrics = ReferenceMetrics(
        validation=_summary(reports["validation"]),
        holdout=_summary(reports["holdout"]),
        calibration={"temperature": reports["calibration"]["temperature"]},
    )
    labelled = {name: (np.asarray(labels), outputs[name][0]) for name, (_, labels) in eval_sets.items()}
    return Evaluation(metrics, reference, labelled)


def publish(folder: VersionFolder, evaluation: Evaluation) -> None:
    """The last files of the folder; `Registry.new_version` then checksums and renames it."""
    folder.write_metrics(evaluation.metrics)
    folder.write_reference(evaluation.reference)
    folder.write_card(packaging_card(folder, evaluation.outputs))
    for name, (truth, probs) in evaluation.outputs.items():
        save_plots(truth, probs, LABELS, folder.path, name)


def _calibration_sample(texts: list[str], seed: int, n: int = 300) -> list[str]:
    """Training tweets stored with the version: NNCF calibrates on them, `auto` times on them."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(texts), size=min(n, len(texts)), replace=False)
    return [texts[i] for i in sorted(pick)]


def backend_accuracy(
    folder: Path, texts: list[str], labels: np.ndarray, already: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Validation accuracy, agreement with fp32 and the paired counts against fp32 of every engine
    this machine can run: what `auto` checks before it lets a faster engine serve (bf16 is
    measured only on CPUs with it).

    ``already``: predicted classes the caller has for some engines (it must hold ort-fp32, the
    reference); only the other engines are run."""
    fp32_predicted = already["ort-fp32"]
    found: dict[str, dict[str, float]] = {}
    for backend in eligible(folder):
        predicted = already.get(backend)
        if predicted is None:
            engine = Predictor.from_folder(folder, backend=backend, verify=False)
            predicted = engine.probabilities(texts)[0].argmax(1)
        right, fp32_right = predicted == np.asarray(labels), fp32_predicted == np.asarray(labels)
        only_engine, only_fp32 = int((right & ~fp32_right).sum()), int((fp32_right & ~right).sum())
        found[backend] = {
            "validation_accuracy": float(right.mean()),
            "agreement_with_fp32": float((predicted == fp32_predicted).mean()),
            "n": len(right),
            "only_engine_right": only_engine,
            "only_fp32_right": only_fp32,
            "mcnemar_p": mcnemar_p(only_engine, only_fp32),
        }
    return found


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in ("n", "accuracy", "macro_f1", "roc_auc", "ece")}
