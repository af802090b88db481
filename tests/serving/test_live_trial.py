"""Live trials of staging: shadow scoring, the sticky canary and its guard, promotion on live evidence."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sentiops.cli import app as cli_app
from sentiops.config import get_settings
from sentiops.data.feedback import Label, add_labels
from sentiops.data.predictions import log_files
from sentiops.inference import Predictor
from sentiops.monitoring.live import canary_stops, canary_stops_file, compare_live, live_decision
from sentiops.registry import Registry
from sentiops.serving.app import create_app
from tests.helpers.data import sample_rows
from tests.helpers.feedback import data  # noqa: F401
from tests.helpers.serving import clone_version, live_server, make_settings, metric_value, wait_for
from tests.helpers.webhook_server import webhook_server

TEXTS = [text for _, text in sample_rows()[:3000]]


def stage(registry: Registry, flipped: bool = False) -> str:
    """Publish a copy of version 1 as staging; `flipped` swaps its label names, so it answers the
    opposite of production on every tweet (a broken model)."""

    def flip(folder: Path) -> None:
        labels = json.loads((folder / "labels.json").read_text())
        labels["labels"] = labels["labels"][::-1]
        labels["label2id"] = {name: i for i, name in enumerate(labels["labels"])}
        (folder / "labels.json").write_text(json.dumps(labels))

    version = clone_version(registry, "1", flip if flipped else None)
    registry.set_alias("staging", version, reason="test")
    return version


def settings_for(tmp_path, registry_dir, **overrides):
    values = {"results_dir": tmp_path / "results", "prediction_log_flush_seconds": 0.05, "backend": "ort-int8"}
    return make_settings(registry_dir, **{**values, **overrides})


def staging_loaded(client, version: str) -> None:
    wait_for(lambda: getattr(client.app.state.sentiops.manager.staging, "version", None) == version)


def drained(client) -> None:
    """The shadow has scored what waits and the log has flushed it."""
    state = client.app.state.sentiops
    wait_for(lambda: len(state.trial.shadow_queue) == 0)
    time.sleep(0.2)
    state.prediction_log.flush()


def log_rows(results) -> list[dict]:
    rows: list[dict] = []
    for file in log_files(results):
        rows += pq.read_table(file).to_pylist()
    return rows


def test_shadow_answers_are_logged_for_the_configured_share_beside_the_answers(tmp_path, registry_dir, registry):
    staging = stage(registry)
    settings = settings_for(tmp_path, registry_dir, shadow_share=0.5, shadow_queue_texts=5000)
    with TestClient(create_app(settings)) as client:
        staging_loaded(client, staging)
        answers = [client.post("/predict", json={"text": t}).json() for t in TEXTS[:400]]
        drained(client)
        agreed = metric_value(client, f'sentiops_shadow_pairs_total{{agreed="true",answered="1",shadow="{staging}"}}')
        shed = metric_value(client, "sentiops_shadow_shed_total")
        model = client.get("/model").json()
        overview = client.get("/ui").text
        manager = client.app.state.sentiops.manager
        spinning = [
            p.engine.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
            for p in (manager.predictor, manager.staging)
        ]
    assert spinning == ["1", "0"]  # the second model's idle threads sleep: they do not fight production's
    assert model["version"] == "1" and model["staging"]["version"] == staging
    assert model["staging"]["shadow_share"] == 0.5 and model["staging"]["canary_active"] is False
    assert "Live trial of staging" in overview and "1.0000 [" in overview  # the agreement and its interval

    assert {a["model_version"] for a in answers} == {"1"}  # the shadow never answers
    rows = log_rows(settings.results)
    answered = {r["prediction_id"]: r for r in rows if r["role"] == "production"}
    shadow = [r for r in rows if r["role"] == "shadow"]
    assert set(answered) == {a["prediction_id"] for a in answers}
    # 400 requests at share 0.5: 200 expected, sd 10; 4 sd either side.
    assert 160 <= len(shadow) <= 240, len(shadow)
    assert shed == 0
    for row in shadow:
        assert row["model_version"] == staging and row["shadow_of"] in answered
        twin = answered[row["shadow_of"]]
        assert row["text"] == twin["text"] and row["label"] == twin["label"]  # the same model's copy
    assert agreed == len(shadow)

    comparison = compare_live(settings)
    assert comparison.pairs == len(shadow) and comparison.agreement == 1.0
    low, high = comparison.agreement_interval
    assert low > 0.97 and high == 1.0
    models = {m.alias: m for m in comparison.models}
    assert models["production"].n == 400 and models["production"].answered == 400
    assert models["staging"].n == len(shadow) and models["staging"].answered == 0
    assert (
        models["staging"].shares == models["production"].shares
        or abs(models["staging"].shares["positive"] - models["production"].shares["positive"]) < 0.15
    )


def _hammer(base: str, seconds: float, clients: int = 6) -> list[float]:
    """Closed-loop load from `clients` threads; returns each request's latency."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(k: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            i = k
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = http.post("/predict", json={"text": TEXTS[i % len(TEXTS)]})
                assert response.status_code == 200
                with lock:
                    latencies.append(time.perf_counter() - started)
                i += clients

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return latencies


def test_a_slow_staging_model_is_shed_under_load_and_leaves_production_p99_alone(
    tmp_path, registry_dir, registry, monkeypatch
):
    real_predict = Predictor.predict

    def slow_for_staging(self, texts):
        if self.version != "1":
            time.sleep(0.25)  # a staging model ten times too slow for its traffic
        return real_predict(self, texts)

    monkeypatch.setattr(Predictor, "predict", slow_for_staging)
    settings = settings_for(tmp_path, registry_dir, shadow_queue_texts=64)
    app = create_app(settings)
    with live_server(app) as base:
        alone = np.percentile(_hammer(base, 3.0), 99)
        staging = stage(registry)
        wait_for(lambda: getattr(app.state.sentiops.manager.staging, "version", None) == staging)
        beside = np.percentile(_hammer(base, 3.0), 99)
        metrics = httpx.get(f"{base}/metrics").text
    shed = sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("sentiops_shadow_shed_t"))
    assert shed > 0  # the shadow could not keep up: it shed, it did not queue
    # A shadow that ran on the requests' inference thread would put its 250 ms into the p99.
    assert beside < max(1.5 * alone, alone + 0.05), (alone, beside)


def test_the_canary_is_sticky_per_caller_and_takes_its_share(tmp_path, registry_dir, registry):
    staging = stage(registry)
    settings = settings_for(tmp_path, registry_dir, canary_share=0.3, shadow_share=0)
    with TestClient(create_app(settings)) as client:
        staging_loaded(client, staging)
        versions = [
            client.post("/predict", json={"text": TEXTS[i]}, headers={"X-Caller-Key": f"caller-{i}"}).json()[
                "model_version"
            ]
            for i in range(2000)
        ]
        again = {
            i: {
                client.post("/predict", json={"text": TEXTS[i + j]}, headers={"X-Caller-Key": f"caller-{i}"}).json()[
                    "model_version"
                ]
                for j in range(4)
            }
            for i in range(40)
        }
        client.app.state.sentiops.prediction_log.flush()
    # 2,000 callers at 0.3: 600 expected, sd 20.5; 4 sd either side.
    assert 518 <= versions.count(staging) <= 682, versions.count(staging)
    for i, seen in again.items():
        assert seen == {versions[i]}  # a caller stays on its model
    roles = {(r["role"], r["model_version"]) for r in log_rows(settings.results)}
    assert roles == {("production", "1"), ("canary", staging)}
    assert Registry(settings.registry).aliases()["production"] == "1"


def test_the_guard_stops_a_canary_whose_model_errors_and_alerts(tmp_path, registry_dir, registry, monkeypatch):
    real_predict = Predictor.predict

    def broken_staging(self, texts):
        if self.version != "1":
            raise RuntimeError("staging model failure")
        return real_predict(self, texts)

    staging = stage(registry)
    with webhook_server([200]) as (url, hook):
        settings = settings_for(
            tmp_path, registry_dir, canary_share=1.0, canary_guard_min_n=20, shadow_share=0, alert_webhook_url=url
        )
        with TestClient(create_app(settings)) as client:
            staging_loaded(client, staging)
            monkeypatch.setattr(Predictor, "predict", broken_staging)  # it loaded and warmed up well
            answers = [client.post("/predict", json={"text": t}) for t in TEXTS[:60]]
            errors = metric_value(client, f'sentiops_canary_requests_total{{outcome="error",version="{staging}"}}')
            stops = metric_value(client, f'sentiops_canary_stops_total{{version="{staging}"}}')
            active = metric_value(client, "sentiops_canary_active")
            wait_for(lambda: hook.requests)
    assert all(a.status_code == 200 and a.json()["model_version"] == "1" for a in answers)  # production answered
    assert errors == 20 and stops == 1 and active == 0  # stopped at the 20th failure, then no more canary calls
    [stop] = [json.loads(line) for line in canary_stops_file(settings.results).read_text().splitlines()]
    assert stop["version"] == staging and "error or timeout ratio 1.000" in stop["reason"]
    alert = hook.requests[0]["body"]
    assert alert["kind"] == "canary_stop" and alert["version"] == staging
    aliases = Registry(settings.registry).aliases()
    assert aliases["production"] == "1" and aliases["staging"] == staging  # the API moved no alias


def test_the_guard_stops_a_canary_that_disagrees_with_production(tmp_path, registry_dir, registry):
    staging = stage(registry, flipped=True)
    settings = settings_for(tmp_path, registry_dir, canary_share=1.0, canary_guard_min_n=20, shadow_queue_texts=5000)
    with TestClient(create_app(settings)) as client:
        staging_loaded(client, staging)
        first = [client.post("/predict", json={"text": t}).json()["model_version"] for t in TEXTS[:30]]
        drained(client)  # production's shadow opinions of the canary's answers arrive
        wait_for(lambda: canary_stops_file(settings.results).is_file())
        later = [client.post("/predict", json={"text": t}).json()["model_version"] for t in TEXTS[30:40]]
        overview = client.get("/ui").text
    assert "stopped by the guard: agreement with production" in overview
    # The guard needs 20 pairs, so 20 canary answers at least; it stops as soon as it has them.
    assert set(first[:20]) == {staging} and set(later) == {"1"}
    stop = json.loads(canary_stops_file(settings.results).read_text().splitlines()[0])
    assert "agreement with production 0.000 < 0.7" in stop["reason"]


def _cli(monkeypatch, settings, *args: str):
    monkeypatch.setenv("SENTIOPS_HOME", str(settings.home))
    monkeypatch.setenv("SENTIOPS_REGISTRY_DIR", str(settings.registry))
    monkeypatch.setenv("SENTIOPS_RESULTS_DIR", str(settings.results))
    monkeypatch.setenv("SENTIOPS_DATA_DIR", str(settings.data))
    monkeypatch.setenv("SENTIOPS_LIVE_MIN_PAIRS", str(settings.live_min_pairs))
    monkeypatch.setenv("SENTIOPS_LIVE_MIN_HOURS", "0")
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli_app, list(args))
    finally:
        get_settings.cache_clear()


def test_promote_if_live_waits_for_enough_pairs_then_promotes(tmp_path, registry_dir, registry, monkeypatch):
    staging = stage(registry)
    settings = settings_for(tmp_path, registry_dir, live_min_pairs=50, live_min_hours=0, shadow_queue_texts=5000)
    with TestClient(create_app(settings)) as client:
        staging_loaded(client, staging)
        for text in TEXTS[:20]:
            client.post("/predict", json={"text": text})
        drained(client)
        early = _cli(monkeypatch, settings, "models", "promote", "staging", "--if-live")
        assert Registry(settings.registry).aliases()["production"] == "1"
        for text in TEXTS[20:60]:
            client.post("/predict", json={"text": text})
        drained(client)
        compared = _cli(monkeypatch, settings, "models", "compare", "--live")
        later = _cli(monkeypatch, settings, "models", "promote", "staging", "--if-live", "--json")
    assert early.exit_code == 0 and "refused" in early.output and "20 shadow pairs < 50" in early.output
    assert "agreement 1.0000" in compared.output and "on 60 pairs" in compared.output
    assert later.exit_code == 0, later.output
    assert json.loads(later.output)["action"] == "promoted"
    assert Registry(settings.registry).aliases()["production"] == staging
    decisions = Registry(settings.registry).decisions()
    assert [d["action"] for d in decisions] == ["refused", "promoted"]
    assert decisions[-1]["numbers"]["live"]["pairs"] == 60 and decisions[-1]["kind"] == "live"


def test_promote_if_live_refuses_a_model_that_disagrees(tmp_path, registry_dir, registry):
    stage(registry, flipped=True)
    settings = settings_for(tmp_path, registry_dir, live_min_pairs=30, live_min_hours=0, shadow_queue_texts=5000)
    with TestClient(create_app(settings)) as client:
        staging_loaded(client, "2")
        for text in TEXTS[:40]:
            client.post("/predict", json={"text": text})
        drained(client)
    decision = live_decision(settings)
    assert decision["action"] == "refused"
    assert any("live agreement with production 0.0000 < 0.7" in r for r in decision["reasons"])
    assert Registry(settings.registry).aliases()["production"] == "1"


def test_promote_if_live_refuses_when_labels_show_staging_worse_on_the_same_predictions(
    tmp_path,
    registry_dir,
    registry,
    data,  # noqa: F811 (the fixture imported above)
):
    stage(registry, flipped=True)
    settings = settings_for(
        tmp_path,
        registry_dir,
        data_dir=data,
        live_min_pairs=30,
        live_min_hours=0,
        live_min_agreement=0.0,  # agreement alone would pass: the labels must decide
        shadow_queue_texts=5000,
    )
    with TestClient(create_app(settings)) as client:
        staging_loaded(client, "2")
        answers = [client.post("/predict", json={"text": t}).json() for t in TEXTS[:40]]
        drained(client)
        # An API caller sends labels that agree with staging on all 40 (the opposite of production):
        flipped = [{"prediction_id": a["prediction_id"], "label": _other(a["label"])} for a in answers]
        assert client.post("/feedback", json={"items": flipped}).json()["accepted"] == 40
    # ... people (a trusted import) agree with production: staging (the flipped model) is wrong on all.
    people = [Label(a["label"], prediction_id=a["prediction_id"], source="import", trusted=True) for a in answers]
    labelled = add_labels(settings.data, settings.results, people).accepted  # repeated tweets are stored once
    assert labelled >= 30
    decision = live_decision(settings)
    assert decision["action"] == "refused"
    assert decision["reasons"] == [
        f"realized accuracy on {labelled} labelled predictions: staging 0.0000 against production 1.0000 "
        "(-1.0000, worse by more than 0.01)"
    ]
    paired = decision["numbers"]["paired"]
    assert paired["n"] == labelled and paired["champion_accuracy"] == 1.0 and paired["mcnemar_p"] < 1e-6


def _other(label: str) -> str:
    return "negative" if label == "positive" else "positive"


def test_a_stop_by_one_replica_stops_the_canary_on_every_replica(tmp_path, registry_dir):
    from sentiops.serving.canary import Canary
    from sentiops.serving.metrics import ServiceMetrics

    settings = settings_for(tmp_path, registry_dir, canary_share=0.5, canary_guard_min_n=5)
    first, second = Canary(settings, ServiceMetrics()), Canary(settings, ServiceMetrics())  # two pods
    callers = [f"caller-{i}" for i in range(200)]
    assert [first.wants(c, "2") for c in callers] == [second.wants(c, "2") for c in callers]  # same buckets
    for _ in range(5):
        first.staging_call("2", "error", 0.01)
    wait_for(lambda: canary_stops_file(settings.results).is_file())
    assert not first.active("2") and second.active("2")
    second.refresh()  # what its model poller does every round
    assert not second.active("2") and second.stopped["2"]["reason"].startswith("error or timeout ratio")
    assert second.active("3")  # a new staging version starts afresh


def test_a_stop_the_volume_refuses_is_kept_retried_and_blocks_promotion(tmp_path, registry_dir, registry):
    from sentiops.serving.canary import Canary
    from sentiops.serving.metrics import ServiceMetrics

    staging = stage(registry)
    settings = settings_for(tmp_path, registry_dir, canary_share=0.5, canary_guard_min_n=5)
    stops = canary_stops_file(settings.results)
    stops.mkdir(parents=True)  # a path the stop cannot be appended to (as a full or read-only volume)
    canary = Canary(settings, ServiceMetrics())
    for _ in range(5):
        canary.staging_call(staging, "error", 0.01)
    wait_for(lambda: len(canary.unwritten) == 1)
    assert not canary.active(staging)  # this replica keeps the canary off meanwhile
    # The stop cannot be read where promotion looks: no promotion on that.
    decision = live_decision(settings)
    assert decision["action"] == "refused" and "canary stops cannot be read" in decision["reasons"][0]
    assert Registry(settings.registry).aliases()["production"] == "1"
    stops.rmdir()  # the volume recovers: the next poll writes the stop
    canary.refresh()
    assert canary.unwritten == [] and canary_stops(settings)[staging]["reason"].startswith("error or timeout")
    assert any("canary guard stopped" in r for r in live_decision(settings)["reasons"])


def test_one_tweet_repeated_does_not_fill_the_guards_agreement_window(tmp_path, registry_dir):
    from sentiops.serving.canary import Canary
    from sentiops.serving.metrics import ServiceMetrics

    settings = settings_for(tmp_path, registry_dir, canary_share=0.5, canary_guard_min_n=20)
    canary = Canary(settings, ServiceMetrics())
    for _ in range(300):
        canary.pair("2", False, "the same tweet again")
    assert len(canary.agreement) == 1 and canary.active("2")  # one text: one opinion, no stop
    for i in range(30):
        canary.pair("2", False, f"tweet {i}")
    assert not canary.active("2")  # 31 different texts that disagree: stopped
