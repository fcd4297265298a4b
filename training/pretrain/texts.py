"""The owner's own writing for continued pretraining: one text per line, privacy-filtered like chat data.

Posts and articles carry the same phone numbers and e-mail addresses chats do, so they pass
through the dataset's redactor before any model sees them; only the counts are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wechat_twin.errors import TwinError
from wechat_twin.training.dataset.privacy import Redactor
from wechat_twin.training.formats.support.textio import sniff_encoding


class PretrainTextError(TwinError):
    """The message names the file and what is wrong with it."""


@dataclass
class PlainTexts:
    texts: list[str]
    source: str
    lines_read: int = 0
    empty_lines: int = 0
    duplicates: int = 0
    redactions: dict[str, int] = field(default_factory=dict)

    def stats(self) -> dict[str, object]:
        return {
            "source": self.source,
            "lines_read": self.lines_read,
            "texts": len(self.texts),
            "characters": sum(len(t) for t in self.texts),
            "empty_lines": self.empty_lines,
            "duplicates": self.duplicates,
            "redactions": self.redactions,
        }


def read_texts(path: Path, redactor: Redactor) -> PlainTexts:
    """Each non-empty line is one text; exact repeats (a post shared twice) are kept once."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise PretrainTextError(f"{path}: no such file")
    encoding = sniff_encoding(path)
    if encoding is None:
        raise PretrainTextError(f"{path}: not a text file (binary data or an unknown encoding)")
    result = PlainTexts(texts=[], source=str(path))
    seen: set[str] = set()
    try:
        with path.open(encoding=encoding) as handle:
            for line in handle:
                result.lines_read += 1
                text = line.strip()
                if not text:
                    result.empty_lines += 1
                    continue
                if text in seen:
                    result.duplicates += 1
                    continue
                seen.add(text)
                result.texts.append(redactor.redact(text))
    except UnicodeDecodeError as exc:
        raise PretrainTextError(f"{path}: not valid {exc.encoding} ({exc.reason}); re-save it as UTF-8") from exc
    result.redactions = {kind: count for kind, count in redactor.counts.items() if count}
    return result
