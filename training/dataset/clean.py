"""Decide, message by message, what text is worth learning from, and tidy it.

Kept: text, and the reply text of quoted replies. WeChat's own emoji codes (`[捂脸]`, `[旺柴]`)
and Unicode emoji are a person's style and stay; the exporters' media placeholders (`[图片]`,
`【语音】...`) are not words anyone typed and go. Links become a placeholder. Long texts seen
before (forwarded spam) and, per chat once sorted, exact duplicates (the same message exported
twice) are dropped.

The rules run as polars expressions over the whole message table (`wechat_twin.training.formats.support.table`).
The patterns are written for polars' regex engine (Rust's), which needs no change from Python's
for these, except whitespace: Python's `str.strip` and `\\s` mean `str.isspace`, which is spelled
out here so that tidying means exactly what it means in Python.
"""

from __future__ import annotations

import polars as pl

from wechat_twin.training.formats.support.message import Kind

LINK_TOKEN = "<link>"
KEPT = ""  # the `reason` of a message that is kept

# Placeholders the exporters write for media (WechatExporter in Chinese and English, MemoTrace's
# TXT and 2025 CSV); a WeChat emoji code is any other bracketed word, so this list is closed.
_MEDIA_NAMES = (
    "图片|语音|视频|文件|动画表情|表情|表情包|位置|链接|音乐|音频|名片|个人名片|视频号|视频号名片|小程序|红包|转账|"
    "视频/语音通话|语音通话|视频通话|音视频通话|实时位置共享|位置分享|分享链接|合并转发的聊天记录|聊天记录|收藏笔记|笔记|"
    "Photo|Image|Video|Audio|Voice|Emoji|Sticker|File|Location|Link|Red Packet|Transfer|Contact Card|"
    "Channel Card|Video/Audio Call|Real-time Location"
)
_MEDIA = rf"\[(?:{_MEDIA_NAMES})(?:[ :：][^\]\n]{{0,200}})?\]|【(?:{_MEDIA_NAMES})】"
_LINK = r"(?i)(?:https?://|www\.)[A-Za-z0-9\-._~:/?#@!$&*+,;=%]*[A-Za-z0-9\-_~/#@$&*+=%]"
PYTHON_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PYTHON_SPACE) + "]"
_BLANK_LINES = rf"\n{_SPACE_CLASS}*\n{_SPACE_CLASS}*\n+"


def clean(messages: pl.DataFrame, max_chars: int = 500, dedupe_min_chars: int = 50) -> tuple[pl.DataFrame, int]:
    """The table with tidied `text` and a `reason` column (`KEPT`, or why the message is dropped),
    and how many links kept messages had. `messages` is in reading order: of repeated long texts
    the first one read stays."""
    kind, text = pl.col("kind"), pl.col("text")
    by_kind = (
        pl.when(~kind.is_in([Kind.TEXT.value, Kind.QUOTE.value]))
        .then(kind)
        .when((kind == Kind.QUOTE.value) & (text == ""))
        .then(pl.lit("quote_without_text"))
    )
    tidied = (
        text.str.replace_all(_LINK, LINK_TOKEN)
        .str.replace_many(["\r\n", "\r", "\u2005"], ["\n", "\n", " "], leftmost=True)
        .str.replace_all(_BLANK_LINES, "\n\n")
        .str.strip_chars(PYTHON_SPACE)
    )
    length = pl.col("length")
    by_text = (
        pl.when(text == "")
        .then(pl.lit("empty"))
        .when(length > max_chars)
        .then(pl.lit("too_long"))
        .otherwise(pl.lit(KEPT))
    )
    table = (
        messages.with_columns(reason=by_kind, text=text.str.replace_all(_MEDIA, ""))
        .with_columns(links=text.str.count_matches(_LINK), text=tidied)
        .with_columns(length=text.str.len_chars())
        .with_columns(reason=pl.coalesce("reason", by_text))
    )
    candidate = (pl.col("reason") == KEPT) & (length >= dedupe_min_chars)
    repeated = candidate & ~text.is_first_distinct().over(candidate)
    table = table.with_columns(reason=pl.when(repeated).then(pl.lit("repeated_text")).otherwise(pl.col("reason")))
    links = table.filter(pl.col("reason") == KEPT)["links"].sum()
    return table.drop("links", "length"), int(links)


def drop_duplicates(messages: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Drop messages exported twice (overlapping exports, re-decrypted databases): same chat,
    time, side and text; the first one read stays. `messages` is sorted by chat, then time, so
    copies sit in one same-second run, and only messages in such runs are compared."""
    chat, ts = pl.col("chat_id"), pl.col("timestamp")
    same_second = ((chat == chat.shift(1)) & (ts == ts.shift(1))).fill_null(False)
    runs = messages.filter(same_second | same_second.shift(-1).fill_null(False))
    copies = runs.filter(~pl.struct("chat_id", "timestamp", "is_me", "text").is_first_distinct())["order"]
    if copies.is_empty():
        return messages, 0
    return messages.filter(~pl.col("order").is_in(copies.implode())), copies.len()
