"""Property-based fuzzing of every route from the OpenAPI schema (schemathesis on a live server):
no 5xx, and every response matches the schema it declares."""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from sentiops.config import Settings
from sentiops.serving.app import create_app
from tests.helpers.serving import live_server, make_settings

# The schema the app publishes at /openapi.json (it needs no model to be built).
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, _trained_registry):
    registry = tmp_path_factory.mktemp("fuzz") / "registry"
    shutil.copytree(_trained_registry, registry)
    with live_server(create_app(make_settings(registry, api_token="fuzz-token-123"))) as base:
        yield base


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case, base_url):
    # With and without the token, so both the auth refusals and the real work are fuzzed.
    for headers in ({"authorization": "Bearer fuzz-token-123"}, {}):
        case.call_and_validate(
            base_url=base_url, headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )
