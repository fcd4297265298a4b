"""Padding-free batches train on the same tokens with the same loss as padded ones, only without the padding."""

from __future__ import annotations

import json
from pathlib import Path

from wechat_twin.training.sft.train import SFTOptions, build_trainer, check_inputs

PERSONA = "You are Jay. Reply like Jay."
MAX_LENGTH = 64  # the longest samples below are cut: both batchings must cut them alike


def sample(i: int) -> list[dict[str, str]]:
    """Samples of uneven length, as chats are: padding a batch of them wastes most of its tokens."""
    question = " ".join(["why"] * (1 + 3 * i))
    return [
        {"role": "system", "content": PERSONA},
        {"role": "user", "content": f"{question}?"},
        {"role": "assistant", "content": "ok la~ " * (1 + 2 * i)},
        {"role": "user", "content": "and?"},
        {"role": "assistant", "content": "haiyo [捂脸]"},
    ]


def first_batch_loss(tmp_path: Path, model: Path, padding_free: bool | None) -> tuple[float, int, dict]:
    """The first batch and its loss; `padding_free=None` leaves the choice to `twin-train sft`'s default."""
    import torch

    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "train.jsonl").write_text("".join(json.dumps({"messages": sample(i)}) + "\n" for i in range(8)))
    (data / "report.json").write_text(json.dumps({"owner_name": "Jay"}))
    options = SFTOptions(
        data_dir=data,
        out=tmp_path / f"out-{padding_free}",
        model=str(model),
        rank=8,
        alpha=16,
        dropout=0.0,
        batch_size=8,
        max_length=MAX_LENGTH,
        report_progress=False,
        **({} if padding_free is None else {"padding_free": padding_free}),
    )
    trainer = build_trainer(options, check_inputs(options), total_steps=1)
    batch = next(iter(trainer.get_train_dataloader()))
    owner_tokens = int((batch["labels"] != -100).sum())
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch)
    return float(loss), owner_tokens, batch


def test_a_padding_free_batch_has_the_padded_batchs_loss_on_the_same_owner_tokens(tmp_path, tiny_model):
    import torch

    padded_loss, padded_tokens, padded = first_batch_loss(tmp_path, tiny_model, padding_free=False)
    free_loss, free_tokens, free = first_batch_loss(tmp_path, tiny_model, padding_free=True)
    assert padded["input_ids"].shape[0] == 8 and free["input_ids"].shape[0] == 1, "padded rows vs one flat row"
    real = int(padded["attention_mask"].sum())
    assert free["input_ids"].shape[1] == real < padded["input_ids"].numel(), "no padding left, the cut kept"
    assert int(padded["attention_mask"].sum(dim=1).max()) == MAX_LENGTH, "the longest samples were cut"
    assert free_tokens == padded_tokens > 0
    assert torch.isfinite(torch.tensor(padded_loss))
    assert abs(free_loss - padded_loss) < 1e-5, (free_loss, padded_loss)


def test_sft_batches_padding_free_unless_told_to_pad(tmp_path, tiny_model):
    """The default since bench/train.py measured it faster on the same loss (docs/benchmarks.md)."""
    _, _, default = first_batch_loss(tmp_path, tiny_model, padding_free=None)
    assert default["input_ids"].shape[0] == 1, "one flat row: samples end to end"
    assert "attention_mask" not in default or bool(default["attention_mask"].all())
