"""`twin-train demo`: the whole pipeline on the sample export, sized for a 2-core CPU.

It is the first thing a new user runs, so it is idempotent (an existing demo adapter is
reused) and every long step shows progress. The settings are the smallest that still let
the owner's habits show: WeChat emoji codes, `~`, bursts of short lines.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from wechat_twin import output
from wechat_twin.server.adapters.card import read_card
from wechat_twin.training.dataset.pipeline import PipelineOptions, run
from wechat_twin.training.dataset.report import summary
from wechat_twin.training.sft.train import SFTOptions, run_sft

SAMPLE_EXPORT = Path(__file__).resolve().parents[1] / "examples" / "memotrace_sample" / "messages.csv"


def demo_options(data_dir: Path, adapter: Path, steps: int) -> SFTOptions:
    """About 7 s a step on 2 cores: 4 samples of ~170 tokens, a high learning rate for a short run."""
    return SFTOptions(
        data_dir=data_dir,
        out=adapter,
        max_steps=steps,
        batch_size=4,
        max_length=256,
        learning_rate=1e-3,
        evals=1,
        overwrite=True,
    )


def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for the demo's dataset and adapters")] = Path("runs/demo"),
    name: Annotated[str, typer.Option(help="The demo clone's served name")] = "demo-clone",
    steps: Annotated[int, typer.Option(help="Training steps (about 7 s each on 2 CPU cores)")] = 36,
    export: Annotated[Path, typer.Option(help="Chat export to learn from")] = SAMPLE_EXPORT,
    owner_name: Annotated[str, typer.Option(help="The owner's name in the persona prompt")] = "Jay",
    force: Annotated[bool, typer.Option(help="Rebuild even if the demo adapter exists")] = False,
) -> None:
    """Build a clone from the sample export (once) and say how to serve it."""
    adapters = out / "adapters"
    adapter = adapters / name
    data_dir = out / "data"
    if read_card(adapter) is not None and not force:
        output.say(f"demo adapter already built: {adapter} (--force rebuilds it)")
    else:
        started = time.monotonic()
        output.say(f"== 1/2 dataset from {export}")
        report = run([export], PipelineOptions(out=data_dir, owner_name=owner_name, progress=True))
        output.say(summary(report))
        output.say(f"== 2/2 training {name} on the embedded model ({steps} steps)")
        run_sft(demo_options(data_dir, adapter, steps))
        output.say(f"demo clone built in {time.monotonic() - started:.0f} s; loss curve: {adapter / 'loss.png'}")
    output.result(f"serve it:     twin-server serve --adapters {adapters}   (then call it with model={name!r})")
    output.result(f"evaluate it:  twin-train eval {adapter} --data {data_dir}")
    output.result(
        "  add --tune-sampling to pick the sampling that sounds most like the owner (the server then uses it)"
    )
