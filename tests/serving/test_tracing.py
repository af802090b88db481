"""OpenTelemetry tracing: off by default; configured by the standard OTEL_* variables it sends spans
over OTLP/HTTP (received here by a real HTTP server) as one tree per request, from the caller's
`traceparent` through the micro-batcher and the engine to the prediction log, whose rows keep the
trace id so a label sent back joins the trace."""

from __future__ import annotations

import asyncio
import os
import secrets

import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentiops import tracing
from sentiops.data.predictions import predictions_dir
from sentiops.inference import Prediction
from sentiops.serving.app import create_app
from sentiops.serving.batcher import MicroBatcher
from tests.helpers.otlp import otlp_receiver
from tests.helpers.serving import make_settings, wait_ready


def _settings(registry_dir):
    return make_settings(registry_dir, results_dir=registry_dir.parent / "results", prediction_log_flush_seconds=0.1)


def _logged_rows(settings):
    files = [f for f in predictions_dir(settings.results).rglob("*.parquet") if not f.name.startswith(".")]
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_one_predict_is_one_tree_from_the_callers_trace_to_the_log(registry_dir, monkeypatch):
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        settings = _settings(registry_dir)
        with TestClient(create_app(settings)) as client:
            wait_ready(client)
            response = client.post(
                "/predict",
                json={"text": "what a lovely day"},
                headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
            )
            assert response.status_code == 200
            assert response.headers["traceparent"].split("-")[1] == caller_trace
            spans = receiver.wait_for(
                "POST /predict", "batcher.queue", "batcher.batch", "engine.infer", "prediction_log.write"
            )
            label = client.post(
                "/feedback", json={"prediction_id": response.json()["prediction_id"], "label": "positive"}
            )
            assert label.status_code == 200
            # A bad traceparent is no parent: the request starts a trace of its own.
            fresh = client.post("/predict", json={"text": "a new trace"}, headers={"traceparent": "00-garbage-01"})
            fresh_trace = fresh.headers["traceparent"].split("-")[1]
            assert fresh_trace not in (caller_trace, "0" * 32)
            tracing.flush(client.app.state.sentiops.tracer)
    [fresh_request] = [s for s in receiver.spans if s["trace_id"] == fresh_trace and s["name"] == "POST /predict"]
    assert fresh_request["parent"] is None
    tree = [s for s in spans if s["trace_id"] == caller_trace]
    by_name = {s["name"]: s for s in tree}
    request = by_name["POST /predict"]
    assert request["parent"] == caller_span and request["service"] == "sentiops-api"
    assert request["attributes"]["http.response.status_code"] == 200
    assert response.headers["traceparent"].split("-")[2] == request["span_id"]
    queue = by_name["batcher.queue"]
    assert queue["parent"] == request["span_id"]
    batch = by_name["batcher.batch"]
    assert batch["parent"] == queue["span_id"] and (caller_trace, batch["span_id"]) in queue["links"]
    assert by_name["engine.infer"]["parent"] == batch["span_id"]
    assert by_name["prediction_log.write"]["parent"] == request["span_id"]
    # The logged answer keeps the trace id: a label sent back for it joins this trace.
    [row] = [r for r in _logged_rows(settings) if r["prediction_id"] == response.json()["prediction_id"]]
    assert row["trace_id"] == caller_trace


def test_tracing_is_off_by_default(registry_dir, monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.configured()
    assert not tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_SDK_DISABLED": "true"})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"})
    settings = _settings(registry_dir)
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        assert client.app.state.sentiops.tracer is None
        response = client.post(
            "/predict", json={"text": "hello"}, headers={"traceparent": f"00-{'1' * 32}-{'2' * 16}-01"}
        )
        assert "traceparent" not in response.headers
    assert [r["trace_id"] for r in _logged_rows(settings)] == [None]


class _Echo:
    version, backend = "1", "test"

    def predict(self, texts):
        return [Prediction("positive", 0.9, {"negative": 0.1, "positive": 0.9}) for _ in texts]


def test_requests_joining_one_micro_batch_link_to_it():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    async def three_requests():
        batcher = MicroBatcher(lambda: _Echo(), max_size=8, max_wait_ms=20, tracer=tracer)
        batcher.start()
        try:

            async def one(text):
                with tracer.start_as_current_span(f"request {text}"):
                    return await batcher.predict_one(text)

            await asyncio.gather(one("a"), one("b"), one("c"))
        finally:
            await batcher.stop()

    asyncio.run(three_requests())
    spans = exporter.get_finished_spans()
    [batch] = [s for s in spans if s.name == "batcher.batch"]
    waits = [s for s in spans if s.name == "batcher.queue"]
    assert len(waits) == 3 and batch.attributes["requests"] == 3
    assert batch.parent.span_id in {w.context.span_id for w in waits}  # under the first request's wait
    linked = {link.context.span_id for link in batch.links}
    assert len(linked) == 2 and linked | {batch.parent.span_id} == {w.context.span_id for w in waits}
    for wait in waits:  # every wait says which batch it joined
        assert [link.context.span_id for link in wait.links] == [batch.context.span_id]
    [engine] = [s for s in spans if s.name == "engine.infer"]
    assert engine.parent.span_id == batch.context.span_id


def test_the_batch_jobs_shards_trace_their_runs_into_the_callers_trace(tmp_path, registry_dir):
    """Two shards of one date, as an Indexed Job's pods: each a `batch.run` span in the trace its
    TRACEPARENT names, with a `batch.chunk` span per chunk it scored."""
    from tests.helpers.cli import start_batch_run
    from tests.helpers.data import sample_rows, write_csv

    source = write_csv(tmp_path / "day.csv", sample_rows(400))
    job_trace, job_span = secrets.token_hex(16), secrets.token_hex(8)
    with otlp_receiver() as receiver:
        env = {
            **os.environ,
            "SENTIOPS_REGISTRY_DIR": str(registry_dir),
            "SENTIOPS_HOME": str(tmp_path / "home"),
            "SENTIOPS_RESULTS_DIR": str(tmp_path / "results"),
            "SENTIOPS_BATCH_CHUNK_ROWS": "100",
            "SENTIOPS_BACKEND": "ort-int8",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url,
            "TRACEPARENT": f"00-{job_trace}-{job_span}-01",
        }
        for shard in ("0/2", "1/2"):
            run = start_batch_run(env, "--input", str(source), "--date", "2026-06-02", "--shard", shard, "--no-drift")
            output = run.communicate(timeout=120)[0]
            assert run.returncode == 0, output
        spans = receiver.wait_for("batch.run", "batch.chunk")
    runs = [s for s in spans if s["name"] == "batch.run"]
    assert sorted(r["attributes"]["shard.index"] for r in runs) == [0, 1]
    assert all(r["trace_id"] == job_trace and r["parent"] == job_span for r in runs)
    assert {r["service"] for r in runs} == {"sentiops-batch"}
    chunks = [s for s in spans if s["name"] == "batch.chunk"]
    assert len(chunks) == 4 and {c["parent"] for c in chunks} == {r["span_id"] for r in runs}
    assert sum(r["attributes"]["rows_scored"] for r in runs) == 400


def test_a_dead_exporter_loses_spans_never_requests(registry_dir, monkeypatch):
    with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.url)
        with TestClient(create_app(_settings(registry_dir))) as client:
            wait_ready(client)
            tracer = client.app.state.sentiops.tracer
            [processor] = tracing._providers[id(tracer)]._active_span_processor._span_processors
            processor._process.kill()
            processor._process.wait()
            for _ in range(3):
                assert client.post("/predict", json={"text": "still answered"}).status_code == 200
            tracing.flush(tracer)
            assert processor.dropped >= 3  # each request's spans, counted as dropped


def test_shadow_scoring_is_in_the_requests_trace_and_its_rows_keep_the_trace_id(
    tmp_path, registry_dir, registry, monkeypatch
):
    from tests.serving.test_live_trial import drained, settings_for, stage, staging_loaded

    caller_trace = secrets.token_hex(16)
    with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.url)
        staging = stage(registry)
        settings = settings_for(tmp_path, registry_dir, shadow_share=1.0)
        with TestClient(create_app(settings)) as client:
            staging_loaded(client, staging)
            headers = {"traceparent": f"00-{caller_trace}-{secrets.token_hex(8)}-01"}
            assert client.post("/predict", json={"text": "a shadowed tweet"}, headers=headers).status_code == 200
            drained(client)
            spans = receiver.wait_for("shadow.score")
    by_name = {s["name"]: s for s in spans if s["trace_id"] == caller_trace}
    assert by_name["shadow.score"]["parent"] == by_name["POST /predict"]["span_id"]
    assert by_name["shadow.score"]["attributes"]["version"] == staging
    rows = [r for r in _logged_rows(settings) if r["shadow_of"] is not None]
    assert [r["trace_id"] for r in rows] == [caller_trace]


def test_a_batch_requests_wait_ends_with_the_micro_batch_taking_its_last_text():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def twenty_texts():
        batcher = MicroBatcher(lambda: _Echo(), max_size=8, tracer=provider.get_tracer("test"))
        batcher.start()
        try:
            await batcher.predict_many([str(i) for i in range(20)])
        finally:
            await batcher.stop()

    asyncio.run(twenty_texts())
    spans = exporter.get_finished_spans()
    batches = [s for s in spans if s.name == "batcher.batch"]
    [wait] = [s for s in spans if s.name == "batcher.queue"]
    assert len(batches) == 3 and wait.attributes["texts"] == 20
    assert [link.context.span_id for link in wait.links] == [b.context.span_id for b in batches]
    assert wait.end_time <= batches[-1].end_time


def test_work_shared_by_requests_hangs_under_a_sampled_one():
    """Head sampling: a micro-batch whose first request was not sampled is still recorded under one
    that was (its trace would otherwise lack the batch and the engine call)."""
    from opentelemetry.trace import SpanContext, TraceFlags

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    unsampled = SpanContext(1, 1, is_remote=False, trace_flags=TraceFlags(0))
    sampled = SpanContext(2, 2, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    tracing.joined(provider.get_tracer("test"), "batcher.batch", [unsampled, None, sampled]).end()
    [batch] = exporter.get_finished_spans()
    assert batch.parent.span_id == 2 and batch.context.trace_id == 2
    assert [link.context.span_id for link in batch.links] == [1]
