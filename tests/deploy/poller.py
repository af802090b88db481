"""Runs in a pod of the real-cluster test: polls /predict through the Service's cluster IP (the
variables Kubernetes sets for a Service), a new connection per request, and prints its running
counts as one JSON line a second. The token comes from the API callers' Secret, mounted."""

import json
import os
import time
import urllib.request

url = f"http://{os.environ['SENTIOPS_API_SERVICE_HOST']}:{os.environ['SENTIOPS_API_SERVICE_PORT']}/predict"
with open("/token/token") as file:
    headers = {"Authorization": "Bearer " + file.read(), "Content-Type": "application/json"}
ok = failed = 0
errors: list[str] = []
last = 0.0
while True:
    try:
        request = urllib.request.Request(url, json.dumps({"text": "still answering?"}).encode(), headers)
        with urllib.request.urlopen(request, timeout=10) as answer:
            ok += answer.status == 200
    except Exception as error:  # noqa: BLE001 (every failure counts, whatever it is)
        failed += 1
        errors.append(repr(error)[:200])
    if time.monotonic() - last > 1:
        last = time.monotonic()
        print(json.dumps({"ok": ok, "failed": failed, "errors": errors[-5:]}), flush=True)
    time.sleep(0.05)
