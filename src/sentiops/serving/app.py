"""The FastAPI app: /predict, /predict/batch, health, model info, metrics and admin reload."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, StrictStr

from sentiops.config import Settings, get_settings, read_secret
from sentiops.serving.batcher import MicroBatcher, NoModelError
from sentiops.serving.manager import ModelManager, ReloadError
from sentiops.serving.metrics import ServiceMetrics
from sentiops.serving.middleware import RequestMiddleware

log = logging.getLogger("sentiops.api")


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: StrictStr


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[StrictStr]


class PredictResponse(BaseModel):
    label: str
    confidence: float
    scores: dict[str, float]
    model_version: str


class BatchResponse(BaseModel):
    predictions: list[PredictResponse]
    model_version: str


@dataclass
class ServiceState:
    settings: Settings
    metrics: ServiceMetrics
    manager: ModelManager
    batcher: MicroBatcher
    token: str | None


def _state(request: Request) -> ServiceState:
    return request.app.state.sentiops


State = Annotated[ServiceState, Depends(_state)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics = ServiceMetrics()
        manager = ModelManager(settings, metrics)
        batcher = MicroBatcher(
            manager.current,
            settings.microbatch_max_size,
            settings.microbatch_max_wait_ms,
            on_batch=metrics.batch_size.observe,
        )
        token = read_secret(settings.api_token, settings.api_token_file)
        app.state.sentiops = ServiceState(settings, metrics, manager, batcher, token)
        batcher.start()
        poller = asyncio.create_task(manager.poll_forever())  # first load happens here, off the loop
        try:
            yield
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            await batcher.stop()

    app = FastAPI(
        title="sentiops",
        description="Tweet sentiment (negative / positive) from the production model.",
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Say what is wrong and where, without echoing the (possibly huge) input back.
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    def _check_token(expected: str, credentials: HTTPAuthorizationCredentials | None) -> None:
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    def predict_auth(s: State, credentials: Credentials) -> None:
        if s.token:
            _check_token(s.token, credentials)

    def admin_auth(s: State, credentials: Credentials) -> None:
        if not s.token:
            raise HTTPException(403, "admin routes are disabled: no API token is configured")
        _check_token(s.token, credentials)

    def check_text(text: str, limit: int, where: str = "text") -> None:
        if not text.strip():
            raise HTTPException(422, f"{where} is empty")
        if len(text) > limit:
            raise HTTPException(422, f"{where} has {len(text)} characters; the limit is {limit}")

    def response(prediction, version: str) -> PredictResponse:
        return PredictResponse(**prediction.as_dict(), model_version=version)

    @app.post("/predict", response_model=PredictResponse, dependencies=[Depends(predict_auth)])
    async def predict(body: PredictRequest, s: State) -> PredictResponse:
        """Sentiment of one tweet: label, confidence and both class probabilities."""
        check_text(body.text, s.settings.max_text_chars)
        try:
            prediction, version = await s.batcher.predict_one(body.text)
        except NoModelError as exc:
            raise HTTPException(503, str(exc)) from exc
        s.metrics.observe_predictions([prediction])
        if s.settings.log_texts:
            log.info("prediction", extra={"text": body.text, "label": prediction.label})
        return response(prediction, version)

    @app.post("/predict/batch", response_model=BatchResponse, dependencies=[Depends(predict_auth)])
    async def predict_batch(body: BatchRequest, s: State) -> BatchResponse:
        """Sentiment of up to `max_batch_texts` tweets, in input order."""
        if not body.texts:
            raise HTTPException(422, "texts is empty")
        if len(body.texts) > s.settings.max_batch_texts:
            raise HTTPException(422, f"{len(body.texts)} texts; the limit is {s.settings.max_batch_texts}")
        for i, text in enumerate(body.texts):
            check_text(text, s.settings.max_text_chars, where=f"texts[{i}]")
        try:
            predictions, version = await s.batcher.predict_many(body.texts)
        except NoModelError as exc:
            raise HTTPException(503, str(exc)) from exc
        s.metrics.observe_predictions(predictions)
        return BatchResponse(predictions=[response(p, version) for p in predictions], model_version=version)

    @app.get("/healthz")
    async def healthz() -> dict:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(s: State) -> JSONResponse:
        """Readiness: a model is loaded, verified and warmed up."""
        predictor = s.manager.current()
        if predictor is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ready", "model_version": predictor.version})

    @app.get("/model")
    async def model(s: State) -> dict:
        """The served version, its metrics summary and when it was loaded."""
        predictor = s.manager.current()
        if predictor is None:
            raise HTTPException(503, "no model is loaded yet")
        metrics = s.manager.registry.read_json(predictor.version, "metrics.json")
        summary = {
            split: {k: metrics[split].get(k) for k in ("accuracy", "macro_f1", "roc_auc", "ece")}
            for split in ("validation", "holdout")
            if split in metrics
        }
        return {
            "version": predictor.version,
            "variant": predictor.variant,
            "loaded_at": predictor.loaded_at,
            "labels": predictor.labels,
            "metrics": summary,
        }

    @app.get("/metrics")
    async def metrics(s: State) -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(s.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/reload", dependencies=[Depends(admin_auth)])
    async def admin_reload(s: State) -> dict:
        """Load the version `production` names now (verified and warmed before the swap)."""
        try:
            return await asyncio.to_thread(s.manager.reload)
        except ReloadError as exc:
            raise HTTPException(409, str(exc)) from exc

    return app
