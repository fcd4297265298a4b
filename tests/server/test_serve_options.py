"""What `twin-server serve`'s options change, on one app built by the real command and driven in process.

The app runs the transformers engine in this process (a real model, seconds to start): none of
these options is about how tokens are generated, so the vLLM engine adds nothing here. The adapters
folder holds `alice` and two folders that must be skipped at start-up. No key is given: a loopback
server answers without one.
"""

from __future__ import annotations

import json
import logging
import shutil

import pytest
import uvicorn
from fastapi.testclient import TestClient
from openai import OpenAI
from typer.testing import CliRunner

from tests.conftest import ADAPTER_PERSONAS
from tests.support.tiers import slow_fixture
from wechat_twin.server.cli import app as server_app

MAX_BODY_BYTES = 4096
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
SECRET = "my-bank-pin-is-8841"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def server_log():
    logger = logging.getLogger("wechat_twin.server")
    records, level = _Records(), logger.level
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    yield records.lines
    logger.removeHandler(records)
    logger.setLevel(level)


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, adapters_dir):
    root = tmp_path_factory.mktemp("serve-options")
    shutil.copytree(adapters_dir / "alice", root / "alice")
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not an adapter")
    shutil.copytree(adapters_dir / "bob", root / "wrongbase")
    card = json.loads((root / "wrongbase" / "twin.json").read_text())
    (root / "wrongbase" / "twin.json").write_text(json.dumps({**card, "base_model": "Qwen2.5-7B-Instruct"}))
    return root


@pytest.fixture(scope="module")
@slow_fixture
def app(embedded_model, adapters, server_log):
    started: dict = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TWIN_API_KEYS", raising=False)
        patch.delenv("TWIN_ADMIN_KEYS", raising=False)
        patch.setattr(uvicorn, "run", lambda application, **kwargs: started.update(app=application))
        result = CliRunner().invoke(
            server_app,
            [
                "serve",
                "--model",
                str(embedded_model),
                "--served-name",
                "SmolLM2-135M-Instruct",
                "--adapters",
                str(adapters),
                "--engine",
                "transformers",
                "--dtype",
                "float32",
                "--max-model-len",
                "1024",
                "--max-lora-rank",
                "8",
                "--persona-override",
                "--log-message-text",
                "--max-body-bytes",
                str(MAX_BODY_BYTES),
            ],
        )
    assert result.exit_code == 0, result.output
    with TestClient(started["app"], base_url="http://127.0.0.1") as client:
        yield client


def _chat(app, messages: list[dict], **fields) -> dict:
    response = app.post(
        "/v1/chat/completions",
        json={"model": "alice", "messages": messages, "max_tokens": 8, "temperature": 0, **fields},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_folders_that_are_not_loras_for_this_base_are_skipped_at_start_up(app, server_log):
    assert [m["id"] for m in app.get("/v1/models").json()["data"]] == ["SmolLM2-135M-Instruct", "alice"]
    skipped = [line for line in server_log if line.startswith("adapter skipped: ")]
    assert len(skipped) == 2, skipped
    assert skipped[0].startswith("adapter skipped: notes: ") and "adapter_config.json" in skipped[0]
    assert skipped[1].startswith("adapter skipped: wrongbase: ") and "Qwen2.5-7B-Instruct" in skipped[1]


def test_persona_override_replaces_the_clients_system_prompt(app, tokenizer):
    persona = [{"role": "system", "content": ADAPTER_PERSONAS["alice"]}, *QUESTION]
    brief = [{"role": "system", "content": "Be brief."}, *QUESTION]
    with_persona, with_brief = _chat(app, persona), _chat(app, brief)
    assert with_brief["usage"] == with_persona["usage"]
    assert with_brief["choices"] == with_persona["choices"]
    template = tokenizer.apply_chat_template(persona, add_generation_prompt=True, return_dict=False)
    assert with_persona["usage"]["prompt_tokens"] == len(template)
    assert len(tokenizer.apply_chat_template(brief, add_generation_prompt=True, return_dict=False)) != len(template)


def test_log_message_text_logs_what_was_said(app, server_log):
    reply = _chat(app, [{"role": "user", "content": SECRET}], max_tokens=2)
    request_id = reply["id"].removeprefix("chatcmpl-")
    assert any(line.startswith(f"request {request_id} messages=") and SECRET in line for line in server_log)


def test_a_loopback_server_without_keys_answers_without_authorization(app):
    assert "authorization" not in app.headers
    assert _chat(app, QUESTION)["choices"][0]["message"]["content"]
    sdk = OpenAI(base_url="http://127.0.0.1/v1", api_key="none-needed-on-loopback", http_client=app, max_retries=0)
    reply = sdk.chat.completions.create(model="alice", messages=QUESTION, max_tokens=4, temperature=0)
    assert reply.usage.completion_tokens == 4


def _too_large(response) -> bool:
    return response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_max_body_bytes_sets_the_limit_with_or_without_content_length(app):
    padding = "x" * MAX_BODY_BYTES
    big = json.dumps({"model": "alice", "messages": [{"role": "user", "content": padding}]}).encode()
    headers = {"content-type": "application/json"}
    assert _too_large(app.post("/v1/chat/completions", content=big, headers=headers))
    chunked = app.post("/v1/chat/completions", content=iter([big[:1000], big[1000:]]), headers=headers)
    assert _too_large(chunked), chunked.text
    small = json.dumps({"model": "alice", "messages": QUESTION, "max_tokens": 2}).encode()
    assert len(small) < MAX_BODY_BYTES
    assert app.post("/v1/chat/completions", content=iter([small]), headers=headers).status_code == 200
