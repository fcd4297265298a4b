"""Which names the server answers to: the base, its adapters, and aliases.

Every folder in `--adapters DIR` is a clone the server can serve, found by its small JSON files alone
(`check_adapter_files`), so start-up takes as long with hundreds of clones as with one. A clone is loaded
onto the engine on its first request, after its weights are checked as well; concurrent first requests
share that one load. A folder added while the server runs is found by the first request naming it (or by
`GET /v1/models`). The engine keeps only `--max-cpu-loras` adapters in memory and reads an evicted one
back from its folder when asked for it again (vLLM does so itself; the transformers engine likewise).
Adapters can also be loaded or unloaded by the admin routes; paths outside the adapters folder are
refused so an API caller cannot make the server read arbitrary files.

Folders `me@1`, `me@2`, ... are versions of the clone `me` (server/adapters/versions.py): a request for `me`
is resolved to one version once, at admission, so a promotion or rollback changes what later requests get and
never what one already admitted (a stream included) is generating with.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wechat_twin.memory.recall import RecallSettings
from wechat_twin.memory.store import MemoryStore
from wechat_twin.names import ADAPTER_NAME_RULE, is_adapter_name, is_plain_name, split_version, versioned
from wechat_twin.server.adapters.adapter_memory import memory_path, open_memory
from wechat_twin.server.adapters.card import TwinCard, read_card
from wechat_twin.server.adapters.validation import AdapterInvalid, check_adapter_files, validate_adapter_folder
from wechat_twin.server.adapters.versions import (
    PROMOTION_SUFFIX,
    Promotion,
    PromotionRecords,
    promoted,
    rolled_back,
    versions_of,
)
from wechat_twin.server.engines.base import AdapterRef, Engine
from wechat_twin.server.errors import OpenAIError

# A promotion record that fails to be written with these is on a read-only folder, not a passing fault.
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)

logger = logging.getLogger("wechat_twin.server")


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


def _stamp(folder: Path) -> int:
    """Changes when a file of the folder is replaced or rewritten: a refused folder is tried again then."""
    try:
        return max((f.stat().st_mtime_ns for f in folder.iterdir()), default=0)
    except OSError:
        return 0


class AdapterRegistry:
    def __init__(
        self,
        engine: Engine,
        base_name: str,
        base_path: Path,
        adapters_dir: Path | None,
        aliases: dict[str, str],
        base_revision: str | None = None,
        on_load: Callable[[str], None] = lambda name: None,
        base_source: str | None = None,
    ) -> None:
        """`on_load(name)` is told of every load onto the engine (the `twin_adapter_loads` metric); `base_source`
        is what the base was resolved from (hub id, folder), a clone's twin.json naming either being one of its."""
        self.engine = engine
        self.base_name = base_name
        self.base_names = (base_name, base_source) if base_source else (base_name,)
        self.base_revision = base_revision
        self.adapters_dir = adapters_dir.resolve() if adapters_dir else None
        self.aliases = dict(aliases)
        self.created = int(time.time())
        self._on_load = on_load
        self._base_config = json.loads((base_path / "config.json").read_text(encoding="utf-8"))
        self._adapters: dict[str, ServedAdapter] = {}  # servable: on the engine or loaded on first use
        self._on_engine: set[str] = set()
        self._loading: dict[str, asyncio.Future[None]] = {}
        self._withdrawn: set[str] = set()  # unloaded by the admin route: not found in the folder again
        self._reported: dict[str, str] = {}  # folder name -> the problem last logged for it
        self._refused: dict[str, tuple[int, str]] = {}  # folder name -> (its files' stamp, why its load failed)
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._promoting = asyncio.Lock()  # one promotion or rollback at a time
        self._records = PromotionRecords(self.adapters_dir) if self.adapters_dir else None

    @property
    def adapters(self) -> list[ServedAdapter]:
        """Every servable adapter, loaded or not."""
        return list(self._adapters.values())

    def loaded_names(self) -> list[str]:
        return [name for name in self._adapters if name in self._on_engine]

    def served_names(self) -> list[str]:
        return [self.base_name, *self._adapters, *self.versioned_clones(), *self.aliases]

    def versioned_clones(self) -> list[str]:
        """The bare names `me` that answer with one of their versions (no folder of that name is served)."""
        clones = {split_version(name)[0] for name in self._adapters if split_version(name)[1] is not None}
        return sorted(clones - self._adapters.keys())

    def versions(self, clone: str) -> list[str]:
        """The servable versions of `clone`, oldest first."""
        found = [(split_version(name)[1], name) for name in self._adapters if split_version(name)[0] == clone]
        return [name for version, name in sorted((v, n) for v, n in found if v is not None)]

    def _numbers(self, clone: str) -> list[int]:
        return [split_version(name)[1] or 0 for name in self.versions(clone)]

    def serving(self, clone: str) -> str | None:
        """The version `model: clone` answers with now; None for a clone without versions."""
        name = self._concrete(clone)
        return name if name != clone else None

    def _concrete(self, name: str) -> str:
        """A bare clone name with versions (and no folder of its own) as its promoted version, else its highest;
        any other name as it is. Read once per request, at admission: what it returns is what the request uses."""
        if self._records is None or self.adapters_dir is None or not is_plain_name(name) or name in self._adapters:
            return name
        if name == self.base_name:
            return name
        if (self.adapters_dir / name).is_dir():
            return name
        numbers = self._numbers(name)
        try:
            promotion = self._records.get(name)
        except ValueError as exc:
            raise OpenAIError(
                400, f"the clone '{name}' cannot be served: {exc}", param="model", code="invalid_adapter"
            ) from exc
        if promotion is not None:
            return versioned(name, promotion.version)
        if not numbers and versions_of(self.adapters_dir, name):
            self.scan()  # versions added since: found by the first request naming the clone
            numbers = self._numbers(name)
        return versioned(name, numbers[-1]) if numbers else name

    def _public(self, exc: Exception) -> str:
        """A folder's problem with the adapters folder's own path left out: any key may read it."""
        text = str(exc)
        return text.replace(f"{self.adapters_dir}/", "") if self.adapters_dir else text

    def _found(self, name: str) -> ServedAdapter | None:
        """The folder `name` in the adapters folder as a servable adapter (not yet loaded); None when there
        is no such folder; AdapterInvalid when there is one but its files say it cannot be served here."""
        if self.adapters_dir is None or name in self._withdrawn or not is_adapter_name(name):
            return None
        if name == self.base_name or name in self.aliases:
            raise AdapterInvalid(f"the name '{name}' is already served (the base model or an alias)")
        folder = self.adapters_dir / name
        if not folder.is_dir():
            return None
        refused = self._refused.get(name)
        if refused is not None and refused[0] == _stamp(folder):  # refused on first use, and unchanged since
            raise AdapterInvalid(refused[1])
        try:
            check_adapter_files(
                folder, self._base_config, self.base_names, self.engine.max_lora_rank, self.base_revision
            )
            card = read_card(folder)
            memory_path(folder, card)
        except (AdapterInvalid, ValueError) as exc:  # ValueError: a twin.json pydantic refuses
            raise AdapterInvalid(self._public(exc)) from exc
        served = ServedAdapter(AdapterRef(name, folder, next(self._ids)), card)
        self._adapters[name] = served
        self._reported.pop(name, None)
        return served

    def scan(self) -> list[str]:
        """Take in the folders added since the last scan (start-up, `GET /v1/models`); forget clones whose folder
        is gone and that the engine does not hold. Returns the problems not reported before, each naming its
        folder, and logs them."""
        if self.adapters_dir is None:
            return []
        present = {p.name for p in self.adapters_dir.iterdir() if p.is_dir()}
        for name in [n for n, a in self._adapters.items() if not a.ref.path.is_dir() and n not in self._on_engine]:
            self._forget(name)
        problems = []
        for name in sorted(present - self._adapters.keys() - self._withdrawn):
            problem = None if is_adapter_name(name) else f"the folder name {ADAPTER_NAME_RULE}"
            try:
                self._found(name)
            except AdapterInvalid as exc:
                problem = str(exc)
            if problem and self._reported.get(name) != problem:
                self._reported[name] = problem
                problems.append(f"{name}: {problem}")
                logger.warning("adapter skipped: %s: %s", name, problem)
        return problems

    def resolve(self, model: str) -> ModelTarget:
        """The base or a servable adapter (found in the folder now if it was added since); it may not be loaded
        yet: `ready` loads it. 404 listing the served names; 400 naming a folder that cannot be served."""
        name = self._concrete(self.aliases.get(model, model))
        if name == self.base_name:
            return ModelTarget(model, None)
        adapter = self._adapters.get(name)
        if adapter is not None and not adapter.ref.path.is_dir() and name not in self._on_engine:
            self._forget(name)
            adapter = None
        if adapter is None:
            try:
                adapter = self._found(name)
            except AdapterInvalid as exc:
                raise OpenAIError(
                    400, f"the adapter '{name}' cannot be served: {exc}", param="model", code="invalid_adapter"
                ) from exc
        if adapter is not None:
            return ModelTarget(model, adapter)
        raise OpenAIError(
            404,
            f"The model '{model}' does not exist. Served models: {', '.join(self.served_names())}",
            param="model",
            code="model_not_found",
        )

    async def ready(self, model: str) -> ModelTarget:
        """`resolve`, then load the adapter onto the engine if this is its first use. Concurrent first requests
        wait for one load; a client that goes away does not cancel it for the others."""
        target = self.resolve(model)
        adapter = target.adapter
        if adapter is None or adapter.ref.name in self._on_engine:
            return target
        name = adapter.ref.name
        loading = self._loading.get(name)
        if loading is None:
            loading = asyncio.ensure_future(self._first_load(adapter))
            self._loading[name] = loading
            loading.add_done_callback(self._loaded)
        await asyncio.shield(loading)
        return target

    def _loaded(self, loading: asyncio.Future[None]) -> None:
        """A first load is over: the next request starts another if it failed. Its error is read here, so that
        one whose requests all went away is not reported as never retrieved."""
        for name in [n for n, f in self._loading.items() if f is loading]:
            del self._loading[name]
        if not loading.cancelled():
            loading.exception()

    async def _first_load(self, adapter: ServedAdapter) -> None:
        name = adapter.ref.name
        async with self._lock:
            if self._adapters.get(name) is not adapter:
                raise OpenAIError(404, f"the adapter '{name}' was unloaded", param="model", code="model_not_found")
            if name in self._on_engine:
                return
            try:
                await self._load_onto_engine(adapter)
            except OpenAIError as exc:
                self._forget(name)
                self._refused[name] = (_stamp(adapter.ref.path), exc.message)
                raise OpenAIError(
                    400, f"the adapter '{name}' cannot be served: {exc.message}", param="model", code="invalid_adapter"
                ) from exc
        logger.info("adapter %s loaded on first use", name)

    async def _load_onto_engine(self, served: ServedAdapter) -> None:
        """The whole check (weights too), the folder's memory, then the engine; 400 naming what is wrong.
        The caller holds the lock."""
        folder = served.ref.path
        try:
            validate_adapter_folder(
                folder, self._base_config, self.base_names, self.engine.max_lora_rank, self.base_revision
            )
            served.card = read_card(folder)
            memory = open_memory(folder, served.card)
        except (AdapterInvalid, ValueError) as exc:
            raise OpenAIError(400, self._public(exc), param="lora_path", code="invalid_adapter") from exc
        try:
            await self.engine.load_adapter(served.ref)
        except ValueError as exc:
            if memory is not None:
                memory.close()
            raise OpenAIError(400, self._public(exc), param="lora_path", code="invalid_adapter") from exc
        served.memory = memory
        self._on_engine.add(served.ref.name)
        self._on_load(served.ref.name)

    def _forget(self, name: str) -> None:
        served = self._adapters.pop(name, None)
        self._on_engine.discard(name)
        if served is not None and served.memory is not None:
            served.memory.close()

    def _checked_path(self, name: str, path: str | None) -> Path:
        if not is_adapter_name(name):
            raise OpenAIError(400, f"adapter name {name!r} {ADAPTER_NAME_RULE}", param="lora_name")
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
        """The admin route: load now (a clone not yet used, or from another folder of the adapters folder)."""
        folder = self._checked_path(name, path)
        async with self._lock:
            if name in self._on_engine or name == self.base_name or name in self.aliases:
                raise OpenAIError(400, f"the name '{name}' is already served; unload it first", param="lora_name")
            known = self._adapters.get(name)
            if known is not None and known.ref.path == folder:
                served = known
            else:
                served = ServedAdapter(AdapterRef(name, folder, next(self._ids)), None)
            try:
                await self._load_onto_engine(served)
            except OpenAIError:
                if known is not None:
                    self._forget(name)  # its folder cannot be served: no longer listed
                raise
            self._adapters[name] = served
            self._withdrawn.discard(name)
            return served

    async def unload(self, name: str) -> None:
        """The admin route: the clone is no longer served, nor found in the folder again, until it is loaded."""
        async with self._lock:
            if name not in self._adapters:
                raise OpenAIError(
                    404, f"no adapter named '{name}' is loaded", param="lora_name", code="model_not_found"
                )
            served = self._adapters[name]
            if name in self._on_engine:
                await self.engine.unload_adapter(served.ref)
            self._forget(name)
            self._withdrawn.add(name)

    async def promote(self, name: str) -> tuple[str | None, str]:
        """The admin route: `clone` answers with the version `name` (`me@2`) from the next request on. The version
        is checked and loaded first, so a broken one is refused, never switched to, and the first request after
        the switch pays no load. The record is written before the switch, so a restart keeps it. Returns
        (what served before, what serves now)."""
        clone, version = split_version(name)
        if version is None or not is_adapter_name(name):
            raise OpenAIError(400, f"name a version to promote, like {name}@2", param="lora_name")
        async with self._promoting:
            records = self._versioned_records(clone)
            try:
                before, current = self.serving(clone), records.get(clone)
            except (OpenAIError, ValueError):  # an unreadable record: promoting writes a whole one over it
                before, current = None, None
            await self.ready(name)
            self._record(records, clone, promoted(current, version, split_version(before)[1] if before else None))
        logger.info("clone %s now answers with %s (was %s)", clone, name, before)
        return before, name

    async def rollback(self, clone: str) -> tuple[str, str]:
        """The admin route: `clone` answers again with the version promoted before the one serving now (else
        the highest below it). Returns (what served before, what serves now)."""
        async with self._promoting:
            records = self._versioned_records(clone)
            before = self.serving(clone)
            numbers = self._numbers(clone)
            back = rolled_back(records.get(clone), split_version(before)[1] or 0, numbers) if before else None
            if before is None or back is None:
                raise OpenAIError(
                    400, f"the clone '{clone}' has no version to roll back to (serving {before})", param="lora_name"
                )
            name = versioned(clone, back.version)
            await self.ready(name)
            self._record(records, clone, back)
        logger.info("clone %s rolled back to %s (was %s)", clone, name, before)
        return before, name

    def _record(self, records: PromotionRecords, clone: str, promotion: Promotion) -> None:
        try:
            records.set(clone, promotion)
        except OSError as exc:
            unwritable = f"the promotion record of '{clone}' cannot be written, nothing switched: {self._public(exc)}"
            if exc.errno in _READ_ONLY:  # the folder is read-only here (a Kubernetes volume): retrying will not help
                raise OpenAIError(
                    409,
                    f"{unwritable}; this server's adapters folder is read-only: write "
                    f"{clone}{PROMOTION_SUFFIX} into it where it is writable, and every server reads it again",
                    code="adapters_read_only",
                ) from exc
            raise OpenAIError(503, unwritable, code="promotion_record_unwritable") from exc

    def _versioned_records(self, clone: str) -> PromotionRecords:
        """The records, for a clone whose bare name is free for its versions."""
        if self._records is None:
            raise OpenAIError(400, "this server has no --adapters folder: versions are off", param="lora_name")
        if not is_plain_name(clone):
            raise OpenAIError(400, f"clone name {clone!r} {ADAPTER_NAME_RULE}", param="lora_name")
        if (
            clone == self.base_name
            or clone in self.aliases
            or clone in self._adapters
            or (self._records.adapters_dir / clone).is_dir()
        ):
            raise OpenAIError(
                400,
                f"'{clone}' is served by a folder or alias of that name, not by its versions: rename the folder "
                f"{clone}@1 to version it",
                param="lora_name",
            )
        self.scan()
        return self._records

    async def attach(self, engine: Engine) -> None:
        """Serve through a new engine (after a restart): every adapter the old one had is loaded on it."""
        async with self._lock:
            self.engine = engine
            for name in self.loaded_names():
                await engine.load_adapter(self._adapters[name].ref)
                self._on_load(name)
