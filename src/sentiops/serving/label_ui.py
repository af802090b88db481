"""The Label page (/ui/label) and the JSON routes its script (or a scripted labeller) calls.

One tweet at a time, keys n / p / s / u (negative, positive, skip, undo); the model's answer only
when asked for (m), so that it does not steer the labeller. Each labeller (a browser, a script)
is told apart by a random cookie; the queue leases an item to one of them at a time. A label goes
to the feedback store as trusted, with source `ui`, the reason the item was picked and the name
the labeller signed in with.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from sentiops.config import Settings
from sentiops.data.feedback import Label, add_labels, stored_labels
from sentiops.data.labels import LABELS
from sentiops.labelling.queue import Item, LabelQueue, QueueError
from sentiops.serving.deps import expected_token, ui_auth
from sentiops.serving.session import SESSION_COOKIE, read_session
from sentiops.text import dedup_key

LABELLER_COOKIE = "sentiops_labeller"

router = APIRouter(prefix="/ui/label", dependencies=[Depends(ui_auth)], include_in_schema=False)


class LabelBody(BaseModel):
    label: Literal["negative", "positive"]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.sentiops.settings
    return settings


def _queue(request: Request) -> LabelQueue:
    settings = _settings(request)
    return LabelQueue(settings.data, settings.label_lease_seconds)


def _cookie_labeller(request: Request) -> str | None:
    """The labeller this browser (or script) is, from its cookie; None without a well-formed one."""
    holder = request.cookies.get(LABELLER_COOKIE, "")
    return holder if len(holder) == 32 and all(c in "0123456789abcdef" for c in holder) else None


def _labeller(request: Request) -> str:
    holder = _cookie_labeller(request)
    if holder is None:
        raise HTTPException(409, "no labeller cookie: open /ui/label (or GET /ui/label/next) first")
    return holder


def _who(request: Request) -> str | None:
    state = request.app.state.sentiops
    expected = expected_token(state.token)
    if not expected:
        return None
    payload = read_session(request.cookies.get(SESSION_COOKIE, ""), expected, state.settings.ui_session_hours * 3600)
    return (payload or {}).get("who")


def _set_labeller(request: Request, response: Response, holder: str) -> Response:
    response.set_cookie(
        LABELLER_COOKIE,
        holder,
        max_age=30 * 86400,
        httponly=True,
        samesite="strict",
        secure=_settings(request).ui_cookie_secure,
    )
    return response


def _answer(queue: LabelQueue, holder: str, item: Item | None, until: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "item": item.public() if item else None,
        "lease_until": until,
        "progress": queue.progress(holder).as_dict(),
        **extra,
    }


def _count(request: Request, action: str) -> None:
    metrics = getattr(request.app.state.sentiops, "metrics", None)  # `sentiops dashboard` has none
    if metrics is not None:
        metrics.label_page.labels(action).inc()


def _refused(exc: QueueError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


@router.get("", response_class=HTMLResponse)
def label_page(request: Request) -> Response:
    from sentiops.serving.ui import templates

    minutes = round(_settings(request).label_lease_seconds / 60)
    context = {"here": "/ui/label", "title": "Label", "lease_minutes": minutes}
    page = templates.TemplateResponse(request, "label.html", context)
    return page if _cookie_labeller(request) else _set_labeller(request, page, secrets.token_hex(16))


@router.get("/next")
async def next_item(request: Request) -> Response:
    """The item this labeller holds, or the next free one, leased to them."""
    holder = _cookie_labeller(request) or secrets.token_hex(16)  # a first call: a new labeller
    queue = _queue(request)
    item, until = await asyncio.to_thread(queue.next, holder)
    return _set_labeller(request, JSONResponse(_answer(queue, holder, item, until)), holder)


def _store(request: Request, item: Item, label: str) -> dict[str, Any]:
    settings = _settings(request)
    who = _who(request)
    row = f"ui:{item.item_id}"
    entry = Label(label, item.text, item.item_id, "ui", item.picked, row, trusted=True, labelled_by=who)
    # The queue item is the prediction (its text and version): no lookup in the log or the scores.
    found = {item.item_id: {"text": item.text, "model_version": item.model_version}}
    outcome = add_labels(settings.data, settings.results, [entry], settings.max_text_chars, found=found)
    if outcome.rejected:
        raise HTTPException(422, f"label not stored: {outcome.rejected[0][1]}")
    return {"stored": outcome.accepted, "relabel": bool(outcome.relabels)}


@router.post("/items/{item_id}")
async def give_label(request: Request, item_id: str, body: LabelBody) -> dict[str, Any]:
    holder = _labeller(request)
    queue = _queue(request)
    try:
        item = await asyncio.to_thread(queue.held, holder, item_id)
        stored = await asyncio.to_thread(_store, request, item, body.label)
        await asyncio.to_thread(queue.finish, holder, item_id)
    except QueueError as exc:
        raise _refused(exc) from exc
    _count(request, "label")
    return {**stored, "progress": queue.progress(holder).as_dict()}


@router.post("/items/{item_id}/skip")
async def skip_item(request: Request, item_id: str) -> dict[str, Any]:
    holder = _labeller(request)
    queue = _queue(request)
    try:
        await asyncio.to_thread(queue.held, holder, item_id)
        await asyncio.to_thread(queue.finish, holder, item_id, True)
    except QueueError as exc:
        raise _refused(exc) from exc
    _count(request, "skip")
    return {"skipped": item_id, "progress": queue.progress(holder).as_dict()}


@router.post("/undo")
async def undo(request: Request) -> dict[str, Any]:
    """Bring back this labeller's previous item; a new key replaces its label (a relabel)."""
    holder = _labeller(request)
    queue = _queue(request)
    try:
        item, until = await asyncio.to_thread(queue.undo, holder)
    except QueueError as exc:
        raise _refused(exc) from exc
    _count(request, "undo")
    stored = stored_labels(_settings(request).data).labels.get(dedup_key(item.text))
    previous = None if stored is None else LABELS[stored]
    return _answer(queue, holder, item, until, your_label=previous)


@router.get("/items/{item_id}/model")
async def model_answer(request: Request, item_id: str) -> dict[str, Any]:
    """What the model answered for the item (only on request: it would steer the labeller)."""
    holder = _labeller(request)
    try:
        item = await asyncio.to_thread(_queue(request).held, holder, item_id)
    except QueueError as exc:
        raise _refused(exc) from exc
    return {"label": item.label, "confidence": item.confidence, "model_version": item.model_version}
