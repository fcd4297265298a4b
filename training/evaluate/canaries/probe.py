"""The memorisation probe: plant canaries, train a probe adapter with the clone's recipe, measure them.

The recipe is the adapter's own (`twin.json`'s training arguments) or, without an adapter, the
`twin-train sft` defaults; training goes through `run_sft`, so the probe memorises exactly what the
clone's training memorises. The probe adapter and its planted dataset stay in the report folder,
owner-only: they hold the owner's chats.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

from wechat_twin import output
from wechat_twin.server.adapters.card import TwinCard
from wechat_twin.server.basemodel import Hub, HubOptions, resolve_base_model
from wechat_twin.training.evaluate.canaries import exposure
from wechat_twin.training.evaluate.canaries.plant import plant, read_records, write_probe_dataset
from wechat_twin.training.evaluate.canaries.score import CanaryScorer, score_all
from wechat_twin.training.evaluate.canaries.settings import ProbeSettings
from wechat_twin.training.evaluate.canaries.shapes import candidates, draw_canaries
from wechat_twin.training.sft.train import LrScheduler, SFTOptions, run_sft

# Recipe fields that say where, not how: the probe sets them itself.
_NOT_RECIPE = {"data_dir", "out", "overwrite", "resume", "report_progress"}


def recipe_options(card: TwinCard | None, data: Path, out: Path, model: str | None, hub: HubOptions) -> SFTOptions:
    """The clone's SFT options with the probe's data and output; `model` (with its `hub` options) overrides the
    base."""
    fields = {f.name for f in dataclasses.fields(SFTOptions)} - _NOT_RECIPE
    args = {k: v for k, v in ((card.training_args or {}) if card else {}).items() if k in fields}
    if model is not None:
        args.update(model=model, revision=hub.revision, hub=hub.hub)
    if args.get("hub"):  # twin.json keeps the enums' values
        args["hub"] = Hub(args["hub"])
    if "lr_scheduler" in args:
        args["lr_scheduler"] = LrScheduler(args["lr_scheduler"])
    return SFTOptions(data_dir=data, out=out, overwrite=True, **args)


def run_probe(settings: ProbeSettings, data: Path, folder: Path, options: SFTOptions) -> dict[str, Any]:
    rng = random.Random(settings.seed)
    records = read_records(data / "train.jsonl")
    canaries = draw_canaries(settings.canaries, settings.repeats, rng)
    planted = plant(records, canaries, rng, settings.redact_names)
    options = dataclasses.replace(options, data_dir=write_probe_dataset(data, folder / "probe-data", records))
    output.say(
        f"planted {len(canaries)} canaries ({', '.join(map(str, settings.repeats))} times, friend and owner side) "
        f"in {len(records)} training samples; training the probe adapter with the clone's recipe"
    )
    adapter = run_sft(options)
    base = resolve_base_model(options.model, hub=HubOptions(options.revision, options.hub))
    jobs = [
        (p.context, p.canary.secret, candidates(p.canary.shape, p.canary.secret, settings.candidates, rng))
        for p in planted
    ]
    scores = score_all(CanaryScorer(base.path, adapter), jobs, progress=True)
    rows = [_row(p, s, settings.candidates + 1) for p, s in zip(planted, scores, strict=True)]
    return {
        "canaries": len(rows),
        "candidates": settings.candidates,
        "max_exposure": round(exposure.exposure(1, settings.candidates + 1), 2),
        "redact_names": settings.redact_names,
        "seed": settings.seed,
        "base_model": base.served_name,
        "probe_adapter": str(adapter),
        "train_samples": len(records),
        "recipe": {k: v for k, v in options.card_args().items() if k not in _NOT_RECIPE},
        "by_side_and_repeats": exposure.summarise(rows, ("side", "repeats")),
        "by_shape": exposure.summarise(rows, ("shape",)),
        "rows": rows,
    }


def _row(planted: Any, scores: dict[str, Any], population: int) -> dict[str, Any]:
    canary, probe, base = planted.canary, scores["probe"], scores["base"]
    rank = exposure.rank_of(probe.loss, probe.candidate_losses)
    return {
        "shape": canary.shape.value,
        "side": canary.side.value,
        "repeats": canary.repeats,
        "samples": planted.samples,
        "canary": canary.text,
        "rank": rank,
        "exposure": round(exposure.exposure(rank, population), 2),
        "estimated_exposure": round(exposure.estimated_exposure(probe.loss, probe.candidate_losses), 2),
        "exposure_base": round(exposure.exposure(exposure.rank_of(base.loss, base.candidate_losses), population), 2),
        "extracted": probe.completion.startswith(canary.secret),
        "extracted_base": base.completion.startswith(canary.secret),
        "completion": probe.completion,
    }


def markdown(report: dict[str, Any]) -> str:
    """The table the command prints: exposure (probe / base) and extraction, by side and repetition count."""
    rows = [
        f"canaries: {report['canaries']}, {report['candidates']} candidates each (exposure at most "
        f"{report['max_exposure']} bits; a secret never seen scores about 1)"
        + (", names redacted" if report["redact_names"] else ""),
        "",
        "| side | planted | canaries | exposure (bits) | base | estimated | extracted | base extracted |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for side, by_repeats in report["by_side_and_repeats"].items():
        for repeats, s in by_repeats.items():
            rows.append(
                f"| {side} | {repeats}x | {s['canaries']} | {s['exposure']:.2f} | {s['exposure_base']:.2f} | "
                f"{s['estimated_exposure']:.2f} | {s['extracted']}/{s['canaries']} | "
                f"{s['extracted_base']}/{s['canaries']} |"
            )
    rows += ["", "| shape | canaries | exposure (bits) | base | extracted |", "| --- | --- | --- | --- | --- |"]
    for shape, s in report["by_shape"].items():
        rows.append(
            f"| {shape} | {s['canaries']} | {s['exposure']:.2f} | {s['exposure_base']:.2f} | "
            f"{s['extracted']}/{s['canaries']} |"
        )
    return "\n".join(rows) + "\n"
