"""A stand-in for chatlog's HTTP API (sjzar/chatlog `chatlog server`), which needs a decrypted
WeChat database we cannot have in tests. It answers the routes the live pull uses exactly as
chatlog a638aa9 does (internal/chatlog/http/route.go, internal/errors, internal/model):

- `GET /api/v1/session?format=json` → `{"items": [{userName, nOrder, nickName, content, nTime}]}`,
  newest first; `keyword`, `limit`, `offset` as chatlog applies them.
- `GET /api/v1/chatlog?time=&talker=&sender=&keyword=&limit=&offset=&format=json|csv`: `time` is
  `YYYY-MM-DD` or `A~B` (whole days, server-local); `talker` is a wxid, room id, remark or
  nickname, several comma-separated; messages sorted by `seq`, then `offset`/`limit` (0 = all).
  JSON is the bare array of Message objects (`time` in RFC 3339 with the local offset, `contents`
  left out when empty); CSV is `Time,SenderName,Sender,TalkerName,Talker,Content`, LF line ends.
- Errors as chatlog writes them: a JSON string with the status (`"talker empty"` 400,
  `"invalid argument: time"` 400), `{"error": ...}` for 503 while the database is not ready and
  for unknown `/api` paths (404).
It records every request's query so tests can see the paging.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOCAL = timezone(timedelta(hours=8))  # the zone of the machine chatlog runs on


@dataclass
class Contact:
    user_name: str
    nick_name: str
    remark: str = ""

    @property
    def display_name(self) -> str:
        return self.remark or self.nick_name


@dataclass
class StoredMessage:
    """One row of chatlog's model.Message (what `format=json` serialises)."""

    seq: int
    time: datetime
    talker: str
    sender: str
    is_self: bool
    content: str
    type: int = 1
    sub_type: int = 0
    sender_name: str = ""
    talker_name: str = ""

    def json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time.astimezone(LOCAL).isoformat(),
            "talker": self.talker,
            "talkerName": self.talker_name,
            "isChatRoom": self.talker.endswith("@chatroom"),
            "sender": self.sender,
            "senderName": self.sender_name,
            "isSelf": self.is_self,
            "type": self.type,
            "subType": self.sub_type,
            "content": self.content,
        }

    def csv_row(self) -> list[str]:
        stamp = self.time.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S")
        return [stamp, self.sender_name, self.sender, self.talker_name, self.talker, self.content]


@dataclass
class FakeChatlog:
    contacts: list[Contact]
    messages: list[StoredMessage]
    state_error: str | None = None  # e.g. "database is decrypting, please wait": every /api route answers 503
    requests: list[dict[str, list[str]]] = field(default_factory=list)

    def sessions(self) -> list[dict[str, Any]]:
        last: dict[str, StoredMessage] = {}
        for m in sorted(self.messages, key=lambda m: m.seq):
            last[m.talker] = m
        ordered = sorted(last.values(), key=lambda m: m.seq, reverse=True)
        return [
            {
                "userName": m.talker,
                "nOrder": int(m.time.timestamp()),
                "nickName": m.sender_name,  # v4 fills it with the last sender's display name
                "content": m.content,
                "nTime": m.time.astimezone(LOCAL).isoformat(),
            }
            for m in ordered
        ]

    def resolve(self, talker: str) -> str:
        for contact in self.contacts:
            if talker in (contact.user_name, contact.remark, contact.nick_name):
                return contact.user_name
        return talker


def _days(text: str) -> tuple[datetime, datetime] | None:
    parts = text.split("~")
    try:
        days = [datetime.strptime(p.strip(), "%Y-%m-%d").date() for p in parts]
    except ValueError:
        return None
    if not text or len(days) > 2:
        return None
    start, end = min(days), max(days)
    return datetime.combine(start, time.min, LOCAL), datetime.combine(end, time.max, LOCAL)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeChatlog

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: Any, content_type: str = "application/json; charset=utf-8") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        self.fake.requests.append({"path": [url.path], **query})
        arg = {key: values[-1] for key, values in query.items()}
        if not url.path.startswith("/api/"):
            self._send(302, b"", "text/html")
            return
        if self.fake.state_error:
            self._send(503, {"error": self.fake.state_error})
            return
        limit, offset = max(int(arg.get("limit") or 0), 0), max(int(arg.get("offset") or 0), 0)
        if url.path == "/api/v1/session":
            items = self.fake.sessions()
            items = items[offset : offset + limit] if limit else items
            self._send(200, {"items": items})
        elif url.path == "/api/v1/chatlog":
            self._chatlog(arg, limit, offset)
        else:
            self._send(404, {"error": "Not found"})

    def _chatlog(self, arg: dict[str, str], limit: int, offset: int) -> None:
        span = _days(arg.get("time", ""))
        if span is None:
            self._send(400, "invalid argument: time")
            return
        talkers = {self.fake.resolve(t.strip()) for t in arg.get("talker", "").split(",") if t.strip()}
        if not talkers:
            self._send(400, "talker empty")
            return
        start, end = span
        found = sorted(
            (m for m in self.fake.messages if m.talker in talkers and start <= m.time <= end), key=lambda m: m.seq
        )
        page = found[offset : offset + limit] if limit else found
        if arg.get("format", "").lower() == "json":
            self._send(200, [m.json() for m in page])
        elif arg.get("format", "").lower() == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["Time", "SenderName", "Sender", "TalkerName", "Talker", "Content"])
            writer.writerows(m.csv_row() for m in page)
            self._send(200, out.getvalue().encode("utf-8"), "text/csv; charset=utf-8")
        else:
            self._send(501, "the fake serves format=json and format=csv only")


class FakeChatlogServer:
    """The fake on a free loopback port, in a thread: `with FakeChatlogServer(fake) as url: ...`."""

    def __init__(self, fake: FakeChatlog):
        handler = type("Handler", (_Handler,), {"fake": fake})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
