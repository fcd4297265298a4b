"""The transformers engine batches: requests that arrive while others generate join them, each with its adapter.

In process (no server): the engine itself, fed what the API would feed it. These run on the transformers pass
of the suite (`--engine transformers`); the vLLM engine's batching is vLLM's own.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest

from wechat_twin.server.engines import AdapterRef, EngineOptions, SamplingOptions, collect
from wechat_twin.server.prompting import render_chat_prompt

QUESTIONS = ["Tell me a short story about a cat.", "What is the capital of France?", "hi"]
GREEDY = SamplingOptions(max_tokens=24, temperature=0)
COUNTING = ", ".join(str(i) for i in range(1, 40)) + ","


@pytest.fixture(scope="module")
def engine(engine_name, embedded_model, adapters_dir):
    if engine_name != "transformers":
        pytest.skip("tests the transformers engine (run with --engine transformers)")
    from wechat_twin.server.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(str(embedded_model), EngineOptions(dtype="float32", max_lora_rank=8))
    refs = {name: AdapterRef(name, adapters_dir / name, i) for i, name in enumerate(("alice", "bob"), start=1)}

    async def load() -> None:
        for ref in refs.values():
            await engine.load_adapter(ref)

    asyncio.run(load())
    engine.refs = refs
    yield engine
    asyncio.run(engine.shutdown())


def _prompt(engine, question: str) -> list[int]:
    return render_chat_prompt(engine.tokenizer, [{"role": "user", "content": question}])


async def _text(engine, prompt, options, request_id, adapter, delay: float = 0.0) -> list[str]:
    await asyncio.sleep(delay)
    return [c.text for c in await collect(engine.stream(prompt, options, request_id, adapter), options.n)]


def test_staggered_mixed_batch_returns_what_each_returns_alone(engine):
    """Different prompt lengths, base and two adapters, arriving while the batch runs: left padding must not show."""
    jobs = [(_prompt(engine, q), engine.refs.get(a)) for q in QUESTIONS for a in (None, "alice", "bob")]

    async def run() -> tuple[list, list]:
        alone = [await _text(engine, p, GREEDY, f"alone-{i}", a) for i, (p, a) in enumerate(jobs)]
        together = await asyncio.gather(
            *(_text(engine, p, GREEDY, f"together-{i}", a, 0.03 * (i % 4)) for i, (p, a) in enumerate(jobs))
        )
        return alone, together

    alone, together = asyncio.run(run())
    assert len({tuple(t) for t in alone}) > len(QUESTIONS), "adapters should change the replies"
    assert together == alone


def test_a_short_request_does_not_wait_for_a_long_one(engine):
    long_options = SamplingOptions(max_tokens=160, temperature=0)
    finished: list[str] = []

    async def run() -> None:
        async def one(name, prompt, options, delay):
            await _text(engine, prompt, options, name, None, delay)
            finished.append(name)

        short_options = SamplingOptions(max_tokens=4, temperature=0)
        await asyncio.gather(
            one("long", _prompt(engine, COUNTING), long_options, 0.0),
            one("short", _prompt(engine, "hi"), short_options, 0.3),
        )

    asyncio.run(run())
    assert finished == ["short", "long"]


def test_a_seeded_sample_does_not_depend_on_its_batch(engine):
    seeded = SamplingOptions(max_tokens=12, temperature=1.0, seed=7, n=2)
    prompt = _prompt(engine, QUESTIONS[1])

    async def run() -> tuple[list[str], list[str]]:
        alone = await _text(engine, prompt, seeded, "seeded-alone", None)
        crowd = [
            _text(
                engine, _prompt(engine, q), SamplingOptions(max_tokens=12, temperature=0.8), f"c{i}", engine.refs["bob"]
            )
            for i, q in enumerate(QUESTIONS)
        ]
        batched, *_ = await asyncio.gather(_text(engine, prompt, seeded, "seeded-batched", None, 0.05), *crowd)
        return alone, batched

    alone, batched = asyncio.run(run())
    assert alone == batched
    assert alone[0] != alone[1]


def test_leaving_a_stream_early_frees_its_rows(engine):
    async def run() -> int:
        stream = engine.stream(_prompt(engine, COUNTING), SamplingOptions(max_tokens=400, temperature=0), "gone", None)
        async for _ in stream:
            break
        await stream.aclose()
        for _ in range(100):
            if engine.queue_depth() == 0:
                break
            await asyncio.sleep(0.05)
        return engine.queue_depth()

    assert asyncio.run(run()) == 0


def test_a_vanishing_temperature_samples_greedily(engine):
    """The API allows any temperature above 0, down to 5e-324: float32 logits cannot be divided by it."""
    prompt = _prompt(engine, QUESTIONS[0])

    async def run() -> tuple[list[str], list[str]]:
        greedy = await _text(engine, prompt, GREEDY, "greedy", None)
        tiny = await _text(engine, prompt, SamplingOptions(max_tokens=24, temperature=5e-324, top_p=0.5), "tiny", None)
        return greedy, tiny

    greedy, tiny = asyncio.run(run())
    assert tiny == greedy


def test_a_broken_adapter_fails_its_own_request_only(engine, adapters_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(adapters_dir / "alice", broken)
    weights = load_file(broken / "adapter_model.safetensors")
    save_file(
        {k: v.fill_(float("nan")) if "lora_B" in k else v for k, v in weights.items()},
        broken / "adapter_model.safetensors",
    )
    ref = AdapterRef("broken", broken, 3)
    prompt = _prompt(engine, QUESTIONS[0])

    async def run() -> tuple[list[str], BaseException | list[str], list[str]]:
        await engine.load_adapter(ref)
        try:
            alone = await _text(engine, prompt, GREEDY, "before", None)
            outcomes = await asyncio.gather(
                _text(engine, prompt, GREEDY, "neighbour", None),
                _text(engine, prompt, SamplingOptions(max_tokens=24), "broken", ref, 0.05),
                return_exceptions=True,
            )
        finally:
            await engine.unload_adapter(ref)
        return alone, outcomes[1], outcomes[0]

    alone, broken_outcome, neighbour = asyncio.run(run())
    assert isinstance(broken_outcome, RuntimeError) and "NaN logits" in str(broken_outcome)
    assert neighbour == alone
    assert engine.queue_depth() == 0


def test_load_reports_the_batch_its_queue_and_their_adapters(engine):
    """Requests for more rows than the running batch has room for wait, and so do those behind them: the load says
    so, with their adapters, and is back to nothing once the replies are done."""
    from wechat_twin.server.engines.transformers_engine import DEFAULT_MAX_BATCH

    async def until(predicate) -> None:
        for _ in range(600):
            if predicate(engine.load()[0]):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the load never got there: {engine.load()}")

    async def run():
        long_options = SamplingOptions(max_tokens=160, temperature=0)
        busy = asyncio.ensure_future(_text(engine, _prompt(engine, COUNTING), long_options, "busy", None))
        await until(lambda load: load.running == 1)
        crowd_options = SamplingOptions(max_tokens=2, temperature=0, n=DEFAULT_MAX_BATCH)
        crowd = asyncio.ensure_future(_text(engine, _prompt(engine, "hi"), crowd_options, "crowd", engine.refs["bob"]))
        behind = asyncio.ensure_future(_text(engine, _prompt(engine, "hi"), GREEDY, "behind", engine.refs["alice"]))
        await until(lambda load: load.waiting == 2)
        during = engine.load()[0]
        await asyncio.gather(busy, crowd, behind)
        return during, engine.load()[0]

    during, after = asyncio.run(run())
    assert (during.running, during.waiting) == (1, 2)
    assert (during.running_adapters, during.waiting_adapters) == ((), ("bob", "alice"))
    assert 0 < during.kv_cache_usage < 1
    assert during.max_loras == 2
    assert (after.running, after.waiting, after.kv_cache_usage) == (0, 0, 0)
    assert after.running_adapters == after.waiting_adapters == ()
