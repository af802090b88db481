"""Request and response bodies of the API (they make its OpenAPI schema)."""

from __future__ import annotations

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
