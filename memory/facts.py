"""The owner's facts file: plain lines, global ones first, then one `[contact]` section per friend.

    # lines starting with # are comments
    我在深圳上班
    [妈妈]
    我妈住在深圳
    [阿杰]
    阿杰 is my college roommate

A section is named by any name the export gives the chat (remark, nickname) or its id. Each fact is
put into the prompt verbatim; nothing here is summarised or rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from wechat_twin.errors import TwinError

GLOBAL = ""
_SECTION = re.compile(r"^\[(?P<name>[^\[\]]+)\]$")


class FactsFileError(TwinError):
    """A facts file that cannot be read; the message names the file and line."""


@dataclass
class Facts:
    """Facts by section name; `GLOBAL` ("") holds the lines before the first section."""

    by_section: dict[str, list[str]] = field(default_factory=dict)

    def count(self) -> int:
        return sum(map(len, self.by_section.values()))


def read_facts(path: Path) -> Facts:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise FactsFileError(f"{path}: cannot read the facts file ({error})") from error
    facts = Facts()
    section = GLOBAL
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _SECTION.match(line)
        if header:
            section = header["name"].strip()
            if not section:
                raise FactsFileError(f"{path}:{number}: a section needs a contact name, as in [阿杰]")
            facts.by_section.setdefault(section, [])
        else:
            facts.by_section.setdefault(section, []).append(line)
    return facts
