"""The reference server, built the way the seed project built it: FastAPI plus a transformers
`pipeline("text-classification")` over the same fine-tuned weights in PyTorch, one pipeline
call per request. Used only by the serving benchmark.

    python benchmarks/reference_server.py MODEL_DIR PORT
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline

from sentiops.text import clean_text


class Tweet(BaseModel):
    text: str


def build(model_dir: str) -> FastAPI:
    classifier = pipeline("text-classification", model=model_dir, tokenizer=model_dir, device="cpu")
    app = FastAPI()

    @app.post("/predict")
    def predict(tweet: Tweet) -> dict:
        result = classifier(clean_text(tweet.text), truncation=True, max_length=64)[0]
        return {"label": result["label"], "confidence": result["score"]}

    @app.get("/readyz")
    def ready() -> dict:
        return {"status": "ready"}

    return app


if __name__ == "__main__":
    uvicorn.run(build(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
