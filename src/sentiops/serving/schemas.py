"""Request and response bodies of the API (they make its OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr


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


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorResponse(BaseModel):
    """Every error the API returns: a message, or (bad request bodies) where and what."""

    detail: str | list[ErrorItem]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer."""
    described = {
        401: "missing or invalid bearer token",
        403: "admin routes are disabled (no token configured)",
        409: "the version could not be loaded; the old one keeps serving",
        413: "request body too large",
        422: "invalid request (the detail says what and where)",
        503: "no model loaded yet, or overloaded (see Retry-After)",
    }
    return {code: {"model": ErrorResponse, "description": described[code]} for code in codes}
