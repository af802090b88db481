"""The Open Inference Protocol (KServe's V2 REST protocol, spoken by Triton, MLServer, Seldon Core 2)
beside /predict: same micro-batcher, auth, limits, prediction log and live trial.

    GET  /v2                                   server metadata
    GET  /v2/health/live, /v2/health/ready     open, like /healthz and /readyz
    GET  /v2/models/{name}[/versions/{v}]      model metadata: input `text` (BYTES), outputs
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer

One model, named SENTIOPS_OIP_MODEL_NAME ("sentiops"); its one served version is production's.
Without a version a request takes part in the live trial (a canary caller may get staging's
answer, `model_version` says which); naming a version pins production's and never a canary.
Errors are the protocol's shape, `{"error": "..."}`: 400 for a bad request, 404 for an unknown model
or version, 401 / 413 / 503 as on /predict. Triton's binary tensor extension is spoken both ways
(tritonclient uses it by default): `Inference-Header-Content-Length` splits the JSON header from the
raw tensors. Spec: https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from sentiops import __version__
from sentiops.inference import Predictor
from sentiops.serving.batcher import NoModelError, Overloaded
from sentiops.serving.deps import ServiceState, predict_auth, service_of
from sentiops.serving.routes import check_text, predict_texts
from sentiops.serving.schemas import View

HEADER_LENGTH = "inference-header-content-length"  # Triton's binary tensor data extension
INPUT = "text"
OUTPUTS = ("label", "confidence", "scores", "prediction_id")
VIEWS: tuple[View, ...] = ("model", "binary", "three-class")


class ProtocolError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class ProtocolRoute(APIRoute):
    """Every error of a /v2 route, its dependencies' (auth) included, in the protocol's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ProtocolError as exc:
                return _error(exc.status, str(exc))
            except HTTPException as exc:
                status = 400 if exc.status_code == 422 else exc.status_code
                return _error(status, str(exc.detail), dict(exc.headers or {}))
            except RequestValidationError as exc:
                return _error(400, "; ".join(str(e.get("msg")) for e in exc.errors()[:5]))
            except Overloaded as exc:
                service_of(request).metrics.overloaded.inc()
                return _error(503, str(exc), {"Retry-After": str(exc.retry_after)})
            except NoModelError as exc:
                return _error(503, str(exc))

        return handle


health = APIRouter(prefix="/v2", route_class=ProtocolRoute, tags=["open inference protocol"])
protocol = APIRouter(
    prefix="/v2", route_class=ProtocolRoute, dependencies=[Depends(predict_auth)], tags=["open inference protocol"]
)


@health.get("/health/live")
async def live(request: Request) -> dict[str, bool]:
    """Live: the process serves requests and its model poller runs (as /healthz)."""
    problem = service_of(request).not_live()
    if problem is not None:
        raise ProtocolError(503, problem)
    return {"live": True}


@health.get("/health/ready")
async def ready(request: Request) -> dict[str, bool]:
    """Ready: a model is loaded and the tokens can be read (as /readyz); 503 otherwise."""
    problem = service_of(request).not_ready()
    if problem is not None:
        raise ProtocolError(503, problem[1])
    return {"ready": True}


@protocol.get("")
async def server_metadata(request: Request) -> dict[str, Any]:
    return {"name": "sentiops", "version": __version__, "extensions": ["binary_tensor_data"]}


def _served(s: ServiceState, name: str, version: str | None) -> Predictor:
    """Production's predictor when `name` (and `version`, if given) are what this server serves."""
    expected = s.settings.oip_model_name
    if name != expected:
        raise ProtocolError(404, f"unknown model {name!r}; this server serves {expected!r}")
    predictor = s.manager.current()
    if predictor is None:
        raise ProtocolError(503, "no model is loaded yet")
    if version is not None and version != predictor.version:
        raise ProtocolError(
            404, f"version {version!r} of {name!r} is not served here; the served version is {predictor.version!r}"
        )
    return predictor


def _metadata(s: ServiceState, predictor: Predictor) -> dict[str, Any]:
    classes = list(predictor.labels)
    return {
        "name": s.settings.oip_model_name,
        "versions": [predictor.version],
        "platform": f"sentiops/{predictor.backend}",
        "inputs": [{"name": INPUT, "datatype": "BYTES", "shape": [-1]}],
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "confidence", "datatype": "FP32", "shape": [-1]},
            {"name": "scores", "datatype": "FP32", "shape": [-1, len(classes)]},
            {"name": "prediction_id", "datatype": "BYTES", "shape": [-1]},
        ],
        # Not in the protocol's fixed fields: what a client needs to read `scores` and to send labels back.
        "parameters": {"classes": classes, "card": "/model/card", "feedback": "/feedback"},
    }


@protocol.get("/models/{name}")
async def model_metadata(name: str, request: Request) -> dict[str, Any]:
    s = service_of(request)
    return _metadata(s, _served(s, name, None))


@protocol.get("/models/{name}/versions/{version}")
async def version_metadata(name: str, version: str, request: Request) -> dict[str, Any]:
    s = service_of(request)
    return _metadata(s, _served(s, name, version))


@protocol.get("/models/{name}/ready")
async def model_ready(name: str, request: Request) -> dict[str, Any]:
    predictor = _served(service_of(request), name, None)
    return {"name": name, "ready": True, "version": predictor.version}


@protocol.get("/models/{name}/versions/{version}/ready")
async def version_ready(name: str, version: str, request: Request) -> dict[str, Any]:
    _served(service_of(request), name, version)
    return {"name": name, "ready": True, "version": version}


@protocol.post("/models/{name}/infer")
async def infer(name: str, request: Request) -> Response:
    s = service_of(request)
    _served(s, name, None)
    return await _infer(s, request, None)


@protocol.post("/models/{name}/versions/{version}/infer")
async def version_infer(name: str, version: str, request: Request) -> Response:
    s = service_of(request)
    return await _infer(s, request, _served(s, name, version))


# -- an inference request -------------------------------------------------------------------------
async def _infer(s: ServiceState, request: Request, pinned: Predictor | None) -> Response:
    body = await request.body()
    header, tensors = _split(body, request.headers.get(HEADER_LENGTH))
    texts = _texts(header, tensors, s.settings.max_batch_texts, s.settings.max_text_chars)
    wanted = _wanted_outputs(header)
    parameters = header.get("parameters") or {}
    view = parameters.get("view")
    if view is not None and view not in VIEWS:
        raise ProtocolError(400, f"parameter view {view!r}; expected one of {', '.join(VIEWS)}")
    answers, version = await predict_texts(s, request, texts, view, pinned)
    classes = list(answers[0].scores)
    columns: dict[str, tuple[str, list[int], list[Any]]] = {
        "label": ("BYTES", [len(texts)], [a.label for a in answers]),
        "confidence": ("FP32", [len(texts)], [a.confidence for a in answers]),
        "scores": ("FP32", [len(texts), len(classes)], [[a.scores[c] for c in classes] for a in answers]),
        "prediction_id": ("BYTES", [len(texts)], [a.prediction_id for a in answers]),
    }
    outputs, raw = [], []
    for output, binary in wanted or [(o, bool(parameters.get("binary_data_output"))) for o in OUTPUTS]:
        datatype, shape, data = columns[output]
        tensor: dict[str, Any] = {"name": output, "datatype": datatype, "shape": shape}
        if output == "scores":
            tensor["parameters"] = {"classes": classes}
        if binary:
            encoded = _encode(datatype, data)
            tensor.setdefault("parameters", {})["binary_data_size"] = len(encoded)
            raw.append(encoded)
        else:
            tensor["data"] = [x for row in data for x in row] if output == "scores" else data
        outputs.append(tensor)
    reply = {
        "model_name": s.settings.oip_model_name,
        "model_version": version,
        "id": str(header.get("id") or getattr(request.state, "request_id", "")),
        "outputs": outputs,
    }
    encoded_reply = json.dumps(reply).encode()
    if not raw:
        return Response(encoded_reply, media_type="application/json")
    return Response(
        encoded_reply + b"".join(raw),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(encoded_reply))},
    )


def _split(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The JSON inference header and the binary tensors after it (empty without the extension)."""
    if header_length is None:
        json_part, tensors = body, b""
    else:
        try:
            length = int(header_length)
        except ValueError:
            raise ProtocolError(400, f"Inference-Header-Content-Length {header_length!r} is not a number") from None
        if not 0 < length <= len(body):
            raise ProtocolError(400, f"Inference-Header-Content-Length {length} does not fit a {len(body)}-byte body")
        json_part, tensors = body[:length], body[length:]
    try:
        header = json.loads(json_part)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(400, f"the inference request is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(400, "the inference request must be a JSON object")
    return header, tensors


def _texts(header: dict[str, Any], tensors: bytes, max_texts: int, max_chars: int) -> list[str]:
    inputs = header.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ProtocolError(400, f"expected one input, {INPUT!r} (BYTES, shape [n])")
    tensor = inputs[0]
    if tensor.get("name") != INPUT:
        raise ProtocolError(400, f"unexpected input {tensor.get('name')!r}; the model's input is {INPUT!r}")
    if tensor.get("datatype") != "BYTES":
        raise ProtocolError(400, f"input {INPUT!r} has datatype {tensor.get('datatype')!r}; expected BYTES")
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ProtocolError(400, f"input {INPUT!r}: shape must be a list of sizes, got {shape!r}")
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise ProtocolError(400, f"input {INPUT!r}: shape {shape} is not [n] or [n, 1]")
    count = int(np.prod(shape))
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if "data" in tensor or not isinstance(size, int) or size != len(tensors):
            raise ProtocolError(400, f"input {INPUT!r}: binary_data_size {size!r} but {len(tensors)} bytes follow")
        texts = _decode_bytes(tensors)
    else:
        data = tensor.get("data")
        if not isinstance(data, list):
            raise ProtocolError(400, f"input {INPUT!r} has no data")
        texts = [x for row in data for x in (row if isinstance(row, list) else [row])]
        if not all(isinstance(x, str) for x in texts):
            raise ProtocolError(400, f"input {INPUT!r}: every element must be a string (BYTES)")
    if len(texts) != count:
        raise ProtocolError(400, f"input {INPUT!r}: shape {shape} holds {count} elements but data has {len(texts)}")
    if not texts:
        raise ProtocolError(400, f"input {INPUT!r} is empty")
    if len(texts) > max_texts:
        raise ProtocolError(400, f"input {INPUT!r} has {len(texts)} texts; the limit is {max_texts}")
    for i, text in enumerate(texts):
        check_text(text, max_chars, where=f"{INPUT}[{i}]")
    return texts


def _wanted_outputs(header: dict[str, Any]) -> list[tuple[str, bool]]:
    """(name, binary) of each requested output; empty: all of them."""
    requested = header.get("outputs")
    if requested is None:
        return []
    if not isinstance(requested, list):
        raise ProtocolError(400, "outputs must be a list")
    wanted = []
    for output in requested:
        name = output.get("name") if isinstance(output, dict) else None
        if name not in OUTPUTS:
            raise ProtocolError(400, f"unknown output {name!r}; the model has {', '.join(OUTPUTS)}")
        wanted.append((name, bool((output.get("parameters") or {}).get("binary_data"))))
    return wanted


def _decode_bytes(raw: bytes) -> list[str]:
    """BYTES elements in the binary extension: each a 4-byte little-endian length, then its bytes."""
    texts: list[str] = []
    at = 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise ProtocolError(400, f"input {INPUT!r}: binary data ends inside an element's length")
        (length,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + length > len(raw):
            raise ProtocolError(400, f"input {INPUT!r}: binary element {len(texts)} runs past the data")
        try:
            texts.append(raw[at : at + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(400, f"input {INPUT!r}: element {len(texts)} is not UTF-8 text") from None
        at += length
    return texts


def _encode(datatype: str, data: list[Any]) -> bytes:
    if datatype == "FP32":
        return np.asarray(data, dtype="<f4").tobytes()
    encoded = [str(x).encode() for x in data]
    return b"".join(struct.pack("<I", len(e)) + e for e in encoded)
