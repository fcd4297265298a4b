"""Write the invented memory export `examples/memory_sample/messages.csv` (no real person's data).

Made for measuring per-contact memory (`twin-train eval --memory`), not tuned against it. The owner
talks differently to four people and keeps coming back to the same things with each: to 妈妈 calm
Chinese about the balcony tomatoes, Dad's blood pressure and coming home; to 阿杰 slangy
pinyin-English about dota, hotpot at 海底捞 and basketball; to 张总 formal Chinese about the weekly
report, the client meeting and expenses; to Lily English with 🥰 about her cat Mochi, yoga and
films. Some questions are shared across contacts (dinner, the weekend) while the owner's answers
stay each contact's own, so the other-contacts control is not the same as memory.

Same shape as the sample export (MemoTrace >= 1.0.3 all-messages CSV) and deterministic:
`python examples/make_memory_sample.py` rewrites the same bytes every time.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

OUT = Path(__file__).parent / "memory_sample" / "messages.csv"
HEADER = [
    "localId",
    "TalkerId",
    "Type",
    "SubType",
    "IsSender",
    "CreateTime",
    "Status",
    "StrContent",
    "StrTime",
    "Remark",
    "NickName",
    "Sender",
]
ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2024, 3, 1, 8, 0, tzinfo=ZONE).timestamp()
DAYS = 120
SESSIONS_PER_CONTACT = 55
SEED = 20240301
SHARED = {  # what anyone may ask; each contact's answers are below, under the same key
    "weekend": ["周末干嘛呢？", "What are you doing this weekend?"],
    "dinner": ["吃饭了吗", "Have you eaten?"],
}

# remark -> (TalkerId, nickname, {topic: (friend questions, owner replies)})
CONTACTS = {
    "妈妈": (
        "101",
        "王秀英",
        {
            "tomatoes": (
                ["阳台的番茄怎么样了", "番茄浇水了吗", "你种的番茄红了没"],
                ["阳台的番茄红了三个了，妈", "番茄昨天浇过水了，长得挺好", "番茄又结了两个，下次带给你"],
            ),
            "dad": (
                ["你爸血压又高了", "你爸最近头晕", "你爸不肯吃药"],
                ["让爸按时吃降压药，别忘了", "爸的血压药我再买两盒寄回去", "带爸去医院量一下血压吧"],
            ),
            "home": (
                ["什么时候回家", "五一回来吗", "回家吃饭吗"],
                ["下周六回家，妈", "五一回家，想吃你做的红烧肉", "周末回去，给你们带水果"],
            ),
            "weekend": ([], ["周末在家收拾阳台，妈", "周末去看看番茄，顺便打扫卫生"]),
            "dinner": ([], ["吃过了妈，食堂的饭", "吃了，自己煮了面条，妈放心"]),
        },
    ),
    "阿杰": (
        "102",
        "Jie",
        {
            "dota": (
                ["今晚dota?", "五黑吗", "来一把dota"],
                ["走起 我玩辅助 [奸笑]", "gg 昨天输麻了 今晚复仇", "等我十点 上号 dota 走起"],
            ),
            "hotpot": (
                ["海底捞走不走", "想吃火锅了", "火锅约吗"],
                ["海底捞 科技园那家 走起", "火锅必须的 还是海底捞", "吃火锅 我要番茄锅 哈哈"],
            ),
            "basketball": (
                ["打球吗", "周四篮球", "球场见？"],
                ["周四篮球 老地方 七点", "打球 我带球 gg", "球场见 这次不迟到"],
            ),
            "weekend": ([], ["周末 dota 通宵 走起", "周末打球+火锅 安排"]),
            "dinner": ([], ["吃了 黄焖鸡 gg", "没呢 海底捞？"]),
        },
    ),
    "张总": (
        "103",
        "张伟",
        {
            "report": (
                ["周报发一下", "这周的周报呢", "周报写了吗"],
                ["收到，张总，周报今天下班前发您。", "好的张总，周报已经发到您邮箱了。", "收到，周报我马上整理。"],
            ),
            "client": (
                ["华为那边会议定了吗", "客户会议准备得怎么样", "周三的客户会议"],
                [
                    "好的张总，华为的会议定在周三下午三点。",
                    "收到，客户会议的材料我周二发您。",
                    "张总，周三客户会议我来准备方案。",
                ],
            ),
            "expense": (
                ["报销单交了吗", "出差报销", "发票给财务了吗"],
                ["收到，报销单明天交给财务。", "好的张总，发票已经给财务了。", "收到，出差报销我今天提交。"],
            ),
            "weekend": ([], ["张总，周末我在家整理客户材料。", "好的张总，周末有事您随时打电话。"]),
            "dinner": ([], ["谢谢张总关心，已经吃过了。", "收到，张总，我一会儿吃。"]),
        },
    ),
    "Lily": (
        "104",
        "Lily_W",
        {
            "cat": (
                ["Mochi knocked over my plant again", "Mochi is sick today", "look at Mochi sleeping"],
                [
                    "Mochi is such a drama queen 🥰",
                    "poor Mochi, take her to the vet soon 🥰",
                    "Mochi so cute, send more 🥰",
                ],
            ),
            "yoga": (
                ["yoga tomorrow?", "my back hurts after yoga", "new yoga class on Tuesday"],
                [
                    "yoga at 7 tomorrow, I'm in 🥰",
                    "stretch more after yoga, drink water 🥰",
                    "Tuesday yoga sounds great 🥰",
                ],
            ),
            "films": (
                ["movie night?", "have you seen Dune 2", "what should I watch"],
                [
                    "movie night! Dune 2 again? 🥰",
                    "watch Past Lives, you will cry 🥰",
                    "let's do movie night on Friday 🥰",
                ],
            ),
            "weekend": ([], ["weekend: yoga and a movie 🥰", "this weekend I want to meet Mochi 🥰"]),
            "dinner": ([], ["yes! I made pasta 🥰", "not yet, sushi later? 🥰"]),
        },
    ),
}


def rows_for(rng: random.Random, remark: str, talker: str, nickname: str, topics: dict) -> list[tuple[float, list]]:
    rows = []
    days = sorted(rng.sample(range(DAYS), SESSIONS_PER_CONTACT))
    for day in days:
        when = START + day * 86400 + rng.randint(0, 12 * 3600)
        for _ in range(rng.randint(1, 3)):
            topic = rng.choice(list(topics))
            questions = topics[topic][0] or SHARED[topic]
            for is_me, text in ((False, rng.choice(questions)), (True, rng.choice(topics[topic][1]))):
                created = int(when)
                strtime = datetime.fromtimestamp(created, ZONE).strftime("%Y-%m-%d %H:%M:%S")
                rows.append(
                    (
                        when,
                        [
                            "",
                            talker,
                            "1",
                            "0",
                            "1" if is_me else "0",
                            str(created),
                            "2" if is_me else "0",
                            text,
                            strtime,
                            remark,
                            nickname,
                            "我" if is_me else nickname,
                        ],
                    )
                )
                when += rng.randint(20, 300)
            when += rng.randint(60, 600)
    return rows


def main() -> None:
    rng = random.Random(SEED)
    rows = []
    for remark, (talker, nickname, topics) in CONTACTS.items():
        rows += rows_for(rng, remark, talker, nickname, topics)
    rows.sort(key=lambda item: item[0])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for local_id, (_, row) in enumerate(rows, start=1):
            row[0] = str(local_id)
            writer.writerow(row)
    print(f"wrote {len(rows)} messages to {OUT}")


if __name__ == "__main__":
    main()
