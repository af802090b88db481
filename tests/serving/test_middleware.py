"""The pure-ASGI middleware on a bare ASGI app: body cap, request ids, page headers."""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sentiops.serving.middleware import PageHeaders, RequestMiddleware

calls: list[int] = []


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    calls.append(len(body))
    return JSONResponse({"bytes": len(body), "text": body.decode()})


def _client(max_body_bytes: int = 100) -> TestClient:
    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    return TestClient(RequestMiddleware(app, max_body_bytes=max_body_bytes))


def test_a_body_under_the_cap_reaches_the_app_intact():
    response = _client().post("/echo", content=b"x" * 100)
    assert response.status_code == 200
    assert response.json() == {"bytes": 100, "text": "x" * 100}


def test_a_body_over_the_cap_is_refused_before_the_app_sees_it():
    calls.clear()
    response = _client().post("/echo", content=b"x" * 101)
    assert response.status_code == 413
    assert "100 bytes" in response.json()["detail"]
    assert calls == []
    assert response.headers["x-request-id"]


def test_a_safe_request_id_is_echoed_and_an_unsafe_one_replaced():
    client = _client()
    assert client.post("/echo", content=b"{}", headers={"x-request-id": "abc-123.X_y"}).headers["x-request-id"] == (
        "abc-123.X_y"
    )
    replaced = client.post("/echo", content=b"{}", headers={"x-request-id": "bad id\r\ninjected"})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    # `$` also matches before a final newline: the whole id must match, newline or not
    trailing = client.post("/echo", content=b"{}", headers={"x-request-id": "abc\n"})
    assert re.fullmatch(r"[0-9a-f]{32}", trailing.headers["x-request-id"])
    generated = client.post("/echo", content=b"{}")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])


def test_page_headers_go_on_pages_under_the_prefix_only_and_replace_the_apps_own():
    async def page(request: Request) -> JSONResponse:
        return JSONResponse({}, headers={"X-Frame-Options": "SAMEORIGIN"})

    app = Starlette(routes=[Route("/ui/page", page), Route("/predict", page)])
    client = TestClient(PageHeaders(app, "/ui", {"X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}))
    ui = client.get("/ui/page")
    assert ui.headers.get_list("x-frame-options") == ["DENY"] and ui.headers["referrer-policy"] == "same-origin"
    api = client.get("/predict")
    assert api.headers.get_list("x-frame-options") == ["SAMEORIGIN"] and "referrer-policy" not in api.headers
