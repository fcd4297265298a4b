"""Which names the server answers to: the base, its adapters, and aliases.

Adapters are found at start-up in `--adapters DIR` (one folder each) and can be
added or removed at run time; paths outside that folder are refused so an API
caller cannot make the server read arbitrary files.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from wechat_twin.memory.recall import RecallSettings
from wechat_twin.memory.store import MemoryStore
from wechat_twin.names import NAME_RULE, is_plain_name
from wechat_twin.server.adapters.adapter_memory import open_memory
from wechat_twin.server.adapters.card import TwinCard, read_card
from wechat_twin.server.adapters.validation import AdapterInvalid, validate_adapter_folder
from wechat_twin.server.engines.base import AdapterRef, Engine
from wechat_twin.server.errors import OpenAIError


@dataclass
class ServedAdapter:
    ref: AdapterRef
    card: TwinCard | None
    memory: MemoryStore | None = None
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def persona(self) -> str | None:
        return self.card.system_prompt if self.card else None

    @property
    def recall_settings(self) -> RecallSettings:
        """As the adapter was trained: its card's `memory_k`."""
        return self.card.recall_settings if self.card else RecallSettings()


@dataclass
class ModelTarget:
    """What a request's `model` resolved to: the base (adapter None) or one adapter."""

    served_name: str
    adapter: ServedAdapter | None


class AdapterRegistry:
    def __init__(
        self,
        engine: Engine,
        base_name: str,
        base_path: Path,
        adapters_dir: Path | None,
        aliases: dict[str, str],
        base_revision: str | None = None,
    ) -> None:
        self.engine = engine
        self.base_name = base_name
        self.base_revision = base_revision
        self.adapters_dir = adapters_dir.resolve() if adapters_dir else None
        self.aliases = dict(aliases)
        self.created = int(time.time())
        self._base_config = json.loads((base_path / "config.json").read_text(encoding="utf-8"))
        self._adapters: dict[str, ServedAdapter] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    @property
    def adapters(self) -> list[ServedAdapter]:
        return list(self._adapters.values())

    def served_names(self) -> list[str]:
        return [self.base_name, *self._adapters, *self.aliases]

    def resolve(self, model: str) -> ModelTarget:
        name = self.aliases.get(model, model)
        if name == self.base_name:
            return ModelTarget(model, None)
        if name in self._adapters:
            return ModelTarget(model, self._adapters[name])
        raise OpenAIError(
            404,
            f"The model '{model}' does not exist. Served models: {', '.join(self.served_names())}",
            param="model",
            code="model_not_found",
        )

    def _checked_path(self, name: str, path: str | None) -> Path:
        if not is_plain_name(name):
            raise OpenAIError(400, f"adapter name {name!r} {NAME_RULE}", param="lora_name")
        if self.adapters_dir is None:
            raise OpenAIError(400, "this server has no --adapters folder: runtime loading is off", param="lora_path")
        folder = Path(path).expanduser() if path else self.adapters_dir / name
        if not folder.is_absolute():
            folder = self.adapters_dir / folder
        folder = folder.resolve()
        if not folder.is_relative_to(self.adapters_dir):
            raise OpenAIError(
                400, f"lora_path {path!r} is outside the adapters folder {self.adapters_dir}", param="lora_path"
            )
        return folder

    async def load(self, name: str, path: str | None = None) -> ServedAdapter:
        folder = self._checked_path(name, path)
        async with self._lock:
            if name in self._adapters or name == self.base_name or name in self.aliases:
                raise OpenAIError(400, f"the name '{name}' is already served; unload it first", param="lora_name")
            try:
                validate_adapter_folder(
                    folder, self._base_config, self.base_name, self.engine.max_lora_rank, self.base_revision
                )
                card = read_card(folder)
                memory = open_memory(folder, card)
            except (AdapterInvalid, ValueError) as exc:
                raise OpenAIError(400, str(exc), param="lora_path", code="invalid_adapter") from exc
            served = ServedAdapter(AdapterRef(name, folder, next(self._ids)), card, memory)
            try:
                await self.engine.load_adapter(served.ref)
            except ValueError as exc:
                if memory is not None:
                    memory.close()
                raise OpenAIError(400, str(exc), param="lora_path", code="invalid_adapter") from exc
            self._adapters[name] = served
            return served

    async def unload(self, name: str) -> None:
        async with self._lock:
            served = self._adapters.pop(name, None)
            if served is None:
                raise OpenAIError(
                    404, f"no adapter named '{name}' is loaded", param="lora_name", code="model_not_found"
                )
            await self.engine.unload_adapter(served.ref)
            if served.memory is not None:
                served.memory.close()

    async def attach(self, engine: Engine) -> None:
        """Serve through a new engine (after a restart): every adapter loaded so far is loaded on it."""
        async with self._lock:
            self.engine = engine
            for served in self._adapters.values():
                await engine.load_adapter(served.ref)

    async def load_folder(self) -> list[str]:
        """Load every adapter folder at start-up; a bad folder is reported and skipped, not fatal."""
        problems: list[str] = []
        if self.adapters_dir is None:
            return problems
        for folder in sorted(p for p in self.adapters_dir.iterdir() if p.is_dir()):
            try:
                await self.load(folder.name)
            except OpenAIError as exc:
                problems.append(f"{folder.name}: {exc.message}")
        return problems
