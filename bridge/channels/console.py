"""Chat with the bridge in a terminal: you type as a friend; some lines are the owner's.

Commands (`/pause`, `/resume`, `/ab`, `/reset NAME`, `/help`) and lines starting with `!` (`!1`,
`!2`, `!不错`, `!不好`) go to the bridge as if the owner had typed them into the file-transfer
helper. Replies print one line per WeChat message.
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import TextIO

from wechat_twin.bridge.channels.base import OWNER_REVIEW_CHAT, Channel, Inbox, IncomingMessage
from wechat_twin.bridge.texts import Texts


class ConsoleChannel(Channel):
    def __init__(
        self,
        friend: str = "friend",
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        texts: Texts | None = None,
    ) -> None:
        self.friend = friend
        self.texts = texts or Texts()
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.after_each = lambda: None

    def send(self, chat_id: str, text: str) -> None:
        who = self.texts("console_review" if chat_id == OWNER_REVIEW_CHAT else "console_clone")
        print(f"{who} {text}", file=self.stdout, flush=True)

    def run(self, inbox: Inbox) -> None:
        for line in self.stdin:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            owner = line.startswith(("!", "/"))
            inbox.receive(
                [
                    IncomingMessage(
                        message_id=uuid.uuid4().hex,
                        chat_id=OWNER_REVIEW_CHAT if owner else self.friend,
                        chat_name="owner" if owner else self.friend,
                        text=line[1:] if line.startswith("!") else line,
                        time=time.time(),
                        from_self=owner,
                    )
                ]
            )
            self.after_each()
