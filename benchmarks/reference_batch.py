"""Reference batch scorer for the benchmark: a transformers pipeline("text-classification")
in PyTorch over the rows in input order, with the pipeline's default batch handling.

    python benchmarks/reference_batch.py MODEL_DIR CSV_FILE ROWS   -> one JSON line
"""

from __future__ import annotations

import csv
import json
import sys
import time

from transformers import pipeline

from sentiops.text import clean_text

if __name__ == "__main__":
    model_dir, path, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        texts = [clean_text(row[1]) for _, row in zip(range(rows), reader, strict=False)]
    classifier = pipeline("text-classification", model=model_dir, tokenizer=model_dir, device="cpu")
    started = time.perf_counter()
    results = classifier(texts, truncation=True, max_length=64)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {"rows": len(results), "seconds": round(seconds, 2), "rows_per_second": round(len(results) / seconds, 1)}
        )
    )
