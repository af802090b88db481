"""The system on a real Kubernetes (`make test-k8s`): the manifests applied with kubectl to a
control plane, scheduler, controllers, kubelet, kube-proxy and containerd running on this machine
(deploy/cluster.py), the images loaded into containerd. Pods are reached only through `kubectl
port-forward` on 127.0.0.1, or from pods of the test's own. The tests run in file order: one
scenario on one cluster, then `k8s-down` is checked to leave the machine as it was.

Marked `k8s`: neither `make test` nor `make test-deploy` runs them.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from deploy import cluster, run_pods
from deploy.kube import (
    OVERLAY_KINDS,
    apply,
    copy_to_volume,
    for_this_cluster,
    job_logs,
    kubectl,
    manifest,
    persistent_volume,
    pods,
    port_forward,
    run_job,
    wait_job,
)
from sentiops.serving.access import write_account
from tests.deploy.cluster import machine_state
from tests.deploy.test_containers import SMALL_RETRAIN, SMALL_TRAIN, _drift_the_next_day
from tests.helpers.data import sample_rows, write_csv
from tests.helpers.webhook_server import webhook_server

pytestmark = pytest.mark.k8s

TAGS = run_pods.ROOT / "var" / "images" / "tags.json"
API = "app.kubernetes.io/name=sentiops-api"


class Scenario:
    """State shared by the scenario's steps (they run in file order on one cluster)."""

    docs: list[dict[str, Any]]
    volume: Path
    token: str
    before: dict[str, Any]
    timings: dict[str, float] = {}


S = Scenario()


@pytest.fixture(scope="module", autouse=True)
def the_cluster(tmp_path_factory):
    if not TAGS.exists():
        pytest.skip("no images: run `make images` (or `make test-k8s`)")
    cluster.down(quiet=True)  # a fresh cluster: not one `make k8s-demo` left, nor a failed run's
    S.before = machine_state()
    cluster.up()
    cluster.load_images()
    S.docs = for_this_cluster(run_pods.render())
    S.volume = tmp_path_factory.mktemp("k8s") / "pv"
    S.token = secrets.token_hex(16)
    yield
    cluster.down(quiet=True)  # a no-op after the last test; cleans up after a failed step
    print("scenario timings (s):", json.dumps({k: round(v, 1) for k, v in S.timings.items()}))


@pytest.fixture(autouse=True)
def _timed(request):
    started = time.monotonic()
    yield
    S.timings[request.node.name.removeprefix("test_")] = time.monotonic() - started


def _secrets(accounts: Path) -> None:
    write_account(accounts, "ada", "ada-password-for-the-pods")
    kubectl("create", "secret", "generic", "sentiops-api-token", f"--from-literal=token={S.token}")
    kubectl("create", "secret", "generic", "sentiops-admin-token", f"--from-literal=token=operator-{S.token}")
    kubectl("create", "secret", "generic", "sentiops-labellers", f"--from-file=accounts={accounts}")


def _init_failure(pod: dict[str, Any]) -> str | None:
    """The log of the API pod's init container when it exited non-zero, else None."""
    for status in pod["status"].get("initContainerStatuses", []):
        for state in (status.get("state", {}), status.get("lastState", {})):
            if state.get("terminated", {}).get("exitCode", 0) != 0:
                name, container = pod["metadata"]["name"], status["name"]
                return kubectl("logs", name, "-c", container, check=False) + kubectl(
                    "logs", name, "-c", container, "--previous", check=False
                )
    return None


def test_the_docs_order_on_a_hand_made_hostpath_volume(tmp_path):
    """docs/deploying.md's steps: Secrets, the overlay (the API pods start before there is a model),
    tweets copied through the volume-loader pod, prepare, train, restart the API."""
    kubectl("get", "--raw", "/readyz")
    apply(*[d for d in S.docs if d["kind"] == "Namespace"])
    _secrets(tmp_path / "accounts")
    # A hostPath volume made by hand: root's folder, 0755, as `mkdir` leaves it.
    S.volume.mkdir()
    S.volume.chmod(0o755)
    apply(persistent_volume(S.volume))
    apply(*[d for d in S.docs if d["kind"] in OVERLAY_KINDS])

    # The kubelet does not apply fsGroup to hostPath volumes: the non-root pods cannot write.
    deadline, failure = time.monotonic() + 120, None
    while time.monotonic() < deadline and not failure:
        failure = next(filter(None, map(_init_failure, pods(API))), None)
        time.sleep(1)
    assert failure and "Permission denied" in failure, failure

    # The documented fix: what fsGroup does where the volume supports it: the pods' group owns
    # the folder, may write, and (setgid) owns what is made in it, including the subPath folders
    # the kubelet makes as root with the folder's mode.
    shutil.chown(S.volume, 10001, 10001)
    S.volume.chmod(0o2775)
    write_csv(tmp_path / "tweets.csv", sample_rows(16000))
    copy_to_volume(S.docs, tmp_path / "tweets.csv", "/data/input")
    assert (S.volume / "input" / "tweets.csv").stat().st_uid == 10001

    assert run_job(S.docs, "Job", "sentiops-prepare", timeout=300) == "Complete", job_logs("sentiops-prepare")
    data = S.volume / "data"
    assert {p.name for p in data.iterdir()} >= {"train.parquet", "validation.parquet", "incoming", "feedback"}
    assert (data / "train.parquet").stat().st_uid == 10001


def test_the_train_job_registers_the_first_model():
    assert run_job(S.docs, "Job", "sentiops-train", SMALL_TRAIN, timeout=900) == "Complete", job_logs("sentiops-train")
    aliases = json.loads((S.volume / "registry" / "aliases.json").read_text())
    assert aliases["production"] == "1"


def test_the_api_becomes_ready_through_its_probes_and_answers_through_the_service():
    # `data prepare` replaced data/ under the running pods' feedback and queue mounts: restart them.
    kubectl("rollout", "restart", "deployment/sentiops-api")
    kubectl("rollout", "status", "deployment/sentiops-api", "--timeout=300s")
    ready = [p for p in pods(API) if all(c["ready"] for c in p["status"]["containerStatuses"])]
    assert len(ready) == 2
    # The init container made results/ as the pods' user: the batch CronJob can write there.
    assert (S.volume / "results").stat().st_uid == 10001
    with port_forward("service/sentiops-api", 80) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/predict", json={"text": "what a lovely day"}).status_code == 401
        auth = {"Authorization": f"Bearer {S.token}"}
        answer = http.post("/predict", json={"text": "I love this, best day ever"}, headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == "1"
        metrics = http.get("/metrics")
        assert metrics.status_code == 200 and "sentiops_" in metrics.text


def test_secrets_arrive_as_files_only_the_app_user_reads():
    pod = pods(API)[0]["metadata"]["name"]
    out = kubectl("exec", pod, "--", "stat", "-L", "-c", "%a %u %g", "/var/run/secrets/sentiops/api/token")
    mode, owner, group = out.split()
    assert (owner, group) == ("0", "10001"), out  # root's file, the pod's fsGroup
    assert mode == "440", out  # the app's group reads it; nobody else can
    assert kubectl("exec", pod, "--", "cat", "/var/run/secrets/sentiops/api/token") == S.token


def test_the_daily_cronjob_fires_scores_alerts_and_refuses_a_second_run_of_its_date():
    today = dt.datetime.now(dt.UTC).date().isoformat()
    shifted_rows = _drift_the_next_day(S.volume)
    with webhook_server(bind=cluster.GATEWAY, url_host=cluster.GATEWAY) as (hook_url, hook):
        kubectl("create", "secret", "generic", "sentiops-slack-webhook", f"--from-literal=url={hook_url}")
        batch = manifest(S.docs, "CronJob", "sentiops-batch")
        batch["spec"]["schedule"] = "* * * * *"  # the schedule patched for the test: the next minute
        apply(batch)
        deadline = time.monotonic() + 150
        jobs: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not jobs:
            jobs = json.loads(kubectl("get", "jobs", "-o", "json"))["items"]
            jobs = [j for j in jobs if j["metadata"].get("ownerReferences", [{}])[0].get("name") == "sentiops-batch"]
            time.sleep(2)
        assert jobs, "the CronJob never fired"
        kubectl("patch", "cronjob", "sentiops-batch", "-p", '{"spec": {"suspend": true}}')
        fired = jobs[0]["metadata"]["name"]
        assert wait_job(fired, 600) == "Complete", job_logs(fired)
        scored = pq.read_table(S.volume / "results" / "scores" / f"date={today}")
        assert scored.num_rows == shifted_rows
        drift = json.loads((S.volume / "results" / "drift" / f"date={today}" / "drift.json").read_text())
        assert drift["status"] in ("warning", "drift")
        assert len(hook.requests) >= 1, "the drift alert never reached the webhook"

    # Same date again (kubectl create job --from=cronjob/sentiops-batch): nothing redone.
    parts = sorted((S.volume / "results" / "scores" / f"date={today}").glob("*.parquet"))
    stamps = [p.stat().st_mtime_ns for p in parts]
    assert run_job(S.docs, "CronJob", "sentiops-batch", timeout=300) == "Complete"
    assert "already scored" in job_logs("sentiops-batch-manual")
    assert [p.stat().st_mtime_ns for p in parts] == stamps


def _poller() -> dict[str, Any]:
    """A pod of the test's own running tests/deploy/poller.py (from a ConfigMap) in the API's image."""
    kubectl("create", "configmap", "poller", f"--from-file=poller.py={Path(__file__).parent / 'poller.py'}")
    api = manifest(S.docs, "Deployment", "sentiops-api")["spec"]["template"]["spec"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "poller"},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": api["securityContext"],
            "containers": [
                {
                    "name": "poller",
                    "image": api["containers"][0]["image"],
                    "command": ["python", "/poller/poller.py"],
                    "securityContext": api["containers"][0]["securityContext"],
                    "volumeMounts": [
                        {"name": "token", "mountPath": "/token", "readOnly": True},
                        {"name": "poller", "mountPath": "/poller", "readOnly": True},
                    ],
                }
            ],
            "volumes": [
                {"name": "token", "secret": {"secretName": "sentiops-api-token"}},
                {"name": "poller", "configMap": {"name": "poller"}},
            ],
        },
    }


def _poller_counts() -> dict[str, Any]:
    lines = kubectl("logs", "poller", "--tail=1").strip().splitlines()
    return json.loads(lines[-1]) if lines else {"ok": 0, "failed": 0, "errors": []}


def test_a_rolling_update_keeps_the_service_answering():
    apply(_poller())
    kubectl("wait", "--for=condition=Ready", "pod/poller", "--timeout=120s")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _poller_counts()["ok"] < 20:
        time.sleep(1)
    assert _poller_counts()["ok"] >= 20, _poller_counts()

    # A new image tag (the same build under another name, as a release would push).
    image = manifest(S.docs, "Deployment", "sentiops-api")["spec"]["template"]["spec"]["containers"][0]["image"]
    rolled = image.rsplit(":", 1)[0] + ":rollout-test"
    cluster.ctr("images", "tag", "--force", image, rolled)
    old = {f"pod/{p['metadata']['name']}" for p in pods(API)}
    kubectl("set", "image", "deployment/sentiops-api", f"api={rolled}")
    kubectl("rollout", "status", "deployment/sentiops-api", "--timeout=300s")
    deadline = time.monotonic() + 60  # until the old pods are gone, not merely unready
    while time.monotonic() < deadline and old & set(kubectl("get", "pods", "-l", API, "-o", "name").split()):
        time.sleep(1)
    before = _poller_counts()["ok"]
    time.sleep(3)
    counts = _poller_counts()
    kubectl("delete", "pod", "poller", "--wait=false")
    assert {p["spec"]["containers"][0]["image"] for p in pods(API)} == {rolled}
    assert counts["ok"] > before, counts  # still answering from the new pods
    assert counts["failed"] == 0, counts
    print(f"rolling update: {counts['ok']} answers through the Service, {counts['failed']} failed")


def test_a_deleted_replica_is_replaced_and_its_prediction_log_kept():
    victim = pods(API)[0]["metadata"]["name"]
    auth = {"Authorization": f"Bearer {S.token}"}
    with port_forward(f"pod/{victim}", 8000) as url, httpx.Client(base_url=url, timeout=30) as http:
        ids = []
        for _, text in sample_rows(100)[:25]:
            answer = http.post("/predict", json={"text": text}, headers=auth)
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["prediction_id"])
    kubectl("delete", "pod", victim, "--wait=true", "--timeout=120s")
    kubectl("rollout", "status", "deployment/sentiops-api", "--timeout=300s")
    names = {p["metadata"]["name"] for p in pods(API)}
    assert victim not in names and len(names) == 2

    logged: set[str] = set()
    for path in (S.volume / "results" / "predictions").rglob("*.parquet"):
        logged |= set(pq.read_table(path, columns=["prediction_id"]).column(0).to_pylist())
    assert set(ids) <= logged, f"{len(set(ids) - logged)} of {len(ids)} answers of the deleted pod were not logged"


def test_the_retrain_job_promotes_and_every_replica_hot_reloads():
    assert run_job(S.docs, "CronJob", "sentiops-retrain", SMALL_RETRAIN, timeout=900) == "Complete", job_logs(
        "sentiops-retrain-manual"
    )
    assert json.loads((S.volume / "registry" / "aliases.json").read_text())["production"] == "2"
    auth = {"Authorization": f"Bearer {S.token}"}
    for pod in pods(API):
        with port_forward(f"pod/{pod['metadata']['name']}", 8000) as url, httpx.Client(base_url=url) as http:
            deadline, served = time.monotonic() + 120, None
            while time.monotonic() < deadline and served != "2":
                served = http.get("/model", headers=auth).json()["version"]
                time.sleep(1)
            assert served == "2", f"{pod['metadata']['name']} never hot-reloaded version 2"


def test_k8s_down_leaves_the_machine_as_it_was():
    cluster.down()
    assert not any(cluster.leftovers().values())
    after = machine_state()
    for key, value in S.before.items():
        assert after[key] == value, key
