"""A real one-node Kubernetes on this machine: `make k8s-up` / `make k8s-down`.

    python deploy/cluster.py up      # etcd, control plane, containerd, kubelet, kube-proxy
    python deploy/cluster.py down    # every process by its PID, mounts, netns, bridge, rules
    python deploy/cluster.py status

The binaries come from `deploy/build_kubernetes.sh` (Debian bookworm's `kubernetes` source package,
1.20, built once per machine into ~/.cache/sentiops/k8s); etcd, containerd, runc and the CNI
plugins are Debian packages. Everything listens on 127.0.0.1 only. One cluster per machine: its
runtime state (PIDs, sockets, the sysctls it changed) lives in /run/sentiops-k8s, so `down` finds
it from any clone; its data (certificates, etcd, images, kubelet) in var/k8s/ of the clone that
started it, with the admin kubeconfig at var/k8s/kubeconfig.

Each component has its own credential (a token in the apiserver's token file, each user in the
group RBAC's default bindings expect); the kubelet trusts the apiserver's client certificate.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "var" / "k8s"
RUN = Path("/run/sentiops-k8s")  # short paths: unix sockets are limited to 107 bytes
PIDS = RUN / "pids"
BIN = Path(os.environ.get("SENTIOPS_K8S_CACHE", Path.home() / ".cache" / "sentiops" / "k8s")) / "bin"
KUBECTL = ROOT / "var" / "tools" / "kubectl" / "bin" / "kubectl"
KUBECONFIG = DATA / "kubeconfig"
CONTAINERD_SOCK = RUN / "containerd.sock"

BRIDGE = "sentiops0"
POD_CIDR = "10.244.0.0/24"
GATEWAY = "10.244.0.1"  # the bridge's address: how pods reach a test's servers on this machine
SERVICE_CIDR = "10.96.0.0/24"
PAUSE_IMAGE = "localhost/sentiops-pause:1.20"
NODE = "localhost"  # 1.20 refuses a loopback node IP; the apiserver reaches the kubelet by this name

# Components in start order; `down` stops them in reverse.
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "kubelet",
    "kube-proxy",
)
# Kernel settings the kubelet and kube-proxy change at start: recorded before, restored by `down`.
SYSCTLS = (
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
)
DEBIAN_PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "etcd-server",
    "iptables",
    "conntrack",
    "openssl",
)


class ClusterError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------- processes


def _pid(name: str) -> int | None:
    """The PID of a component this script started, while it runs (an exited one counts as gone)."""
    path = PIDS / f"{name}.pid"
    if not path.exists():
        return None
    pid = int(path.read_text())
    return None if _exited(pid) else pid


def _start(name: str, argv: list[str | Path]) -> int:
    log = DATA / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(a) for a in argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives `make k8s-up`; stopped by `down`, by PID
        )
    (PIDS / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def _stop(name: str, grace: float = 10.0) -> None:
    """SIGTERM to the PID it was started with; SIGKILL after `grace` seconds."""
    pid = _pid(name)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not _exited(pid):
            time.sleep(0.1)
        if not _exited(pid):
            os.kill(pid, signal.SIGKILL)
            while not _exited(pid):
                time.sleep(0.05)
    (PIDS / f"{name}.pid").unlink(missing_ok=True)


def _exited(pid: int) -> bool:
    """True when the process is gone, or a zombie: its parent (`up` exited long ago) is PID 1 here,
    which reaps it in its own time."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait(what: str, ready, timeout: float, name: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if name and _pid(name) is None:
            raise ClusterError(f"{name} exited while waiting for {what}: see {DATA / 'logs' / (name + '.log')}")
        time.sleep(0.3)
    raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def kubectl(
    *args: str, check: bool = True, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The pinned kubectl with the admin kubeconfig."""
    result = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(KUBECONFIG), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )
    if check and result.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr.strip()[-3000:]}")
    return result


def ctr(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ctr", "--address", str(CONTAINERD_SOCK), "--namespace", "k8s.io", *args],
        capture_output=True,
        text=True,
        check=check,
    )


# ---------------------------------------------------------------------------------------- configuration


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _certificates(pki: Path) -> None:
    """A self-signed CA; the apiserver's serving certificate; its client certificate for the kubelet."""
    pki.mkdir(parents=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=sentiops-k8s-ca",
             "-keyout", pki / "ca.key", "-out", pki / "ca.crt")  # fmt: skip
    (pki / "apiserver.ext").write_text(
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
        "extendedKeyUsage=serverAuth\n"
    )
    (pki / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subject, ext in (
        ("apiserver", "/CN=kube-apiserver", "apiserver.ext"),
        # The kubelet checks the apiserver's client certificate (logs, exec, port-forward).
        ("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", "client.ext"),
    ):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                 "-keyout", pki / f"{name}.key", "-out", pki / f"{name}.csr")  # fmt: skip
        _openssl("x509", "-req", "-in", pki / f"{name}.csr", "-CA", pki / "ca.crt", "-CAkey", pki / "ca.key",
                 "-CAcreateserial", "-days", "30", "-extfile", pki / ext, "-out", pki / f"{name}.crt")  # fmt: skip
    # Service-account tokens are signed with this pair.
    _openssl("genrsa", "-out", pki / "sa.key", "2048")
    _openssl("rsa", "-in", pki / "sa.key", "-pubout", "-out", pki / "sa.pub")
    for key in pki.glob("*.key"):
        key.chmod(0o600)


# user name, groups: each component's identity, as RBAC's default roles and the Node authorizer expect
USERS = {
    "admin": ("sentiops-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "kubelet": (f"system:node:{NODE}", "system:nodes"),
    "kube-proxy": ("system:kube-proxy", ""),
}


def _kubeconfig(path: Path, pki: Path, token: str) -> None:
    ca = (pki / "ca.crt").read_text()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "sentiops",
                "cluster": {
                    "server": "https://127.0.0.1:6443",
                    "certificate-authority-data": base64.b64encode(ca.encode()).decode(),
                },
            }
        ],
        "users": [{"name": "user", "user": {"token": token}}],
        "contexts": [{"name": "sentiops", "context": {"cluster": "sentiops", "user": "user"}}],
        "current-context": "sentiops",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def _configure() -> dict[str, Path]:
    """Write certificates, the token file, kubeconfigs and the node's configuration under var/k8s."""
    if DATA.exists():
        shutil.rmtree(DATA)
    pki = DATA / "pki"
    _certificates(pki)
    tokens = {role: secrets.token_hex(24) for role in USERS}
    lines = [f'{tokens[role]},{user},{user},"{groups}"' for role, (user, groups) in USERS.items()]
    (pki / "tokens.csv").write_text("\n".join(lines) + "\n")
    (pki / "tokens.csv").chmod(0o600)
    configs = {}
    for role in USERS:
        path = KUBECONFIG if role == "admin" else DATA / f"{role}.kubeconfig"
        _kubeconfig(path, pki, tokens[role])
        configs[role] = path

    cni = DATA / "cni"
    cni.mkdir()
    (cni / "10-sentiops.conflist").write_text(
        json.dumps(
            {
                "cniVersion": "0.4.0",
                "name": "sentiops",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": BRIDGE,
                        "isGateway": True,
                        "ipMasq": False,  # pods reach nothing beyond this machine: no NAT rules to leave behind
                        "hairpinMode": True,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": POD_CIDR, "gateway": GATEWAY}]],
                            # Service IPs through the host (kube-proxy's rules); no default route:
                            # pods reach the pod network, Services and this machine's bridge address only.
                            "routes": [{"dst": SERVICE_CIDR}],
                            "dataDir": str(DATA / "cni-ipam"),
                        },
                    },
                    {"type": "loopback"},
                ],
            },
            indent=2,
        )
    )
    containerd = DATA / "containerd.toml"
    containerd.write_text(
        f"""version = 2
root = "{DATA / "containerd"}"
state = "{RUN / "containerd"}"
[grpc]
  address = "{CONTAINERD_SOCK}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # Required here: containerd cannot set a pod's oom_score_adj below its own in this sandbox.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
"""
    )
    kubelet = DATA / "kubelet.yaml"
    kubelet.write_text(
        json.dumps(
            {
                "apiVersion": "kubelet.config.k8s.io/v1beta1",
                "kind": "KubeletConfiguration",
                "address": "127.0.0.1",
                "readOnlyPort": 0,
                "healthzBindAddress": "127.0.0.1",
                "cgroupDriver": "cgroupfs",  # no systemd here
                "failSwapOn": False,
                "authentication": {
                    "anonymous": {"enabled": False},
                    "webhook": {"enabled": False},
                    "x509": {"clientCAFile": str(pki / "ca.crt")},
                },
                "authorization": {"mode": "AlwaysAllow"},  # only the apiserver's certificate gets in
                # The host's resolv.conf would hand pods the host's resolvers: nothing to resolve here.
                "resolvConf": "",
                "makeIPTablesUtilChains": False,  # kube-proxy makes the chains it needs; fewer rules to remove
                # The machine's disk is shared: evict only when it is really short.
                "evictionHard": {"nodefs.available": "2%", "imagefs.available": "2%", "memory.available": "200Mi"},
                "imageGCHighThresholdPercent": 98,
                "imageGCLowThresholdPercent": 97,
            },
            indent=2,
        )
    )
    return configs


def sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name


def _record_sysctls() -> None:
    values = {name: sysctl_path(name).read_text().strip() for name in SYSCTLS if sysctl_path(name).exists()}
    (RUN / "sysctls.json").write_text(json.dumps(values))


def _restore_sysctls() -> None:
    saved = RUN / "sysctls.json"
    if saved.exists():
        for name, value in json.loads(saved.read_text()).items():
            sysctl_path(name).write_text(value)


# ---------------------------------------------------------------------------------------- up


def ensure_installed() -> None:
    # The build script returns at once when every binary is in the cache.
    subprocess.run(["bash", str(ROOT / "deploy" / "build_kubernetes.sh")], check=True)
    if not KUBECTL.exists():
        raise ClusterError(f"{KUBECTL} is missing: run `make tools`")
    missing = [p for p in ("containerd", "runc", "etcd", "ctr", "iptables", "conntrack") if shutil.which(p) is None]
    if missing or not Path("/usr/lib/cni/bridge").exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES], check=True, env=env, stdout=subprocess.DEVNULL
        )


def _pause_image() -> None:
    """The pod sandbox image: the pause binary built from the same source, in a one-file image."""
    if ctr("images", "ls", "-q", f"name=={PAUSE_IMAGE}").stdout.strip():
        return
    layer = DATA / "pause-rootfs"
    layer.mkdir()
    shutil.copy2(BIN / "pause", layer / "pause")
    archive = DATA / "pause.tar"
    # An OCI archive written by hand would be more code than this: podman makes it from a folder.
    sys.path.insert(0, str(ROOT))
    from deploy.podman import podman

    (layer / "Containerfile").write_text('FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n')
    podman("build", "--tag", PAUSE_IMAGE, "--file", str(layer / "Containerfile"), str(layer), capture=True)
    podman("save", "--format", "docker-archive", "--output", str(archive), PAUSE_IMAGE, capture=True)
    ctr("images", "import", str(archive))
    archive.unlink()
    shutil.rmtree(layer)


def up() -> None:
    if _pid("kube-apiserver") is not None:
        owner = (RUN / "owner").read_text() if (RUN / "owner").exists() else "?"
        if owner != str(DATA):
            raise ClusterError(f"a cluster started from {owner} is running: `make k8s-down` first")
        print(f"already running; kubeconfig {KUBECONFIG}")
        return
    started = time.monotonic()
    ensure_installed()
    down(quiet=True)  # what a crashed run left
    RUN.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(exist_ok=True)
    (RUN / "owner").write_text(str(DATA))  # one cluster per machine: which clone's var/k8s it uses
    _record_sysctls()
    configs = _configure()
    pki = DATA / "pki"

    _start("etcd", ["etcd", "--name", "sentiops", "--data-dir", DATA / "etcd",
                    "--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
                    "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                    "--initial-cluster", "sentiops=http://127.0.0.1:2380"])  # fmt: skip
    _wait("etcd", lambda: _http_ok("http://127.0.0.1:2379/health"), 30, "etcd")

    _start("kube-apiserver", [
        BIN / "kube-apiserver",
        "--etcd-servers=http://127.0.0.1:2379",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=6443", "--insecure-port=0",
        # One apiserver on loopback: nothing to reconcile the `kubernetes` Service's endpoints against.
        "--endpoint-reconciler-type=none",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={pki / 'tokens.csv'}",
        "--authorization-mode=Node,RBAC", "--anonymous-auth=false",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        # The node is `localhost`: reach its kubelet by name (127.0.0.1:10250), not by a node IP.
        "--kubelet-preferred-address-types=Hostname,InternalIP",
        f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=false",
    ])  # fmt: skip
    _wait(
        "the apiserver", lambda: kubectl("get", "--raw", "/readyz", check=False).returncode == 0, 60, "kube-apiserver"
    )

    _start("kube-controller-manager", [
        BIN / "kube-controller-manager", f"--kubeconfig={configs['controller-manager']}",
        "--leader-elect=false", "--port=0", "--secure-port=0",
        "--use-service-account-credentials=true",  # each controller acts as its own service account
        f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
    ])  # fmt: skip
    _start("kube-scheduler", [
        BIN / "kube-scheduler", f"--kubeconfig={configs['scheduler']}", "--leader-elect=false", "--port=0",
        "--bind-address=127.0.0.1",
    ])  # fmt: skip

    (RUN / "containerd").mkdir(exist_ok=True)
    _start("containerd", ["containerd", "--config", DATA / "containerd.toml"])
    _wait("containerd", lambda: ctr("version", check=False).returncode == 0, 30, "containerd")
    _pause_image()

    _start("kubelet", [
        BIN / "kubelet", f"--config={DATA / 'kubelet.yaml'}", f"--kubeconfig={configs['kubelet']}",
        "--container-runtime=remote", f"--container-runtime-endpoint=unix://{CONTAINERD_SOCK}",
        f"--hostname-override={NODE}", f"--root-dir={DATA / 'kubelet'}", f"--cert-dir={DATA / 'kubelet-pki'}",
    ])  # fmt: skip
    _start("kube-proxy", [
        BIN / "kube-proxy", f"--kubeconfig={configs['kube-proxy']}", f"--hostname-override={NODE}",
        "--proxy-mode=iptables", f"--cluster-cidr={POD_CIDR}",
        # Service traffic between pods on one bridge: masquerade it so replies come back through the host.
        "--masquerade-all=true",
        "--bind-address=127.0.0.1", "--healthz-bind-address=127.0.0.1:10256", "--metrics-bind-address=127.0.0.1:10249",
        # Leave the machine's conntrack table size and timeouts as they are.
        "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
    ])  # fmt: skip
    _wait(
        "the node to be Ready",
        lambda: kubectl("wait", "--for=condition=Ready", f"node/{NODE}", "--timeout=2s", check=False).returncode == 0,
        120,
        "kubelet",
    )
    # Pods are admitted only once their namespace's default ServiceAccount exists.
    _wait(
        "the default ServiceAccount",
        lambda: kubectl("get", "serviceaccount", "default", check=False).returncode == 0,
        60,
        "kube-controller-manager",
    )
    print(f"cluster up in {time.monotonic() - started:.0f} s; export KUBECONFIG={KUBECONFIG}", flush=True)


def load_images() -> None:
    """Import the archives `make images` saved (podman's docker-archive, listed in
    var/images/tags.json) into the node's containerd, as `minikube image load` does."""
    built = json.loads((ROOT / "var" / "images" / "tags.json").read_text())
    for archive in (ROOT / entry["archive"] for entry in built.values()):
        started = time.monotonic()
        ctr("images", "import", "--no-unpack", str(archive))
        print(f"imported {archive.name} in {time.monotonic() - started:.0f} s", flush=True)


# ---------------------------------------------------------------------------------------- down


def _mounts_under(*prefixes: Path) -> list[str]:
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if any(point == str(p) or point.startswith(str(p) + "/") for p in prefixes):
            points.append(point)
    return points


def _netns() -> list[Path]:
    """The pod network namespaces containerd made (named cni-<uuid>)."""
    folder = Path("/run/netns")
    return sorted(folder.glob("cni-*")) if folder.exists() else []


def _data_in_use() -> Path:
    """The var/k8s of the clone that started the running cluster (this clone's when none runs)."""
    owner = RUN / "owner"
    return Path(owner.read_text()) if owner.exists() else DATA


def _shims() -> list[str]:
    """PIDs of this cluster's containerd shims (they outlive a containerd that was killed)."""
    return subprocess.run(["pgrep", "-f", f"containerd-shim.*{RUN}"], capture_output=True, text=True).stdout.split()


def leftovers() -> dict[str, list[str]]:
    """What a running (or badly stopped) cluster holds on this machine; all empty after `down`."""
    processes = [name for name in COMPONENTS if _pid(name) is not None]
    shims = _shims()
    rules = [
        r for r in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout.splitlines() if "KUBE-" in r
    ]
    bridge = subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True, text=True).returncode == 0
    cgroups = [str(p) for p in Path("/sys/fs/cgroup").glob("*/kubepods")]
    return {
        "processes": processes + [f"shim {pid}" for pid in shims],
        "mounts": _mounts_under(_data_in_use(), RUN),
        "netns": [str(p) for p in _netns()],
        "bridge": [BRIDGE] if bridge else [],
        "iptables": rules,
        "cgroups": cgroups,
    }


def _kill_containers() -> None:
    """Every container and pod sandbox: their shims outlive containerd, so stop them through it."""
    if _pid("containerd") is None:
        return
    for task in ctr("tasks", "ls", "-q", check=False).stdout.split():
        ctr("tasks", "kill", "--signal", "SIGKILL", task, check=False)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listing = ctr("tasks", "ls", check=False).stdout.splitlines()[1:]
        if all("STOPPED" in line for line in listing):
            break
        time.sleep(0.2)
    for task in ctr("tasks", "ls", "-q", check=False).stdout.split():
        ctr("tasks", "delete", "--force", task, check=False)
    for container in ctr("containers", "ls", "-q", check=False).stdout.split():
        ctr("containers", "delete", container, check=False)


def _remove_kube_chains() -> None:
    """`kube-proxy --cleanup` removes its Service rules but leaves its canary and mark chains."""
    for table in ("filter", "nat", "mangle"):
        listing = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout
        chains = [line.split()[1] for line in listing.splitlines() if line.startswith("-N KUBE-")]
        for rule in (line for line in listing.splitlines() if line.startswith("-A ") and "KUBE-" in line):
            subprocess.run(["iptables", "-t", table, "-D", *rule.split()[1:]], capture_output=True, check=False)
        for flag in ("-F", "-X"):  # empty them all first: one may jump to another
            for chain in chains:
                subprocess.run(["iptables", "-t", table, flag, chain], capture_output=True, check=False)


def _remove_cgroups() -> None:
    for top in Path("/sys/fs/cgroup").glob("*/kubepods"):
        for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            folder.rmdir()
        top.rmdir()


def down(quiet: bool = False) -> None:
    data = _data_in_use()
    for name in ("kube-proxy", "kubelet"):
        _stop(name)
    if (BIN / "kube-proxy").exists():  # its Service rules (KUBE-* chains), before anything else goes
        subprocess.run([str(BIN / "kube-proxy"), "--cleanup"], capture_output=True, check=False)
    _remove_kube_chains()
    _kill_containers()
    for name in ("containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
        _stop(name)
    # Shims left by a containerd that was killed rather than stopped.
    for pid in _shims():
        os.kill(int(pid), signal.SIGKILL)
    for point in sorted(_mounts_under(data, RUN), key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
    for netns in _netns():
        subprocess.run(["ip", "netns", "delete", netns.name], capture_output=True, check=False)
    subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
    _remove_cgroups()
    _restore_sysctls()
    if data.exists():
        shutil.rmtree(data, ignore_errors=True)
    if RUN.exists():
        shutil.rmtree(RUN)
    left = {kind: items for kind, items in leftovers().items() if items}
    if left:
        raise ClusterError(f"left behind after down: {json.dumps(left)}")
    if not quiet:
        print("cluster down: no process, mount, network namespace, bridge, rule or cgroup left", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            up()
        elif args.action == "down":
            down()
        else:
            print(json.dumps(leftovers(), indent=2))
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
