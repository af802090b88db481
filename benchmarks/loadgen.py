"""Closed-loop load generator: wrk (a small C program, its own process) with N connections, each
sending its next request when the last returns, rotating through real tweets.

A Python client was tried first and measured as the bottleneck on 2 cores (it took a third of
a core and halved the throughput it could observe), so the load comes from wrk.

    python benchmarks/loadgen.py URL TWEETS_FILE CLIENTS SECONDS  -> one JSON line on stdout
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SCRIPT = """
bodies = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[(counter %% #bodies) + 1])
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format('RESULT {"requests": %%d, "errors": %%d, "seconds": %%.3f, "p50_ms": %%.2f, '
    .. '"p95_ms": %%.2f, "p99_ms": %%.2f}\\n', summary.requests, errors, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def lua_string(text: str) -> str:
    level = "=" * 4
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def run(url: str, tweets: list[str], clients: int, seconds: float) -> dict:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    bodies = ",".join(lua_string(json.dumps({"text": t})) for t in tweets)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "load.lua"
        script.write_text(SCRIPT % bodies)
        # warm-up, not counted
        subprocess.run([wrk, "-t1", f"-c{clients}", "-d2s", "-s", str(script), url], capture_output=True, check=True)
        out = subprocess.run(
            [wrk, "-t1", f"-c{clients}", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    result["rps"] = round(result["requests"] / result["seconds"], 1)
    return {"clients": clients, **result}


if __name__ == "__main__":
    url, tweets_file, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    with open(tweets_file) as handle:
        tweets = json.load(handle)
    print(json.dumps(run(url, tweets, clients, seconds)))
