"""An adapter folder whose twin.json carries tuned sampling and a reply length no client would send by chance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

TUNED_SAMPLING = {"temperature": 0.37, "top_p": 0.85, "repetition_penalty": 1.15}
TUNED_REPLY_P99 = 20
TUNED_BUDGET = 46  # the reply budget the server gives it: 1.5 x 20 + 16 (server/config.py's margin and slack)


def tuned_adapters(source: Path, root: Path, name: str = "tuned", sampling: dict | None = None) -> Path:
    """`root` holding `source`'s weights as `name`, its card saying TUNED_SAMPLING (or `sampling`) and 20 tokens."""
    shutil.copytree(source, root / name)
    card_path = root / name / "twin.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card.update(sampling=TUNED_SAMPLING if sampling is None else sampling, reply_tokens_p99=TUNED_REPLY_P99)
    card_path.write_text(json.dumps(card), encoding="utf-8")
    return root
