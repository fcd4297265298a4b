"""Redact what identifies people before it can reach the model: the privacy filter.

Numbers are only redacted when they are what they look like: an 18-digit resident ID must pass
its ISO 7064 checksum, a card number (15 to 19 digits) the Luhn check, so order numbers and
timestamps survive.
Each detector is its own pass, in a fixed order (e-mail, ID, card, mobile, landline), so a number
one detector rejects is still seen by the next. Only counts are kept, never the values.

Phone numbers are matched the ways people type them: mobile numbers grouped 3-4-4 or 4-3-4 with
spaces, dashes or dots, landlines with an area code (`010`, `0755`, `(021)`) and a subscriber
number split once inside, either behind `+86`/`0086` (then without the area code's 0), and any
of it in full-width characters (`１３８…`, `（０２１）`). Digits glued to letters (train, parcel
and order numbers: `G1234`, `SF1380013800012`) and runs longer than a phone number are left
alone, and a landline's area code must be one China uses, so dates, times and prices stay.

Names pass every detector above: `--redact-names` (off by default) replaces the contacts' names the
exports carry (remarks, nicknames, group members' names) with `<name>` in both sides' text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
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

    REDACT = "redact"
    DROP = "drop"


NAME_PLACEHOLDER = "<name>"
NAME_MIN_CHARS = 2  # a one-character name (a surname, 我) is a word far more often than a name
_CJK_NAME = re.compile(r"[\u4e00-\u9fff]{3}")
_ASCII_NAME = re.compile(r"[A-Za-z0-9]+(?:[ ._-][A-Za-z0-9]+)*")

CARD_MIN_DIGITS = 15  # UnionPay, Visa, Mastercard and Amex; shorter Luhn-valid runs are parcel numbers


_EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ID_NUMBER = re.compile(
    r"(?<![0-9])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
_CARD = re.compile(r"(?<![0-9])\d{4}(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?(?![0-9])")
_SEP = r"[ .-]?"
_COUNTRY = r"(?:(?:\+|00)86[ -]?|\(\+?86\) ?)"
_MOBILE = re.compile(
    rf"(?<![0-9A-Za-z+]){_COUNTRY}?1[3-9]\d(?:{_SEP}\d{{4}}{_SEP}\d{{4}}|\d{_SEP}\d{{3}}{_SEP}\d{{4}})(?![0-9A-Za-z])"
)
_AREA = r"(?:10|2\d|[3-9]\d{2})"  # China's area codes without their leading 0: 10, 2x, then 3-digit ones
_SUBSCRIBER = rf"[2-9]\d{{2,3}}{_SEP}\d{{4}}"
_LANDLINE = re.compile(
    rf"(?<![0-9A-Za-z+])(?:\(0{_AREA}\) ?|0{_AREA}{_SEP}|{_COUNTRY}(?:\(0?{_AREA}\) ?|{_AREA}{_SEP}))"
    rf"{_SUBSCRIBER}(?![0-9A-Za-z])"
)
# Full-width digits and signs, folded one character for one so spans found in the folded text
# are the spans of the original.
_FOLD = str.maketrans("０１２３４５６７８９＋－（）．　", "0123456789+-(). ")
_FULL_WIDTH = re.compile("[０-９＋－（）．　]")
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


def name_forms(names: Iterable[str]) -> list[str]:
    """The spellings `--redact-names` looks for: each name as the export gives it, and for a three-character
    Chinese name (surname + given name, 陈小美) the given name alone (小美), the way friends write to each
    other. Longest first, so 陈小美 is replaced whole before 小美 is looked for."""
    forms: set[str] = set()
    for name in names:
        name = name.strip()
        if len(name) >= NAME_MIN_CHARS:
            forms.add(name)
        if _CJK_NAME.fullmatch(name):
            forms.add(name[1:])
    return sorted(forms, key=lambda form: (-len(form), form))


def compile_names(names: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for every name form; a Latin-letter name only as a whole word (Bo is not in Bob), and never
    inside a placeholder already written (a contact called phone leaves <phone> alone)."""
    parts = [
        rf"(?<![A-Za-z0-9<]){re.escape(form)}(?![A-Za-z0-9>])" if _ASCII_NAME.fullmatch(form) else re.escape(form)
        for form in name_forms(names)
    ]
    return re.compile("|".join(parts)) if parts else None


class Redactor:
    """Replaces identifying spans with placeholder tokens and counts them by kind.

    `enabled=False` (`--no-privacy`) turns off the built-in detectors only: a word list the user
    gave is still applied, since asking for it was explicit.
    """

    def __init__(
        self, enabled: bool = True, words: re.Pattern[str] | None = None, mode: RedactMode = RedactMode.REDACT
    ):
        self.enabled = enabled
        self.words = words
        self.drop_matches = RedactMode(mode) is RedactMode.DROP and words is not None
        self.counts: dict[str, int] = dict.fromkeys(PLACEHOLDERS, 0)
        self.names: re.Pattern[str] | None = None
        self._name_forms: list[str] = []

    def use_names(self, names: Iterable[str]) -> None:
        """`--redact-names`: the contacts' names are known only once the exports are read. The count is
        reported only when asked for, so a dataset made without it keeps its report byte for byte."""
        self._name_forms = name_forms(names)
        self.names = compile_names(self._name_forms)
        self.counts["name"] = 0

    def screen(self, text: pl.Expr) -> pl.Expr:
        """Which texts `redact` could change, worked out natively for a whole column: the rest
        skip the Python pass. `\\d` means Unicode digits in polars' regex engine as in Python's,
        so nothing `redact` would find is screened out."""
        if self.words is not None and not self.drop_matches:
            return pl.lit(True)
        names = text.str.contains_any(self._name_forms) if self.names is not None else pl.lit(False)
        if not self.enabled:
            return names
        return text.str.contains("@", literal=True) | text.str.contains(r"\d{3}") | names

    def should_drop(self, text: str) -> bool:
        """In drop mode, a message that mentions a listed word is dropped whole."""
        return self.drop_matches and self.words.search(text) is not None

    def redact(self, text: str) -> str:
        if self.enabled:
            if "@" in text:
                text = _sub_emails(text, self._email)
            if _HAS_NUMBER.search(text):
                sub = _folded_sub if _FULL_WIDTH.search(text) else _sub
                text = sub(_ID_NUMBER, text, self._id_number)
                text = sub(_CARD, text, self._bank_card)
                text = sub(_MOBILE, text, self._phone)
                text = sub(_LANDLINE, text, self._phone)
        if self.words is not None and not self.drop_matches:
            text = self.words.sub(self._custom, text)
        if self.names is not None:
            text = self.names.sub(self._name, text)
        return text

    def _count(self, kind: str) -> str:
        self.counts[kind] += 1
        return PLACEHOLDERS[kind]

    def _email(self) -> str:
        return self._count("email")

    def _id_number(self, match: re.Match[str]) -> str:
        return self._count("id_number") if id_checksum_ok(match.group()) else match.group()

    def _bank_card(self, match: re.Match[str]) -> str:
        digits = _digits(match.group())
        return self._count("bank_card") if len(digits) >= CARD_MIN_DIGITS and luhn_ok(digits) else match.group()

    def _phone(self, match: re.Match[str]) -> str:
        return self._count("phone")

    def _custom(self, match: re.Match[str]) -> str:
        return self._count("custom")

    def _name(self, match: re.Match[str]) -> str:
        self.counts["name"] += 1
        return NAME_PLACEHOLDER


def _digits(text: str) -> str:
    return text.replace(" ", "").replace("-", "")


def _sub_emails(text: str, replace: Callable[[], str]) -> str:
    """`local@domain.tld` spans replaced, the same spans `re.sub` finds with
    `[A-Za-z0-9._%+-]+@` + `_EMAIL_DOMAIN`. Found from each `@`, looking back for the local part:
    that regex tried every start in a run of letters and scanned it to its end, quadratic in a
    friend's 40k-letter message (issue 27); from the `@`s every character is read at most twice."""
    pieces: list[str] = []
    done = 0  # text before this is written out (or replaced); a match cannot start before it
    at = text.find("@")
    while at >= 0:
        start = at
        while start > done and text[start - 1] in _EMAIL_LOCAL:
            start -= 1
        domain = _EMAIL_DOMAIN.match(text, at + 1) if start < at else None
        if domain:
            pieces += (text[done:start], replace())
            done = domain.end()
        at = text.find("@", at + 1)
    pieces.append(text[done:])
    return "".join(pieces)


def _sub(pattern: re.Pattern[str], text: str, replace: Callable[[re.Match[str]], str]) -> str:
    return pattern.sub(replace, text)


def _folded_sub(pattern: re.Pattern[str], text: str, replace: Callable[[re.Match[str]], str]) -> str:
    """`pattern.sub(replace, text)`, matched on the text with full-width characters folded; a
    `replace` that answers the match itself keeps the original characters."""
    folded = text.translate(_FOLD)
    pieces: list[str] = []
    last = 0
    for match in pattern.finditer(folded):
        new = replace(match)
        if new != match.group():
            pieces += [text[last : match.start()], new]
            last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)
