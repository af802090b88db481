"""Calls a running sentiops through the Open Inference Protocol with two real clients no one here
wrote: Triton's `tritonclient.http` and the kserve SDK's `InferenceRESTClient`. Run by
tests/serving/test_oip.py with var/tools/oip-clients/bin/python (their own environment, `make
tools`), it prints one JSON object: what each client got, or the error each raised.

    python oip_clients.py BASE_URL TOKEN MODEL VERSION
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
import tritonclient.http as triton
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from tritonclient.utils import InferenceServerException

TWEETS = ["i love this so much, best day ever", "worst day ever, i hate it", "the bus leaves at nine"]


def _caught(call) -> dict[str, Any]:
    try:
        return {"ok": call()}
    except InferenceServerException as exc:
        return {"status": exc.status(), "message": exc.message()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value  # binary answers are bytes, JSON ones str


def _triton_infer(client, model: str, texts: list[str], headers, binary: bool, version: str = "", **kw):
    text = triton.InferInput("text", [len(texts)], "BYTES")
    text.set_data_from_numpy(np.array([t.encode() for t in texts], dtype=np.object_), binary_data=binary)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("label", "scores", "prediction_id")]
    # A copy: tritonclient writes Inference-Header-Content-Length into the dict it is given.
    result = client.infer(model, [text], model_version=version, outputs=outputs, headers=dict(headers), **kw)
    return {
        "labels": [_text(x) for x in result.as_numpy("label")],
        "scores": result.as_numpy("scores").tolist(),
        "prediction_ids": [_text(x) for x in result.as_numpy("prediction_id")],
        "response": result.get_response(),
    }


def triton_calls(base: str, token: str, model: str, version: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    client = triton.InferenceServerClient(base.removeprefix("http://"))
    out: dict[str, Any] = {
        "live": client.is_server_live(headers=headers),
        "ready": client.is_server_ready(headers=headers),
        "model_ready": client.is_model_ready(model, headers=headers),
        "server_metadata": client.get_server_metadata(headers=headers),
        "metadata": client.get_model_metadata(model, headers=headers),
        "one_json": _triton_infer(client, model, TWEETS[:1], headers, binary=False),
        "batch_binary": _triton_infer(client, model, TWEETS, headers, binary=True),
        "pinned": _triton_infer(client, model, TWEETS[:1], headers, binary=True, version=version),
        # The client's default: no outputs named, every output back in binary.
        "default_outputs": _caught(
            lambda: {
                name: client.infer(model, [_default_input()], headers=dict(headers)).as_numpy(name).tolist()
                for name in ("confidence",)
            }
        ),
        "view_binary": _caught(
            lambda: _triton_infer(client, model, TWEETS[2:], headers, binary=True, parameters={"view": "binary"})
        ),
        "no_token": _caught(lambda: _triton_infer(client, model, TWEETS[:1], {}, binary=False)),
        "unknown_model": _caught(lambda: _triton_infer(client, "gpt", TWEETS[:1], headers, binary=False)),
        "unknown_version": _caught(lambda: _triton_infer(client, model, TWEETS[:1], headers, False, version="999")),
        "unknown_model_metadata": _caught(lambda: client.get_model_metadata("gpt", headers=headers)),
    }
    wrong = triton.InferInput("text", [2], "FP32")
    wrong.set_data_from_numpy(np.array([1.0, 2.0], dtype=np.float32), binary_data=False)
    out["wrong_datatype"] = _caught(lambda: client.infer(model, [wrong], headers=dict(headers)).get_response())
    out["too_many"] = _caught(lambda: _triton_infer(client, model, ["a tweet"] * 300, headers, binary=True))
    client.close()
    return out


def _default_input():
    text = triton.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([TWEETS[0].encode()], dtype=np.object_))
    return text


async def kserve_calls(base: str, token: str, model: str, version: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))

    async def infer(texts: list[str], shape: list[int] | None = None, name: str = model, datatype: str = "BYTES"):
        request = InferRequest(
            model_name=name,
            infer_inputs=[InferInput("text", shape or [len(texts)], datatype, data=texts)],
        )
        try:
            response = await client.infer(base, request, model_name=name, headers=headers)
        except Exception as exc:  # httpx.HTTPStatusError: the status and the server's error text
            status = getattr(getattr(exc, "response", None), "status_code", None)
            return {"status": status, "message": str(exc)}
        outputs = {o.name: o.data for o in response.outputs}
        return {"ok": {"model_version": response.model_version, "outputs": outputs}}

    out = {
        "live": await client.is_server_live(base, headers=headers),
        "ready": await client.is_server_ready(base, headers=headers),
        "model_ready": await client.is_model_ready(base, model, headers=headers),
        "unknown_model_ready": await client.is_model_ready(base, "gpt", headers=headers),
        "one": await infer(TWEETS[:1]),
        "batch": await infer(TWEETS),
        "shape_mismatch": await infer(TWEETS, shape=[5]),
        "unknown_model": await infer(TWEETS[:1], name="gpt"),
        "empty_text": await infer([""]),
        "oversized_text": await infer(["x" * 5000]),
    }
    await client.close()
    return out


def main() -> None:
    base, token, model, version = sys.argv[1:5]
    results = {
        "triton": triton_calls(base, token, model, version),
        "kserve": asyncio.run(kserve_calls(base, token, model, version)),
    }
    print(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
