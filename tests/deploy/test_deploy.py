"""Kubernetes manifests: they render, validate against the schemas (strict), and agree with the app:
every command is a real CLI command, probes hit real routes, env names are real settings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sentiops.cli import app
from sentiops.config import Settings
from sentiops.serving.app import create_app
from tests.helpers.data import REPO

K8S = REPO / "deploy" / "k8s"
KUBECTL = shutil.which("kubectl")


def render(target: Path) -> list[dict]:
    out = subprocess.run([KUBECTL, "kustomize", str(target)], check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def all_docs() -> list[dict]:
    docs = render(K8S / "overlays" / "minikube")
    for job in sorted((K8S / "jobs").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(job.read_text()) if d]
    return docs


def pod_spec(doc: dict) -> dict | None:
    kind = doc["kind"]
    if kind == "Deployment" or kind == "Job":
        return doc["spec"]["template"]["spec"]
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl (for kustomize) is not installed")


@pytest.mark.parametrize("target", ["base", "overlays/minikube"])
def test_renders_and_validates_strictly(tmp_path, target):
    docs = render(K8S / target)
    kinds = sorted(d["kind"] for d in docs)
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "CronJob"} <= set(kinds)
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
        needs_torch = command[1] in ("train", "retrain")
        assert image.startswith("sentiops-train" if needs_torch else "sentiops-serve"), name


def test_probes_hit_real_routes_and_env_names_are_settings():
    routes = set(create_app(Settings()).openapi()["paths"])
    fields = {f"SENTIOPS_{name.upper()}" for name in Settings.model_fields}
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
