"""The engine in process: what the service could reach if HTTP, JSON and scheduling cost nothing.

Loads the production version exactly as `sentiops serve` does (`Predictor.from_settings`, the
same SENTIOPS_* environment, so the same engine and threads) and measures, tokenizer included:
one tweet at a time (latency) and texts/s at batch sizes 1-32 over real tweets in arrival order.

    python benchmarks/engine_rate.py TWEETS_FILE [--seconds 3]  -> one JSON line on stdout
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from sentiops.config import get_settings
from sentiops.inference import Predictor

BATCH_SIZES = (1, 2, 4, 8, 16, 32)


def single_latency(predictor: Predictor, tweets: list[str], n: int = 400) -> dict[str, float]:
    took = []
    for text in tweets[:n]:
        started = time.perf_counter()
        predictor.predict([text])
        took.append(time.perf_counter() - started)
    took.sort()
    return {
        "p50_ms": round(statistics.median(took) * 1000, 3),
        "p99_ms": round(took[int(0.99 * len(took))] * 1000, 3),
    }


def rate(predictor: Predictor, tweets: list[str], batch: int, seconds: float) -> float:
    """Texts/s scoring consecutive batches of `batch` tweets for about `seconds`."""
    done, i = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        chunk = tweets[i : i + batch] if i + batch <= len(tweets) else tweets[:batch]
        i = (i + batch) % max(1, len(tweets) - batch)
        predictor.predict(chunk)
        done += len(chunk)
    return round(done / (time.perf_counter() - started), 1)


def measure(predictor: Predictor, tweets: list[str], seconds: float) -> dict:
    predictor.warm_up()
    rate(predictor, tweets, 32, 1.0)  # warm every width the run will see
    return {
        "backend": predictor.backend,
        "threads": predictor.engine.threads,
        "single": single_latency(predictor, tweets),
        "texts_per_s": {str(b): rate(predictor, tweets, b, seconds) for b in BATCH_SIZES},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tweets", type=Path)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    predictor = Predictor.from_settings(get_settings())
    print(json.dumps(measure(predictor, json.loads(args.tweets.read_text()), args.seconds)))


if __name__ == "__main__":
    main()
