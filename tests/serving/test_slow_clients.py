"""Slow and idle clients cannot exhaust the API: connections are bounded (a fast 503 past the
bound) and memory stays far under the pod's limit."""

from __future__ import annotations

import signal
import time

import httpx

from tests.helpers.serving import free_port, is_ready, start_serve, wait_for


def test_two_hundred_slow_clients_stay_bounded(tmp_path, serve_env):
    import socket

    import psutil

    env = {**serve_env, "SENTIOPS_MAX_CONNECTIONS": "64", "SENTIOPS_KEEP_ALIVE_SECONDS": "2"}
    port = free_port()
    server = start_serve(env, port)
    base = f"http://127.0.0.1:{port}"
    sockets = []
    try:
        wait_for(lambda: is_ready(base), timeout=60)
        before = psutil.Process(server.pid).memory_info().rss
        for _ in range(200):  # each sends half a request and then nothing
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"text": "')
            sockets.append(sock)
        time.sleep(1)
        rss = psutil.Process(server.pid).memory_info().rss
        assert rss < 1024 * 2**20 and rss - before < 100 * 2**20, (before, rss)  # the pod's limit is 1 GiB
        started = time.perf_counter()
        refused = httpx.post(f"{base}/predict", json={"text": "still answering?"}, timeout=10)
        assert refused.status_code == 503 and time.perf_counter() - started < 2  # past the bound: fast 503
        for sock in sockets:
            sock.close()
        sockets.clear()
        wait_for(lambda: httpx.post(f"{base}/predict", json={"text": "again"}, timeout=10).status_code == 200)
    finally:
        for sock in sockets:
            sock.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
