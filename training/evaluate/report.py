"""The evaluation as JSON, a markdown table (base vs adapter vs owner) and a PNG figure."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from training.evaluate.style import STYLE_KEYS

COLUMNS = ("base", "adapter", "owner")


def markdown_table(report: dict[str, Any]) -> str:
    rows = ["| metric | base | adapter | owner |", "| --- | --- | --- | --- |"]
    ppl = report["perplexity"]
    rows.append(f"| perplexity of owner replies | {ppl['base']:.2f} | {ppl['adapter']:.2f} | |")
    for key in STYLE_KEYS:
        values = " | ".join(f"{report['style'][c][key]:.3f}" for c in COLUMNS)
        rows.append(f"| {key} | {values} |")
    distance = report["style_distance_to_owner"]
    rows.append(
        f"| style distance to owner (lower is closer) | {distance['base']:.3f} | {distance['adapter']:.3f} | 0 |"
    )
    return "\n".join(rows) + "\n"


def _private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _figure(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in STYLE_KEYS if k != "chars_mean"]
    figure, axis = plt.subplots(figsize=(10, 4.5))
    width = 0.27
    for offset, column in enumerate(COLUMNS):
        values = [report["style"][column][k] for k in keys]
        axis.bar([i + (offset - 1) * width for i in range(len(keys))], values, width, label=column)
    axis.set_xticks(range(len(keys)), keys, rotation=30, ha="right")
    axis.set_title(f"style vs owner (distance: base {report['style_distance_to_owner']['base']:.2f}, "
                   f"adapter {report['style_distance_to_owner']['adapter']:.2f})")  # fmt: skip
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(report: dict[str, Any], out: Path) -> str:
    """Files hold generated and real replies: owner-only."""
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(report)
    _private(out / "eval.json", json.dumps(report, ensure_ascii=False, indent=2))
    _private(out / "eval.md", table)
    _figure(report, out / "eval.png")
    return table
