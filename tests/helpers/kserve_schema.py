"""Checks KServe manifests against the kserve SDK's schema (its generated models, made from KServe's
OpenAPI spec; Kubernetes' own types from the kubernetes client it depends on): every field must be
one the schema has, of its type, and every required field present. Run by tests/deploy/test_deploy.py
with var/tools/oip-clients/bin/python; prints one problem per line, exits 1 if there is any.

    python kserve_schema.py MANIFEST.yaml
"""

from __future__ import annotations

import re
import sys
from typing import Any

import kserve
import kubernetes.client
import yaml

KINDS = {"InferenceService": "V1beta1InferenceService", "ServingRuntime": "V1alpha1ServingRuntime"}
SCALARS = {"str": str, "int": int, "bool": bool, "float": (int, float)}


def model_class(name: str) -> type | None:
    return getattr(kserve, name, None) or getattr(kubernetes.client, name, None)


def check(value: Any, type_name: str, where: str, problems: list[str]) -> None:
    if type_name in ("object", "datetime"):
        return
    if type_name in SCALARS:
        if not isinstance(value, SCALARS[type_name]) or (type_name != "bool" and isinstance(value, bool)):
            problems.append(f"{where}: {value!r} is not {type_name}")
        return
    if match := re.fullmatch(r"[lL]ist\[(.+)\]", type_name):
        if not isinstance(value, list):
            problems.append(f"{where}: not a list")
            return
        for i, item in enumerate(value):
            check(item, match.group(1), f"{where}[{i}]", problems)
        return
    if match := re.fullmatch(r"(?:dict\(str, (.+)\)|Dict\[str, (.+)\])", type_name):
        if not isinstance(value, dict):
            problems.append(f"{where}: not a mapping")
            return
        for key, item in value.items():
            check(item, match.group(1) or match.group(2), f"{where}.{key}", problems)
        return
    cls = model_class(type_name)
    if cls is None:
        problems.append(f"{where}: the schema's type {type_name} is unknown to this checker")
        return
    if not isinstance(value, dict):
        problems.append(f"{where}: {type_name} must be a mapping")
        return
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            problems.append(f"{where}.{key}: no such field in {type_name}")
        else:
            check(item, cls.openapi_types[by_json[key]], f"{where}.{key}", problems)
    problems += [f"{where}.{name}: required by {type_name}, missing" for name in required_missing(value, cls)]


def required_missing(value: dict[str, Any], cls: type) -> list[str]:
    """Required fields: pydantic's (the kubernetes client's types) or, in the kserve SDK's generated
    classes, a setter that refuses None."""
    if hasattr(cls, "model_fields"):
        required = [cls.attribute_map[name] for name, field in cls.model_fields.items() if field.is_required()]
    else:
        empty, required = object.__new__(cls), []  # unbuilt: its constructor already refuses the missing
        empty.local_vars_configuration = kserve.Configuration()
        for attr, json_name in cls.attribute_map.items():
            try:
                setattr(empty, attr, None)
            except ValueError:
                required.append(json_name)
    return [name for name in required if name not in value]


def main() -> int:
    problems: list[str] = []
    with open(sys.argv[1]) as manifest:
        documents = list(yaml.safe_load_all(manifest))
    for document in documents:
        kind = document.get("kind")
        if kind not in KINDS:
            problems.append(f"kind {kind!r} is not a KServe kind this checks")
            continue
        check(document, KINDS[kind], kind, problems)
    print("\n".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
