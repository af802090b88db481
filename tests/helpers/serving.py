"""Helpers for API tests: settings for a registry, a real uvicorn server, version clones."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import uvicorn

from sentiops.config import Settings
from sentiops.registry import Registry
from sentiops.version import CHECKSUMS_FILE
from tests.helpers.data import REPO


def make_settings(registry_dir: Path, **overrides) -> Settings:
    # No second labeller by default: prediction ids are random, so which items need one would vary
    # from run to run (tests/labelling/test_agreement.py sets the share it tests).
    values = {
        "home": registry_dir.parent / "home",
        "registry_dir": registry_dir,
        "reload_poll_seconds": 0.2,
        "label_overlap_share": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


def clone_version(registry: Registry, source: str, edit: Callable[[Path], None] | None = None) -> str:
    """Publish a byte-for-byte copy of a version under the next number (a 'new' model); `edit`
    may change the copy's files before it is checksummed and published."""
    with registry.new_version() as pending:
        for file in registry.path(source).rglob("*"):
            if file.is_file() and file.name != CHECKSUMS_FILE:
                target = pending.path / file.relative_to(registry.path(source))
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(file, target)
        if edit is not None:
            edit(pending.path)
    return pending.number


def wait_ready(client, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("service never became ready")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """Run the app under a real uvicorn server on a loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=base) as client:
            wait_ready(client)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for(condition, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def start_serve(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sentiops.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def is_ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def metric_value(client, sample: str) -> float:
    """One sample of the service's /metrics (by its name and labels as printed), 0 when absent."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(sample):
            return float(line.split()[-1])
    return 0.0
