"""The model poller survives every error, backs off, recovers when the fault clears, and liveness
fails if it ever stops."""

from __future__ import annotations

import errno

from fastapi.testclient import TestClient

from sentiops.registry import Registry
from sentiops.serving.app import create_app
from tests.helpers.serving import make_settings, metric_value, wait_for


def _failures(client) -> float:
    return metric_value(client, 'sentiops_model_reloads_total{result="failure"}')


def test_an_io_error_on_the_volume_is_retried_until_the_first_load_succeeds(registry_dir, monkeypatch):
    real = Registry.resolve
    calls = {"n": 0}

    def flaky(self, ref=None):
        calls["n"] += 1
        if calls["n"] <= 3:
            raise OSError(errno.EIO, "Input/output error")  # an NFS hiccup
        return real(self, ref)

    monkeypatch.setattr(Registry, "resolve", flaky)
    with TestClient(create_app(make_settings(registry_dir, reload_poll_seconds=0.05))) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        assert _failures(client) == 3
        assert client.get("/healthz").status_code == 200


def test_a_truncated_alias_file_is_survived_and_a_later_promotion_still_loads(registry_dir, registry):
    from tests.helpers.serving import clone_version

    with TestClient(create_app(make_settings(registry_dir, reload_poll_seconds=0.05))) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        good = registry.aliases_path.read_text()
        registry.aliases_path.write_text(good[: len(good) // 2])  # a torn copy, as a broken sync leaves
        wait_for(lambda: _failures(client) >= 1)
        version = clone_version(registry, "1")
        registry.aliases_path.write_text(good)
        registry.set_alias("production", version)
        wait_for(lambda: client.get("/model").json()["version"] == version)
        assert client.get("/healthz").status_code == 200


def test_liveness_fails_once_the_poller_has_stopped(registry_dir):
    with TestClient(create_app(make_settings(registry_dir, reload_poll_seconds=0.05))) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        state = client.app.state.sentiops
        client.portal.call(state.poller.cancel)
        wait_for(lambda: state.poller.done())
        response = client.get("/healthz")
        assert response.status_code == 503 and "poller" in response.json()["detail"]
