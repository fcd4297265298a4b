"""Search terms for FTS5, made in Python: overlapping character bigrams for CJK, words for other scripts.

FTS5's built-in tokenizers cannot serve Chinese: unicode61 keeps a whole run of Han characters as one
token (a sentence is one "word") and trigram cannot match two-character words such as 火锅. So text is
turned into space-separated terms here, the same way for what is indexed and for what is asked, and
FTS5's unicode61 tokenizer only splits on the spaces: 我想吃火锅 becomes 我想 想吃 吃火 火锅, and a query
for 火锅 matches it. A lone CJK character between non-CJK text is kept as a one-character term.
"""

from __future__ import annotations

import re

# Han (with extensions A and compatibility), kana and Hangul: scripts written without spaces.
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_RUNS = re.compile(f"([{CJK}]+)|((?:(?![{CJK}])\\w)+)")
MAX_QUERY_TERMS = 64


def terms(text: str) -> list[str]:
    """The terms of `text` in order, repeats kept (FTS5 counts them for bm25)."""
    out: list[str] = []
    for cjk, word in _RUNS.findall(text):
        if cjk:
            out.extend(cjk if len(cjk) == 1 else (cjk[i : i + 2] for i in range(len(cjk) - 1)))
        else:
            out.append(word.lower())
    return out


def indexed(text: str) -> str:
    """What goes into the FTS5 column."""
    return " ".join(terms(text))


def match_expression(text: str) -> str | None:
    """An FTS5 MATCH expression: any of the text's distinct terms (bm25 ranks those with more first).

    Terms are quoted, so FTS5 operators in a friend's message (AND, NEAR, a `*`) are plain words.
    None when the text has no term at all (only punctuation or emoji).
    """
    distinct = list(dict.fromkeys(terms(text)))[:MAX_QUERY_TERMS]
    return " OR ".join(f'"{term}"' for term in distinct) or None
