"""The Label page (/ui/label) and the JSON routes its script (or a scripted labeller) calls.

One tweet at a time, keys n / e / p / s / u (negative, neutral, positive, skip, undo); the model's answer only
when asked for (m), so that it does not steer the labeller. The page shows the labeller's own
agreement with the others (data/agreement.py). Only a signed-in labeller (a named
account, serving/access.py) gets these routes; each holds at most one lease at a time, by name.
A label goes to the feedback store as trusted, with source `ui`, the reason the item was picked
and the labeller's name.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from sentiops.config import Settings
from sentiops.data.feedback import Label, add_labels
from sentiops.data.feedback_reader import stored_labels
from sentiops.data.labels import LABELS
from sentiops.labelling.queue import Item, LabelQueue, QueueError
from sentiops.labelling.standing import standings
from sentiops.serving.access import Person
from sentiops.serving.deps import labeller_auth
from sentiops.text import dedup_key

Labeller = Annotated[Person, Depends(labeller_auth)]
router = APIRouter(prefix="/ui/label", include_in_schema=False)


class LabelBody(BaseModel):
    label: Literal["negative", "positive", "neutral"]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.sentiops.settings
    return settings


def _queue(request: Request) -> LabelQueue:
    settings = _settings(request)
    return LabelQueue(settings.data, settings.label_lease_seconds, settings.label_overlap_share)


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
def label_page(request: Request, labeller: Labeller) -> Response:
    from sentiops.serving.ui import templates

    settings = _settings(request)
    minutes = round(settings.label_lease_seconds / 60)
    everyone = standings(settings.data, settings.label_min_overlaps, {labeller.name})
    mine = [s for s in everyone if s.name == labeller.name]
    context = {
        "here": "/ui/label",
        "title": "Label",
        "lease_minutes": minutes,
        "labeller": labeller.name,
        "standing": mine[0],
    }
    return templates.TemplateResponse(request, "label.html", context)


@router.get("/next")
async def next_item(request: Request, labeller: Labeller) -> dict[str, Any]:
    """The item this labeller holds, or the next free one, leased to them (one at a time)."""
    queue = _queue(request)
    item, until = await asyncio.to_thread(queue.next, labeller.name)
    return _answer(queue, labeller.name, item, until)


def _store(request: Request, item: Item, label: str, who: str) -> dict[str, Any]:
    settings = _settings(request)
    row = f"ui:{item.item_id}"
    entry = Label(label, item.text, item.item_id, "ui", item.picked, row, trusted=True, labelled_by=who)
    # The queue item is the prediction (its text and version): no lookup in the log or the scores.
    found = {item.item_id: {"text": item.text, "model_version": item.model_version}}
    outcome = add_labels(settings.data, settings.results, [entry], settings.max_text_chars, found=found)
    if outcome.rejected:
        raise HTTPException(422, f"label not stored: {outcome.rejected[0][1]}")
    return {"stored": outcome.accepted, "relabel": bool(outcome.relabels)}


@router.post("/items/{item_id}")
async def give_label(request: Request, item_id: str, body: LabelBody, labeller: Labeller) -> dict[str, Any]:
    holder = labeller.name
    queue = _queue(request)
    try:
        item = await asyncio.to_thread(queue.held, holder, item_id)
        stored = await asyncio.to_thread(_store, request, item, body.label, holder)
        await asyncio.to_thread(queue.finish, holder, item_id)
    except QueueError as exc:
        raise _refused(exc) from exc
    _count(request, "label")
    return {**stored, "progress": queue.progress(holder).as_dict()}


@router.post("/items/{item_id}/skip")
async def skip_item(request: Request, item_id: str, labeller: Labeller) -> dict[str, Any]:
    holder = labeller.name
    queue = _queue(request)
    try:
        await asyncio.to_thread(queue.held, holder, item_id)
        await asyncio.to_thread(queue.finish, holder, item_id, True)
    except QueueError as exc:
        raise _refused(exc) from exc
    _count(request, "skip")
    return {"skipped": item_id, "progress": queue.progress(holder).as_dict()}


@router.post("/undo")
async def undo(request: Request, labeller: Labeller) -> dict[str, Any]:
    """Bring back this labeller's previous item; a new key replaces its label (a relabel)."""
    holder = labeller.name
    queue = _queue(request)
    try:
        item, until = await asyncio.to_thread(queue.undo, holder)
    except QueueError as exc:
        raise _refused(exc) from exc
    _count(request, "undo")
    stored = stored_labels(_settings(request).data).current.get(dedup_key(item.text))
    previous = None if stored is None else LABELS[stored.label]
    return _answer(queue, holder, item, until, your_label=previous)


@router.get("/items/{item_id}/model")
async def model_answer(request: Request, item_id: str, labeller: Labeller) -> dict[str, Any]:
    """What the model answered for the item (only on request: it would steer the labeller)."""
    try:
        item = await asyncio.to_thread(_queue(request).held, labeller.name, item_id)
    except QueueError as exc:
        raise _refused(exc) from exc
    return {"label": item.label, "confidence": item.confidence, "model_version": item.model_version}
