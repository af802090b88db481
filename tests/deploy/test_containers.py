"""The system as deployed: every Kubernetes workload from the rendered manifests, in real
containers (podman) on one shared volume, with the Secrets as mounted files.

`make test-deploy` builds the images first (`make images`); without them these tests skip
(`make test` never runs them: they are marked `deploy`). Each step asserts on the results on
the volume and over HTTP, not on exit codes alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from deploy import run_pods
from deploy.podman import image_exists, podman
from sentiops.registry import Registry
from sentiops.serving.access import write_account
from tests.helpers.data import sample_rows, write_csv
from tests.helpers.webhook_server import webhook_server

pytestmark = pytest.mark.deploy

TAGS = run_pods.ROOT / "var" / "images" / "tags.json"
SMALL_TRAIN = {"SENTIOPS_TRAIN_MAX_EXAMPLES": "400"}  # like `kubectl set env`: a small first model
# The scenario's retrain is as small as its first model, so the gate is told to accept any
# challenger that is not broken: what is tested here is the Job and the hand-over, not the gate.
SMALL_RETRAIN = {
    "SENTIOPS_RETRAIN_MAX_EXAMPLES": "400",
    "SENTIOPS_RETRAIN_MARGIN": "1",
    "SENTIOPS_RETRAIN_MIN_GAIN": "-1",
    "SENTIOPS_RETRAIN_BEHAVIOUR_TOLERANCE": "1",
    "SENTIOPS_RETRAIN_MIN_AGREEMENT": "0",
}


def _images() -> dict:
    if shutil.which("podman") is None or not TAGS.exists():
        pytest.skip("no images: run `make images` (or `make test-deploy`)")
    images = json.loads(TAGS.read_text())
    for entry in images.values():
        if not image_exists(entry["manifest_image"]):
            pytest.skip(f"{entry['manifest_image']} is not built: run `make images`")
    return images


@pytest.fixture(scope="module")
def images() -> dict:
    return _images()


@pytest.fixture
def volume(tmp_path):
    folder = tmp_path / "pv"
    folder.mkdir()
    folder.chmod(0o777)  # as minikube's hostPath provisioner makes it
    return folder


def _node(volume, secrets_: dict[str, dict[str, str]]) -> run_pods.Node:
    return run_pods.Node(run_pods.render(), volume, secrets_)


def _role_secrets(token: str, accounts: Path) -> dict[str, dict[str, str]]:
    """The three roles' Secrets the API Deployment requires: callers' token, operators' token and a
    labeller account (written by the real `write_account`)."""
    write_account(accounts, "ada", "ada-password-for-the-pods")
    return {
        "sentiops-api-token": {"token": token},
        "sentiops-admin-token": {"token": "operator-" + token},
        "sentiops-labellers": {"accounts": accounts.read_text()},
    }


def _ok(pods: list[run_pods.JobPod]) -> None:
    for pod in pods:
        assert pod.exit_code == 0, f"completion {pod.index} exited {pod.exit_code}:\n{pod.log[-4000:]}"


def _drift_the_next_day(volume) -> int:
    """Make the next incoming day a real class-prior shift: only negative tweets (labels kept
    beside it, as `data prepare` writes them). Returns its row count."""
    incoming = volume / "data" / "incoming"
    labelled = pa.concat_tables(pq.read_table(p) for p in sorted((incoming / "labels").glob("day-*.parquet"))[:3])
    negatives = labelled.filter(pc.equal(labelled["label"], 0))
    pq.write_table(negatives, incoming / "labels" / "day-0001.parquet")
    pq.write_table(negatives.drop(["label"]), incoming / "day-0001.parquet")
    return negatives.num_rows


def test_every_serve_command_imports_in_the_serve_image(images):
    """The serve image holds the serve extra alone: every module its commands use must import."""
    probe = (
        "import importlib, pkgutil, sentiops\n"
        "needs_train = {'sentiops.training.finetune', 'sentiops.training.export', 'sentiops.training.train',"
        " 'sentiops.training.package', 'sentiops.training.distill',"
        " 'sentiops.training.retrain'}\n"
        "names = [m.name for m in pkgutil.walk_packages(sentiops.__path__, 'sentiops.')\n"
        "         if m.name not in needs_train and not m.name.endswith('__main__')]\n"
        "[importlib.import_module(n) for n in names]\n"
        "print(len(names))\n"
    )
    image = images["serve"]["manifest_image"]
    result = podman(
        "run", "--rm", "--read-only", "--entrypoint", "python", image, "-c", probe, check=False, capture=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.strip()) > 40
    for command in (["batch", "run"], ["drift", "check"], ["serve"], ["data", "prepare"]):
        result = podman("run", "--rm", "--read-only", image, "sentiops", *command, "--help", check=False, capture=True)
        assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"


def test_a_pod_whose_required_secret_is_missing_does_not_start(images, volume):
    # The role Secrets are required (not optional): without them the kubelet does not start the pod.
    node = _node(volume, {})
    with pytest.raises(run_pods.PodFailed, match="sentiops-api-token not found"):
        node.up("Deployment/sentiops-api")
    assert node.started == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, pod: c.update(image="localhost/sentiops-serve:0.0.0-nope"), "is not on this node"),
        (lambda c, pod: pod["securityContext"].update(runAsUser=0), "runAsNonRoot"),
        (lambda c, pod: c.update(volumeMounts=[*c["volumeMounts"], {"name": "gone", "mountPath": "/x"}]), "no volume"),
    ],
    ids=["unknown image", "root user", "mount of no volume"],
)
def test_a_wrong_manifest_fails_the_run(images, volume, change, message, tmp_path):
    node = _node(volume, _role_secrets("t" * 32, tmp_path / "accounts"))
    pod = node.get("Job", "sentiops-prepare")["spec"]["template"]["spec"]
    change(pod["containers"][0], pod)
    with pytest.raises(run_pods.PodFailed, match=message):
        node.run_job("Job/sentiops-prepare")
    node.down()


def test_a_container_failing_its_liveness_probe_is_restarted(images, volume, tmp_path):
    # The probes are polled at the manifest's paths: point liveness at a path that does not
    # exist and the watcher restarts the container, as the kubelet would.
    node = _node(volume, _role_secrets("t" * 32, tmp_path / "accounts"))
    container = node.get("Deployment", "sentiops-api")["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["path"] = "/healthz"  # ready without a model
    container["livenessProbe"] = {"httpGet": {"path": "/no-such-path", "port": "http"}, "periodSeconds": 1}
    container["livenessProbe"]["failureThreshold"] = 2
    try:
        (api,) = node.up("Deployment/sentiops-api")
        deadline = time.monotonic() + 30
        while api.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert api.restarts >= 1
    finally:
        node.down()


def test_the_whole_loop_as_deployed(images, volume, tmp_path):
    timings: dict[str, float] = {}

    @contextlib.contextmanager
    def step(name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        timings[name] = time.monotonic() - started

    token = secrets.token_hex(16)
    write_csv(volume / "input.csv", sample_rows(16000))
    (volume / "input").mkdir()
    shutil.move(volume / "input.csv", volume / "input" / "tweets.csv")
    today = dt.datetime.now(dt.UTC).date().isoformat()

    with webhook_server(bind="0.0.0.0", url_host="host.containers.internal") as (hook_url, hook):
        node = _node(
            volume, {**_role_secrets(token, tmp_path / "accounts"), "sentiops-slack-webhook": {"url": hook_url}}
        )
        try:
            with step("prepare"):
                _ok(node.run_job("Job/sentiops-prepare"))
            data = volume / "data"
            assert {p.name for p in data.iterdir()} >= {"train.parquet", "validation.parquet", "incoming", "feedback"}

            with step("train"):
                _ok(node.run_job("Job/sentiops-train", SMALL_TRAIN))
            aliases = json.loads((volume / "registry" / "aliases.json").read_text())
            assert aliases["production"] == "1"

            with step("api ready"):
                (api,) = node.up("Deployment/sentiops-api", {"SENTIOPS_RELOAD_POLL_SECONDS": "1"})
            with httpx.Client(base_url=api.url("http"), timeout=30) as http:
                assert http.post("/predict", json={"text": "what a lovely day"}).status_code == 401
                bad = http.post("/predict", json={"text": "hi"}, headers={"Authorization": "Bearer nope"})
                assert bad.status_code == 401
                auth = {"Authorization": f"Bearer {token}"}
                answer = http.post("/predict", json={"text": "I love this, best day ever"}, headers=auth)
                assert answer.status_code == 200, answer.text
                assert answer.json()["model_version"] == "1"
                assert answer.json()["label"] in ("negative", "positive")
                assert 0.5 <= answer.json()["confidence"] <= 1.0
                # Threads follow the pod's CPU limit (1 in the minikube overlay), not the host's cores.
                assert http.get("/model", headers=auth).json()["threads"] == 1
                # The internet-facing API cannot change the registry (or the training data): only its
                # prediction log and the feedback store are writable.
                denied = podman("exec", api.name, "touch", "/data/registry/x", check=False, capture=True)
                assert denied.returncode != 0 and "Read-only file system" in denied.stderr, denied.stderr
                denied = podman("exec", api.name, "touch", "/data/data/train.parquet", check=False, capture=True)
                assert denied.returncode != 0
                assert podman("exec", api.name, "touch", "/data/results/predictions/probe", check=False).returncode == 0

                # The daily CronJob, run by hand (kubectl create job --from=cronjob/sentiops-batch),
                # on a day that really shifted: only negative tweets.
                shifted_rows = _drift_the_next_day(volume)
                with step("daily batch"):
                    _ok(node.run_job("CronJob/sentiops-batch"))
                scored = pq.read_table(volume / "results" / "scores" / f"date={today}")
                assert scored.num_rows == shifted_rows
                drift = json.loads((volume / "results" / "drift" / f"date={today}" / "drift.json").read_text())
                assert drift["status"] in ("warning", "drift")
                assert (volume / "results" / "drift" / f"date={today}" / "report.html").is_file()
                assert len(hook.requests) >= 1, "the drift alert never reached the webhook"
                assert "hook-token" not in json.dumps(drift)  # the URL from the Secret stays out of results

                # The Indexed Job: one day's file split over 3 pods, each row scored exactly once.
                day = "2026-01-02"
                (volume / "input" / "today").mkdir()
                rows = sample_rows(30000)[20000:21500]
                write_csv(volume / "input" / "today" / "tweets.csv", rows)
                with step("indexed job (3 pods)"):
                    pods = node.run_job("Job/sentiops-batch-sharded", {"SENTIOPS_BATCH_DATE": day})
                _ok(pods)
                assert len(pods) == 3
                parts = sorted(p.name for p in (volume / "results" / "scores" / f"date={day}").glob("*.parquet"))
                assert [p.split(".")[0] for p in parts] == [f"part-{i:05d}-of-00003" for i in range(3)]
                sharded = pq.read_table(volume / "results" / "scores" / f"date={day}")
                rejects = volume / "results" / "rejects" / f"date={day}"
                rejected = pq.read_table(rejects).num_rows if rejects.exists() else 0
                assert sharded.num_rows + rejected == len(rows)
                assert len(set(sharded.column("row_id").to_pylist())) == sharded.num_rows  # nobody twice
                assert set(sharded.column("text").to_pylist()) <= {text for _, text in rows}
                assert set(sharded.column("model_version").to_pylist()) == {"1"}
                assert (volume / "results" / "drift" / f"date={day}" / "drift.json").is_file()

                with step("retrain"):
                    _ok(node.run_job("CronJob/sentiops-retrain", SMALL_RETRAIN))
                aliases = json.loads((volume / "registry" / "aliases.json").read_text())
                assert aliases["production"] == "2"

                with step("api hot reload"):
                    deadline = time.monotonic() + 90
                    served = None
                    while time.monotonic() < deadline:
                        answer = http.post("/predict", json={"text": "still here?"}, headers=auth)
                        served = answer.json()["model_version"]
                        if served == "2":
                            break
                        time.sleep(0.5)
                    assert served == "2", "the running API never hot-reloaded version 2"

                # Staging on trial: the running API loads it beside production and shadows requests;
                # the daily live-promote CronJob (its thresholds lowered to this test's traffic)
                # decides on the shadow pairs the API logged.
                with step("shadow and live promotion"):
                    Registry(volume / "registry").set_alias("staging", "1", reason="deploy test")
                    deadline, staged = time.monotonic() + 90, None
                    while time.monotonic() < deadline and not staged:
                        staged = http.get("/model", headers=auth).json()["staging"]
                        time.sleep(0.5)
                    assert staged is not None and staged["version"] == "1", staged
                    for _, text in sample_rows(200)[:40]:
                        assert http.post("/predict", json={"text": text}, headers=auth).status_code == 200
                    assert podman("exec", api.name, "touch", "/data/results/live/probe", check=False).returncode == 0

                    def shadow_rows() -> int:
                        files = (volume / "results" / "predictions").rglob("*.parquet")
                        roles = [r for f in files for r in pq.read_table(f, columns=["role"]).column(0).to_pylist()]
                        return roles.count("shadow")

                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline and shadow_rows() < 20:
                        time.sleep(1)
                    assert shadow_rows() >= 20
                    live = {
                        "SENTIOPS_LIVE_MIN_HOURS": "0",
                        "SENTIOPS_LIVE_MIN_PAIRS": "20",
                        "SENTIOPS_LIVE_MIN_AGREEMENT": "0",
                    }
                    _ok(node.run_job("CronJob/sentiops-live-promote", live))
                decision = Registry(volume / "registry").decisions()[-1]
                assert decision["kind"] == "live" and decision["action"] == "promoted", decision["reasons"]
                assert decision["numbers"]["live"]["pairs"] >= 20
                assert json.loads((volume / "registry" / "aliases.json").read_text())["production"] == "1"
                assert api.probe("livenessProbe") and api.running()
                assert api.restarts == 0  # the liveness probe held through training, batches, reload
        finally:
            node.down()
    print("scenario timings (s):", json.dumps({k: round(v, 1) for k, v in timings.items()}))


def test_podman_sees_the_host_by_name(images):
    # The scenario's webhook lives on the host; pods reach it as host.containers.internal.
    result = podman(
        "run",
        "--rm",
        "--entrypoint",
        "getent",
        images["serve"]["manifest_image"],
        "hosts",
        "host.containers.internal",
        check=False,
        capture=True,
    )
    assert result.returncode == 0, result.stderr
