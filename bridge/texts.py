"""What the bridge says to its owner, in the owner's language: one table per language, the same keys in each.

The owner reads these in WeChat (the file-transfer helper, or the bot chat on the weixin channel) and in the
terminal (login prompts, warnings, login errors). Chinese is the default: the people who use this chat in
Chinese. The good/bad feedback words are settings (`good_word`, `bad_word`), filled in where a text names them.
"""

from __future__ import annotations

import enum


class Language(enum.Enum):
    """The bridge's `language` setting."""

    zh = "zh"
    en = "en"


DEFAULT_LANGUAGE = Language.zh

TABLES: dict[Language, dict[str, str]] = {
    Language.zh: {
        "help": "命令：/pause 暂停回复 · /resume 恢复回复 · /reset 名字 清空和此人的对话记忆 · "
        "/ab 下一条回复出两个候选 · 回 1 或 2 选一个发出去 · 回 {good} / {bad} 评价上一条回复 · "
        "/take 名字 接管和此人的对话 · /release 交还 · /who 看接管中的 · /send /say 内容 /skip 处理敏感话题",
        "paused": "分身已暂停：新消息先存着，发 /resume 再回",
        "resumed": "分身已恢复回复",
        "memory_cleared": "已清空和 {name} 的对话记忆",
        "choose": "【{name}】{text}\n1: {first}\n2: {second}\n（回 1 或 2，选中的那条发给对方）",
        "review": "【{name}】{text}\n→ {reply}\n（回 {good} 或 {bad} 评价这条回复）",
        "console_review": "[给你看]",
        "console_clone": "分身>",
        "scan_qr": "{drawing}请用主人的微信扫码（图片也在 {png}）：{link}",
        "qr_expired": "二维码已过期，这是新的一张（第 {number} 张，共 {total} 张）",
        "codes_blocked": "验证码错误次数太多",
        "code_wrong": "验证码不对",
        "already_bound": "已经绑定过：保存的登录仍然有效",
        "scanned": "已扫码：请在手机上确认登录",
        "logged_in": "已登录，机器人 {bot}",
        "not_owner": "已拒绝：确认这张二维码的是 {scanner}，不是主人 {owner}；请用主人的微信扫下一张",
        "unnamed_scanner": "一个 iLink 没有给出名字的微信",
        "no_qr_confirmed": "没有二维码被确认（共 {total} 张）；请重新运行 `twin-bridge run`",
        "login_deadline": "{seconds} 秒内没有确认登录",
        "bound_elsewhere": "这个机器人已绑定到别的客户端，这里也没有保存的登录",
        "no_bot_token": "iLink 确认了登录，却没有给出机器人的 token 或 id",
        "owner_known": "主人：{owner}（主人发给机器人的消息是命令、选择和评价）",
        "owner_set": "主人：{owner}",
        "session_ended": "微信结束了机器人的登录（-14，会话超时）。回复先等着，排队的消息都还在：请扫新的二维码。",
        "owner_unknown": "[给主人，主人还没给机器人发过消息] {text}",
        "ask_code": "手机上显示的数字",
        "confirm_owner": "{user} 给机器人发了消息，还没有设定主人：这是你吗？",
        "itchat_warning": "itchat 走微信网页版协议：微信会标记并封禁使用它的账号（直到 2025 年都有人报告）。"
        "请用小号登录，千万别用主号。`--channel weixin`（微信官方机器人接口）没有封号风险。",
        "itchat_logged_out": "已退出微信登录：请重新运行 `twin-bridge run` 并扫新的二维码",
        "take_started": "已接管 {name}：对方的消息转给你，你发来的非命令消息发给对方；/release 交还分身",
        "take_forward": "【{name}】{text}",
        "take_choose": "有几个联系人匹配“{query}”，请发 /take 加上其中一个 id：\n{choices}",
        "take_none": "没有找到联系人“{query}”",
        "take_nothing": "没有接管中的联系人",
        "take_idle": "{minutes} 分钟没有你的消息：{name} 已交还分身",
        "released": "{name} 已交还分身",
        "who": "接管中：{names}",
        "guarded": "【{name}】{text}\n敏感话题：{topic}，分身没有回\n分身的草稿：{draft}\n"
        "（/send 发出草稿 · /say 内容 发你自己的话 · /skip 不回）",
        "no_draft": "（没有草稿）",
        "guard_sent": "已发给 {name}",
        "guard_skipped": "没有回复 {name}",
        "guard_nothing": "没有等你处理的消息",
        "topic_money": "钱",
        "topic_codes": "验证码和密码",
        "topic_meeting": "见面的时间地点",
        "topic_politics": "政治",
        "log_clone": "分身",
        "log_approved": "主人批准",
        "log_owner": "主人",
    },
    Language.en: {
        "help": "commands: /pause /resume /reset NAME /ab (next reply as two candidates) · 1 or 2 picks · "
        "{good} / {bad} labels · /take NAME /release /who (take a chat over) · /send /say TEXT /skip (guarded topics)",
        "paused": "bridge paused",
        "resumed": "bridge resumed",
        "memory_cleared": "memory of {name} cleared",
        "choose": "[{name}] {text}\n1: {first}\n2: {second}\n(reply 1 or 2: that one goes to them)",
        "review": "[{name}] {text}\n→ {reply}\n({good}/{bad})",
        "console_review": "[review]",
        "console_clone": "clone>",
        "scan_qr": "{drawing}Scan with the owner's WeChat (also in {png}): {link}",
        "qr_expired": "QR code expired: here is a new one ({number} of {total})",
        "codes_blocked": "too many wrong codes",
        "code_wrong": "that code was wrong",
        "already_bound": "already bound: the kept login stays valid",
        "scanned": "scanned: confirm the login on the phone",
        "logged_in": "logged in as bot {bot}",
        "not_owner": "refused: the QR code was confirmed by {scanner}, not by the owner {owner}; scan the next code "
        "with the owner's WeChat",
        "unnamed_scanner": "a WeChat iLink did not name",
        "no_qr_confirmed": "no QR code was confirmed ({total} offered); run `twin-bridge run` again",
        "login_deadline": "the login was not confirmed within {seconds} s",
        "bound_elsewhere": "this bot is bound to another client and no local login is kept here",
        "no_bot_token": "iLink confirmed the login without a bot token or bot id",
        "owner_known": "owner: {owner} (their messages to the bot are commands, picks and labels)",
        "owner_set": "owner: {owner}",
        "session_ended": "WeChat ended the bot's login (-14, session timeout). Replies wait, queued messages are "
        "kept: scan the new QR code.",
        "owner_unknown": "[for the owner, who has not messaged the bot yet] {text}",
        "ask_code": "The number shown on the phone",
        "confirm_owner": "{user} messaged the bot and no owner is set: is that you?",
        "itchat_warning": "itchat uses WeChat's web protocol: WeChat flags and bans accounts that use it (reported "
        "up to 2025). Log in with a secondary account, never your main one. `--channel weixin` (WeChat's bot API) "
        "has no ban risk.",
        "itchat_logged_out": "logged out of WeChat: run `twin-bridge run` again and scan the new QR code",
        "take_started": "took over {name}: their messages come to you, yours (not commands) go to them; "
        "/release gives them back",
        "take_forward": "[{name}] {text}",
        "take_choose": 'several contacts match "{query}": send /take with one of these ids:\n{choices}',
        "take_none": 'no contact matches "{query}"',
        "take_nothing": "no takeover is open",
        "take_idle": "{minutes} min without a word from you: {name} is back with the clone",
        "released": "{name} is back with the clone",
        "who": "taken over: {names}",
        "guarded": "[{name}] {text}\nguarded topic: {topic}, not answered\nthe clone's draft: {draft}\n"
        "(/send sends the draft · /say TEXT sends yours · /skip sends nothing)",
        "no_draft": "(no draft)",
        "guard_sent": "sent to {name}",
        "guard_skipped": "{name} gets no reply",
        "guard_nothing": "nothing is waiting for you",
        "topic_money": "money",
        "topic_codes": "codes and passwords",
        "topic_meeting": "meeting time or place",
        "topic_politics": "politics",
        "log_clone": "clone",
        "log_approved": "approved",
        "log_owner": "owner",
    },
}


class Texts:
    """The owner's table: `texts("paused")`, `texts("memory_cleared", name="Mia")`."""

    def __init__(self, language: Language = DEFAULT_LANGUAGE) -> None:
        self.language = language
        self.table = TABLES[language]

    def __call__(self, key: str, **values: object) -> str:
        return self.table[key].format(**values)
