"""FastAPI dependencies: the service's state and who may call what (serving/access.py: the
roles and their credentials).

Module-level functions (not closures in the app factory) so routes can import them and tests
can replace them with `app.dependency_overrides`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry.trace import Tracer

from sentiops.config import Settings
from sentiops.serving.access import LOCAL, SESSION_COOKIE, Access, BackedOff, Person, Role, token_matches
from sentiops.serving.batcher import MicroBatcher
from sentiops.serving.manager import ModelManager
from sentiops.serving.metrics import ServiceMetrics
from sentiops.serving.prediction_log import PredictionLog
from sentiops.serving.token import TokenSource, TokenUnavailable
from sentiops.serving.trial import LiveTrial


@dataclass
class ServiceState:
    settings: Settings
    metrics: ServiceMetrics
    manager: ModelManager
    batcher: MicroBatcher
    access: Access
    prediction_log: PredictionLog
    trial: LiveTrial
    poller: asyncio.Task[None] | None = None  # the model poller; /healthz fails once it has ended
    tracer: Tracer | None = None  # None: tracing is off (sentiops/tracing.py)

    def not_live(self) -> str | None:
        """Why the process should be restarted (its model poller has ended: it would never load a
        model or follow a promotion again), or None. /healthz and /v2/health/live."""
        return "the model poller has stopped" if self.poller is not None and self.poller.done() else None

    def not_ready(self) -> tuple[str, str] | None:
        """Why it must not take traffic, as (status, detail): a configured token that cannot be read
        ("no-token"), or no model loaded yet ("loading"); None when ready. /readyz and /v2/health/ready."""
        try:
            self.access.api.get()
            self.access.admin.get()
        except TokenUnavailable as exc:
            return "no-token", str(exc)
        return ("loading", "no model is loaded yet") if self.manager.current() is None else None


# The dependencies every prediction runs are `async def`: a plain `def` one is sent to a worker
# thread per request, which cost more than everything else FastAPI does for /predict (profile in
# benchmarks/results/serve_profile.txt). They do no blocking work: a token file is re-read at
# most every few seconds. `person` stays a `def`: a labeller's password check (argon2) is slow.
def service_of(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.sentiops
    return state


async def service_state(request: Request) -> ServiceState:
    return service_of(request)


State = Annotated[ServiceState, Depends(service_state)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str:
    return credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else ""


def expected_token(source: TokenSource) -> str | None:
    """The configured token, or a 503 when its file is missing or empty (fail closed)."""
    try:
        return source.get()
    except TokenUnavailable as exc:
        raise HTTPException(503, str(exc)) from None


def backed_off(exc: BackedOff) -> HTTPException:
    return HTTPException(429, str(exc), headers={"Retry-After": str(exc.wait)})


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


async def predict_auth(request: Request, credentials: Credentials) -> None:
    """API callers: /predict*, /feedback. Open when no API token is configured (the loopback only:
    `sentiops serve` refuses another address then), else its bearer token. It reads the state from
    the request rather than through `State`: every dependency FastAPI solves costs each request
    (about a tenth of the service's own time on /predict, benchmarks/results/serve_profile.txt)."""
    expected = expected_token(service_of(request).access.api)
    if expected and not token_matches(_bearer(credentials), expected):
        raise _unauthorized("missing or invalid bearer token")


async def operations_auth(state: State, credentials: Credentials) -> None:
    """/metrics and /model: open, unless SENTIOPS_PROTECT_OPERATIONS asks for the API or the
    operator token."""
    if not state.settings.protect_operations:
        return
    given = _bearer(credentials)
    for source in (state.access.api, state.access.admin):
        expected = source.get_or_none()
        if expected and token_matches(given, expected):
            return
    if state.access.local:
        return
    raise _unauthorized("missing or invalid bearer token")


def _basic(request: Request) -> tuple[str, str] | None:
    """HTTP Basic credentials (a labeller's script), if sent."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (name, password) if sep else None


def person(request: Request, state: State, credentials: Credentials) -> Person | None:
    """Who is calling, among the people (labellers, operators): a session cookie, the operator
    token as a bearer, or a labeller's name and password (HTTP Basic). None: nobody we know."""
    access = state.access
    found = access.read_session(request.cookies.get(SESSION_COOKIE, ""))
    if found is not None:
        return found
    admin = access.admin.get_or_none()
    if admin and token_matches(_bearer(credentials), admin):
        return Person(Role.OPERATOR, "operator")
    basic = _basic(request)
    if basic and access.labellers is not None:
        # A script's name and password: a labeller only, with the sign-in's backoff.
        client = request.client.host if request.client else "unknown"
        try:
            return access.sign_in(*basic, client, operator=False)
        except BackedOff as exc:
            raise backed_off(exc) from None
    return None


Someone = Annotated[Person | None, Depends(person)]


def labeller_auth(state: State, someone: Someone) -> Person:
    """The Label page and its JSON routes: a signed-in labeller only (never the API token; an
    operator labels with a labeller account of their own). Local mode: the local user."""
    if state.access.local:
        return Person(Role.LABELLER, LOCAL)
    if someone is None:
        raise _unauthorized("sign in as a labeller at /ui/login")
    if someone.role is not Role.LABELLER:
        raise HTTPException(403, "the Label page is for labellers: sign in with a labeller account")
    return someone


def viewer_auth(state: State, someone: Someone) -> Person:
    """The dashboard's pages: labellers and operators (the API token does not open them: they
    show what callers sent). Local mode: open."""
    if state.access.local:
        return Person(Role.OPERATOR, LOCAL)
    if someone is None:
        raise _unauthorized("missing or invalid credentials: sign in at /ui/login")
    return someone


def admin_auth(state: State, someone: Someone) -> Person:
    """Admin routes: operators only; closed when no operator token is configured."""
    if not state.access.admin.configured:
        raise HTTPException(403, "admin routes are disabled: no operator token (SENTIOPS_ADMIN_TOKEN) is configured")
    expected_token(state.access.admin)  # a missing token file: 503
    if someone is None:
        raise _unauthorized("missing or invalid operator token")
    if someone.role is not Role.OPERATOR:
        raise HTTPException(403, "operators only")
    return someone
