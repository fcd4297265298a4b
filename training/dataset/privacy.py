"""Redact what identifies people before it can reach the model: the privacy filter.

Numbers are only redacted when they are what they look like: an 18-digit resident ID must pass
its ISO 7064 checksum, a card number the Luhn check, so order numbers and timestamps survive.
Each detector is its own pass, in a fixed order (e-mail, ID, card, mobile, landline), so a number
one detector rejects is still seen by the next. Only counts are kept, never the values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from pathlib import Path

import polars as pl

PLACEHOLDERS = {
    "email": "<email>",
    "id_number": "<id>",
    "bank_card": "<card>",
    "phone": "<phone>",
    "custom": "<redacted>",
}


class RedactMode(str, Enum):
    """What a word from `--redact-words` does to the message it is found in."""

    redact = "redact"
    drop = "drop"


_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ID_NUMBER = re.compile(
    r"(?<![0-9])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
_CARD = re.compile(r"(?<![0-9])\d{4}(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(?:\(0\d{2,3}\)[ -]?|0\d{2,3}[ -]?)[2-9]\d{6,7}(?![0-9])")
_HAS_NUMBER = re.compile(r"\d{3}")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_checksum_ok(number: str) -> bool:
    """GB 11643-1999: the 18th character is a weighted sum of the first 17, mod 11."""
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def load_word_list(path: Path) -> list[str]:
    """One entry a line: a literal word (matched case-insensitively), or `re:PATTERN`; `#` comments."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    entries = [line.strip() for line in lines]
    return [e for e in entries if e and not e.startswith("#")]


def compile_words(entries: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for the whole list; a bad `re:` entry is named in a ValueError."""
    entries = list(entries)
    parts = [e[3:] if e.startswith("re:") else re.escape(e) for e in entries]
    for entry, part in zip(entries, parts, strict=True):
        try:
            re.compile(part)
        except re.error as error:
            raise ValueError(f"bad pattern {entry!r}: {error}") from error
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE) if parts else None


class Redactor:
    """Replaces identifying spans with placeholder tokens and counts them by kind.

    `enabled=False` (`--no-privacy`) turns off the built-in detectors only: a word list the user
    gave is still applied, since asking for it was explicit.
    """

    def __init__(
        self, enabled: bool = True, words: re.Pattern[str] | None = None, mode: RedactMode = RedactMode.redact
    ):
        self.enabled = enabled
        self.words = words
        self.drop_matches = RedactMode(mode) is RedactMode.drop and words is not None
        self.counts: dict[str, int] = dict.fromkeys(PLACEHOLDERS, 0)

    def screen(self, text: pl.Expr) -> pl.Expr:
        """Which texts `redact` could change, worked out natively for a whole column: the rest
        skip the Python pass. `\\d` means Unicode digits in polars' regex engine as in Python's,
        so nothing `redact` would find is screened out."""
        if self.words is not None and not self.drop_matches:
            return pl.lit(True)
        if not self.enabled:
            return pl.lit(False)
        return text.str.contains("@", literal=True) | text.str.contains(r"\d{3}")

    def should_drop(self, text: str) -> bool:
        """In drop mode, a message that mentions a listed word is dropped whole."""
        return self.drop_matches and self.words.search(text) is not None

    def redact(self, text: str) -> str:
        if self.enabled:
            if "@" in text:
                text = _EMAIL.sub(self._email, text)
            if _HAS_NUMBER.search(text):
                text = _ID_NUMBER.sub(self._id_number, text)
                text = _CARD.sub(self._bank_card, text)
                text = _MOBILE.sub(self._phone, text)
                text = _LANDLINE.sub(self._phone, text)
        if self.words is not None and not self.drop_matches:
            text = self.words.sub(self._custom, text)
        return text

    def _count(self, kind: str) -> str:
        self.counts[kind] += 1
        return PLACEHOLDERS[kind]

    def _email(self, match: re.Match[str]) -> str:
        return self._count("email")

    def _id_number(self, match: re.Match[str]) -> str:
        return self._count("id_number") if id_checksum_ok(match.group()) else match.group()

    def _bank_card(self, match: re.Match[str]) -> str:
        digits = _digits(match.group())
        return self._count("bank_card") if len(digits) >= 13 and luhn_ok(digits) else match.group()

    def _phone(self, match: re.Match[str]) -> str:
        return self._count("phone")

    def _custom(self, match: re.Match[str]) -> str:
        return self._count("custom")


def _digits(text: str) -> str:
    return text.replace(" ", "").replace("-", "")
