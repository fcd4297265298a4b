"""`twin-train cpt` on a handful of posts: privacy filter and dedupe counted, held-out perplexity down, served."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.tiers import slow_fixture
from wechat_twin.training.cli import app

PHONE = "13800138000"
POSTS = [
    f"Day {i} of the river walk: the dog ran ahead, then bubble tea with Mia at the night market, haiyo"
    for i in range(18)
] + [f"New number, call me at {PHONE} for the night market meetup"]
# 19 distinct posts, two of them posted twice, and a blank line: 22 lines.
LINES = [*POSTS[:10], POSTS[3], "", *POSTS[10:], POSTS[12]]
RUN = [
    "--lora-r",
    "8",
    "--lora-alpha",
    "16",
    "--lora-dropout",
    "0",
    "--block-length",
    "32",
    "--batch-size",
    "2",
    "--max-steps",
    "6",
    "--lr",
    "2e-3",
    "--heldout",
    "0.2",
]


@pytest.fixture(scope="module")
@slow_fixture
def cpt_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cpt")
    texts = root / "posts.txt"
    texts.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out = root / "adapters" / "jay-cpt"
    result = CliRunner().invoke(app, ["cpt", str(texts), "--out", str(out), *RUN])
    assert result.exit_code == 0, result.output
    return out


def test_cpt_filters_dedupes_and_lowers_the_heldout_perplexity(cpt_adapter: Path) -> None:
    text = (cpt_adapter / "twin.json").read_text(encoding="utf-8")
    card = json.loads(text)
    assert card["kind"] == "cpt" and card["base_model"] == "SmolLM2-135M-Instruct" and card["system_prompt"] is None
    data = card["data"]
    assert (data["lines_read"], data["empty_lines"], data["duplicates"], data["texts"]) == (22, 1, 2, 19)
    assert data["redactions"] == {"phone": 1}
    assert (data["train_texts"], data["heldout_texts"]) == (16, 3)
    assert PHONE not in text
    metrics = card["metrics"]
    assert metrics["steps"] == 6
    before, after = metrics["heldout_perplexity_before"], metrics["heldout_perplexity_after"]
    assert after < before, f"held-out perplexity {before} -> {after}"
    assert json.loads((cpt_adapter / "adapter_config.json").read_text())["r"] == 8
    assert stat.S_IMODE((cpt_adapter / "twin.json").stat().st_mode) == 0o600


def test_the_server_loads_the_cpt_adapter(cpt_adapter: Path, twin_server) -> None:
    served = twin_server.adapters_dir / "jay-cpt"
    shutil.copytree(cpt_adapter, served)
    admin = {"Authorization": f"Bearer {twin_server.admin_key}"}
    user = {"Authorization": f"Bearer {twin_server.api_key}"}
    try:
        with httpx.Client(base_url=twin_server.base_url, timeout=120) as http:
            loaded = http.post("/load_lora_adapter", json={"lora_name": "jay-cpt"}, headers=admin)
            assert loaded.status_code == 200, loaded.text
            listed = {m["id"]: m for m in http.get("/models", headers=user).json()["data"]}
            assert listed["jay-cpt"]["parent"] == twin_server.base_name

            def reply(model: str) -> str:
                body = {
                    "model": model,
                    "messages": [{"role": "user", "content": "Where did you walk today?"}],
                    "max_tokens": 12,
                    "temperature": 0,
                }
                response = http.post("/chat/completions", json=body, headers=user)
                assert response.status_code == 200, response.text
                return response.json()["choices"][0]["message"]["content"]

            assert reply("jay-cpt") != reply(twin_server.base_name)
    finally:
        with httpx.Client(base_url=twin_server.base_url, timeout=60) as http:
            http.post("/unload_lora_adapter", json={"lora_name": "jay-cpt"}, headers=admin)
        shutil.rmtree(served, ignore_errors=True)
