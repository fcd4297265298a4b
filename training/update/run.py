"""`twin-train update`: continue a clone on the chats that came after it, instead of training it again.

The new exports are read with the options the adapter's dataset was made with (its card records them), so a
session cut the same way is recognised by its identity and digest and left out when the adapter trained on
it. The new sessions are split as `twin-train data` splits (each chat's newest held out as dev), a share of
the parent's training samples is replayed beside them so the clone does not forget the older chats, and
training continues from the parent's LoRA weights with the SFT trainer itself (`run_sft(start_from=...)`).
The memory file is the parent's with the new train exchanges added; dev exchanges never enter it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from wechat_twin import output
from wechat_twin.errors import TwinError, UsageError
from wechat_twin.memory.store import MEMORY_FILE, append_memory
from wechat_twin.options import argument, option
from wechat_twin.private_files import private_path
from wechat_twin.server.adapters.card import TwinCard, read_card
from wechat_twin.server.basemodel import Hub
from wechat_twin.training.adapter_output import prepare_output_dir
from wechat_twin.training.dataset.pipeline import PipelineOptions, run
from wechat_twin.training.dataset.window import WINDOW_FILE, merged, read_window
from wechat_twin.training.dataset.writer import json_document, jsonl, write_files
from wechat_twin.training.sft.train import LrScheduler, SFTOptions, run_sft

REPLAY = 0.3
# The parent's training options that an update takes as they were: what its LoRA's shape and its data were
# made with. The rest of SFTOptions is the update's own (UpdateOptions) or the run's (where it writes).
_PARENTS = (
    "model",
    "revision",
    "hub",
    "rank",
    "alpha",
    "dropout",
    "target_modules",
    "lr_scheduler",
    "warmup_ratio",
    "batch_size",
    "grad_accum",
    "max_length",
    "packing",
    "padding_free",
    "gradient_checkpointing",
    "assistant_only_loss",
    "qlora",
    "max_server_rank",
    "memory",
    "memory_k",
)
_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


class UpdateError(TwinError):
    """The message names the adapter or export and what stands in the way of updating it."""


@dataclass
class UpdateOptions:
    """`twin-train update`'s options, declared once: the command's options are generated from these fields."""

    adapter: Path = argument(help="The adapter folder to update (its twin.json says how its data was made)")
    exports: list[str] = argument(help="New export files or folders (auto-detected), or a chatlog URL")
    out: Path = option(dataclasses.MISSING, "--out", "-o", help="Folder for the updated adapter")
    replay: float = option(REPLAY, help="Share of the parent's training samples trained on again beside the new ones")
    data_out: Path | None = option(
        None, help="Folder for the update's dataset (new sessions, replay, memory); default: .OUT.data beside --out"
    )
    dev_fraction: float | None = option(
        None, help="Share of each chat's newest new sessions held out; default: as the parent's data"
    )
    epochs: float | None = option(None, help="Passes over the new and replayed samples; default: the parent's")
    max_steps: int | None = option(None, help="Stop after this many steps (overrides --epochs); default: the parent's")
    learning_rate: float | None = option(None, help="Peak learning rate; default: the parent's")
    evals: int | None = option(None, help="Dev evaluations (and checkpoints) during training; default: the parent's")
    seed: int = option(42, help="Random seed (which samples are replayed, shuffling)")
    overwrite: bool = option(False, help="Replace an existing adapter or update dataset")
    report_progress: bool = True

    def validate(self) -> None:
        if not 0 <= self.replay <= 1:
            raise UsageError("--replay must be in [0, 1]")
        if self.dev_fraction is not None and not 0 <= self.dev_fraction < 1:
            raise UsageError("--dev-fraction must be in [0, 1)")


@dataclass
class Parent:
    """The adapter an update continues, and what its card says about its data."""

    folder: Path
    card: TwinCard
    data_options: dict[str, Any]
    window: dict[str, Any]

    @property
    def data_dir(self) -> Path | None:
        given = self.card.training_args.get("data_dir")
        return Path(given) if given else None

    def digest(self) -> str:
        """SHA-256 of its weights file: which parent an update continued, even if a folder is replaced later."""
        weights = next((self.folder / name for name in _WEIGHTS if (self.folder / name).is_file()), None)
        if weights is None:
            raise UpdateError(f"{self.folder}: no adapter weights ({' or '.join(_WEIGHTS)})")
        digest = hashlib.sha256()
        with weights.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def memory(self) -> Path | None:
        """The memory the parent was served with, or else its dataset's: what the update's memory extends."""
        inside = self.folder / (self.card.memory or MEMORY_FILE)
        candidates = [inside] + ([self.data_dir / MEMORY_FILE] if self.data_dir else [])
        return next((path for path in candidates if path.is_file()), None)


def read_parent(adapter: Path) -> Parent:
    folder = Path(adapter).expanduser().resolve()
    card = read_card(folder) if folder.is_dir() else None
    if card is None:
        raise UpdateError(f"{folder}: not an adapter folder with a twin.json (give the folder `twin-train sft` wrote)")
    window = read_window(folder)
    if window is None:  # a card written before window.json held the window itself
        window = (card.model_extra or {}).get("data_window")
    if card.data_options is None or window is None:
        raise UpdateError(
            f"{folder}: it records no data options and data window (twin.json's `data_options`, {WINDOW_FILE}; "
            "written before updates existed), so the new chats cannot be told from the ones it learnt; make its "
            "dataset again with `twin-train data` and train it with `twin-train sft` once, then update that adapter"
        )
    return Parent(folder, card, card.data_options, window)


def _pipeline_options(parent: Parent, options: UpdateOptions, data_out: Path) -> PipelineOptions:
    recorded = PipelineOptions.from_record(parent.data_options, data_out)
    for name in ("redact_words", "facts"):
        path = getattr(recorded, name)
        if path is not None and not path.is_file():
            raise UpdateError(
                f"{path}: the parent's data was made with --{name.replace('_', '-')} {path}, which is gone; "
                "the new chats must be read with the same file"
            )
    return replace(
        recorded,
        known_sessions=dict(parent.window.get("sessions") or {}),
        known_last=parent.window.get("last"),
        dev_fraction=recorded.dev_fraction if options.dev_fraction is None else options.dev_fraction,
        progress=sys.stderr.isatty(),
    )


def _read_records(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _replayed(parent: Parent, share: float, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`share` of the parent's training samples, drawn with `seed`, each marked `"replay": true`."""
    train = parent.data_dir / "train.jsonl" if parent.data_dir else None
    if train is None or not train.is_file():
        output.note(f"the parent's dataset ({train or 'not recorded'}) is gone: nothing replayed, new sessions only")
        return [], {"share": share, "samples": 0, "from": None}
    old = _read_records(train)
    picked = random.Random(seed).sample(old, round(share * len(old))) if share else []
    return [{**record, "replay": True} for record in picked], {
        "share": share,
        "samples": len(picked),
        "from": str(train),
    }


def _extend_memory(parent: Parent, data_out: Path) -> dict[str, Any] | None:
    """The parent's memory plus the new train exchanges, at `data_out/memory.sqlite`; None: no parent memory."""
    new = data_out / MEMORY_FILE
    base = parent.memory()
    if base is None or not new.is_file():
        if new.is_file():
            output.note("the parent has no memory file: the memory holds the new sessions only")
        return None
    with private_path(new) as partial:
        shutil.copyfile(base, partial)
        added = append_memory(partial, new)
    return {"extends": str(base), "exchanges_added": added}


def _sft_options(parent: Parent, options: UpdateOptions, data_out: Path, out: Path) -> SFTOptions:
    """The parent's recipe (`_PARENTS`), with the update's own schedule where it gives one."""
    args = parent.card.training_args
    given: dict[str, Any] = {name: args[name] for name in _PARENTS if name in args}
    if "lr_scheduler" in given:
        given["lr_scheduler"] = LrScheduler(given["lr_scheduler"])
    if given.get("hub"):
        given["hub"] = Hub(given["hub"])
    if "model" not in given:
        given["model"], given["revision"] = parent.card.base_model, parent.card.base_revision
    for name in ("epochs", "max_steps", "learning_rate", "evals"):
        value = getattr(options, name)
        given[name] = value if value is not None else args.get(name, getattr(SFTOptions, name, None))
    if options.max_steps is None and options.epochs is not None:
        given["max_steps"] = -1  # --epochs alone: the parent's step count must not override it
    given = {k: v for k, v in given.items() if v is not None or k in ("model", "revision", "hub", "memory_k")}
    return SFTOptions(
        data_dir=data_out,
        out=out,
        seed=options.seed,
        overwrite=options.overwrite,
        report_progress=options.report_progress,
        **given,
    )


def _lineage(parent: Parent, digest: str) -> Any:
    def finish(card: TwinCard) -> TwinCard:
        card.parent_adapter = parent.folder.name
        card.parent = {"name": parent.folder.name, "path": str(parent.folder), "digest": digest}
        return card

    return finish


def run_update(options: UpdateOptions) -> tuple[Path, dict[str, Any]]:
    """Build the update's dataset, train, write the adapter; returns it and the dataset's report."""
    options.validate()
    parent = read_parent(options.adapter)
    out = prepare_output_dir(options.out, options.overwrite)
    if out == parent.folder:
        raise UsageError(f"--out {out} is the adapter being updated; write the update to a new folder")
    data_out = Path(options.data_out or out.parent / f".{out.name}.data").expanduser().resolve()
    if data_out.is_dir() and any(data_out.iterdir()) and not options.overwrite:
        raise UsageError(f"{data_out}: already exists and is not empty (pass --overwrite to replace it)")
    digest = parent.digest()
    report = run(options.exports, _pipeline_options(parent, options, data_out))
    counts = report["update"]
    if not report["samples_train"]:
        raise UpdateError(
            f"no new sessions to learn from in {', '.join(options.exports)}: {counts['new']} new, "
            f"{counts['already_known']} already known, {counts['dropped']} dropped"
        )
    new_train = _read_records(data_out / "train.jsonl")
    replayed, report["replay"] = _replayed(parent, options.replay, options.seed)
    extended = _extend_memory(parent, data_out)
    if extended is not None:
        report["memory"] = {**report.get("memory", {}), **extended}
    write_files(data_out, {"train.jsonl": jsonl(new_train + replayed), "report.json": json_document(report)})
    sft = _sft_options(parent, options, data_out, out)
    window = merged(parent.window, report.get("window") or {"sessions": {}})  # what the update covers
    run_sft(sft, start_from=parent.folder, finish_card=_lineage(parent, digest), window=window)
    return out, report
