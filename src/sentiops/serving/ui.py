"""The dashboard: server-rendered pages (Jinja2, no build step, no CDN, no external scripts)
at /ui of the API, and from `sentiops dashboard` for a registry and results folder without a
model loaded. Read-only; for labellers and operators (serving/access.py), not API callers.

A browser cannot send a bearer header on its own, so /ui/login trades a labeller's name and
password, or the operator token, for a signed, expiring session cookie; /ui/logout ends it on
the server. Every page carries SECURITY_HEADERS.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from sentiops.config import Settings
from sentiops.serving import ui_data
from sentiops.serving.access import SESSION_COOKIE, Access, BackedOff, Role
from sentiops.serving.deps import backed_off, viewer_auth
from sentiops.volume import DateFiles

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))

# Pages are the app's own: scripts and styles from it alone (the pages' <style> blocks and the
# drift report's inline SVG are allowed), never framed by another site, no MIME sniffing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, int | float) else str(value)


def _pct(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def _when(value: Any) -> str:
    if isinstance(value, int | float) and value:
        return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value or "–")


def _shares(value: dict[str, float] | None) -> str:
    """Class shares as "negative 40.0%, positive 35.0%, neutral 25.0%" (each version's own classes)."""
    return ", ".join(f"{name} {_pct(share)}" for name, share in value.items()) if value else "–"


templates.env.filters.update(num=_num, pct=_pct, when=_when, shares=_shares)


def _state(request: Request) -> Any:
    return request.app.state.sentiops


router = APIRouter(include_in_schema=False)
pages = APIRouter(prefix="/ui", dependencies=[Depends(viewer_auth)], include_in_schema=False)


def _page(request: Request, template: str, here: str, title: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"here": here, "title": title, **context})


def _settings(request: Request) -> Settings:
    settings: Settings = _state(request).settings
    return settings


def _live(request: Request) -> dict[str, Any] | None:
    state = _state(request)
    manager, metrics = getattr(state, "manager", None), getattr(state, "metrics", None)
    predictor = manager.current() if manager is not None else None
    if predictor is None or metrics is None:
        return None
    sample = metrics.registry.get_sample_value
    requests = sum(s.value for m in metrics.requests.collect() for s in m.samples if s.name.endswith("_total"))
    # Each class the served version answers (neutral too, for a three-class version).
    counts = {name: sample("sentiops_predictions_total", {"label": name}) or 0.0 for name in predictor.labels}
    answered = sum(counts.values())
    count = sample("sentiops_prediction_confidence_count") or 0.0
    uptime = max(1e-9, time.time() - metrics.started)
    return {
        "version": predictor.version,
        "backend": predictor.backend,
        "requests": int(requests),
        "rate": requests / uptime,
        "uptime": uptime,
        "shares": {name: n / answered for name, n in counts.items()} if answered else None,
        "mean_confidence": (sample("sentiops_prediction_confidence_sum") or 0.0) / count if count else None,
        # None until a prediction is served: the gauge reads 0 before then, which is no estimate.
        "estimated_accuracy": sample("sentiops_estimated_accuracy") if metrics.calibrated and count else None,
    }


@pages.get("", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    models = ui_data.registry_overview(_settings(request))
    labelling = ui_data.labelling(_settings(request))
    trial = ui_data.live_trial(_settings(request))
    return _page(
        request,
        "overview.html",
        "/ui",
        "Overview",
        models=models,
        live=_live(request),
        labelling=labelling,
        trial=trial,
    )


@pages.get("/versions", response_class=HTMLResponse)
def versions(request: Request) -> HTMLResponse:
    from sentiops.registry import Registry

    settings = _settings(request)
    history = list(reversed(Registry(settings.registry).alias_history()))
    return _page(
        request, "versions.html", "/ui/versions", "Versions", versions=ui_data.versions(settings), history=history
    )


@pages.get("/versions/{version}/card", response_class=HTMLResponse)
def version_card(request: Request, version: str) -> HTMLResponse:
    """The version's model card (sentiops/card.py) as a dashboard page."""
    from sentiops.card import model_card, sections
    from sentiops.registry import Registry, RegistryError

    settings = _settings(request)
    registry = Registry(settings.registry)
    try:
        # Verified as the Versions page verifies (cached per file stamps): a changed file is refused.
        checksums = ui_data.checksum_status(registry, version, registry.path(version))
        if checksums != "ok":
            raise RegistryError(checksums)
        card = model_card(registry, version, settings.results)
    except RegistryError as exc:
        raise HTTPException(404, str(exc)) from exc
    return _page(
        request, "card.html", "/ui/versions", f"Model card: version {version}", card=card, sections=sections(card)
    )


@pages.get("/versions/{version}/{name}")
def version_plot(request: Request, version: str, name: str) -> Response:
    from sentiops.registry import Registry, RegistryError

    if not name.endswith(".png") or "/" in name or name.startswith("."):
        raise HTTPException(404, "only a version's plots are served here")
    try:
        path = Registry(_settings(request).registry).path(version) / name
    except RegistryError as exc:
        raise HTTPException(404, str(exc)) from exc
    if not path.is_file():
        raise HTTPException(404, f"version {version} has no {name}")
    return FileResponse(path, media_type="image/png")


@pages.get("/drift", response_class=HTMLResponse)
def drift(request: Request) -> HTMLResponse:
    return _page(request, "drift.html", "/ui/drift", "Drift", **ui_data.drift(_settings(request)))


@pages.get("/drift/{date}/report", response_class=HTMLResponse)
def drift_report(request: Request, date: str) -> Response:
    try:
        dt.date.fromisoformat(date)
    except ValueError as exc:
        raise HTTPException(404, "not a date") from exc
    path = DateFiles(_settings(request).results, date).report
    if not path.is_file():
        raise HTTPException(404, f"no drift report for {date}")
    return FileResponse(path, media_type="text/html")


@pages.get("/retraining", response_class=HTMLResponse)
def retraining(request: Request) -> HTMLResponse:
    return _page(
        request, "retraining.html", "/ui/retraining", "Retraining", decisions=ui_data.decisions(_settings(request))
    )


@pages.get("/try", response_class=HTMLResponse)
def try_it(request: Request) -> HTMLResponse:
    state = _state(request)
    serving = getattr(state, "manager", None) is not None
    return _page(request, "try.html", "/ui/try", "Try it", serving=serving, needs_token=state.access.api.configured)


@router.get("/ui/login", response_class=HTMLResponse)
def login_form() -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sentiops · sign in</title>'
        '<link rel="icon" href="data:,"></head><body><form method="post" action="/ui/login">'
        "<label>Labeller name (operators: leave it empty) "
        '<input name="name" maxlength="64" autocomplete="username"></label> '
        '<label>Password (operators: the operator token) <input name="password" type="password" '
        'autocomplete="current-password"></label> <button type="submit">Sign in</button></form></body></html>'
    )


@router.post("/ui/login")
def login(
    request: Request,
    password: Annotated[str, Form(max_length=4096)],
    name: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    state = _state(request)
    settings: Settings = state.settings
    access: Access = state.access
    client = request.client.host if request.client else "unknown"
    try:
        person = access.sign_in(name.strip(), password, client)
    except BackedOff as exc:
        raise backed_off(exc) from None
    if person is None:
        raise HTTPException(401, "wrong name or password")
    response = RedirectResponse("/ui/label" if person.role is Role.LABELLER else "/ui", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        access.new_session(person),
        max_age=int(settings.ui_session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=settings.ui_cookie_secure,
    )
    return response


@router.get("/ui/logout")
def logout(request: Request) -> Response:
    """Sign out: the session ends on the server (every replica), not only in this browser."""
    _state(request).access.end_session(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    # Browsers ask for it on pages without an icon (a 401 answer, say); no icon, and no 404 noise.
    return Response(status_code=204)


_SCRIPTS = {p.name: p.read_text() for p in (Path(__file__).with_name("static")).glob("*.js")}


@router.get("/ui/static/{name}", include_in_schema=False)
def script(name: str) -> Response:
    if name not in _SCRIPTS:
        raise HTTPException(404, "no such script")
    return Response(_SCRIPTS[name], media_type="text/javascript")


router.include_router(pages)
