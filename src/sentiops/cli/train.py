"""`sentiops train`, `evaluate` and `predict`: make a version, measure it, try it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sentiops.cli.common import LabelSchemeOption, fail, load_settings, open_registry, parse_backend, write_failed
from sentiops.cli.common import label_scheme as parse_scheme
from sentiops.cli.output import JsonOption, VerboseOption, quiet_libraries, summary
from sentiops.config import DEFAULT_TRAIN_EXAMPLES, TEACHER_LABELS_FILE


def train(
    data: Annotated[Path | None, typer.Option(help="Prepared data folder.")] = None,
    base_model: Annotated[str | None, typer.Option(help="Local HF model folder or hub id.")] = None,
    # Also from the environment, so a Job's size can change without editing its command.
    max_examples: Annotated[int, typer.Option(envvar="SENTIOPS_TRAIN_MAX_EXAMPLES")] = DEFAULT_TRAIN_EXAMPLES,
    epochs: Annotated[float, typer.Option(envvar="SENTIOPS_TRAIN_EPOCHS")] = 1.0,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    max_length: Annotated[int | None, typer.Option(help="Tokens per tweet (default SENTIOPS_MAX_LENGTH, 64).")] = None,
    seed: int = 42,
    label_smoothing: Annotated[float, typer.Option(min=0.0, max=0.5, help="Smoothed targets (0: off).")] = 0.0,
    layers: Annotated[
        int | None, typer.Option(min=1, help="Keep the base model's first N layers (a smaller student).")
    ] = None,
    distill: Annotated[
        bool, typer.Option(help="Learn the teacher's probabilities (`sentiops teacher train`) instead of emoticons.")
    ] = False,
    promote: Annotated[bool, typer.Option(help="Make the new version production.")] = False,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune, evaluate, export and register a new version (production if it is the first)."""
    from sentiops.data.readers import CorruptInput
    from sentiops.training.finetune import TrainOptions
    from sentiops.training.train import train as run_train

    settings = load_settings()
    quiet_libraries(verbose)  # after the logging set-up, which it narrows
    length = settings.max_length if max_length is None else max_length
    if distill and not (settings.teacher / TEACHER_LABELS_FILE).is_file():
        fail(f"no teacher labels in {settings.teacher}: run `sentiops teacher train` (it labels) first")
    options = TrainOptions(
        base_model, max_examples, epochs, batch_size, learning_rate, length, seed, label_smoothing, layers=layers
    )
    try:
        version, metrics = run_train(
            open_registry(settings),
            data or settings.data,
            options,
            settings.teacher if distill else None,
            settings.neutral_min_labels,
        )
    except CorruptInput as exc:
        fail(str(exc))  # exit 1, the file named
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        write_failed(exc)
    if promote:
        open_registry(settings).set_alias("production", version, reason="manual promote (train --promote)")
    assert metrics.validation is not None and metrics.holdout is not None  # packaging always writes both
    summary(
        as_json,
        {"version": version, "promoted": promote, "metrics": metrics.model_dump(mode="json", exclude_unset=True)},
        f"registered version {version}: validation accuracy {metrics.validation.accuracy:.4f}, "
        f"holdout accuracy {metrics.holdout.accuracy:.4f}, "
        f"int8/fp32 agreement {metrics.parity.int8_fp32_agreement:.4f}",
    )


def evaluate(
    data: Annotated[Path, typer.Option(help="Labelled file in any supported format.")],
    version: Annotated[str | None, typer.Option(help="Version or alias (default production).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    backend: Annotated[
        str | None,
        typer.Option(help="Engine: auto, ort-fp32, ort-int8, openvino-fp32/bf16/int8 (default SENTIOPS_BACKEND)."),
    ] = None,
    label_scheme: LabelSchemeOption = None,
) -> None:
    """Evaluate a registered version on any labelled file."""
    import numpy as np

    from sentiops.data.labels import LABELS
    from sentiops.data.prepare import read_labelled
    from sentiops.data.readers import CorruptInput, InputError, expand_inputs
    from sentiops.evaluation.metrics import classification_report
    from sentiops.inference import Predictor
    from sentiops.registry import RegistryError

    settings = load_settings()
    try:
        predictor = Predictor.from_settings(settings, version, backend=parse_backend(backend))
        rows, rejects, dropped = read_labelled(expand_inputs(data), parse_scheme(label_scheme))
    except CorruptInput as exc:
        fail(str(exc))  # exit 1, the file named
    except (RegistryError, InputError, ValueError) as exc:
        fail(str(exc))
    if not rows:
        fail(f"no labelled rows in {data}")
    probs, _, _ = predictor.probabilities([r[1] for r in rows])
    report = classification_report(np.array([r[2] for r in rows]), probs, LABELS)
    report.update(version=predictor.version, backend=predictor.backend, dropped=dict(dropped))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(
            f"version {predictor.version} ({predictor.backend}) on {report['n']} rows: "
            f"accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}, "
            f"macro-recall {report['macro_recall']:.4f}, "
            f"ROC-AUC {report['roc_auc']:.4f}, ECE {report['ece']:.4f}"
        )


def predict(
    texts: Annotated[list[str], typer.Argument(help="One or more tweets.")],
    version: Annotated[str | None, typer.Option(help="Version or alias (default production).")] = None,
) -> None:
    """Print predictions from the command line, without a server."""
    from sentiops.inference import Predictor
    from sentiops.registry import RegistryError

    settings = load_settings()
    try:
        predictor = Predictor.from_settings(settings, version)
    except RegistryError as exc:
        fail(str(exc))
    for text, result in zip(texts, predictor.predict(texts), strict=True):
        typer.echo(json.dumps({"text": text, **result.as_dict(), "model_version": predictor.version}))
