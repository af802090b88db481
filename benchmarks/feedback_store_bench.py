"""The feedback store at 20,000 API labels, one part per `/feedback` call as the API writes them:
how long a fresh process takes to read it with and without the index (`sentiops feedback
compact`), what the Overview page costs, and what `retrain`'s label read costs.

    python benchmarks/feedback_store_bench.py [--labels 20000] [--fresh 500]

Every timing runs in a new process (cold: nothing cached), three times; medians are reported.
Targets (the attack review): Overview under 1 s, retrain's label read under 2 s.
Results: benchmarks/results/feedback_store.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, sample_rows  # noqa: E402

# Each probe runs in a fresh interpreter and prints its seconds (imports excluded).
PROBES = {
    "read the store (current labels)": (
        "from sentiops.data.feedback_reader import current_labels; t = time.perf_counter(); current_labels(DATA); "
    ),
    "Overview page (GET /ui, first request)": (
        "from fastapi.testclient import TestClient; from sentiops.serving.app import create_dashboard_app; "
        "from sentiops.config import Settings; "
        "client = TestClient(create_dashboard_app(Settings(home=HOME))); t = time.perf_counter(); "
        "assert client.get('/ui').status_code == 200; "
    ),
    "Overview page (GET /ui, next request)": (
        "from fastapi.testclient import TestClient; from sentiops.serving.app import create_dashboard_app; "
        "from sentiops.config import Settings; "
        "client = TestClient(create_dashboard_app(Settings(home=HOME))); client.get('/ui'); "
        "t = time.perf_counter(); assert client.get('/ui').status_code == 200; "
    ),
    "retrain's label read (all labels, current rows)": (
        "from sentiops.data.feedback_reader import all_labels, current_rows; t = time.perf_counter(); "
        "current_rows(all_labels(DATA)); "
    ),
}


def write_store(data: Path, n: int, start: int = 0) -> None:
    """``n`` parts of one label each, as `/feedback` writes them (untrusted API labels)."""
    from sentiops.data.feedback import Label, _write_part
    from sentiops.data.feedback_reader import store_dir

    texts = [text for _, text in sample_rows()]
    for i in range(start, start + n):
        label = Label("positive" if i % 2 else "negative", f"{texts[i % len(texts)]} #{i}", None, "api", "api", "0")
        _write_part(store_dir(data) / f"api-{i:08d}.parquet", [(label, label.text or "", None)])


def probe(code: str, home: Path, index: bool) -> float:
    # Without the index: readers must not write one either (they do past REINDEX_AFTER new parts).
    setup = "" if index else "import sentiops.data.feedback_reader as f; f.REINDEX_AFTER = 10**9; "
    script = (
        f"import time; from pathlib import Path; HOME = Path({str(home)!r}); DATA = HOME / 'data'; "
        f"{setup}{code}print(time.perf_counter() - t)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def measure(home: Path, rounds: int, index: bool = True) -> dict[str, float]:
    return {name: statistics.median(probe(code, home, index) for _ in range(rounds)) for name, code in PROBES.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", type=int, default=20_000)
    parser.add_argument("--fresh", type=int, default=500, help="parts written after the index (a day of traffic)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "feedback_store.json")
    args = parser.parse_args()
    from sentiops.data.feedback_reader import compact

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        started = time.perf_counter()
        write_store(home / "data", args.labels)
        print(f"wrote {args.labels} parts in {time.perf_counter() - started:.0f} s", flush=True)
        before = measure(home, args.rounds, index=False)
        started = time.perf_counter()
        covered = compact(home / "data")
        compact_s = time.perf_counter() - started
        indexed = measure(home, args.rounds)
        write_store(home / "data", args.fresh, start=args.labels)
        after_a_day = measure(home, args.rounds)
    result = {
        "cpu": cpu_model(),
        "labels": args.labels,
        "fresh_parts": args.fresh,
        "compact_seconds": compact_s,
        "parts_indexed": covered,
        "no_index": before,
        "indexed": indexed,
        f"indexed_plus_{args.fresh}_new_parts": after_a_day,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    lines = [
        f"# Feedback store: {args.labels:,} API labels, one part each",
        "",
        f"CPU: {result['cpu']}. Medians of {args.rounds} fresh processes each; `feedback compact` took "
        f"{compact_s:.1f} s. Reference: the same reads without the index, in the same run.",
        "",
        f"| read | no index (s) | indexed (s) | indexed + {args.fresh} new parts (s) | speed-up |",
        "|---|---|---|---|---|",
    ]
    for name in PROBES:
        speedup = before[name] / max(after_a_day[name], 1e-9)
        lines.append(
            f"| {name} | {before[name]:.2f} | {indexed[name]:.2f} | {after_a_day[name]:.2f} | {speedup:.1f}x |"
        )
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
