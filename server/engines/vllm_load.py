"""vLLM's own scheduler numbers for `/metrics`, taken through vLLM's public stat-logger hook.

AsyncLLM hands each stat logger it was given (`stat_loggers=`) the scheduler's statistics after every engine
step: requests running and waiting, KV-cache usage, and the adapters of both (filled in by its output
processor). `LoadBoard` keeps the latest of each engine core, so the server's `vllm:*` gauges carry the numbers
vLLM's own `/metrics` would. vLLM still registers its own Prometheus gauges, in prometheus_client's global
registry; the server renders only its own registry, so each name appears once.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from vllm.v1.metrics.loggers import StatLoggerBase

from wechat_twin.server.engines.base import EngineLoad


class LoadBoard:
    """The latest load of each engine core, by its index (one per data-parallel rank)."""

    def __init__(self) -> None:
        self.loads: dict[int, EngineLoad] = {}

    def logger_factory(self) -> Any:
        """What AsyncLLM's `stat_loggers=` takes: called with `(vllm_config, engine_index)` for each engine core."""
        return functools.partial(_LoadLogger, board=self)


class _LoadLogger(StatLoggerBase):
    def __init__(self, vllm_config: Any, engine_index: int = 0, *, board: LoadBoard) -> None:
        lora = vllm_config.lora_config
        self._max_loras = lora.max_loras if lora is not None else 0
        self._board = board
        self._index = engine_index
        board.loads[engine_index] = EngineLoad(max_loras=self._max_loras)

    def record(
        self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None, engine_idx: int = 0
    ) -> None:
        if scheduler_stats is None:
            return
        self._board.loads[self._index] = EngineLoad(
            running=scheduler_stats.num_running_reqs,
            # As vLLM counts its waiting gauge: requests deferred (by the adapter budget, say) wait too.
            waiting=scheduler_stats.num_waiting_reqs + scheduler_stats.num_skipped_waiting_reqs,
            kv_cache_usage=scheduler_stats.kv_cache_usage,
            running_adapters=tuple(scheduler_stats.running_lora_adapters),
            waiting_adapters=tuple(scheduler_stats.waiting_lora_adapters),
            max_loras=self._max_loras,
            updated_at=time.time(),
        )

    def log_engine_initialized(self) -> None:
        """Nothing to say: the board is read at each scrape."""
