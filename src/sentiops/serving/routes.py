"""The API's routes as APIRouters: predictions, operations (health, model, metrics), admin.

"No model loaded yet" is raised as NoModelError and mapped to 503 once, in app.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sentiops.inference import Prediction
from sentiops.serving.batcher import NoModelError
from sentiops.serving.deps import State, admin_auth, predict_auth
from sentiops.serving.manager import ReloadError
from sentiops.serving.schemas import BatchRequest, BatchResponse, PredictRequest, PredictResponse, errors
from sentiops.serving.token import TokenUnavailable
from sentiops.text import text_problem

log = logging.getLogger("sentiops.api")

predictions = APIRouter(dependencies=[Depends(predict_auth)], responses=errors(401, 413, 422, 503))
operations = APIRouter()
admin = APIRouter(prefix="/admin", dependencies=[Depends(admin_auth)], responses=errors(401, 403, 409, 503))


def _check_text(text: str, limit: int, where: str = "text") -> None:
    problem = text_problem(text)
    if problem is not None:
        raise HTTPException(422, f"{where}: {problem}")
    if len(text) > limit:
        raise HTTPException(422, f"{where} has {len(text)} characters; the limit is {limit}")


def _response(prediction: Prediction, version: str) -> PredictResponse:
    return PredictResponse(**prediction.as_dict(), model_version=version)


@predictions.post("/predict", response_model=PredictResponse)
async def predict(body: PredictRequest, s: State) -> PredictResponse:
    """Sentiment of one tweet: label, confidence and both class probabilities."""
    _check_text(body.text, s.settings.max_text_chars)
    prediction, version = await s.batcher.predict_one(body.text)
    s.metrics.observe_predictions([prediction])
    if s.settings.log_texts:
        log.info("prediction", extra={"text": body.text, "label": prediction.label})
    return _response(prediction, version)


@predictions.post("/predict/batch", response_model=BatchResponse)
async def predict_batch(body: BatchRequest, s: State) -> BatchResponse:
    """Sentiment of up to `max_batch_texts` tweets, in input order."""
    if not body.texts:
        raise HTTPException(422, "texts is empty")
    if len(body.texts) > s.settings.max_batch_texts:
        raise HTTPException(422, f"{len(body.texts)} texts; the limit is {s.settings.max_batch_texts}")
    for i, text in enumerate(body.texts):
        _check_text(text, s.settings.max_text_chars, where=f"texts[{i}]")
    predictions_, version = await s.batcher.predict_many(body.texts)
    s.metrics.observe_predictions(predictions_)
    return BatchResponse(predictions=[_response(p, version) for p in predictions_], model_version=version)


@operations.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok"}


@operations.get("/readyz", responses=errors(503))
async def readyz(s: State) -> JSONResponse:
    """Readiness: a model is loaded, verified and warmed up, and the API token (when one is
    configured) can be read: a pod whose token Secret is missing never joins the Service."""
    try:
        s.token.get()
    except TokenUnavailable as exc:
        return JSONResponse({"status": "no-token", "detail": str(exc)}, status_code=503)
    predictor = s.manager.current()
    if predictor is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    return JSONResponse({"status": "ready", "model_version": predictor.version})


@operations.get("/model", responses=errors(503))
async def model(s: State) -> dict[str, Any]:
    """The served version, its metrics summary and when it was loaded."""
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
        "loaded_at": predictor.loaded_at,
        "labels": predictor.labels,
        "metrics": summary,
    }


@operations.get("/metrics")
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
