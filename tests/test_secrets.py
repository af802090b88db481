"""No secret value anywhere: a full scenario at DEBUG level, with Slack, a generic webhook, the API
and operator tokens and a labeller's password, grepped through every output, log line and file it
leaves behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import httpx

from tests.helpers.data import REPO, write_csv
from tests.helpers.serving import free_port
from tests.helpers.webhook_server import webhook_server

TOKEN = "SECRET-token-4711"
OPERATOR = "SECRET-operator-4712"
PASSWORD = "SECRET-labeller-pw-4713"
FOREIGN = [("0", f"𓀀𓀁 𓂀 ꙮ {i} ꙮ𓃰") for i in range(300)]  # drifts, so alerts are sent


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sentiops.cli", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_no_secret_in_any_output_log_or_file(tmp_path, registry_dir, prepared_data):
    data = tmp_path / "data"
    shutil.copytree(prepared_data, data)
    source = write_csv(tmp_path / "foreign.csv", FOREIGN)
    outputs: list[str] = []
    with webhook_server([500, 200]) as (slack_url, _):
        generic_url = slack_url.replace("SECRET-hook-token", "SECRET-generic-hook")
        secrets = ["SECRET-hook-token", "SECRET-generic-hook", TOKEN, OPERATOR, PASSWORD]
        accounts = tmp_path / "home" / "labellers"
        env = {
            **os.environ,
            "SENTIOPS_HOME": str(tmp_path / "home"),
            "SENTIOPS_DATA_DIR": str(data),
            "SENTIOPS_REGISTRY_DIR": str(registry_dir),
            "SENTIOPS_SLACK_WEBHOOK_URL": slack_url,
            "SENTIOPS_ALERT_WEBHOOK_URL": generic_url,
            "SENTIOPS_API_TOKEN": TOKEN,
            "SENTIOPS_ADMIN_TOKEN": OPERATOR,
            "SENTIOPS_LABELLERS_FILE": str(accounts),
            "SENTIOPS_LOG_LEVEL": "DEBUG",
            "SENTIOPS_ALERT_RETRIES": "1",
        }
        added = subprocess.run(
            [sys.executable, "-m", "sentiops.cli", "labellers", "add", "ada", "--password-stdin"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            input=PASSWORD + "\n",
            timeout=60,
        )
        assert added.returncode == 0, added.stderr
        outputs.append(added.stdout + added.stderr)
        for args in (
            ["batch", "run", "--input", str(source), "--date", "2026-09-01"],
            ["drift", "check", "--results", "2026-09-01", "--json"],
            ["drift", "report", "--date", "2026-09-01"],
            ["retrain", "--max-examples", "300", "--policy", "staging"],
            ["models", "list"],
        ):
            done = _cli({**env, "SENTIOPS_LOG_JSON": "1"}, *args)
            outputs.append(done.stdout + done.stderr)
        broken = {**env, "SENTIOPS_SLACK_WEBHOOK_URL": slack_url.replace(slack_url.split("/")[2], "127.0.0.1:9")}
        done = _cli(broken, "drift", "check", "--results", "2026-09-01")  # connection refused: error texts
        outputs.append(done.stdout + done.stderr)

        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "sentiops.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    if httpx.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            wrong = httpx.post(f"{base}/predict", json={"text": "hi"}, headers={"authorization": "Bearer nope"})
            right = httpx.post(f"{base}/predict", json={"text": "hi"}, headers={"authorization": f"Bearer {TOKEN}"})
            admin = httpx.post(f"{base}/admin/reload", headers={"authorization": f"Bearer {OPERATOR}x"})
            operator = httpx.post(f"{base}/admin/reload", headers={"authorization": f"Bearer {OPERATOR}"})
            signed = httpx.post(f"{base}/ui/login", data={"name": "ada", "password": PASSWORD})
            refused = httpx.post(f"{base}/ui/login", data={"name": "ada", "password": PASSWORD + "x"})
            statuses = (wrong.status_code, right.status_code, admin.status_code, operator.status_code)
            assert statuses == (401, 200, 401, 200) and (signed.status_code, refused.status_code) == (303, 401)
            outputs += [wrong.text, right.text, admin.text, operator.text, signed.text, refused.text]
            outputs += [str(signed.headers), httpx.get(f"{base}/metrics").text]
        finally:
            server.terminate()
            outputs.append(server.communicate(timeout=30)[0])

    assert any("alert" in out for out in outputs)  # the scenario did send (and fail to send) alerts
    files = [p for p in (tmp_path / "home").rglob("*") if p.is_file()] + [
        p for p in registry_dir.rglob("*") if p.is_file() and p.suffix in {".json", ".jsonl", ".html", ".log"}
    ]
    texts = outputs + [p.read_bytes().decode("utf-8", "replace") for p in files]
    leaks = [(secret, i) for i, text in enumerate(texts) for secret in secrets if secret in text]
    assert leaks == []
