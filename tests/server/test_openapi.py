"""The OpenAPI document describes the server as it answers; a schema-driven fuzzer finds no mismatch on /v1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.inprocess_server import serve_fake
from wechat_twin.server.config import ServerSettings

KEY = "openapi-key"
# Schema-valid requests may still get a documented 400 for what a schema cannot say (no user message,
# an adapter folder that does not exist): schemathesis must accept those, every other check stays on.
SCHEMATHESIS_CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "404", "429"]
"""


@pytest.fixture(scope="module")
def server(embedded_model, adapters_dir):
    settings = ServerSettings(adapters_dir=adapters_dir, admin_keys=[KEY], max_pending_requests=64)  # one key: admin
    with serve_fake(settings) as running:
        yield running


def test_every_route_documents_its_error_statuses_in_openais_shape(server):
    schema = httpx.get(f"{server.root_url}/openapi.json").json()
    expected = {
        ("/v1/chat/completions", "post"): {"400", "401", "404", "413", "429", "500", "503", "504"},
        ("/v1/completions", "post"): {"400", "401", "404", "413", "429", "500", "503", "504"},
        ("/v1/models", "get"): {"401", "500"},
        ("/v1/load_lora_adapter", "post"): {"400", "401", "404", "413", "500"},
        ("/v1/promote_adapter", "post"): {"400", "401", "404", "413", "500"},
        ("/v1/rollback_adapter", "post"): {"400", "401", "404", "413", "500"},
    }
    for (path, method), statuses in expected.items():
        responses = schema["paths"][path][method]["responses"]
        assert "422" not in responses, f"{path} documents a 422 it never returns"
        assert statuses <= set(responses), f"{path} lacks {statuses - set(responses)}"
        for status in statuses:
            ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorResponse"), (path, status, ref)
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["properties"]) == {"message", "type", "param", "code"}


def test_the_constraints_the_server_enforces_are_in_the_schema(server):
    schemas = httpx.get(f"{server.root_url}/openapi.json").json()["components"]["schemas"]
    chat = schemas["ChatCompletionRequest"]["properties"]
    temperature = next(s for s in chat["temperature"]["anyOf"] if s.get("type") == "number")
    assert (temperature["minimum"], temperature["maximum"]) == (0, 2)
    assert (chat["n"]["minimum"], chat["n"]["maximum"]) == (1, 8)
    assert next(s for s in chat["stop"]["anyOf"] if s.get("type") == "array")["maxItems"] == 4
    assert chat["messages"]["minItems"] == 1
    role = schemas["ChatMessageIn"]["properties"]["role"]
    assert set(role["enum"]) == {"system", "developer", "user", "assistant"}


def test_schemathesis_with_all_checks_finds_nothing_on_v1(server, tmp_path: Path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    st = Path(sys.executable).parent / "st"
    cache_existed = (Path.cwd() / ".schemathesis").exists()
    result = subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "run",
            f"{server.root_url}/openapi.json",
            "--checks",
            "all",
            "--include-path-regex",
            "^/v1",
            "-H",
            f"Authorization: Bearer {KEY}",
            "--max-examples",
            "60",
            "--seed",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # its .schemathesis/ cache lands here
    )
    assert cache_existed or not (Path.cwd() / ".schemathesis").exists(), "its cache stays out of the checkout"
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
