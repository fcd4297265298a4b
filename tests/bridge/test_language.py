"""The bridge speaks the owner's language: `language = "zh"` (the default) or `"en"`, one table per language.

The owner's commands need no model, so most of these run a real Bridge against an address nothing answers;
the A/B candidates and the review copy come from the real server.
"""

from __future__ import annotations

import json
import re
import string

import pytest
from typer.testing import CliRunner

from tests.bridge.conftest import Harness, friend_message, owner_message
from wechat_twin.bridge.cli import app
from wechat_twin.bridge.config import BridgeConfig, load_config
from wechat_twin.bridge.texts import TABLES, Language
from wechat_twin.errors import TwinError

NOWHERE = "http://127.0.0.1:9/v1"
LATIN_WORDS = re.compile(r"\b(?:commands|paused|resumed|memory|cleared|picks|labels|review)\b")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _owner_says(tmp_path, lines: list[str], **settings) -> list[str]:
    harness = Harness(BridgeConfig(api_base=NOWHERE, data_dir=tmp_path, **settings))
    try:
        for line in lines:
            harness.receive(owner_message(line))
        return harness.channel.to("filehelper")
    finally:
        harness.bridge.close()


def test_the_two_tables_have_the_same_keys_and_placeholders():
    zh, en = TABLES[Language.zh], TABLES[Language.en]
    assert zh.keys() == en.keys()
    assert {key: _placeholders(zh[key]) for key in zh} == {key: _placeholders(en[key]) for key in en}


def test_chinese_is_the_default_and_english_is_a_setting(tmp_path):
    assert load_config(None).language is Language.zh
    settings = tmp_path / "bridge.toml"
    settings.write_text('language = "en"\n')
    assert load_config(settings).language is Language.en
    settings.write_text('language = "fr"\n')
    with pytest.raises(TwinError, match=rf"^{re.escape(str(settings))}: language: Input should be 'zh' or 'en'"):
        load_config(settings)


def test_the_owner_gets_help_and_notices_in_chinese_with_their_own_feedback_words(tmp_path):
    said = _owner_says(tmp_path, ["/help", "/pause", "/resume", "/reset 小美"], good_word="好评", bad_word="差评")
    assert said == [
        "命令：/pause 暂停回复 · /resume 恢复回复 · /reset 名字 清空和此人的对话记忆 · /ab 下一条回复出两个候选 · "
        "回 1 或 2 选一个发出去 · 回 好评 / 差评 评价上一条回复 · /take 名字 接管和此人的对话 · /release 交还 · "
        "/who 看接管中的 · /send /say 内容 /skip 处理敏感话题",
        "分身已暂停：新消息先存着，发 /resume 再回",
        "分身已恢复回复",
        "已清空和 小美 的对话记忆",
    ]
    assert not LATIN_WORDS.search("\n".join(said))


def test_the_owner_gets_help_and_notices_in_english_when_set(tmp_path):
    said = _owner_says(tmp_path, ["/help", "/pause", "/resume", "/reset Mia"], language="en")
    assert said == [
        "commands: /pause /resume /reset NAME /ab (next reply as two candidates) · 1 or 2 picks · 不错 / 不好 labels · "
        "/take NAME /release /who (take a chat over) · /send /say TEXT /skip (guarded topics)",
        "bridge paused",
        "bridge resumed",
        "memory of Mia cleared",
    ]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_console_speaks_the_settings_language(tmp_path, language):
    settings = tmp_path / "bridge.toml"
    settings.write_text(f'language = "{language}"\n')
    result = CliRunner().invoke(
        app,
        ["run", "--channel", "console", "--config", str(settings), "--api-base", NOWHERE, "--data-dir", str(tmp_path)],
        input="/help\n",
    )
    assert result.exit_code == 0, result.output
    expected = {"zh": "[给你看] 命令：/pause 暂停回复", "en": "[review] commands: /pause /resume"}[language]
    assert result.output.startswith(expected), result.output


@pytest.mark.parametrize("language", ["zh", "en"])
def test_ab_candidates_and_review_copies_reach_the_owner_in_their_language(make_bridge, language):
    h = make_bridge(language=language, temperature=1.0, review_replies=True, good_word="好评", bad_word="差评")
    h.receive(owner_message("/ab"))
    h.receive(friend_message("周末去哪儿玩？", remark="小美"))
    h.bridge.process_pending()
    choose = h.channel.to("filehelper")[-1]
    first, second = json.loads(h.bridge.feedback.open_choice()["candidates"])
    if language == "zh":
        assert choose == f"【小美】周末去哪儿玩？\n1: {first}\n2: {second}\n（回 1 或 2，选中的那条发给对方）"
    else:
        assert choose == f"[小美] 周末去哪儿玩？\n1: {first}\n2: {second}\n(reply 1 or 2: that one goes to them)"
    h.receive(owner_message("1"))
    assert h.channel.to("@friend01") == [line.strip() for line in first.split("\n") if line.strip()]

    h.receive(friend_message("好呀", remark="小美"))
    h.bridge.process_pending()
    reply = h.bridge.feedback.last_reply()["reply"]
    review = h.channel.to("filehelper")[-1]
    if language == "zh":
        assert review == f"【小美】好呀\n→ {reply}\n（回 好评 或 差评 评价这条回复）"
    else:
        assert review == f"[小美] 好呀\n→ {reply}\n(好评/差评)"
