"""`twin-train cpt` refuses a LoRA the server would not load, as `sft` does, before it reads or trains anything."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from wechat_twin.server.engines.base import EngineOptions
from wechat_twin.training.cli import app


@pytest.mark.parametrize(
    ("rank", "fragment"),
    [("32", f"above the server's --max-lora-rank {EngineOptions().max_lora_rank}"), ("7", "vLLM serves LoRA ranks")],
)
def test_cpt_refuses_a_rank_the_server_would_not_serve_before_training(tmp_path, rank, fragment):
    texts = tmp_path / "posts.txt"
    texts.write_text("\n".join(f"post number {i} about the river walk" for i in range(20)) + "\n", encoding="utf-8")
    out = tmp_path / "adapters" / "jay-cpt"
    result = CliRunner().invoke(app, ["cpt", str(texts), "--out", str(out), "--lora-r", rank])
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert not out.exists(), "refused before the output folder was prepared"


def test_cpt_trains_a_higher_rank_when_told_the_server_serves_it(tmp_path):
    """The check is the server's limit, not a fixed one: the rank passes and the run goes on to read the texts."""
    result = CliRunner().invoke(
        app,
        ["cpt", str(tmp_path / "none.txt"), "--out", str(tmp_path / "x"), "--lora-r", "32", "--max-server-rank", "32"],
    )
    assert result.exit_code != 0 and "max-lora-rank" not in result.output
