"""SFT on the embedded model: the training template, input checks, short real runs served by the real server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.server_process import ServerProcess
from tests.support.tiers import slow_fixture
from wechat_twin.server.prompting import build_chat, render_chat_text
from wechat_twin.training.cli import app
from wechat_twin.training.common.chat_template import training_chat_template

PERSONA = "You are Jay. Reply like Jay."
SAMPLES = [
    [
        {"role": "system", "content": PERSONA},
        {"role": "user", "content": f"question {i}?"},
        {"role": "assistant", "content": f"ok la~\nanswer {i} [旺柴]"},
        {"role": "user", "content": "and then?"},
        {"role": "assistant", "content": "haiyo\nlater [捂脸]"},
    ]
    for i in range(8)
]
SHORT_RUN = ["--rank", "8", "--batch-size", "4", "--max-length", "96", "--learning-rate", "0.01"]
DIVERGING_RUN = [
    "--rank",
    "8",
    "--batch-size",
    "4",
    "--max-length",
    "96",
    "--learning-rate",
    "0.05",
    "--lr-scheduler",
    "constant",
    "--dropout",
    "0",
    "--max-steps",
    "6",
    "--evals",
    "3",
]
# The shared run: two evaluations, so a checkpoint at step 2 that the resume test interrupts it at.
RESUMABLE_RUN = [*SHORT_RUN, "--max-steps", "4", "--evals", "2", "--dropout", "0"]


RHYTHM = {
    "latency_s": {"replies": 8, "all": [float(s) for s in range(21)], "bands": {}, "contacts": []},
    "turn_messages": {"1": 1.0},
    "gap_s_per_char": [],
    "no_reply_rate": 0.0,
    "friend_turns": 8,
}


def write_dataset(folder: Path, train: list, dev: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("dev.jsonl", dev)):
        (folder / name).write_text("".join(json.dumps({"messages": m}, ensure_ascii=False) + "\n" for m in rows))
    report = {
        "owner_name": "Jay",
        "system_prompt": PERSONA,
        "samples_train": len(train),
        "samples_dev": len(dev),
        "rhythm": RHYTHM,
    }
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def sft(*args: str | Path) -> object:
    return CliRunner().invoke(app, ["sft", *map(str, args)])


def dev_loss(base: Path, adapter: Path | None, samples: list, max_length: int = 96) -> float:
    """Mean cross-entropy over the owner's tokens of `samples` (one batch, as the trainer's evaluation has it).

    Computed here with peft and the training template's assistant mask, not with the trainer, so it
    says which weights are in the saved folder.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    template = training_chat_template(tokenizer)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    total, count = 0.0, 0
    for sample in samples:
        encoded = tokenizer.apply_chat_template(
            sample, chat_template=template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids = torch.tensor(encoded["input_ids"][:max_length])
        owner = torch.tensor(encoded["assistant_masks"][:max_length], dtype=torch.bool)[1:]
        with torch.no_grad():
            logits = model(input_ids=ids.unsqueeze(0)).logits[0, :-1].float()
        losses = torch.nn.functional.cross_entropy(logits, ids[1:], reduction="none")
        total += float(losses[owner].sum())
        count += int(owner.sum())
    return total / count


@pytest.fixture(scope="module")
def tokenizer(embedded_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("sft") / "data", SAMPLES, SAMPLES[:2])


@pytest.fixture(scope="module")
@slow_fixture
def trained(tmp_path_factory, dataset, embedded_model) -> Path:
    """One short real run (4 steps) that the serving, evaluation and resume tests share."""
    out = tmp_path_factory.mktemp("sft-out") / "sft-test"
    result = sft(dataset, "--out", out, *RESUMABLE_RUN)
    assert result.exit_code == 0, result.output
    return out


def _greedy_reply(server: ServerProcess, model: str) -> str:
    """`model`'s temperature-0 reply to one fixed question with the training persona."""
    body = {
        "model": model,
        "max_tokens": 16,
        "temperature": 0,
        "messages": [{"role": "system", "content": PERSONA}, {"role": "user", "content": "question 3?"}],
    }
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        timeout=120,
        headers={"Authorization": f"Bearer {server.api_key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def test_training_renders_what_the_server_renders_and_masks_only_the_owner(tokenizer):
    template = training_chat_template(tokenizer)
    sample = SAMPLES[0]
    for cut in (2, 4):  # every owner turn: the prompt before it is exactly the server's prompt
        served_prompt = render_chat_text(tokenizer, build_chat(sample[:cut]))
        trained = tokenizer.apply_chat_template(sample[: cut + 1], tokenize=False, chat_template=template)
        assert trained == served_prompt + sample[cut]["content"] + "<|im_end|>\n"
    encoded = tokenizer.apply_chat_template(
        sample, chat_template=template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    owner_tokens = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(owner_tokens) == "ok la~\nanswer 0 [旺柴]<|im_end|>\nhaiyo\nlater [捂脸]<|im_end|>\n"


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "start with a user turn"),
        ({"messages": [{"role": "user", "content": "a"}, *SAMPLES[0][1:3]]}, "two user turns in a row"),
        ({"text": "hello"}, "expected an object with a 'messages' list"),
        ({"messages": [{"role": "friend", "content": "a"}]}, "messages[0] needs a role"),
    ],
)
def test_wrong_dataset_shape_names_file_and_line(tmp_path, bad_line, message):
    data = write_dataset(tmp_path / "data", SAMPLES[:2], SAMPLES[:1])
    with (data / "train.jsonl").open("a") as handle:
        handle.write(json.dumps(bad_line) + "\n")
    result = sft(data, "--out", tmp_path / "adapters" / "x")
    assert result.exit_code == 1
    assert f"{data / 'train.jsonl'}:3" in result.output and message in result.output
    assert not (tmp_path / "adapters").exists()


def test_settings_the_server_cannot_serve_are_refused_before_training(tmp_path, dataset):
    """Option values the server cannot serve exit 2 (a usage error); the dataset and adapter folder, 1."""
    out = tmp_path / "a" / "x"
    too_big = sft(dataset, "--out", out, "--rank", "32")
    assert too_big.exit_code == 2 and "above the server's --max-lora-rank 16" in too_big.output
    assert sft(dataset, "--out", out, "--rank", "32", "--max-server-rank", "16").exit_code == 2
    odd_rank = sft(dataset, "--out", out, "--rank", "12")
    assert odd_rank.exit_code == 2 and "vLLM serves LoRA ranks 1, 8, 16" in odd_rank.output
    head = sft(dataset, "--out", out, "--target-modules", "q_proj", "--target-modules", "lm_head")
    assert head.exit_code == 2 and "--target-modules lm_head" in head.output
    bad_name = sft(dataset, "--out", tmp_path / "a" / "no spaces")
    assert bad_name.exit_code == 1 and "served name" in bad_name.output
    nothing = sft(dataset, "--out", out, "--resume")
    assert nothing.exit_code == 1 and "no checkpoint" in nothing.output
    assert not out.exists()


def test_a_base_that_is_not_a_causal_lm_is_refused(tmp_path, dataset):
    encoder = tmp_path / "vit"
    encoder.mkdir()
    (encoder / "config.json").write_text(json.dumps({"model_type": "vit", "hidden_size": 8}))
    not_causal = sft(dataset, "--out", tmp_path / "a" / "y", "--model", encoder)
    assert not_causal.exit_code == 1 and "not a causal language model" in not_causal.output
    missing = sft(dataset, "--out", tmp_path / "a" / "y", "--model", tmp_path / "nowhere")
    assert missing.exit_code == 1 and "is not a local folder" in missing.output


def test_the_adapter_folder_has_the_contract_shape(trained, dataset):
    card = json.loads((trained / "twin.json").read_text())
    assert card["kind"] == "sft" and card["base_model"] == "SmolLM2-135M-Instruct"
    assert card["system_prompt"] == PERSONA and card["owner_name"] == "Jay"
    assert card["data"]["samples_train"] == 8 and card["training_args"]["rank"] == 8
    assert isinstance(card["reply_tokens_p99"], int) and card["reply_tokens_p99"] >= 1
    assert card["rhythm"] == RHYTHM and "rhythm" not in card["data"], "the report's rhythm, for the bridge"
    metrics = card["metrics"]
    assert metrics["steps"] == 4 and metrics["train_loss"] > 0
    assert metrics["dev_loss"] < metrics["dev_loss_before"], "four steps at lr 0.01 lower the dev loss"
    peft = json.loads((trained / "adapter_config.json").read_text())
    assert peft["r"] == 8
    assert set(peft["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert (trained / "adapter_model.safetensors").stat().st_size > 0
    assert (trained / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert stat.S_IMODE(os.stat(trained / "twin.json").st_mode) == 0o600
    heldout = trained / "heldout.jsonl"  # the blind test's moments: the dev split, never the train one
    assert heldout.read_bytes() == (dataset / "dev.jsonl").read_bytes()
    assert stat.S_IMODE(os.stat(heldout).st_mode) == 0o600
    assert not list(trained.parent.glob(".sft-test.*")), "checkpoints and staging folders are cleaned up"
    again = sft(dataset, "--out", trained)
    assert again.exit_code == 1 and "already exists" in again.output


def test_the_server_loads_the_adapter_and_it_changes_replies(trained, twin_server):
    served = twin_server.adapters_dir / "sft-test"
    shutil.copytree(trained, served)
    admin = {"Authorization": f"Bearer {twin_server.admin_key}"}
    try:
        loaded = httpx.post(
            f"{twin_server.base_url}/load_lora_adapter",
            json={"lora_name": "sft-test", "lora_path": str(served)},
            headers=admin,
            timeout=120,
        )
        assert loaded.status_code == 200, loaded.text
        assert _greedy_reply(twin_server, "sft-test") != _greedy_reply(twin_server, twin_server.base_name)
    finally:
        httpx.post(
            f"{twin_server.base_url}/unload_lora_adapter", json={"lora_name": "sft-test"}, headers=admin, timeout=60
        )
        shutil.rmtree(served, ignore_errors=True)


def test_the_trained_adapter_fits_the_owner_better_than_a_random_lora(trained, embedded_model, adapters_dir):
    """Any LoRA changes replies; only a trained one lowers the loss on the owner's held-out turns."""
    card = json.loads((trained / "twin.json").read_text())
    trained_loss = dev_loss(embedded_model, trained, SAMPLES[:2])
    assert trained_loss == pytest.approx(card["metrics"]["dev_loss"], abs=1e-3)
    base_loss = dev_loss(embedded_model, None, SAMPLES[:2])
    assert base_loss == pytest.approx(card["metrics"]["dev_loss_before"], abs=1e-3)
    assert trained_loss < base_loss and trained_loss < dev_loss(embedded_model, adapters_dir / "alice", SAMPLES[:2])


@pytest.mark.slow
def test_the_lowest_dev_loss_is_the_one_written(tmp_path, dataset, embedded_model):
    """--evals 3 at a learning rate far too high, so the dev loss jumps about: the best checkpoint is written."""
    out = tmp_path / "adapters" / "best"
    result = sft(dataset, "--out", out, *DIVERGING_RUN)
    assert result.exit_code == 0, result.output
    history = json.loads((out / "log_history.json").read_text())
    evals = {e["step"]: e["eval_loss"] for e in history if "eval_loss" in e}
    assert sorted(evals) == [0, 2, 4, 6]
    best = min((step for step in evals if step), key=evals.get)  # step 0 is the base: no checkpoint to keep
    assert evals[6] > evals[best] + 0.01, f"the run must overshoot for this test to tell best from last: {evals}"
    metrics = json.loads((out / "twin.json").read_text())["metrics"]
    assert metrics["dev_loss"] == evals[best] and metrics["kept_checkpoint"] == f"checkpoint-{best}"
    assert dev_loss(embedded_model, out, SAMPLES[:2]) == pytest.approx(evals[best], abs=1e-3)


def test_eval_reports_base_adapter_and_owner(trained, tmp_path):
    """Eval starts its own (transformers) engine in this process, beside the shared server if it runs."""
    report_dir = tmp_path / "eval"
    # no --data: the dev set of the dataset the adapter was trained on, as twin.json records it
    evaluated = CliRunner().invoke(
        app, ["eval", str(trained), "--out", str(report_dir), "--max-prompts", "2", "--max-tokens", "8"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((report_dir / "eval.json").read_text())
    assert report["prompts"] == 2 and len(report["replies"]) == 2
    assert report["perplexity"]["adapter"] < report["perplexity"]["base"], "training lowered the owner's perplexity"
    assert report["style"]["owner"]["wechat_emoji_rate"] == 1.0 and report["style"]["owner"]["lines_per_turn"] == 2
    assert report["replies"][0]["owner"] == SAMPLES[0][-1]["content"]
    assert report["replies"][0]["adapter"] != report["replies"][0]["base"]
    table = (report_dir / "eval.md").read_text()
    assert "| wechat_emoji_rate | " in table and "style distance to owner" in table
    assert (report_dir / "eval.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("eval.json", "eval.md", "eval.png"):  # replies and the owner's own lines are in them
        assert stat.S_IMODE(os.stat(report_dir / name).st_mode) == 0o600, name


def test_an_interrupted_run_resumes_to_the_same_adapter(tmp_path, dataset, trained):
    """The `trained` fixture's run, killed after its first checkpoint and resumed, writes the same adapter."""
    from safetensors.torch import load_file

    args = RESUMABLE_RUN
    out = tmp_path / "adapters" / "resumed"
    checkpoint = tmp_path / "adapters" / ".resumed.checkpoints" / "checkpoint-2"
    command = [sys.executable, "-m", "wechat_twin.training.cli", "sft", str(dataset), "--out", str(out), *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not (checkpoint / "trainer_state.json").is_file() and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint after 180 s"
            time.sleep(0.2)
        time.sleep(1)  # the state file is the last one the checkpoint writes
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not out.exists(), "the run was interrupted before it wrote the adapter"
    for path in [checkpoint.parent, *checkpoint.parent.rglob("*")]:  # weights and optimizer state: the owner's only
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path

    refused = sft(dataset, "--out", out, *args)
    assert refused.exit_code == 1 and "--resume" in refused.output
    changed = sft(dataset, "--out", out, *args[:-2], "--dropout", "0.1", "--resume")
    assert changed.exit_code == 1 and "dropout differ" in changed.output

    saved = checkpoint.parent / "sft_options.json"
    before_memory_k = {k: v for k, v in json.loads(saved.read_text()).items() if k != "memory_k"}
    saved.write_text(json.dumps(before_memory_k))  # as a run saved before --memory-k existed
    resumed = sft(dataset, "--out", out, *args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming from" in resumed.output
    history = json.loads((out / "log_history.json").read_text())
    assert [e["step"] for e in history if "eval_loss" in e] == [0, 2, 4]
    expected, got = load_file(trained / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        assert (tensor - got[name]).abs().max() < 1e-4, name


@pytest.mark.slow
def test_two_data_parallel_processes_write_one_adapter(tmp_path, dataset):
    """What `accelerate launch` does on several GPUs, on CPU: torchrun starts two ranks of the same command (gloo)."""
    out = tmp_path / "adapters" / "ddp"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    twin_train = str(Path(sys.executable).with_name("twin-train"))
    command = [
        *launcher,
        twin_train,
        "sft",
        str(dataset),
        "--out",
        str(out),
        "--rank",
        "8",
        "--batch-size",
        "2",
        "--max-length",
        "96",
        "--max-steps",
        "2",
        "--evals",
        "1",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stderr.count("adapter written") == 1, "only the main process writes and reports"
    card = json.loads((out / "twin.json").read_text())
    assert card["training_args"]["processes"] == 2 and card["metrics"]["steps"] == 2
    assert sorted(p.name for p in out.parent.iterdir()) == ["ddp"], "no staging or checkpoint folder is left"
    assert sorted(p.name for p in out.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "heldout.jsonl",
        "log_history.json",
        "loss.png",
        "twin.json",
    ]


@pytest.fixture(scope="module")
@slow_fixture
def gpu_trained(tmp_path_factory, dataset) -> Path:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    out = tmp_path_factory.mktemp("gpu") / "adapters" / "gpu"
    result = sft(dataset, "--out", out, *SHORT_RUN, "--max-steps", "2", "--evals", "1")
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.gpu
def test_gpu_training_writes_finite_lora_weights_in_a_servable_dtype(gpu_trained):
    import torch
    from safetensors.torch import load_file

    card = json.loads((gpu_trained / "twin.json").read_text())
    assert card["metrics"]["steps"] == 2
    assert card["training_args"]["precision"] == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")
    tensors = load_file(gpu_trained / "adapter_model.safetensors")
    assert tensors and all("lora_A" in name or "lora_B" in name for name in tensors)
    dtypes = {tensor.dtype for tensor in tensors.values()}
    assert len(dtypes) == 1 and dtypes <= {torch.float32, torch.bfloat16}, dtypes
    assert all(torch.isfinite(tensor.float()).all() for tensor in tensors.values()), "bf16 training overflowed"
    assert any(tensor.abs().max() > 0 for name, tensor in tensors.items() if "lora_B" in name), "B still zero"


@pytest.mark.gpu
@pytest.mark.vllm
def test_vllm_on_the_gpu_serves_the_gpu_trained_adapter(gpu_trained, embedded_model, tmp_path):
    pytest.importorskip("vllm", reason="the GPU machine has no vLLM installed")
    adapters = tmp_path / "adapters"
    shutil.copytree(gpu_trained, adapters / "gpu")
    server = ServerProcess(embedded_model, adapters, "vllm", tmp_path / "server.log")
    server.start()
    try:
        assert _greedy_reply(server, "gpu") != _greedy_reply(server, server.base_name)
    finally:
        server.stop()


@pytest.mark.gpu
@pytest.mark.slow
def test_qlora_trains_on_a_4bit_base_and_the_adapter_loads_on_the_full_base(tmp_path, dataset, embedded_model):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    pytest.importorskip("bitsandbytes", reason="--qlora needs bitsandbytes")
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "adapters" / "qlora"
    result = sft(dataset, "--out", out, *SHORT_RUN, "--max-steps", "2", "--evals", "1", "--qlora")
    assert result.exit_code == 0, result.output
    card = json.loads((out / "twin.json").read_text())
    assert card["training_args"]["qlora"] is True and card["training_args"]["precision"].startswith("4-bit nf4 base")
    assert card["metrics"]["dev_loss"] < card["metrics"]["dev_loss_before"]
    base = AutoModelForCausalLM.from_pretrained(embedded_model, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, out)
    assert sum("lora_B" in name for name, _ in model.named_parameters()) > 0


@pytest.mark.slow
def test_demo_builds_a_clone_from_an_export_once_and_says_how_to_serve_it(tmp_path):
    from wechat_twin.training.demo import SAMPLE_EXPORT

    export = tmp_path / "messages.csv"
    export.write_text("".join(SAMPLE_EXPORT.read_text(encoding="utf-8").splitlines(keepends=True)[:300]))
    args = ["demo", "--out", str(tmp_path / "demo"), "--export", str(export), "--steps", "2"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    adapter = tmp_path / "demo" / "adapters" / "demo-clone"
    card = json.loads((adapter / "twin.json").read_text())
    assert card["owner_name"] == "Jay" and "Jay" in card["system_prompt"] and card["metrics"]["steps"] == 2
    assert f"twin-server serve --adapters {tmp_path / 'demo' / 'adapters'}" in first.output
    built = (adapter / "adapter_model.safetensors").stat().st_mtime_ns
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and "already built" in second.output
    assert (adapter / "adapter_model.safetensors").stat().st_mtime_ns == built
