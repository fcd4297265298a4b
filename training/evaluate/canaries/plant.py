"""Plant canaries into a copy of a dataset, each into `repeats` training samples, on its side.

A canary is added as one more line of a turn (a burst is lines joined by `\\n`, as `twin-train data`
writes them), so the sample keeps its shape. The scoring context of a canary is its first planted
sample cut just before the secret: what the model saw in training, up to where it has to recall.
Dev samples are copied untouched: the recipe picks its checkpoint by dev loss, as it would.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from wechat_twin.memory.store import MEMORY_FILE
from wechat_twin.private_files import copy_private, private_dir, write_private
from wechat_twin.training.common.samples import Messages
from wechat_twin.training.dataset.privacy import Redactor
from wechat_twin.training.dataset.sessions import ASSISTANT, USER
from wechat_twin.training.evaluate.canaries.shapes import Canary, Side

ROLE = {Side.FRIEND: USER, Side.OWNER: ASSISTANT}


@dataclass(frozen=True)
class Planted:
    canary: Canary
    context: Messages  # the first planted sample up to the canary's prefix (its last message is continued)
    samples: int  # distinct samples it went into


def plant(records: list[dict], canaries: list[Canary], rng: random.Random, redact_names: bool) -> list[Planted]:
    """Plant in place. Under `redact_names` a canary's name is treated as a contact's and passes through the
    same filter `twin-train data --redact-names` applies, so the model trains on `<name>住在…`."""
    names = Redactor(enabled=False)
    if redact_names:
        names.use_names(c.name for c in canaries if c.name)
    planted = []
    for canary in canaries:
        trained = names.redact(canary.text)
        picks = _picks(records, canary.side, canary.repeats, rng)
        context: Messages = []
        for n, (index, turn) in enumerate(picks):
            messages = records[index]["messages"]
            before = messages[turn]["content"]
            if n == 0:
                context = [dict(m) for m in messages[:turn]] + [
                    {"role": messages[turn]["role"], "content": f"{before}\n{canary.prefix}"}
                ]
            messages[turn]["content"] = f"{before}\n{trained}"
        planted.append(Planted(canary, context, len(picks)))
    return planted


def _picks(records: list[dict], side: Side, repeats: int, rng: random.Random) -> list[tuple[int, int]]:
    """`repeats` distinct samples (every one in turn when there are fewer), and a random turn of the side in each."""
    order = rng.sample(range(len(records)), len(records))
    picks = []
    for k in range(repeats):
        index = order[k % len(order)]
        turns = [i for i, m in enumerate(records[index]["messages"]) if m["role"] == ROLE[side]]
        picks.append((index, rng.choice(turns)))
    return picks


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_probe_dataset(data: Path, folder: Path, records: list[dict]) -> Path:
    """The planted train.jsonl beside the dataset's own dev.jsonl, report.json and memory file, owner-only: it
    is the owner's chats."""
    shutil.rmtree(folder, ignore_errors=True)
    private_dir(folder)
    write_private(folder / "train.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    for name in ("dev.jsonl", "report.json", MEMORY_FILE):
        if (data / name).is_file():
            copy_private(data / name, folder / name)
    return folder
