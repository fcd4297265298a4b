"""Write the invented export `examples/rhythm_sample/messages.csv`: an owner with other habits than Jay's.

The sample export (`make_sample.py`) has one pace: Jay answers everyone within 20 s to 4 min, all day.
Lin, the owner here (invented, no real person's data), keeps a rhythm of her own, for the rhythm's bench
(`bench/rhythm.py`) to measure against a second shape:
- by the hour: at work (9:00-18:00) she answers friends after minutes to most of an hour; in the evening
  within a minute or two; after 23:00 within seconds;
- by the person: 妈妈 gets an answer within a minute at any hour; the colleague 陈经理 waits longest;
- bursts: mostly one message, sometimes two, rarely four or five, typed slowly (about half a second
  a character, with pauses);
- a fifth of her friends' turns get no answer within the session.

Same shape as the sample (MemoTrace >= 1.0.3's all-messages CSV), reusing its writer. Deterministic:
`python examples/make_rhythm_sample.py` rewrites the same bytes every time.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from make_sample import START, Export  # the sample's writer; START: 2024-01-02 09:00 in Asia/Shanghai

OUT = Path(__file__).parent / "rhythm_sample" / "messages.csv"
DAYS = 150
SEED = 20250311
FRIENDS = [  # (TalkerId, remark, nickname, who)
    ("51", "妈妈", "平安是福", "mum"),
    ("52", "陈经理", "Chen Jie", "colleague"),
    ("53", "阿杰", "Jay_K", "friend"),
    ("54", "小北", "北北", "friend"),
    ("55", "Ruby", "ruby.w", "friend"),
]
FRIEND_LINES = [
    "在吗",
    "吃了没",
    "周末有空吗",
    "你看到那个新闻没",
    "明天几点",
    "哈哈哈哈",
    "晚上一起吃饭？",
    "文件发你了",
    "到家了吗",
    "这个怎么弄",
    "你猜我今天遇到谁了",
    "好困啊",
]
OWNER_LINES = [
    "嗯嗯",
    "好呀",
    "刚看到",
    "等我下",
    "哈哈哈",
    "可以可以",
    "明天吧",
    "在忙，晚点说",
    "收到",
    "我也是",
    "太好笑了吧",
    "好的妈",
    "知道啦",
    "我想想",
    "今天好累",
    "行",
]
ACTIVE_HOURS = [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 0, 1]


def latency(rng: random.Random, who: str, hour: int) -> float:
    """Seconds until Lin answers: lognormal around a median set by the person and the hour."""
    if who == "mum":
        median, spread = 25, 0.7
    elif who == "colleague":
        median, spread = (600, 0.9) if 9 <= hour < 18 else (1500, 0.6)
    elif 9 <= hour < 18:
        median, spread = 900, 0.8
    elif hour >= 23 or hour < 3:
        median, spread = 12, 0.6
    else:
        median, spread = 75, 0.8
    return min(3000.0, max(1.0, rng.lognormvariate(math.log(median), spread)))


def owner_turn(rng: random.Random) -> list[str]:
    count = rng.choices([1, 2, 3, 4, 5], weights=[62, 24, 8, 4, 2])[0]
    return [rng.choice(OWNER_LINES) for _ in range(count)]


def chat(export: Export, rng: random.Random, talker: str, remark: str, nickname: str, who: str) -> None:
    names = (remark, nickname, nickname)
    days = sorted(rng.sample(range(DAYS), 80 if who == "colleague" else 100))
    for day in days:
        hours = [h for h in ACTIVE_HOURS if 9 <= h < 18] if who == "colleague" else ACTIVE_HOURS
        hour = rng.choice(hours)
        when = START - 9 * 3600 + day * 86400 + (hour + (24 if hour < 3 else 0)) * 3600 + rng.randint(0, 3000)
        for _ in range(rng.randint(1, 4)):
            for _ in range(rng.choices([1, 2, 3], weights=[70, 22, 8])[0]):
                export.add(talker, when, 1, 0, False, rng.choice(FRIEND_LINES), *names)
                when += rng.randint(3, 30)
            if rng.random() < 0.2:  # read, no reply: the session ends here
                break
            when += latency(rng, who, int((when - START + 9 * 3600) % 86400 // 3600))
            for line in owner_turn(rng):
                export.add(talker, when, 1, 0, True, line, *names)
                when += max(1.0, len(line) * rng.uniform(0.25, 0.9) + rng.expovariate(1 / 3))
            when += rng.randint(20, 900)


def main() -> None:
    rng = random.Random(SEED)
    export = Export()
    for talker, remark, nickname, who in FRIENDS:
        chat(export, rng, talker, remark, nickname, who)
    count = export.write(OUT)
    print(f"wrote {count} messages to {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
