"""`sentiops teacher train` and `teacher label`: the distillation teacher (training/distill.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from sentiops.cli.common import fail, load_settings, write_failed
from sentiops.cli.output import JsonOption, VerboseOption, quiet_libraries, summary

teacher_app = typer.Typer(
    help="A larger teacher model whose probabilities train the serving student.", no_args_is_help=True
)


@teacher_app.command("train")
def teacher_train(
    base_model: Annotated[
        str | None, typer.Option(help="Local HF model folder (default: all-mpnet-base-v2 from its PyPI parts).")
    ] = None,
    max_examples: Annotated[int, typer.Option(envvar="SENTIOPS_TEACHER_MAX_EXAMPLES")] = 8000,
    epochs: Annotated[float | None, typer.Option(help="Default 1 (emoticons), 3 (--from-labels).")] = None,
    batch_size: int = 32,
    learning_rate: Annotated[
        float | None, typer.Option(help="Default 3e-5 (emoticons), 1e-4 (--from-labels: few rows).")
    ] = None,
    seed: int = 42,
    label_texts: Annotated[
        int, typer.Option(envvar="SENTIOPS_TEACHER_LABEL_TEXTS", help="Then label this many train texts (0: not).")
    ] = 40000,
    from_labels: Annotated[
        bool,
        typer.Option(
            help="Train on people's trusted labels (three classes once enough are neutral; the gate's held-back "
            "share left out) instead of the train split's emoticons; the labelling then includes traffic."
        ),
    ] = False,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune the teacher, then label texts with it (`teacher label`).

    mpnet on 2 CPU cores: about 21 minutes for 8,000 tweets; labelling 40,000 texts about 7 minutes
    with native bf16 (AVX-512 BF16, AMX), about 25 without."""
    from sentiops.training.distill import TeacherError, mpnet_base_model, train_teacher, train_teacher_on_labels
    from sentiops.training.distill import label_texts as label
    from sentiops.training.finetune import TrainOptions

    settings = load_settings()
    quiet_libraries(verbose)
    try:
        base = base_model or str(mpnet_base_model(settings.home / "models"))
        # People's labels are few (hundreds to thousands): at 3e-5 mpnet's fresh head barely moved in
        # 38 steps (macro-recall 0.34 on 300 pool labels after 600); 1e-4 reached 0.655.
        epochs = epochs or (3.0 if from_labels else 1.0)
        learning_rate = learning_rate or (1e-4 if from_labels else 3e-5)
        options = TrainOptions(base, max_examples, epochs, batch_size, learning_rate, settings.max_length, seed)
        if from_labels:
            record = train_teacher_on_labels(
                settings.data,
                settings.teacher,
                options,
                settings.retrain_trusted_share,
                settings.retrain_trusted_eval_floor,
                settings.neutral_min_labels,
            )
        else:
            record = train_teacher(settings.data, settings.teacher, options)
        if label_texts:
            record["labels"] = label(
                settings.data,
                settings.teacher,
                label_texts,
                settings.max_length,
                results=settings.results if from_labels else None,
                trusted_share=record.get("trusted_share", settings.retrain_trusted_share),
                max_traffic=label_texts if from_labels else None,
            )
    except (TeacherError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        write_failed(exc)
    summary(as_json, record, _trained_line(record, str(settings.teacher)))


def _trained_line(record: dict, folder: str) -> str:
    if "validation_accuracy" in record:  # an emoticon teacher, measured on the validation split
        measured = f"validation accuracy {record['validation_accuracy']:.4f}"
    elif "trusted_eval" in record:  # a teacher of people's labels, measured on the held-back share
        held = record["trusted_eval"]
        measured = f"macro-recall {held['macro_recall']:.4f} on {held['rows']} held-back labels"
    else:
        measured = "no held-back labels to measure on"
    line = (
        f"teacher ({', '.join(record['classes'])}) trained on {record['examples']} {record['source']} "
        f"in {record['train_seconds']} s: {measured} ({folder})"
    )
    labelled = record.get("labels", {}).get("rows")
    if labelled:
        line += f"; labelled {labelled['train']} train texts and {labelled['traffic']} from traffic"
    return line


@teacher_app.command("label")
def teacher_label(
    max_texts: Annotated[int, typer.Option(help="Texts of the train split to label.")] = 40000,
    with_traffic: Annotated[
        bool,
        typer.Option(
            help="Also label unlabelled production traffic (the prediction log's texts, newest first); "
            "they come first in the labels file, so `train --distill` learns them."
        ),
    ] = False,
    max_traffic: Annotated[
        int | None, typer.Option(help="At most this many traffic texts (default: a quarter of --max-texts).")
    ] = None,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write the teacher's class probabilities per text to teacher/labels.parquet (what `train --distill`
    and `retrain --distill` learn from)."""
    from sentiops.training.distill import TeacherError, label_texts

    settings = load_settings()
    quiet_libraries(verbose)
    try:
        found = label_texts(
            settings.data,
            settings.teacher,
            max_texts,
            settings.max_length,
            results=settings.results if with_traffic else None,
            trusted_share=settings.retrain_trusted_share,
            max_traffic=max_traffic,
        )
    except (TeacherError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        write_failed(exc)
    summary(
        as_json,
        found,
        f"labelled {found['rows']['train']} train texts and {found['rows']['traffic']} from traffic "
        f"({found['texts_per_second']} texts/s); class shares {found['class_shares']}",
    )
