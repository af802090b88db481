"""Request and response bodies of the API (they make its OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

# Which classes an answer has: the model's own (negative / positive, or with neutral for a
# three-class version), `binary` (neutral folded out: the larger of negative and positive decides,
# both renormalised; for clients that know two classes) or `three-class` (refused with 422 by a
# binary model). Unset: SENTIOPS_PREDICT_VIEW (default `model`).
View = Literal["model", "binary", "three-class"]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: StrictStr
    view: View | None = None


# A hard bound in the schema, so an oversized list is one error found at once (not one error per
# item); the documented limit, SENTIOPS_MAX_BATCH_TEXTS (256), is checked after validation.
MAX_BATCH_SCHEMA = 4096


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[StrictStr] = Field(max_length=MAX_BATCH_SCHEMA)
    view: View | None = None


class PredictResponse(BaseModel):
    """`label` is one of the answering version's classes (`GET /model` lists them): negative or
    positive, or neutral too for a three-class version; `scores` has one probability per class."""

    label: str = Field(examples=["neutral"])
    confidence: float
    scores: dict[str, float] = Field(examples=[{"negative": 0.1, "positive": 0.2, "neutral": 0.7}])
    model_version: str
    prediction_id: str  # send it back with a label to POST /feedback


class BatchResponse(BaseModel):
    predictions: list[PredictResponse]
    model_version: str


class FeedbackItem(BaseModel):
    """A label for a past prediction (its `prediction_id`) or for a text."""

    model_config = ConfigDict(extra="forbid")
    label: Literal["negative", "positive", "neutral"]
    prediction_id: StrictStr | None = Field(None, max_length=64)
    text: StrictStr | None = None
    source: StrictStr = Field("api", min_length=1, max_length=40)

    @model_validator(mode="after")
    def _one_target(self) -> FeedbackItem:
        if (self.prediction_id is None) == (self.text is None):
            raise ValueError("give exactly one of prediction_id and text")
        return self


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[FeedbackItem] = Field(min_length=1, max_length=256)


class FeedbackResponse(BaseModel):
    """What was received: nothing about what the store already holds (an API caller is untrusted)."""

    accepted: int
    rejected: list[dict[str, str]]  # {"item": index, "reason": what is wrong with that item}


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
        404: "unknown prediction id",
        409: "the version could not be loaded; the old one keeps serving",
        413: "request body too large",
        422: "invalid request (the detail says what and where)",
        503: "no model loaded yet, or overloaded (see Retry-After)",
    }
    return {code: {"model": ErrorResponse, "description": described[code]} for code in codes}
