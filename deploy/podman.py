"""Podman as this project uses it on a machine without a container engine or a registry.

Everything podman keeps (configuration, image store, run state) lives under `var/podman/` in
the clone, so nothing outside it is cached and `rm -rf var/podman` starts from nothing. The
settings follow what works on hosts with hybrid cgroups, where the default runtime (crun) cannot
set rlimits: runc, cgroupfs, explicit ulimits read from this host's hard limit.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "var" / "podman"
APT_PACKAGES = ["podman", "buildah", "runc", "fuse-overlayfs", "uidmap", "slirp4netns", "debootstrap"]


class PodmanError(RuntimeError):
    pass


@functools.cache
def environment() -> dict[str, str]:
    """Environment variables that point podman at this clone's configuration and store (the
    files are written once per process; every podman call reuses them)."""
    STATE.mkdir(parents=True, exist_ok=True)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 1_048_576 if nofile == resource.RLIM_INFINITY else nofile
    containers_conf = STATE / "containers.conf"
    containers_conf.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc=32768:32768"]\n'
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        'runtime = "runc"\n'
    )
    storage_conf = STATE / "storage.conf"
    storage_conf.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{STATE / "storage"}"\nrunroot = "{STATE / "run"}"\n'
    )
    return {**os.environ, "CONTAINERS_CONF": str(containers_conf), "CONTAINERS_STORAGE_CONF": str(storage_conf)}


def ensure_installed() -> None:
    """Install podman and its helpers from the distribution when they are missing (CI machines)."""
    if shutil.which("podman") and shutil.which("debootstrap"):
        return
    if os.geteuid() != 0:
        raise PodmanError(f"podman is not installed; install: apt-get install {' '.join(APT_PACKAGES)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", *APT_PACKAGES], check=True, env=env, stdout=subprocess.DEVNULL)


def podman(*args: str, check: bool = True, capture: bool = False, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["podman", *args], env=environment(), text=True, capture_output=capture, check=False, **kwargs
    )
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip()[-2000:] if capture else ""
        raise PodmanError(f"podman {' '.join(args[:3])} ... exited {result.returncode}: {detail}")
    return result


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0
