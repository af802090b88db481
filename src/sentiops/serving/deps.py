"""FastAPI dependencies: the service's state and the bearer-token checks.

Module-level functions (not closures in the app factory) so routes can import them and tests
can replace them with `app.dependency_overrides`.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sentiops.config import Settings
from sentiops.serving.batcher import MicroBatcher
from sentiops.serving.manager import ModelManager
from sentiops.serving.metrics import ServiceMetrics
from sentiops.serving.prediction_log import PredictionLog
from sentiops.serving.session import SESSION_COOKIE, valid_session
from sentiops.serving.token import TokenSource, TokenUnavailable
from sentiops.serving.trial import LiveTrial


@dataclass
class ServiceState:
    settings: Settings
    metrics: ServiceMetrics
    manager: ModelManager
    batcher: MicroBatcher
    token: TokenSource
    prediction_log: PredictionLog
    trial: LiveTrial
    poller: asyncio.Task[None] | None = None  # the model poller; /healthz fails once it has ended


def service_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.sentiops
    return state


State = Annotated[ServiceState, Depends(service_state)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]


def token_matches(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


def _check_token(expected: str, given: str, message: str = "missing or invalid bearer token") -> None:
    if not token_matches(given, expected):
        raise HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str:
    return credentials.credentials if credentials else ""


def expected_token(source: TokenSource) -> str | None:
    """The configured token, or a 503 when its file is missing or empty (fail closed)."""
    try:
        return source.get()
    except TokenUnavailable as exc:
        raise HTTPException(503, str(exc)) from None


def predict_auth(state: State, credentials: Credentials) -> None:
    """Prediction routes: open when no token is configured, else the bearer token is required."""
    expected = expected_token(state.token)
    if expected:
        _check_token(expected, _bearer(credentials))


def operations_auth(state: State, credentials: Credentials) -> None:
    """/metrics and /model: open, unless SENTIOPS_PROTECT_OPERATIONS asks for the token."""
    if state.settings.protect_operations:
        predict_auth(state, credentials)


def ui_auth(request: Request, state: State, credentials: Credentials) -> None:
    """Dashboard pages: as the prediction routes, or a valid (signed, unexpired) session cookie."""
    expected = expected_token(state.token)
    if not expected:
        return
    max_age = state.settings.ui_session_hours * 3600
    if valid_session(request.cookies.get(SESSION_COOKIE, ""), expected, max_age):
        return
    _check_token(expected, _bearer(credentials), "missing or invalid token: sign in at /ui/login")


def admin_auth(state: State, credentials: Credentials) -> None:
    """Admin routes: closed when no token is configured."""
    expected = expected_token(state.token)
    if not expected:
        raise HTTPException(403, "admin routes are disabled: no API token is configured")
    _check_token(expected, _bearer(credentials))
