"""The images as they run: serve image size; the API container's cold start to ready, RSS after
warm-up and /predict p50 at one client; the batch container's rows/s on 30,000 tweets. Each next
to the same command outside a container, measured in the same run on the same model.

    python benchmarks/containers_bench.py --registry var/bench/registry   (after `make images`)

The API and batch containers start from the rendered manifests (deploy/run_pods.py), with their
security context and memory limits; the outside runs use .venv's `sentiops`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from common import SAMPLE, cpu_model  # noqa: E402
from serve_bench import rss_mb, wait_ready  # noqa: E402

from deploy import run_pods  # noqa: E402
from deploy.podman import podman  # noqa: E402

TWEETS = ["I love this so much, best day ever!", "This is awful. I hate everything about today.", "meh, fine"]
TOKEN = "bench-token"


def p50_ms(base_url: str, requests: int = 300) -> float:
    timings = []
    with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        for i in range(requests + 30):
            started = time.perf_counter()
            http.post("/predict", json={"text": TWEETS[i % len(TWEETS)]}).raise_for_status()
            if i >= 30:  # the first ones warm up
                timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def container_rss_mb(name: str) -> float:
    out = podman("exec", name, "cat", "/proc/1/status", capture=True).stdout
    return next(int(line.split()[1]) / 1024 for line in out.splitlines() if line.startswith("VmRSS"))


def api_in_container(volume: Path) -> dict[str, float]:
    node = run_pods.Node(run_pods.render(), volume, {"sentiops-api-token": {"token": TOKEN}})
    try:
        started = time.monotonic()
        (api,) = node.up("Deployment/sentiops-api")
        ready = time.monotonic() - started
        p50 = p50_ms(api.url("http"))
        return {"ready_s": ready, "rss_mb": container_rss_mb(api.name), "p50_ms": p50}
    finally:
        node.down()


def api_outside(volume: Path) -> dict[str, float]:
    port = run_pods._free_port()
    token_file = volume.parent / "token"
    token_file.write_text(TOKEN)
    env = {**os.environ, "SENTIOPS_HOME": str(volume), "SENTIOPS_API_TOKEN_FILE": str(token_file)}
    command = [str(ROOT / ".venv" / "bin" / "sentiops"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        ready = time.monotonic() - started
        p50 = p50_ms(url)
        return {"ready_s": ready, "rss_mb": rss_mb(process.pid), "p50_ms": p50}
    finally:
        process.terminate()
        process.wait(10)


def rows_scored(volume: Path, date: str) -> int:
    """Rows written for a date (scores + rejects), read back from the volume."""
    import pyarrow.parquet as pq

    total = 0
    for kind in ("scores", "rejects"):
        folder = volume / "results" / kind / f"date={date}"
        total += pq.read_table(folder).num_rows if folder.exists() else 0
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, required=True, help="a registry with a production version")
    args = parser.parse_args()
    images = json.loads((ROOT / "var" / "images" / "tags.json").read_text())
    print(f"CPU: {cpu_model()}", flush=True)
    results: dict[str, object] = {"cpu": cpu_model(), "serve_image_mb": images["serve"]["size_bytes"] / 1e6}
    with tempfile.TemporaryDirectory(prefix="sentiops-bench-") as tmp:
        volume = Path(tmp) / "pv"
        shutil.copytree(args.registry, volume / "registry")
        (volume / "input").mkdir()
        shutil.copy(SAMPLE, volume / "input" / SAMPLE.name)
        os.chmod(tmp, 0o755)
        subprocess.run(["chmod", "-R", "a+rwX", str(volume)], check=True)

        results["api_container"] = api_in_container(volume)
        results["api_outside"] = api_outside(volume)

        # The batch command of the Indexed Job's image and security context, one shard, 30k rows.
        node = run_pods.Node(run_pods.render(), volume, {})
        job = node.get("Job", "sentiops-batch-sharded")
        pod = job["spec"]["template"]
        container = pod["spec"]["containers"][0]
        container["command"] = ["sentiops", "batch", "run", "--input", f"/data/input/{SAMPLE.name}"]
        container["env"] = [{"name": "SENTIOPS_BATCH_DATE", "value": "2030-01-01"}]
        started = time.monotonic()
        pod_name, code = node.run_pod(pod, "bench-batch")
        elapsed = time.monotonic() - started
        log = node.pod_log(pod_name)
        node.down()
        if code != 0:
            raise RuntimeError(log[-3000:])
        results["batch_container_rows_per_s"] = rows_scored(volume, "2030-01-01") / elapsed
        env = {**os.environ, "SENTIOPS_HOME": str(volume)}
        outside = [str(ROOT / ".venv" / "bin" / "sentiops"), "batch", "run"]
        outside += ["--input", str(volume / "input" / SAMPLE.name), "--date", "2030-01-02"]
        started = time.monotonic()
        subprocess.run(outside, env=env, capture_output=True, check=True)
        results["batch_outside_rows_per_s"] = rows_scored(volume, "2030-01-02") / (time.monotonic() - started)

    inside, outside_api = results["api_container"], results["api_outside"]
    assert isinstance(inside, dict) and isinstance(outside_api, dict)
    print(f"serve image: {results['serve_image_mb']:.0f} MB")
    for key, unit in (("ready_s", "s"), ("rss_mb", "MB"), ("p50_ms", "ms")):
        print(f"API {key}: container {inside[key]:.1f} {unit} vs outside {outside_api[key]:.1f} {unit}")
    ratio = results["batch_container_rows_per_s"] / results["batch_outside_rows_per_s"]  # type: ignore[operator]
    print(
        f"batch 30k: container {results['batch_container_rows_per_s']:.0f} rows/s vs outside "
        f"{results['batch_outside_rows_per_s']:.0f} rows/s (ratio {ratio:.2f})"
    )
    out = HERE / "results" / "containers.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
