"""Per-request LoRA: adapters answer differently, load and unload at run time, and bad folders are refused."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from wechat_twin.names import ADAPTER_NAME_PATTERN

PROMPT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Tell me a short story about a cat."},
]


MODELS = ("SmolLM2-135M-Instruct", "alice", "bob")


def _reply(client, model: str, max_tokens: int = 24) -> str:
    out = client.chat.completions.create(model=model, messages=PROMPT, max_tokens=max_tokens, temperature=0)
    return out.choices[0].message.content


@pytest.fixture(scope="module")
def alone(client) -> dict[str, str]:
    """Each model's greedy reply to PROMPT, asked alone: computed once, the reference the tests below compare with
    (greedy decoding is deterministic, so asking again in each test would only repeat the same generation)."""
    return {model: _reply(client, model) for model in MODELS}


def test_base_and_each_adapter_answer_differently(alone):
    assert len(set(alone.values())) == 3, alone


def test_models_lists_base_and_adapters_with_parent(http, twin_server):
    listing = http.get("/v1/models").json()
    assert listing["object"] == "list"
    by_id = {m["id"]: m for m in listing["data"]}
    assert by_id[twin_server.base_name]["parent"] is None
    for name in ("alice", "bob"):
        assert by_id[name]["parent"] == twin_server.base_name
        assert by_id[name]["object"] == "model"
    assert by_id["gpt-3.5-turbo"]["root"] == "alice"


def test_alias_reaches_its_adapter(client, alone):
    assert _reply(client, "gpt-3.5-turbo") == alone["alice"]


def test_concurrent_mixed_batch_returns_what_each_returns_alone(client, alone):
    """Base and two adapters in one batch must not leak LoRA weights into the base rows. 24 tokens, as in
    test_engine_recovery's proof that one such batch shows the leak when the plugin is off."""
    models = list(MODELS)
    for _ in range(2):
        with ThreadPoolExecutor(len(models) * 2) as pool:
            together = list(pool.map(lambda m: (m, _reply(client, m)), models * 2))
        for model, text in together:
            assert text == alone[model], f"{model} changed when batched with other adapters"


@pytest.fixture
def admin(twin_server):
    with httpx.Client(
        base_url=twin_server.root_url, headers={"Authorization": f"Bearer {twin_server.admin_key}"}, timeout=120
    ) as session:
        yield session


def test_runtime_load_and_unload(admin, client, twin_server, alone):
    copy = twin_server.adapters_dir / "carol"
    shutil.copytree(twin_server.adapters_dir / "alice", copy)
    try:
        loaded = admin.post("/v1/load_lora_adapter", json={"lora_name": "carol", "lora_path": str(copy)})
        assert loaded.status_code == 200, loaded.text
        assert "carol" in [m.id for m in client.models.list().data]
        assert _reply(client, "carol") == alone["alice"]
        again = admin.post("/v1/load_lora_adapter", json={"lora_name": "carol", "lora_path": str(copy)})
        assert again.status_code == 400
        assert admin.post("/v1/unload_lora_adapter", json={"lora_name": "carol"}).status_code == 200
        gone = client.with_options(max_retries=0).models.list()
        assert "carol" not in [m.id for m in gone.data]
        missing = admin.post("/v1/unload_lora_adapter", json={"lora_name": "carol"})
        assert missing.status_code == 404
        assert missing.json()["error"]["param"] == "lora_name"
    finally:
        shutil.rmtree(copy)


def test_adapter_management_needs_admin_key(http):
    refused = http.post("/v1/load_lora_adapter", json={"lora_name": "x"})
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("name", "path", "fragment"),
    [
        ("evil", "/etc", "outside the adapters folder"),
        ("up", "../", "outside the adapters folder"),
        ("-bad", None, ADAPTER_NAME_PATTERN.pattern),
        ("a/b", None, ADAPTER_NAME_PATTERN.pattern),
        ("me@0", None, ADAPTER_NAME_PATTERN.pattern),
    ],
)
def test_refused_paths_and_names(admin, name, path, fragment):
    body = {"lora_name": name} if path is None else {"lora_name": name, "lora_path": path}
    response = admin.post("/v1/load_lora_adapter", json=body)
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


def test_folder_that_is_not_a_lora_for_this_base_is_refused(admin, twin_server):
    root = twin_server.adapters_dir
    not_peft = root / "notes"
    not_peft.mkdir()
    (not_peft / "readme.txt").write_text("hello")
    wrong_base = root / "wrongbase"
    shutil.copytree(root / "bob", wrong_base)
    card = json.loads((wrong_base / "twin.json").read_text())
    card["base_model"] = "Qwen2.5-7B-Instruct"
    (wrong_base / "twin.json").write_text(json.dumps(card))
    too_big = root / "toobig"
    shutil.copytree(root / "bob", too_big)
    config = json.loads((too_big / "adapter_config.json").read_text())
    config["r"] = 64
    (too_big / "adapter_config.json").write_text(json.dumps(config))
    try:
        for name, fragment in (
            ("notes", "adapter_config.json"),
            ("wrongbase", "Qwen2.5-7B-Instruct"),
            ("toobig", "max-lora-rank"),
        ):
            response = admin.post("/v1/load_lora_adapter", json={"lora_name": name})
            assert response.status_code == 400, response.text
            assert fragment in response.json()["error"]["message"]
    finally:
        for folder in (not_peft, wrong_base, too_big):
            shutil.rmtree(folder)
