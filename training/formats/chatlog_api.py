"""Pull every chat (or the `--allow` ones) from a running chatlog's HTTP API, no file in between (docs/formats.md §6.5).

`twin-train data http://127.0.0.1:5030` asks chatlog (sjzar/chatlog, `chatlog server`) for its
session list (`GET /api/v1/session?format=json`: `{"items": [{"userName": …}]}`), then pages
through each chat with `GET /api/v1/chatlog?time=…&talker=…&limit=…&offset=…&format=json`, whose
records are chatlog's JSON export (`wechat_twin.training.formats.chatlog_json`). With `--allow`,
only those chats are asked for: chatlog resolves a remark or nickname given as `talker` itself.
chatlog serves the whole decrypted history without authentication, so only a loopback address is
read. Errors come back as chatlog writes them: a JSON string, or `{"error": …}`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
from tqdm import tqdm

from wechat_twin.errors import UsageError
from wechat_twin.network import is_loopback
from wechat_twin.training.formats.chatlog_json import message_of
from wechat_twin.training.formats.support.message import ExportFormatError, Message, ParseOptions

NAME = "chatlog-api"
DESCRIPTION = "a running chatlog's HTTP API (http://127.0.0.1:5030), read live"

PAGE = 1000
FIRST_DAY = date(2000, 1, 1)  # before WeChat existed: the time range covers every message
TIMEOUT = httpx.Timeout(60.0, connect=5.0)


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def check_url(url: str) -> str:
    """The API's base URL; refuses anything but a loopback host, since the API needs no key."""
    parsed = httpx.URL(url)
    host = parsed.host
    if not is_loopback(host):
        raise UsageError(f"{url}: chatlog is only read on this machine's loopback (127.0.0.1, ::1, localhost)")
    return str(parsed.copy_with(path="/", query=None, fragment=None)).rstrip("/")


def detect(path: object) -> float:
    """Never matches a file: a chatlog API is named by its URL."""
    return 0.0


def parse(url: str, options: ParseOptions) -> Iterator[Message]:
    base = check_url(url)
    with httpx.Client(base_url=base, timeout=TIMEOUT, trust_env=False) as client:
        talkers = [(name, name) for name in options.chats] or [(t, "") for t in _session_talkers(client, base)]
        span = f"{FIRST_DAY.isoformat()}~{(date.today() + timedelta(days=1)).isoformat()}"
        with tqdm(total=len(talkers), unit="chat", desc="chatlog", disable=not options.progress, leave=False) as bar:
            for talker, chat_name in talkers:
                yield from _chat(client, base, talker, chat_name, span, options)
                bar.update(1)


def _session_talkers(client: httpx.Client, base: str) -> list[str]:
    body = _get(client, base, "/api/v1/session", {"format": "json"})
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ExportFormatError(f"{base}/api/v1/session", "not chatlog's session list (no 'items')")
    return [str(item["userName"]) for item in items if isinstance(item, dict) and item.get("userName")]


def _chat(
    client: httpx.Client, base: str, talker: str, chat_name: str, span: str, options: ParseOptions
) -> Iterator[Message]:
    offset = 0
    while True:
        params = {"time": span, "talker": talker, "limit": PAGE, "offset": offset, "format": "json"}
        page = _get(client, base, "/api/v1/chatlog", params)
        if not isinstance(page, list):
            raise ExportFormatError(f"{base}/api/v1/chatlog", f"talker {talker}: the answer is not a list of messages")
        for index, record in enumerate(page, start=offset + 1):
            try:
                yield message_of(record, options, chat_name)
            except (KeyError, TypeError, ValueError) as error:
                options.diagnostics.malformed(base, f"talker {talker} message {index}", str(error))
        if len(page) < PAGE:
            return
        offset += PAGE


def _get(client: httpx.Client, base: str, path: str, params: dict[str, Any]) -> Any:
    try:
        response = client.get(path, params=params)
    except httpx.TransportError as error:
        raise ExportFormatError(base, f"cannot reach chatlog ({error}): is `chatlog server` running?") from error
    try:
        body = response.json()
    except ValueError:
        body = response.text[:200]
    if response.status_code != 200:
        problem = body.get("error", body) if isinstance(body, dict) else body
        raise ExportFormatError(f"{base}{path}", f"chatlog answered {response.status_code}: {problem}")
    return body
