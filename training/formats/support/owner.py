"""Find the owner in formats that name speakers but do not mark the owner (TXT, MemoTrace 2025 CSV).

`--me` wins. Without it, a one-to-one chat tells: one speaker is named like the chat, the other
is the owner. Anything else (a group, a renamed contact) is ambiguous, and guessing wrong would
train the clone on a friend's voice, so the error lists the speakers to choose from.
"""

from __future__ import annotations

from pathlib import Path

from wechat_twin.training.formats.support.message import ExportFormatError, ParseOptions


def owner_names(path: Path, speakers: dict[str, int], chat_name: str, options: ParseOptions, what: str) -> set[str]:
    if options.me:
        return set(options.me)
    speakers = {name: n for name, n in speakers.items() if name}  # notices have no speaker
    others = [name for name in speakers if name != chat_name]
    if chat_name in speakers and len(others) == 1:
        options.diagnostics.warn(f"{path}: owner taken to be {others[0]!r} (pass --me NAME to say otherwise)")
        return {others[0]}
    listed = ", ".join(f"{name} ({n})" for name, n in sorted(speakers.items(), key=lambda kv: (-kv[1], kv[0])))
    raise ExportFormatError(path, f"{what} does not mark the owner: pass --me NAME (speakers: {listed or 'none'})")
