"""The owner takes a chat over: on their own account (itchat) by typing into it, anywhere with `/take NAME`.

itchat's message dicts go into the real bridge; the real API server answers over the small fake engine
(what is paused or relayed does not depend on the model), and the SQLite file is real.
"""

from __future__ import annotations

import io
import threading
import time

from tests.bridge.conftest import SELF_ID, friend_message, owner_message
from wechat_twin.bridge.channels.console import ConsoleChannel
from wechat_twin.bridge.config import BridgeConfig
from wechat_twin.bridge.service import Bridge
from wechat_twin.bridge.texts import Texts

FRIEND = "@friend01"


def typed_by_owner(text: str, chat: str = FRIEND) -> dict:
    """What itchat delivers when the owner writes into a chat from their phone."""
    msg = friend_message(text, user=chat)
    msg["FromUserName"], msg["ToUserName"] = SELF_ID, chat
    return msg


def test_the_owner_typing_into_a_chat_pauses_the_clone_there_until_the_idle_time(quick_bridge):
    h = quick_bridge(takeover_idle_minutes=0.02)  # 1.2 s
    h.receive(friend_message("hi", user="@other02"))
    h.bridge.process_pending()
    (sent,) = h.channel.to("@other02")
    h.receive(typed_by_owner(sent, chat="@other02"))  # the web protocol may show our own send as the account's
    h.receive(friend_message("在吗"))
    h.receive(typed_by_owner("在，怎么了"))
    h.receive(friend_message("明天一起吃饭？"))
    h.bridge.process_pending()
    assert h.channel.to(FRIEND) == [], "the owner is in this chat"
    assert [r["status"] for r in h.bridge.store.inbox_rows()] == ["answered", "owner"]
    assert h.bridge.store.skipped_counts().get("takeover") == 1
    assert h.bridge.store.history(FRIEND, 0, 10) == [
        {"role": "user", "content": "在吗"},
        {"role": "assistant", "content": "在，怎么了"},
        {"role": "user", "content": "明天一起吃饭？"},
    ]
    h.receive(friend_message("hello?", user="@other02"))
    h.bridge.process_pending()
    assert len(h.channel.to("@other02")) == 2, "other chats are still answered, our own echo paused nothing"

    time.sleep(1.3)
    h.receive(friend_message("人呢"))
    h.bridge.process_pending()
    assert h.channel.to(FRIEND), "idle past takeover_idle_minutes: the clone answers again"


def test_a_reply_in_flight_is_dropped_when_the_owner_writes_meanwhile(quick_bridge):
    """The owner's message arrives on itchat's thread while the answer thread is about to send."""
    typed: list[threading.Thread] = []

    def owner_writes_during_the_pause(_seconds: float) -> None:
        if typed:
            return
        thread = threading.Thread(target=h.receive, args=(typed_by_owner("我来回"),))
        typed.append(thread)
        thread.start()
        deadline = time.monotonic() + 10
        while not h.bridge.takeovers.state.holds(FRIEND) and time.monotonic() < deadline:
            time.sleep(0.01)

    h = quick_bridge()
    h.bridge.sleep = owner_writes_during_the_pause
    h.receive(friend_message("周末去哪"))
    h.bridge.process_pending()
    typed[0].join(timeout=10)
    assert h.channel.to(FRIEND) == [], "the clone's reply is dropped before its bubble"
    assert h.bridge.feedback.last_reply(FRIEND) is None
    assert [r["status"] for r in h.bridge.store.inbox_rows()] == ["owner"]
    assert h.bridge.store.history(FRIEND, 0, 10)[-1] == {"role": "assistant", "content": "我来回"}


def test_take_relays_through_the_file_transfer_helper_and_release_gives_back(quick_bridge):
    h = quick_bridge()
    h.receive(friend_message("hi", remark="Mia"))
    h.receive(friend_message("hey", user="@mike03", remark="Mike"))
    h.receive(owner_message("/take Mi"))
    assert "@friend01" in h.channel.to("filehelper")[-1] and "@mike03" in h.channel.to("filehelper")[-1]
    h.receive(owner_message("/take Mia"))
    assert h.channel.to("filehelper")[-2] == "【Mia】hi", "what waited for the clone comes to the owner"
    h.bridge.process_pending()
    assert h.channel.to(FRIEND) == [] and h.channel.to("@mike03"), "only Mia is taken"
    h.receive(friend_message("you there?", remark="Mia"))
    assert h.channel.to("filehelper")[-1] == "【Mia】you there?"
    h.receive(owner_message("yes, me"))
    assert h.channel.to(FRIEND) == ["yes, me"]
    h.receive(owner_message("/who"))
    assert "Mia" in h.channel.to("filehelper")[-1]
    h.receive(owner_message("/release"))
    assert "Mia" in h.channel.to("filehelper")[-1]
    h.receive(friend_message("ok bye", remark="Mia"))
    h.bridge.process_pending()
    assert len(h.channel.to(FRIEND)) == 2, "back with the clone"
    assert h.bridge.store.history(FRIEND, 0, 10)[:2] == [
        {"role": "user", "content": "hi"},
        {"role": "user", "content": "you there?"},
    ]


def test_the_console_takes_the_same_commands(tmp_path, clone_api):
    lines = ["hi there", "/take friend", "are you real?", "!it's me now", "/release", "and now?"]
    out = io.StringIO()
    settings = BridgeConfig(
        api_base=clone_api.base_url,
        api_key=clone_api.api_key,
        model="alice",
        data_dir=tmp_path,
        retries=0,
        typing_seconds_per_char=0.0,
        language="en",
    )
    console = ConsoleChannel(
        "friend", stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out, texts=Texts(settings.language)
    )
    bridge = Bridge(settings, console)
    console.after_each = bridge.process_pending
    try:
        console.run(bridge)
    finally:
        bridge.close()
    printed = out.getvalue().splitlines()
    assert printed[0] == "clone> Hello there! How are you?"
    assert "[review] [friend] are you real?" in printed
    assert "clone> it's me now" in printed
    assert printed[-1] == "clone> Hello there! How are you?", "released: the clone answers again"
    assert sum(line.startswith("clone> Hello") for line in printed) == 2
