"""The evaluation as JSON, a markdown table (base vs adapter vs owner) and a PNG figure."""

from __future__ import annotations

import io
import json
from pathlib import Path
from statistics import fmean
from typing import Any

from wechat_twin.private_files import private_dir, write_private
from wechat_twin.training.evaluate.style import RATE_KEYS, STYLE_KEYS, lines_of

COLUMNS = ("base", "adapter", "owner")
EXAMPLES_IN_MARKDOWN = 3


def markdown_table(report: dict[str, Any]) -> str:
    rows = ["| metric | base | adapter | owner |", "| --- | --- | --- | --- |"]
    ppl = report["perplexity"]
    rows.append(f"| perplexity of the owner's replies | {ppl['base']:.2f} | {ppl['adapter']:.2f} | |")
    for key in STYLE_KEYS:
        values = " | ".join(f"{report['style'][c][key]:.3f}" for c in COLUMNS)
        rows.append(f"| {key} | {values} |")
    distance = report["style_distance_to_owner"]
    rows.append(f"| **style distance to owner** (0 = owner) | {distance['base']:.3f} | {distance['adapter']:.3f} | 0 |")
    return "\n".join(rows) + "\n"


def memory_table(report: dict[str, Any]) -> str:
    """The four memory rows and the verdict (`eval --memory`); empty without them."""
    if "memory" not in report:
        return ""
    rows = [
        "| row | perplexity of the owner's replies | style distance to owner | distinct_2 | lines_per_turn |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in report["memory"]["rows"].values():
        style = row["style"]
        rows.append(
            f"| {row['title']} | {row['perplexity']:.2f} | {row['style_distance_to_owner']:.3f} | "
            f"{style['distinct_2']:.3f} | {style['lines_per_turn']:.2f} |"
        )
    return "\n## Memory\n\n" + "\n".join(rows) + f"\n\n{report['memory']['verdict']['text']}\n"


def sampling_table(report: dict[str, Any]) -> str:
    """Style at the engine's defaults next to the tuned sampling (`eval --tune-sampling`); empty without it."""
    if "sampling" not in report:
        return ""
    tuning = report["sampling"]
    styles, distance = tuning["style"], tuning["style_distance_to_owner"]
    rows = ["| metric | defaults | tuned | owner |", "| --- | --- | --- | --- |"]
    rows += [
        f"| {k} | {styles['defaults'][k]:.3f} | {styles['tuned'][k]:.3f} | {styles['owner'][k]:.3f} |"
        for k in STYLE_KEYS
    ]
    rows.append(f"| **style distance to owner** | {distance['defaults']:.3f} | {distance['tuned']:.3f} | 0 |")
    settings = ", ".join(f"{k} {v}" for k, v in tuning["tuned"].items())
    return (
        f"\n## Sampling\n\ntuned on {len(tuning['points'])} grid points, each scored by its mean over "
        f"{len(tuning['seeds'])} seeds: {settings}\n\n" + "\n".join(rows) + f"\n\n{_recheck_text(tuning['recheck'])}\n"
    )


def _recheck_text(recheck: dict[str, Any]) -> str:
    """How the winner fares on seeds that played no part in choosing it."""
    distances = recheck["style_distance_to_owner"]
    seeds = len(recheck["seeds"])

    def spread(values: list[float]) -> str:
        return f"{fmean(values):.3f} ({min(values):.3f} to {max(values):.3f})"

    return (
        f"On {seeds} fresh seeds the style distance to the owner is {spread(distances['defaults'])} at the "
        f"defaults and {spread(distances['tuned'])} tuned (mean, lowest to highest): the tuned values are "
        f"closer on {recheck['tuned_closer']} of {seeds}."
    )


def _examples(report: dict[str, Any]) -> str:
    blocks = []
    for item in report["replies"][:EXAMPLES_IN_MARKDOWN]:
        lines = [f"- friend: {item['prompt']!r}"]
        lines += [f"  - {column}: {item[column]!r}" for column in ("owner", "adapter", "base")]
        blocks.append("\n".join(lines))
    return "\n\n## Examples\n\n" + "\n".join(blocks) + "\n" if blocks else ""


def _figure(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    replies = {column: [item[column] for item in report["replies"]] for column in COLUMNS}
    figure, (lengths, bursts, rates) = plt.subplots(1, 3, figsize=(15, 4.5), width_ratios=(1, 1, 2))
    longest = max((len(r.strip()) for texts in replies.values() for r in texts), default=1)
    bins = list(range(0, longest + 11, max(1, (longest + 10) // 20)))
    for column, texts in replies.items():
        lengths.hist([len(t.strip()) for t in texts], bins=bins, histtype="step", linewidth=2, label=column)
        counts = [len(lines_of(t)) for t in texts]
        bursts.hist(
            counts,
            bins=[b - 0.5 for b in range(0, max(counts, default=1) + 2)],
            histtype="step",
            linewidth=2,
            label=column,
        )
    lengths.set(title="reply length", xlabel="characters", ylabel="replies")
    bursts.set(title="messages per reply (bursts)", xlabel="lines")
    width = 0.27
    for offset, column in enumerate(COLUMNS):
        values = [report["style"][column][k] for k in RATE_KEYS]
        rates.bar([i + (offset - 1) * width for i in range(len(RATE_KEYS))], values, width, label=column)
    rates.set_xticks(range(len(RATE_KEYS)), RATE_KEYS, rotation=30, ha="right")
    distance = report["style_distance_to_owner"]
    rates.set_title(f"habits (style distance to owner: base {distance['base']:.2f}, adapter {distance['adapter']:.2f})")
    for axis in (lengths, bursts, rates):
        axis.legend()
    figure.suptitle(f"{report['adapter']} vs {report['base_model']} vs the owner, {report['prompts']} dev prompts")
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=110)
    plt.close(figure)
    write_private(path, image.getvalue())


def write_report(report: dict[str, Any], out: Path) -> str:
    """Files hold generated and real replies: owner-only. Returns the table for the terminal."""
    private_dir(out)
    table = markdown_table(report) + memory_table(report) + sampling_table(report)
    write_private(out / "eval.json", json.dumps(report, ensure_ascii=False, indent=2))
    write_private(out / "eval.md", f"# {report['adapter']}: evaluation on the dev set\n\n{table}{_examples(report)}")
    _figure(report, out / "eval.png")
    return table
