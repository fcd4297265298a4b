"""Write the invented sample export `examples/memotrace_sample/messages.csv` (no real person's data).

The shape is MemoTrace >= 1.0.3's all-messages CSV (shape E in docs/formats.md): utf-8-sig, CRLF,
rows of every chat interleaved by time. The owner, Jay, has a voice a small model can learn in a
short LoRA run: bursts of two or three short lines of simple English with pinyin flavour, `~` and
哈哈哈, always closing on a WeChat emoji code. Friends write ordinary messages. Media, system
notices, quoted replies, transfers, links, group chats and a few fake phone numbers, e-mails, ID
and card numbers are mixed in so every cleaning and privacy rule has something to do.

Deterministic: `python examples/make_sample.py` rewrites the same bytes every time.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime
from pathlib import Path

from wechat_twin.training.formats.support.memotrace_rows import HEADER, ZONE, row

OUT = Path(__file__).parent / "memotrace_sample" / "messages.csv"
START = datetime(2024, 1, 2, 9, 0, tzinfo=ZONE).timestamp()
DAYS = 75
SEED = 20240102

FRIENDS = [  # (TalkerId, remark, nickname)
    ("12", "小雨", "Xiaoyu🌧"),
    ("15", "", "Tom Chen"),
    ("21", "王磊", "磊子"),
    ("27", "Lily", "Lily_L"),
    ("33", "阿May", "May"),
    ("36", "", "Dave 🐟"),
]
GROUPS = [  # (TalkerId, group name, members)
    ("40", "周末羽毛球群", ["Kevin", "小雨", "阿强", "Sunny"]),
    ("44", "大学室友群", ["磊子", "老四", "Ben"]),
]
EMOJI = ["[旺柴]", "[捂脸]", "[破涕为笑]", "[呲牙]", "[奸笑]", "[耶]", "[机智]", "[偷笑]"]

TOPICS = {
    "food": (
        [
            "Are you free for dinner tonight?",
            "I found a new noodle place near the office",
            "晚上吃什么？",
            "Hotpot this weekend?",
            "I'm so hungry, lunch?",
            "Want to try the new dumpling shop?",
        ],
        [
            "hotpot again? ok la~",
            "wo hen e le",
            "let's go let's go~",
            "mala tang is the best ma",
            "i bring my big stomach",
            "eat eat eat~",
            "chi fan chi fan",
            "ok but you pay la",
        ],
    ),
    "work": (
        [
            "Did you finish the report?",
            "Boss wants the slides by Friday",
            "Meeting moved to 3pm",
            "Can you check my email draft?",
            "今天加班吗？",
            "The client called again",
        ],
        [
            "aiya so tired today~",
            "wo zai gan huo",
            "report report every day",
            "ok ok i check later~",
            "boss is crazy la",
            "mei wen ti, i do it tonight",
            "haiyo not again",
            "need more kafei",
        ],
    ),
    "weekend": (
        [
            "Any plans this weekend?",
            "Hiking on Saturday?",
            "Movie on Sunday?",
            "周末去哪玩？",
            "Badminton tomorrow morning?",
            "Let's go to the lake",
        ],
        [
            "sleep sleep sleep~",
            "wo yao tang ping",
            "ok i come but not too early",
            "yes yes count me in~",
            "tomorrow morning? tai zao le",
            "go go go~",
            "only if got bubble tea",
            "weekend is for lazy la",
        ],
    ),
    "games": (
        [
            "Play a round tonight?",
            "Did you see the new update?",
            "I finally beat that boss!",
            "Team up later?",
            "打游戏吗？",
            "You still playing that farm game?",
        ],
        [
            "wah you so strong~",
            "i noob la, carry me",
            "one round only ok~",
            "wo lai le wo lai le",
            "my farm is very big now",
            "haha i lose again",
            "wait me 10 min~",
            "game time~",
        ],
    ),
    "weather": (
        [
            "It's raining so hard",
            "So cold today!",
            "下雪了！",
            "Bring an umbrella today",
            "Finally some sun",
            "The air is really bad today",
        ],
        [
            "so cold ah~",
            "wo bu xiang chu men",
            "stay home drink tea la",
            "the rain very big",
            "sun sun come back~",
            "wear more clothes ok",
            "aiya my shoes all wet",
            "winter go away la",
        ],
    ),
}
OWNER_OPENERS = [
    "哈哈哈",
    "haha ok ok~",
    "aiya~",
    "wah really?",
    "hmm~",
    "true true",
    "haiyo",
    "ok la~",
    "wo ye shi~",
    "hahaha",
    "en en~",
    "wait ah",
]
OWNER_STARTERS = ["in ma~", "hello hello~", "ni zai gan ma~", "eh you free?"]
FRIEND_FOLLOWUPS = ["ok", "好的", "haha", "sure", "deal", "👍", "lol", "行", "see you then", "no way 😂"]

PRIVATE = [
    "my new number is 13800138000, save it",
    "call the shop at 010-62345678",
    "send it to tom.chen.fake@example.com",
    "my email changed: xiaoyu_test@example.org",
    "ID for the ticket: 11010519491231002X",
    "card 6217 0012 3456 7893 for the deposit",
]
XML_IMAGE = '<?xml version="1.0"?>\n<msg>\n\t<img aeskey="0f" md5="9d2" length="2048" cdnthumbwidth="120" />\n</msg>'
XML_STICKER = '<msg><emoji fromusername="wxid_fake" type="2" md5="5e1" cdnurl="http://example.invalid/e" /></msg>'
XML_VOICE = '<msg><voicemsg endflag="1" length="5120" voicelength="3200" /></msg>'


class Export:
    """Collects rows for all chats; sorted by time when written, like MemoTrace's query."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, list[str]]] = []

    def add(
        self,
        talker: str,
        when: float,
        type_: int,
        subtype: int,
        is_me: bool,
        content: str,
        remark: str,
        nickname: str,
        sender: str,
    ) -> None:
        self.rows.append((when, row(0, talker, type_, subtype, is_me, int(when), content, remark, nickname, sender)))

    def write(self, path: Path) -> int:
        self.rows.sort(key=lambda item: item[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HEADER)
            for local_id, (_, row) in enumerate(self.rows, start=1):
                row[0] = str(local_id)
                writer.writerow(row)
        return len(self.rows)


def owner_burst(rng: random.Random, topic: str) -> list[str]:
    lines = [rng.choice(OWNER_OPENERS)] if rng.random() < 0.6 else []
    lines += rng.sample(TOPICS[topic][1], rng.randint(1, 2))
    lines = lines[:3] if len(lines) > 1 else [*lines, rng.choice(TOPICS[topic][1])]
    lines[-1] = f"{lines[-1]} {rng.choice(EMOJI)}"
    return lines


def friend_lines(rng: random.Random, topic: str, first: bool) -> list[str]:
    if first:
        return rng.sample(TOPICS[topic][0], 2 if rng.random() < 0.3 else 1)
    return [rng.choice(FRIEND_FOLLOWUPS + TOPICS[topic][0])]


def media(export: Export, rng: random.Random, talker: str, when: float, is_me: bool, names: tuple[str, str, str]):
    type_, subtype, content = rng.choice(
        [(3, 0, XML_IMAGE), (47, 0, XML_STICKER), (34, 0, XML_VOICE), (49, 57, ""), (49, 5, ""), (49, 2000, "")]
    )
    export.add(talker, when, type_, subtype, is_me, content, *names)


def one_to_one(export: Export, rng: random.Random, talker: str, remark: str, nickname: str) -> None:
    names = (remark, nickname, nickname)
    day_offsets = sorted(rng.sample(range(DAYS), 52))
    for day in day_offsets:
        when = START + day * 86400 + rng.randint(0, 12 * 3600)
        topic = rng.choice(list(TOPICS))
        if rng.random() < 0.15:  # the owner opens the conversation
            export.add(talker, when, 1, 0, True, f"{rng.choice(OWNER_STARTERS)} {rng.choice(EMOJI)}", *names)
            when += rng.randint(30, 600)
        for exchange in range(rng.randint(1, 4)):
            for line in friend_lines(rng, topic, exchange == 0):
                export.add(talker, when, 1, 0, False, line, *names)
                when += rng.randint(2, 40)
            if rng.random() < 0.12:
                media(export, rng, talker, when, rng.random() < 0.5, names)
                when += rng.randint(5, 60)
            when += rng.randint(20, 240)
            for line in owner_burst(rng, topic):
                export.add(talker, when, 1, 0, True, line, *names)
                when += rng.randint(1, 8)
            when += rng.randint(60, 900)
        if rng.random() < 0.1:  # left unanswered
            export.add(talker, when, 1, 0, False, rng.choice(FRIEND_FOLLOWUPS), *names)
        if rng.random() < 0.06:
            export.add(talker, when + 5, 10000, 0, False, f'"{nickname}" 撤回了一条消息', *names)
        if rng.random() < 0.05:
            export.add(talker, when + 9, 10000, 4, False, f'"{nickname}" 拍了拍我', *names)


def group_chat(export: Export, rng: random.Random, talker: str, title: str, members: list[str]) -> None:
    for day in sorted(rng.sample(range(DAYS), 20)):
        when = START + day * 86400 + rng.randint(0, 12 * 3600)
        topic = rng.choice(["weekend", "food", "games"])
        for _ in range(rng.randint(2, 5)):
            member = rng.choice(members)
            export.add(talker, when, 1, 0, False, rng.choice(TOPICS[topic][0]), "", title, member)
            when += rng.randint(5, 120)
        if rng.random() < 0.7:
            for line in owner_burst(rng, topic):
                export.add(talker, when, 1, 0, True, line, "", title, "")
                when += rng.randint(1, 8)


def extras(export: Export, rng: random.Random) -> None:
    """The rows every rule needs once: privacy bait, links, multi-line and quoted text, notices."""
    talker, remark, nickname = FRIENDS[1]
    names = (remark, nickname, nickname)
    when = START + 3 * 86400 + 15 * 3600
    for text in PRIVATE:
        export.add(talker, when, 1, 0, False, text, *names)
        export.add(talker, when + 30, 1, 0, True, f"ok got it~ {rng.choice(EMOJI)}", *names)
        when += 2 * 86400
    talker, remark, nickname = FRIENDS[0]
    names = (remark, nickname, nickname)
    when = START + 5 * 86400 + 20 * 3600
    rows = [
        (False, 'look at this: https://example.com/menu?id=42, "best" noodles'),
        (True, "wah looks good~\nwo yao qu [旺柴]"),
        (False, "Line one\nline two, with a comma\n\nand a blank line"),
        (True, "haha ok ok [捂脸]"),
        (False, "你领取了Jay的红包"),
        (True, "[图片]"),
    ]
    for offset, (is_me, text) in enumerate(rows):
        type_ = 10000 if text.startswith("你领取了") else 1
        export.add(talker, when + offset * 20, type_, 0, is_me, text, *names)
    spam = (
        "【转发】今晚八点准时抢红包！把这条消息转发到三个群，截图发给客服就能领取大奖，"
        "名额有限先到先得，不转不是中国人！！！"
    )
    for talker, remark, nickname in FRIENDS[2:]:
        export.add(talker, START + 40 * 86400 + 3600, 1, 0, False, spam, remark, nickname, nickname)
    talker, remark, nickname = FRIENDS[3]
    article = "Long read I pasted for you: " + " ".join(["the quick brown fox jumps over the lazy dog"] * 14)
    export.add(talker, START + 41 * 86400 + 3600, 1, 0, False, article, remark, nickname, nickname)


def main() -> None:
    rng = random.Random(SEED)
    export = Export()
    for talker, remark, nickname in FRIENDS:
        one_to_one(export, rng, talker, remark, nickname)
    for talker, title, members in GROUPS:
        group_chat(export, rng, talker, title, members)
    extras(export, rng)
    count = export.write(OUT)
    print(f"wrote {count} messages to {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
