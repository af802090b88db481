"""The manifests on the local cluster (deploy/cluster.py): as its Kubernetes 1.20 takes them,
applied with the pinned kubectl, Jobs waited for, pods reached through `kubectl port-forward`.
Used by `make k8s-demo` (deploy/cluster_demo.py) and `make test-k8s` (tests/deploy/test_cluster.py)."""

from __future__ import annotations

import contextlib
import copy
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deploy import cluster, run_pods

NAMESPACE = "sentiops"

# The one rewrite step for 1.20, stated once: the manifests users apply stay on current APIs
# (validated against current schemas in test_deploy.py); this cluster only knows the older
# versions of the same objects. The Indexed Job (`completionMode`, 1.21+) cannot run on 1.20 and
# stays in the podman scenario (test_containers.py).
API_VERSIONS_1_20 = {
    ("batch/v1", "CronJob"): "batch/v1beta1",
    ("policy/v1", "PodDisruptionBudget"): "policy/v1beta1",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "autoscaling/v2beta2",
}
NOT_ON_1_20 = {("Job", "sentiops-batch-sharded")}


def for_this_cluster(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rendered manifests (minikube overlay + Job files) for this one 2-core node: 1.20's API
    versions, two API replicas as the base has them, and CPU requests small enough that the API
    replicas and a Job fit on the node together (limits, which set the engines' threads, unchanged)."""
    out = []
    for doc in copy.deepcopy(docs):
        if (doc["kind"], doc["metadata"]["name"]) in NOT_ON_1_20:
            continue
        doc["apiVersion"] = API_VERSIONS_1_20.get((doc["apiVersion"], doc["kind"]), doc["apiVersion"])
        if doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = 2
        if doc["kind"] == "HorizontalPodAutoscaler":
            doc["spec"]["minReplicas"] = doc["spec"]["maxReplicas"] = 2
        template = run_pods.pod_template(doc)
        for container in template["spec"]["containers"] if template else []:
            container["resources"]["requests"]["cpu"] = "100m"
        out.append(doc)
    return out


def manifest(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def kubectl(*args: str, check: bool = True, timeout: float = 300, stdin: str | None = None) -> str:
    """kubectl in the sentiops namespace; its output."""
    return cluster.kubectl("--namespace", NAMESPACE, *args, check=check, timeout=timeout, stdin=stdin).stdout


def apply(*docs: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(docs)}))


def with_env(doc: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Like `kubectl set env`: extra variables on every container of a workload."""
    doc = copy.deepcopy(doc)
    template = run_pods.pod_template(doc)
    assert template is not None
    for container in template["spec"]["containers"]:
        container.setdefault("env", []).extend({"name": k, "value": v} for k, v in env.items())
    return doc


def wait_job(name: str, timeout: int) -> str:
    """Wait for a Job to complete or fail; returns "Complete" or "Failed"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conditions = json.loads(kubectl("get", "job", name, "-o", "json"))["status"].get("conditions", [])
        done = [c["type"] for c in conditions if c["status"] == "True" and c["type"] in ("Complete", "Failed")]
        if done:
            return done[0]
        time.sleep(1)
    raise cluster.ClusterError(f"job {name} neither completed nor failed in {timeout} s:\n{job_logs(name)[-3000:]}")


def job_logs(name: str) -> str:
    return kubectl("logs", f"job/{name}", "--tail=200", check=False)


def pods(selector: str) -> list[dict[str, Any]]:
    """The pods a selector picks, leaving out those already terminating."""
    found = json.loads(kubectl("get", "pods", "-l", selector, "-o", "json"))["items"]
    return [pod for pod in found if "deletionTimestamp" not in pod["metadata"]]


@contextlib.contextmanager
def port_forward(target: str, port: int | str) -> Iterator[str]:
    """`kubectl port-forward` on 127.0.0.1 to a pod or Service; yields its base URL."""
    process = subprocess.Popen(
        [str(cluster.KUBECTL), "--kubeconfig", str(cluster.KUBECONFIG), "--namespace", NAMESPACE,
         "port-forward", "--address", "127.0.0.1", target, f":{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert found, f"port-forward {target}: {line}{process.stderr.read() if process.poll() is not None else ''}"
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=10)


# What `kubectl apply -k deploy/k8s/overlays/minikube` creates (the Job and Pod files apart).
OVERLAY_KINDS = ("Namespace", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service",
                 "HorizontalPodAutoscaler", "PodDisruptionBudget", "CronJob")  # fmt: skip


def persistent_volume(path: Path) -> dict[str, Any]:
    """A hostPath volume on the node for the claim, as minikube's provisioner would make one."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "sentiops-volume"},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "claimRef": {"namespace": NAMESPACE, "name": "sentiops-volume"},
            "hostPath": {"path": str(path), "type": "Directory"},
        },
    }


def run_job(docs: list[dict[str, Any]], kind: str, name: str, env: dict[str, str] | None = None,
            timeout: int = 600) -> str:  # fmt: skip
    """Create a Job from its file (or from a CronJob, as `kubectl create job --from=cronjob/NAME`
    names it NAME-manual), with extra variables; wait for it: "Complete" or "Failed"."""
    job = manifest(docs, kind, name)
    if kind == "CronJob":
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name + "-manual"},
               "spec": job["spec"]["jobTemplate"]["spec"]}  # fmt: skip
    apply(with_env(job, env or {}))
    return wait_job(job["metadata"]["name"], timeout)


def copy_to_volume(docs: list[dict[str, Any]], local: Path, folder: str) -> None:
    """docs/deploying.md's way onto the volume: the volume-loader pod, `kubectl cp`, pod deleted."""
    apply(manifest(docs, "Pod", "sentiops-volume-loader"))
    kubectl("wait", "--for=condition=Ready", "pod/sentiops-volume-loader", "--timeout=120s")
    kubectl("exec", "sentiops-volume-loader", "--", "mkdir", "-p", folder)
    kubectl("cp", str(local), f"sentiops-volume-loader:{folder}/{local.name}")
    kubectl("delete", "pod", "sentiops-volume-loader", "--wait=false")
