"""Typer commands: thin wrappers over the modules, one module per sub-app. The manifests call these.

Where each command lives: data prepare -> cli/data.py; teacher train|label -> cli/teacher.py;
train, evaluate, predict -> cli/train.py;
models ... -> cli/models.py; batch run -> cli/batch.py; drift ... -> cli/drift.py;
retrain -> cli/retrain.py; feedback import|compact, predictions prune -> cli/feedback.py;
label queue|export -> cli/label.py; labellers add|remove|list -> cli/labellers.py;
serve, dashboard -> cli/serve.py. Exit codes: sentiops/exit_codes.py.
"""

from __future__ import annotations

import typer

from sentiops.cli.batch import batch_app
from sentiops.cli.data import data_app
from sentiops.cli.drift import drift_app
from sentiops.cli.feedback import feedback_app, predictions_app
from sentiops.cli.label import label_app
from sentiops.cli.labellers import labellers_app
from sentiops.cli.models import models_app
from sentiops.cli.retrain import retrain
from sentiops.cli.serve import dashboard, serve
from sentiops.cli.teacher import teacher_app
from sentiops.cli.train import evaluate, predict, train

app = typer.Typer(help="sentiops: tweet sentiment from fine-tuning to production.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(teacher_app, name="teacher")
app.command()(train)
app.command()(evaluate)
app.command()(predict)
app.add_typer(models_app, name="models")
app.add_typer(batch_app, name="batch")
app.add_typer(drift_app, name="drift")
app.command()(retrain)
app.add_typer(feedback_app, name="feedback")
app.add_typer(predictions_app, name="predictions")
app.add_typer(label_app, name="label")
app.add_typer(labellers_app, name="labellers")
app.command()(serve)
app.command()(dashboard)

__all__ = ["app"]
