"""The app factory: lifespan (model manager, micro-batcher, reload poller), middleware, routers
and the exception handlers, registered once."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse

from sentiops import __version__, tracing
from sentiops.config import Settings, get_settings
from sentiops.serving import label_ui, oip, routes, ui
from sentiops.serving.access import Access
from sentiops.serving.batcher import MicroBatcher, NoModelError, Overloaded
from sentiops.serving.canary import Canary
from sentiops.serving.deps import ServiceState
from sentiops.serving.manager import ModelManager
from sentiops.serving.metrics import ServiceMetrics
from sentiops.serving.middleware import PageHeaders, RequestMiddleware
from sentiops.serving.prediction_log import PredictionLog
from sentiops.serving.shadow import ShadowQueue
from sentiops.serving.trial import LiveTrial

log = logging.getLogger("sentiops.api")
MAX_ERRORS = 20  # a body with a thousand bad items gets a short answer, not a thousand entries


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    # Say what is wrong and where, without echoing the (possibly huge) input back.
    assert isinstance(exc, RequestValidationError)
    found = exc.errors()
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid")} for e in found[:MAX_ERRORS]]
    if len(found) > MAX_ERRORS:
        errors.append({"loc": ["body"], "msg": f"and {len(found) - MAX_ERRORS} more errors"})
    return JSONResponse({"detail": errors}, status_code=422)


async def _no_model(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503)


async def _overloaded(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Overloaded)
    request.app.state.sentiops.metrics.overloaded.inc()
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(exc.retry_after)})


async def _storage_failed(_: Request, exc: Exception) -> JSONResponse:
    """The volume refused a write or a read (read-only, full, a lock held too long): a 503 that
    says so, never a bare 500; what was written before is untouched (every write is atomic)."""
    assert isinstance(exc, OSError)
    where = f" ({exc.filename})" if exc.filename else ""
    reason = exc.strerror or type(exc).__name__
    log.error("storage failed: %s%s", reason, where)
    return JSONResponse({"detail": f"storage unavailable: {reason}{where}; try again later"}, status_code=503)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics = ServiceMetrics()
        tracer = tracing.start("sentiops-api")  # None unless OTEL_* configure an exporter
        manager = ModelManager(settings, metrics)
        prediction_log = PredictionLog(settings, on_drop=metrics.prediction_log_dropped.inc, tracer=tracer)
        shadow = ShadowQueue(
            settings.shadow_queue_texts,
            settings.shadow_batch_size,
            settings.shadow_idle_ms,
            prediction_log,
            metrics,
            tracer=tracer,
        )
        batcher = MicroBatcher(
            manager.current,
            settings.microbatch_max_size,
            settings.microbatch_max_wait_ms,
            on_batch=metrics.batch_size.observe,
            max_queue_texts=settings.max_queue_texts,
            max_queue_wait_ms=settings.max_queue_wait_ms,
            fill_wait_ms=settings.microbatch_fill_wait_ms,
            tracer=tracer,
        )
        metrics.queued_texts.set_function(lambda: batcher.queued)
        access = Access(settings)
        trial = LiveTrial(settings, manager, batcher, shadow, Canary(settings, metrics))
        app.state.sentiops = ServiceState(settings, metrics, manager, batcher, access, prediction_log, trial)
        app.state.sentiops.tracer = tracer
        # Everything imported and built so far (the libraries: millions of objects) lives as long as
        # the process: frozen out of the garbage collector, a full collection scans only what came
        # after. Measured under 32 clients: full collections of 96-122 ms every 3 s before, the
        # 32-client p99 and the paced p99's spikes (docs/engines.md, "Serving").
        gc.collect()  # what is garbage now is freed first: a frozen object is never collected
        gc.freeze()
        batcher.start()
        shadow.start()
        prediction_log.start()
        poller = asyncio.create_task(manager.poll_forever())  # first load happens here, off the loop
        app.state.sentiops.poller = poller
        try:
            yield
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            await shadow.stop()
            await batcher.stop()
            await asyncio.to_thread(prediction_log.close)  # SIGTERM: what is buffered is written
            await asyncio.to_thread(tracing.stop, tracer)  # and the spans not yet exported

    app = FastAPI(
        title="sentiops",
        description="Tweet sentiment (negative / positive) from the production model.",
        version=__version__,
        lifespan=lifespan,
    )
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(PageHeaders, prefix="/ui", headers=ui.SECURITY_HEADERS)  # outermost, as a 413 is a page too
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NoModelError, _no_model)
    app.add_exception_handler(Overloaded, _overloaded)
    app.add_exception_handler(OSError, _storage_failed)
    app.include_router(routes.predictions)
    app.include_router(routes.operations)
    app.include_router(routes.admin)
    app.include_router(oip.health)
    app.include_router(oip.protocol)
    app.include_router(ui.router)
    app.include_router(label_ui.router)
    return app


@dataclass
class DashboardState:
    """What the dashboard needs when no model is served (`sentiops dashboard`)."""

    settings: Settings
    access: Access


def create_dashboard_app(settings: Settings | None = None) -> FastAPI:
    """The /ui pages alone, over a registry and results folder: no model, no prediction routes."""
    settings = settings or get_settings()
    app = FastAPI(title="sentiops dashboard", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sentiops = DashboardState(settings, Access(settings))

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui")

    app.add_middleware(PageHeaders, prefix="/ui", headers=ui.SECURITY_HEADERS)
    app.add_exception_handler(OSError, _storage_failed)

    app.include_router(ui.router)
    app.include_router(label_ui.router)
    return app
