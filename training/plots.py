"""Loss curves as PNG, so a user sees at a glance whether training went anywhere."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from wechat_twin.private_files import write_private


def plot_losses(log_history: list[dict[str, Any]], out: Path, title: str) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    dev = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e and "step" in e]
    if not train and not dev:
        return None
    figure, axis = plt.subplots(figsize=(7, 4))
    for points, label in ((train, "train"), (dev, "dev")):
        if points:
            axis.plot(*zip(*points, strict=True), marker="o", markersize=3, label=label)
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_title(title)
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=120)
    plt.close(figure)
    return write_private(out, image.getvalue())
