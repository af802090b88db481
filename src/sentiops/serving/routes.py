"""The API's routes as APIRouters: predictions, operations (health, model, metrics), admin.

"No model loaded yet" is raised as NoModelError and mapped to 503 once, in app.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sentiops import tracing
from sentiops.card import model_card as model_card_of
from sentiops.card import render as render_card
from sentiops.data.feedback import PROTECTED, Label, Outcome, add_labels
from sentiops.data.labels import NEUTRAL
from sentiops.data.predictions import new_prediction_id
from sentiops.inference import Predictor
from sentiops.serving.batcher import NoModelError
from sentiops.serving.deps import ServiceState, State, admin_auth, operations_auth, predict_auth, service_of
from sentiops.serving.manager import ReloadError
from sentiops.serving.prediction_log import Logged
from sentiops.serving.schemas import (
    BatchRequest,
    BatchResponse,
    FeedbackBatch,
    FeedbackItem,
    FeedbackResponse,
    PredictRequest,
    PredictResponse,
    View,
    errors,
)
from sentiops.text import text_problem

log = logging.getLogger("sentiops.api")

predictions = APIRouter(dependencies=[Depends(predict_auth)], responses=errors(401, 413, 422, 503))
operations = APIRouter()
admin = APIRouter(prefix="/admin", dependencies=[Depends(admin_auth)], responses=errors(401, 403, 409, 503))


def check_text(text: str, limit: int, where: str = "text") -> None:
    problem = text_problem(text)
    if problem is not None:
        raise HTTPException(422, f"{where}: {problem}")
    if len(text) > limit:
        raise HTTPException(422, f"{where} has {len(text)} characters; the limit is {limit}")


CALLER_KEY = "x-caller-key"  # a canary keeps a caller on one model by a hash of this (else the request id)


async def predict_texts(
    s: ServiceState, request: Request, texts: list[str], view: View | None, pinned: Predictor | None = None
) -> tuple[list[PredictResponse], str]:
    """Answer the texts (production, or staging for a canary caller; `pinned` when the caller named
    the production version), log the answers, then offer them to the shadow. The records only go to
    buffers here: no I/O on the request's path. The log keeps the model's own answer; ``view`` only
    shapes what the caller gets. /predict, /predict/batch and the Open Inference Protocol share it."""
    request_id = getattr(request.state, "request_id", "")
    answer = await s.trial.predict(texts, request.headers.get(CALLER_KEY) or request_id, pinned)
    view = view or s.settings.predict_view
    classes = list(answer.predictions[0].scores) if answer.predictions else []
    if view == "three-class" and NEUTRAL not in classes:
        raise HTTPException(
            422,
            f"view three-class: version {answer.version} answers {', '.join(classes)} only (use view binary or model)",
        )
    now = dt.datetime.now(dt.UTC)
    span = tracing.current() if s.tracer is not None else None  # the request's (middleware.py)
    answers, records = [], []
    for text, prediction in zip(texts, answer.predictions, strict=True):
        prediction_id = new_prediction_id(now)
        shown = prediction.two_class() if view == "binary" else prediction
        answers.append(PredictResponse(**shown.as_dict(), model_version=answer.version, prediction_id=prediction_id))
        records.append(
            Logged(
                prediction_id, now, request_id, answer.version, answer.engine, answer.role, prediction, text, span=span
            )
        )
    s.prediction_log.record(records)
    s.metrics.observe(answer.role, answer.version, answer.predictions)
    s.trial.shadow(answer, texts, [a.prediction_id for a in answers], request_id, span)
    return answers, answer.version


@predictions.post("/predict", response_model=PredictResponse)
async def predict(body: PredictRequest, request: Request, response: Response) -> PredictResponse:
    """Sentiment of one tweet: label, confidence, one probability per class and a prediction id
    (also in `X-Prediction-ID`) to send a label back with (`POST /feedback`). `model_version`
    says which version answered (staging, for a caller in a canary)."""
    s = service_of(request)  # not a `State` dependency: see deps.predict_auth
    check_text(body.text, s.settings.max_text_chars)
    [answer], _ = await predict_texts(s, request, [body.text], body.view)
    if s.settings.log_texts:
        log.info("prediction", extra={"text": body.text, "label": answer.label})
    response.headers["X-Prediction-ID"] = answer.prediction_id
    return answer


@predictions.post("/predict/batch", response_model=BatchResponse)
async def predict_batch(body: BatchRequest, request: Request) -> BatchResponse:
    """Sentiment of up to `max_batch_texts` tweets, in input order."""
    s = service_of(request)
    if not body.texts:
        raise HTTPException(422, "texts is empty")
    if len(body.texts) > s.settings.max_batch_texts:
        raise HTTPException(422, f"{len(body.texts)} texts; the limit is {s.settings.max_batch_texts}")
    for i, text in enumerate(body.texts):
        check_text(text, s.settings.max_text_chars, where=f"texts[{i}]")
    answers, version = await predict_texts(s, request, body.texts, body.view)
    return BatchResponse(predictions=answers, model_version=version)


@predictions.post("/feedback", response_model=FeedbackResponse, responses=errors(404))
async def feedback(body: FeedbackItem | FeedbackBatch, s: State) -> FeedbackResponse:
    """Labels for past predictions (by `prediction_id`) or for texts, one or up to 256 at once
    (`{"items": [...]}`). They are stored as an API caller's labels: kept with their provenance,
    never trusted (people's labels from the Label page always count before them). 404 when a
    prediction id is unknown (nothing is stored then); 422 for a bad label or text (the rules of
    `/predict`). The answer says what was received and what was wrong with the input; it never
    says what the store already holds."""
    items = body.items if isinstance(body, FeedbackBatch) else [body]
    for i, item in enumerate(items):
        if item.text is not None:
            check_text(item.text, s.settings.max_text_chars, where=f"items[{i}].text")
    labels = [Label(x.label, x.text, x.prediction_id, x.source, "api", row=str(i)) for i, x in enumerate(items)]
    outcome = await asyncio.to_thread(store_feedback, s, labels)
    told = [{"item": row, "reason": why} for row, why in outcome.rejected if why != PROTECTED]
    return FeedbackResponse(accepted=len(items) - len(told), rejected=told)


def store_feedback(s: ServiceState, labels: list[Label]) -> Outcome:
    # An unknown id stores nothing of the request: a 404.
    pending = s.prediction_log.pending({x.prediction_id for x in labels if x.prediction_id})
    outcome = add_labels(
        s.settings.data, s.settings.results, labels, s.settings.max_text_chars, all_ids_known=True, found=pending
    )
    if outcome.unknown_ids:
        s.metrics.feedback.labels("unknown_id").inc(len(outcome.unknown_ids))
        raise HTTPException(
            404,
            f"unknown prediction id {outcome.unknown_ids[0]!r}",
        )
    for name, n in (("accepted", outcome.accepted), ("relabel", outcome.relabels), ("rejected", len(outcome.rejected))):
        if n:
            s.metrics.feedback.labels(name).inc(n)
    return outcome


@operations.get("/healthz", responses=errors(503))
async def healthz(s: State) -> JSONResponse:
    """Liveness: the process serves requests and its model poller runs (a pod whose poller has
    ended would never load a model or follow a promotion again: restart it)."""
    problem = s.not_live()
    if problem is not None:
        return JSONResponse({"detail": problem}, status_code=503)
    return JSONResponse({"status": "ok"})


@operations.get("/readyz", responses=errors(503))
async def readyz(s: State) -> JSONResponse:
    """Readiness: a model is loaded, verified and warmed up, and the API and operator tokens (when
    configured) can be read: a pod whose token Secret is missing never joins the Service."""
    problem = s.not_ready()
    predictor = s.manager.current()
    if problem is not None or predictor is None:
        status, detail = problem or ("loading", "no model is loaded yet")
        return JSONResponse({"status": status, "detail": detail}, status_code=503)
    return JSONResponse({"status": "ready", "model_version": predictor.version})


@operations.get("/model", responses=errors(401, 503), dependencies=[Depends(operations_auth)])
async def model(s: State) -> dict[str, Any]:
    """The served version, its metrics summary and when it was loaded; the staging version beside
    it (shadow and canary shares, a canary stop), or null."""
    predictor = s.manager.current()
    if predictor is None:
        raise NoModelError("no model is loaded yet")
    metrics = s.manager.registry.folder(predictor.version).metrics()
    summary = {
        split: {k: v for k, v in report.summary().items() if k != "n"}
        for split in ("validation", "holdout")
        if (report := metrics.report(split)) is not None
    }
    return {
        "version": predictor.version,
        "backend": predictor.backend,
        "backend_choice": predictor.choice,
        "threads": predictor.engine.threads,
        "loaded_at": predictor.loaded_at,
        "labels": predictor.labels,
        "metrics": summary,
        "staging": _staging(s),
    }


@operations.get("/model/card", responses=errors(401, 422, 503), dependencies=[Depends(operations_auth)])
async def model_card(s: State, format: str = "json") -> Response:
    """The served version's model card (sentiops/card.py): `format` json (default), md or html."""
    predictor = s.manager.current()
    if predictor is None:
        raise NoModelError("no model is loaded yet")
    if format not in ("json", "md", "html"):
        raise HTTPException(422, f"format {format!r}: expected json, md or html")
    card = await asyncio.to_thread(model_card_of, s.manager.registry, predictor.version, s.settings.results)
    media = {"json": "application/json", "md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8"}
    return Response(render_card(card, format), media_type=media[format])


def _staging(s: ServiceState) -> dict[str, Any] | None:
    """The staging version loaded beside production, and what this replica does with it."""
    staging = s.manager.staging_model()
    if staging is None:
        return None
    canary = s.trial.canary
    return {
        "version": staging.version,
        "backend": staging.backend,
        "shadow_share": s.settings.shadow_share,
        "canary_share": s.settings.canary_share,
        "canary_active": canary.active(staging.version),
        "canary_stop": canary.stopped.get(staging.version),
    }


@operations.get("/metrics", responses=errors(401), dependencies=[Depends(operations_auth)])
async def metrics(s: State) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(s.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@admin.post("/reload")
async def admin_reload(s: State) -> dict[str, Any]:
    """Load the version `production` names now (verified and warmed before the swap)."""
    try:
        return await asyncio.to_thread(s.manager.reload)
    except ReloadError as exc:
        raise HTTPException(409, str(exc)) from exc
