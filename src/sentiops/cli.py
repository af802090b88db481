"""Typer commands: thin wrappers over the modules, one per stage. The manifests call these."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sentiops.config import Settings, get_settings

app = typer.Typer(help="sentiops: tweet sentiment from fine-tuning to production.", no_args_is_help=True)
data_app = typer.Typer(help="Prepare data.", no_args_is_help=True)
models_app = typer.Typer(help="Inspect and move registry versions.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")


def _settings(json_logs: bool | None = None) -> Settings:
    from sentiops import logs

    settings = get_settings()
    logs.configure(json_logs=settings.log_json if json_logs is None else json_logs)
    return settings


def _registry(settings: Settings):
    from sentiops.registry import Registry

    return Registry(settings.registry)


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@data_app.command("prepare")
def data_prepare(
    input: Annotated[list[Path], typer.Option("--input", "-i", help="File, folder or glob; repeatable.")],
    output: Annotated[Path | None, typer.Option(help="Output folder (default: $SENTIOPS_HOME/data).")] = None,
    seed: int = 42,
    day_rows: Annotated[int, typer.Option(help="Rows per daily incoming batch.")] = 1000,
    validation_rows: int = 2000,
    holdout_rows: int = 2000,
) -> None:
    """Read, clean, de-duplicate and split tweets; write Parquet pools and a manifest."""
    from sentiops.data.prepare import SplitPlan, prepare
    from sentiops.data.readers import InputError

    settings = _settings()
    plan = SplitPlan(seed=seed, day_rows=day_rows, validation_rows=validation_rows, holdout_rows=holdout_rows)
    try:
        manifest = prepare(input, output or settings.data, plan)
    except (InputError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    splits = manifest["splits"]
    typer.echo(
        f"usable {manifest['rows_usable']} rows; dropped {manifest['dropped']}; "
        + "; ".join(f"{k}={v['rows']}" for k, v in splits.items())
    )


@app.command()
def train(
    data: Annotated[Path | None, typer.Option(help="Prepared data folder.")] = None,
    base_model: Annotated[str | None, typer.Option(help="Local HF model folder or hub id.")] = None,
    max_examples: int = 8000,
    epochs: float = 1.0,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    max_length: int = 64,
    seed: int = 42,
    promote: Annotated[bool, typer.Option(help="Make the new version production.")] = False,
) -> None:
    """Fine-tune, evaluate, export and register a new version (production if it is the first)."""
    from sentiops.training.finetune import TrainOptions
    from sentiops.training.run import train as run_train

    settings = _settings()
    options = TrainOptions(base_model, max_examples, epochs, batch_size, learning_rate, max_length, seed)
    try:
        version, metrics = run_train(_registry(settings), data or settings.data, options)
    except (FileNotFoundError, ValueError, OSError) as exc:
        _fail(str(exc))
    if promote:
        _registry(settings).set_alias("production", version, reason="manual promote (train --promote)")
    parity = metrics["parity"]
    typer.echo(
        f"registered version {version}: validation accuracy {metrics['validation']['accuracy']:.4f}, "
        f"holdout accuracy {metrics['holdout']['accuracy']:.4f}, "
        f"int8/fp32 agreement {parity['int8_fp32_agreement']:.4f}"
    )


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="Labelled file in any supported format.")],
    version: Annotated[str | None, typer.Option(help="Version or alias (default production).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    variant: str = "int8",
) -> None:
    """Evaluate a registered version on any labelled file."""
    import numpy as np

    from sentiops.data.prepare import read_labelled
    from sentiops.data.readers import InputError, expand_inputs
    from sentiops.inference import Predictor
    from sentiops.registry import RegistryError
    from sentiops.training.metrics import classification_report

    settings = _settings()
    try:
        predictor = Predictor.load(_registry(settings), version, variant=variant)
        rows, rejects, dropped = read_labelled(expand_inputs(data))
    except (RegistryError, InputError) as exc:
        _fail(str(exc))
    if not rows:
        _fail(f"no labelled negative/positive rows in {data}")
    probs, _, _ = predictor.probabilities([r[1] for r in rows])
    report = classification_report(np.array([r[2] for r in rows]), probs, predictor.labels)
    report.update(version=predictor.version, variant=variant, dropped=dict(dropped))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(
            f"version {predictor.version} ({variant}) on {report['n']} rows: accuracy {report['accuracy']:.4f}, "
            f"macro-F1 {report['macro_f1']:.4f}, ROC-AUC {report['roc_auc']:.4f}, ECE {report['ece']:.4f}"
        )


@app.command()
def predict(
    texts: Annotated[list[str], typer.Argument(help="One or more tweets.")],
    version: Annotated[str | None, typer.Option(help="Version or alias (default production).")] = None,
) -> None:
    """Print predictions from the command line, without a server."""
    from sentiops.inference import Predictor
    from sentiops.registry import RegistryError

    settings = _settings()
    try:
        predictor = Predictor.load(_registry(settings), version, variant=settings.onnx_variant)
    except RegistryError as exc:
        _fail(str(exc))
    for text, result in zip(texts, predictor.predict(texts), strict=True):
        typer.echo(json.dumps({"text": text, **result.as_dict(), "model_version": predictor.version}))


@models_app.command("list")
def models_list() -> None:
    """Versions with their validation accuracy and aliases."""
    registry = _registry(_settings())
    aliases = registry.aliases()
    for version in registry.versions():
        tags = [name for name, target in aliases.items() if target == version]
        metrics = registry.read_json(version, "metrics.json")
        accuracy = metrics.get("holdout", {}).get("accuracy")
        parent = registry.read_json(version, "training.json").get("parent_version")
        typer.echo(
            f"{version:>4}  holdout_acc={accuracy if accuracy is None else round(accuracy, 4)}  "
            f"parent={parent}  {' '.join(tags)}"
        )


@models_app.command("show")
def models_show(version: Annotated[str, typer.Argument()] = "production") -> None:
    """Training record, metrics and checksum status of one version."""
    from sentiops.registry import RegistryError

    registry = _registry(_settings())
    try:
        number = registry.resolve(version)
        try:
            registry.verify(number)
            verified = "ok"
        except RegistryError as exc:
            verified = f"FAILED: {exc}"
        info = {
            "version": number,
            "checksums": verified,
            "training": registry.read_json(number, "training.json"),
            "metrics": registry.read_json(number, "metrics.json"),
        }
    except RegistryError as exc:
        _fail(str(exc))
    info["training"].pop("loss_history", None)
    typer.echo(json.dumps(info, indent=2))


@models_app.command("promote")
def models_promote(
    version: str,
    alias: Annotated[str, typer.Option(help="production or staging")] = "production",
) -> None:
    """Point an alias at a version (after verifying its checksums)."""
    from sentiops.registry import RegistryError

    registry = _registry(_settings())
    try:
        registry.verify(version)
        previous = registry.set_alias(alias, version, reason="manual promote")
    except RegistryError as exc:
        _fail(str(exc))
    typer.echo(f"{alias}: {previous} -> {version}")


@models_app.command("rollback")
def models_rollback(alias: Annotated[str, typer.Option()] = "production") -> None:
    """Restore the version the alias had before its latest change, in one step."""
    from sentiops.registry import RegistryError

    registry = _registry(_settings())
    try:
        current = registry.aliases().get(alias)
        target = registry.rollback(alias)
    except RegistryError as exc:
        _fail(str(exc))
    typer.echo(f"{alias}: {current} -> {target}")


batch_app = typer.Typer(help="Score batches of tweets.", no_args_is_help=True)
app.add_typer(batch_app, name="batch")


@batch_app.command("run")
def batch_run(
    input: Annotated[list[str] | None, typer.Option("--input", "-i", help="File, folder or glob; repeatable.")] = None,
    output: Annotated[Path | None, typer.Option(help="Results folder (default: $SENTIOPS_HOME/results).")] = None,
    date: Annotated[str | None, typer.Option(help="Partition date YYYY-MM-DD (default: today, UTC).")] = None,
    shard: Annotated[
        str | None, typer.Option(help="I/N: score shard I of N (default: Indexed Job env or 0/1).")
    ] = None,
    simulate: Annotated[bool, typer.Option(help="Score the next unscored day of the incoming pool.")] = False,
    force: Annotated[bool, typer.Option(help="Redo a date+shard that already succeeded.")] = False,
    max_reject_share: Annotated[float | None, typer.Option(help="Exit 3 above this reject share.")] = None,
    drift: Annotated[bool, typer.Option(help="Run the drift check when all shards of the date are done.")] = True,
) -> None:
    """Score tweets into date-partitioned Parquet. Exit codes: 0 ok (or already done), 1 unexpected
    error, 2 bad input or no model, 3 reject share over the limit (results kept), 4 drift check or alert
    failed (results kept)."""
    import datetime as dt

    from sentiops import batch
    from sentiops.data.readers import InputError
    from sentiops.registry import RegistryError

    settings = _settings()
    if output is not None:
        settings = settings.model_copy(update={"results_dir": output})
    day = date or dt.datetime.now(dt.UTC).date().isoformat()
    try:
        parsed = batch.Shard.parse(shard)
        labels_file = None
        if simulate:
            inputs = [batch.next_simulated_day(settings, day)]
            candidate = inputs[0].parent / "labels" / inputs[0].name
            labels_file = candidate if candidate.is_file() else None
        elif input:
            inputs = [Path(i) for i in input]
        else:
            _fail("give --input PATH or --simulate", batch.EXIT_USAGE)
        hook = _drift_hook(settings, labels_file) if drift else None
        result = batch.run_batch(settings, inputs, day, parsed, force, max_reject_share, after_success=hook)
    except (InputError, RegistryError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc), batch.EXIT_USAGE)
    m = result.manifest
    if result.status == "skipped":
        typer.echo(f"{day} {parsed.name}: already scored ({m.get('rows_scored')} rows); nothing to do")
    else:
        typer.echo(
            f"{day} {parsed.name}: read {m['rows_read']}, scored {m['rows_scored']}, rejected {m['rows_rejected']} "
            f"({m['reject_share']:.2%}), model {m['model_version']}, {m['rows_per_second']} rows/s, "
            f"{m['chunks_resumed']} of {m['chunks']} chunks resumed"
        )
    if result.exit_code == batch.EXIT_TOO_MANY_REJECTS:
        typer.secho(f"reject share {m['reject_share']:.2%} is over the limit {m['max_reject_share']:.2%}", err=True)
    raise typer.Exit(result.exit_code)


def _drift_hook(settings: Settings, labels_file: Path | None):
    """Runs after a successful shard: the drift check, once all shards of the date are done.

    With N shards the last one to finish runs it (under a lock, so it runs once). A failing
    check or alert never touches the scored results; it shows in the exit status (4).
    """
    import logging

    from filelock import FileLock

    from sentiops import batch
    from sentiops.monitoring.check import run_drift_check

    def hook(result) -> None:
        if not batch.all_shards_done(settings, result.date, result.shard.count):
            return
        (settings.results / "drift").mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(settings.results / "drift" / ".lock")):
                outcome = run_drift_check(settings, result.date, labels_file)
        except Exception as exc:
            logging.getLogger("sentiops.batch").error("drift check failed: %s", exc)
            result.exit_code = result.exit_code or batch.EXIT_MONITORING_FAILED
            return
        typer.echo(f"drift {result.date}: {outcome.report.status} (report: {outcome.paths['report']})")
        if outcome.alert_failed:
            result.exit_code = result.exit_code or batch.EXIT_MONITORING_FAILED

    return hook


drift_app = typer.Typer(help="Drift checks and reports.", no_args_is_help=True)
app.add_typer(drift_app, name="drift")


@drift_app.command("check")
def drift_check(
    results: Annotated[str, typer.Option(help="A scored date (YYYY-MM-DD) or a folder of scored Parquet.")],
    labels: Annotated[Path | None, typer.Option(help="Labelled file (row ids + labels) for performance.")] = None,
    notify: Annotated[bool, typer.Option(help="Send alerts for warnings and drift.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Compare a scored batch with the model's reference profile; exit 0 ok, 4 alert failed."""
    from sentiops.monitoring.check import run_drift_check

    settings = _settings()
    try:
        outcome = run_drift_check(settings, results, labels, notify=notify)
    except FileNotFoundError as exc:
        _fail(str(exc), 2)
    if as_json:
        typer.echo(json.dumps(outcome.report.as_dict(), indent=2))
    for check in outcome.report.checks:
        typer.echo(f"{check.name:<18} {check.status:<8} {check.message}")
    typer.echo(f"overall: {outcome.report.status}; report: {outcome.paths['report']}")
    if outcome.alert_skipped:
        typer.echo(f"alert not sent: {outcome.alert_skipped}")
    if outcome.alert_failed:
        raise typer.Exit(4)


@drift_app.command("report")
def drift_report(date: Annotated[str, typer.Option(help="Scored date YYYY-MM-DD.")]) -> None:
    """Rebuild the HTML report (and drift.json) of a date, without alerting."""
    from sentiops.monitoring.check import run_drift_check

    settings = _settings()
    try:
        outcome = run_drift_check(settings, date, notify=False)
    except FileNotFoundError as exc:
        _fail(str(exc), 2)
    typer.echo(outcome.paths["report"])


@app.command()
def retrain(
    max_examples: Annotated[int, typer.Option(help="Training rows (new feedback plus replay).")] = 4000,
    epochs: float = 1.0,
    start_from: Annotated[str, typer.Option("--from", help="production or base")] = "production",
    policy: Annotated[str, typer.Option(help="auto: promote if the gate passes; staging: set staging only")] = "auto",
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    seed: int = 42,
) -> None:
    """Fine-tune a challenger on new labelled feedback; promote it only if the gate passes.
    Exit codes: 0 decided (promoted, staged or rejected), 2 cannot start (no data, bad data, busy)."""
    from sentiops.registry import RegistryError
    from sentiops.retraining import RetrainError, RetrainOptions, decision_lines, notify
    from sentiops.retraining import retrain as run_retrain

    if start_from not in ("production", "base") or policy not in ("auto", "staging"):
        _fail("--from must be production or base; --policy must be auto or staging", 2)
    settings = _settings()
    options = RetrainOptions(max_examples, epochs, start_from, policy, batch_size, learning_rate, seed)
    try:
        decision = run_retrain(settings, options)
    except (RetrainError, RegistryError, FileNotFoundError) as exc:
        _fail(str(exc), 2)
    for line in decision_lines(decision):
        typer.echo(line)
    deliveries = notify(settings, decision)
    if any(not d.delivered for d in deliveries):
        typer.secho("decision notification failed (see logs)", err=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "0.0.0.0",
    port: int = 8000,
) -> None:
    """Run the prediction API (FastAPI + uvicorn) on the production model, with hot reload."""
    import uvicorn

    from sentiops.serving.app import create_app

    settings = _settings(json_logs=True)
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_config=None)


if __name__ == "__main__":  # pragma: no cover
    app()
