"""`twin-train demo`: the whole pipeline on the sample export, sized for a 2-core CPU.

It is the first thing a new user runs, so it is idempotent (an existing demo adapter is
reused) and every long step shows progress.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from server.adapters.card import read_card
from training.dataset.pipeline import PipelineOptions, run
from training.dataset.report import summary
from training.sft.train import SFTOptions, run_sft

SAMPLE_EXPORT = Path(__file__).resolve().parents[1] / "examples" / "memotrace_sample" / "messages.csv"


def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for the demo's dataset and adapters")] = Path("runs/demo"),
    name: Annotated[str, typer.Option(help="The demo clone's served name")] = "demo-clone",
    steps: Annotated[int, typer.Option(help="Training steps (about 4 s each on 2 CPU cores)")] = 60,
    export: Annotated[Path, typer.Option(help="Chat export to learn from")] = SAMPLE_EXPORT,
    owner_name: Annotated[str, typer.Option(help="The owner's name in the persona prompt")] = "Jay",
    force: Annotated[bool, typer.Option(help="Rebuild even if the demo adapter exists")] = False,
) -> None:
    """Build a clone from the sample export (once) and say how to serve it."""
    adapter = out / "adapters" / name
    if read_card(adapter) is not None and not force:
        typer.echo(f"demo adapter already built: {adapter} (--force rebuilds it)")
    else:
        data_dir = out / "data"
        typer.echo(f"== 1/2 dataset from {export}")
        report = run([export], PipelineOptions(out=data_dir, owner_name=owner_name, progress=True))
        typer.echo(summary(report))
        typer.echo(f"== 2/2 training {name} on the embedded model ({steps} steps)")
        run_sft(SFTOptions(data_dir=data_dir, out=adapter, max_steps=steps, batch_size=4, max_length=256,
                           learning_rate=1e-3, evals=2, overwrite=True))  # fmt: skip
    typer.echo(f"serve it:  twin-server serve --adapters {out / 'adapters'}   (then use model={name!r})")
