"""Print what a preference run produced: the metrics before and after, and how to serve the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from wechat_twin.output import result_console
from wechat_twin.server.adapters.card import read_card


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def metrics_table(metrics: dict[str, Any]) -> Table:
    table = Table(title="Feedback learned (reward = beta * log-prob gain over the parent)")
    for column in ("split", "items", "metric", "parent", "new adapter"):
        table.add_column(column, justify="left" if column in ("split", "metric") else "right")
    for split in ("train", "heldout"):
        for kind in ("pairs", "labels"):
            part = metrics.get(split, {}).get(kind)
            if not part:
                continue
            for metric, after in part["after"].items():
                table.add_row(split, f"{part['count']} {kind}", metric, _number(part["before"][metric]), _number(after))
    return table


def print_report(out: Path, console: Console | None = None) -> None:
    console = console or result_console()
    card = read_card(out)
    if card is None:
        raise FileNotFoundError(f"{out}: twin.json is missing after training")
    console.print(metrics_table(card.metrics))
    trainer = card.metrics.get("trainer", {})
    console.print(
        f"[green]Wrote[/] {card.kind.upper()} adapter [bold]{out.name}[/] at {out} "
        f"({trainer.get('steps')} steps, {trainer.get('seconds')} s, parent {card.parent_adapter})."
    )
    if "heldout" not in card.metrics:
        console.print("No feedback was held out (too little of it): the numbers above are on the training feedback.")
    console.print(
        f"Serve it by name next to its parent: put the folder in the server's --adapters folder, then restart it, "
        f'or POST /v1/load_lora_adapter {{"lora_name": "{out.name}"}} with the admin key; '
        f'then ask for model="{out.name}".'
    )
