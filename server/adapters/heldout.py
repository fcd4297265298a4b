"""The held-out moments an adapter folder carries for the blind test: `heldout.jsonl`, its dataset's dev split.

`twin-train sft` copies the dataset's `dev.jsonl` into the adapter folder under this name (owner-only, like the
memory file), so every clone (and every version of one) is judged on the chats it was not trained on, and the
test needs nothing outside the folder. A moment is one owner reply of a dev sample: the conversation up to it
(the friend's messages and the owner's earlier replies, the system prompt left to the server) and the owner's
real reply. Its contact is the sample's `chat` key, the key the memory file's aliases map names to.

Nothing here checks who may see a moment: the blind test's serving keeps a chat key to its own contact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

HELDOUT_FILE = "heldout.jsonl"


@dataclass(frozen=True)
class Moment:
    """`id` is `LINE.TURN`: the sample's line in the file and the owner reply's index among its messages."""

    id: str
    contact: str
    context: list[dict[str, str]]
    reply: str


def moments_of(record: dict, line: int) -> list[Moment]:
    """Every owner reply of one dev sample that follows a friend's turn, with the conversation before it."""
    contact = record.get("chat")
    messages = [m for m in record.get("messages", []) if m.get("role") in ("user", "assistant")]
    if not isinstance(contact, str) or not contact:
        return []
    found = []
    for index, message in enumerate(messages):
        if message["role"] == "assistant" and index > 0 and messages[index - 1]["role"] == "user":
            context = [{"role": m["role"], "content": m["content"]} for m in messages[:index]]
            found.append(Moment(f"{line}.{index}", contact, context, message["content"]))
    return found


def read_moments(folder: Path) -> list[Moment]:
    """The folder's held-out moments, in file order; none when it carries no `heldout.jsonl`.

    Read at each request rather than at load: the file is a dev split (small), and an owner may drop one into
    a served folder without reloading it."""
    path = folder / HELDOUT_FILE
    if not path.is_file():
        return []
    moments = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                moments.extend(moments_of(json.loads(line), number))
    return moments
