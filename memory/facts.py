"""The owner's facts file: plain lines, in sections; `[*]` holds the ones shared with every contact, and
one `[contact]` section per friend holds that friend's own.

    # lines starting with # are comments
    我的工资是保密的
    [*]
    我在深圳上班
    [妈妈]
    我妈住在深圳
    [阿杰]
    阿杰 is my college roommate

A reply to a contact gets the `[*]` facts and the contact's own, nothing else: a fact about the owner
reaches a friend only if the owner marked it shared. Lines before the first section are marked for
nobody (default not shared): they go into no prompt and are left out of the memory file. A section is
named by any name the export gives the chat (remark, nickname) or its id. Each fact is put into the
prompt verbatim; nothing here is summarised or rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from wechat_twin.errors import TwinError

GLOBAL = ""  # lines before the first section: shared with nobody
SHARED = "*"  # the section of facts every contact may be told
_SECTION = re.compile(r"^\[(?P<name>[^\[\]]+)\]$")


class FactsFileError(TwinError):
    """A facts file that cannot be read; the message names the file and line."""


@dataclass
class Facts:
    """Facts by section name; `GLOBAL` ("") holds the lines before the first section, `SHARED` the `[*]` ones."""

    by_section: dict[str, list[str]] = field(default_factory=dict)

    def count(self) -> int:
        """The facts that reach some prompt (the unmarked global lines reach none)."""
        return sum(len(lines) for section, lines in self.by_section.items() if section != GLOBAL)

    def not_shared(self) -> int:
        return len(self.by_section.get(GLOBAL, []))


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
