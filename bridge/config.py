"""Bridge settings: every default is declared here once; the TOML file, the environment and the CLI override it.

Values are checked when the settings load (a malformed `quiet_hours` stops the start with the file and
field named), so nothing downstream parses or re-validates them on every poll.
"""

from __future__ import annotations

import enum
import os
import tomllib
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, ValidationError

from wechat_twin.bridge.guard import GuardConfig
from wechat_twin.bridge.texts import DEFAULT_LANGUAGE, Language
from wechat_twin.errors import TwinError, UsageError
from wechat_twin.feedback import FEEDBACK_FILE, FeedbackLocation, feedback_location


class ChannelName(enum.Enum):
    """The transports `twin-bridge run --channel` offers."""

    WEIXIN = "weixin"
    ITCHAT = "itchat"
    CONSOLE = "console"


class FeedbackFrom(enum.Enum):
    OWNER = "owner"
    FRIENDS = "friends"
    BOTH = "both"


@dataclass(frozen=True)
class QuietHours:
    """A daily window in local time; `end` before `start` means it runs over midnight."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _clock(text: str, whole: str) -> time:
    hour, sep, minute = text.strip().partition(":")
    if not sep or not hour.isdigit() or not minute.isdigit() or len(minute) != 2:
        raise ValueError(f"{whole!r} is not HH:MM-HH:MM (e.g. 23:00-08:00)")
    try:
        return time(int(hour), int(minute))
    except ValueError:
        raise ValueError(f"{whole!r}: {text.strip()} is not a time of day") from None


def parse_quiet_hours(value: object) -> QuietHours | None:
    """`"23:00-08:00"` → QuietHours; `""` or None → no quiet hours."""
    if value is None or isinstance(value, QuietHours):
        return value
    if not isinstance(value, str):
        raise ValueError("quiet hours are a string like 23:00-08:00")
    if not value.strip():
        return None
    start, dash, end = value.partition("-")
    if not dash:
        raise ValueError(f"{value!r} is not HH:MM-HH:MM (e.g. 23:00-08:00)")
    window = QuietHours(_clock(start, value), _clock(end, value))
    if window.start == window.end:
        raise ValueError(f"{value!r} is an empty window")
    return window


class WeixinConfig(BaseModel):
    """The `weixin` channel (Tencent's iLink bot API); the timings follow Tencent's own client."""

    base_url: str = Field(default="https://ilinkai.weixin.qq.com", description="iLink API host (--ilink-base)")
    owner_user_id: str = Field(
        default="",
        description="The owner's WeChat user id (…@im.wechat); empty: "
        "the WeChat that scanned the first login QR code, kept for every re-login",
    )
    api_domain: str = Field(
        default="weixin.qq.com",
        description="Login redirects and the account's API base "
        "(`baseurl`) are followed only to https:// hosts under this domain",
    )
    allow_loopback: bool = Field(
        default=False,
        description="Also follow them to 127.0.0.1, ::1 or localhost over "
        "http or https: a local fake iLink (the tests), never the real service",
    )
    proxy: str = Field(default="", description="Proxy URL for iLink requests; empty: none (HTTP(S)_PROXY are ignored)")
    poll_timeout_s: float = 35.0
    retry_s: float = 2.0
    failures_before_pause: int = 3
    pause_s: float = 30.0
    send_backoff_s: float = 2.0
    send_backoff_max_s: float = 300.0
    qr_poll_s: float = Field(default=1.0, description="Pause between two QR status polls")
    login_deadline_s: float = 480.0
    qr_codes: int = Field(default=3, description="QR codes offered per login before giving up")
    text_limit: int = Field(default=2000, description="Characters per WeChat message; longer text is split")
    typing_keepalive_s: float = 5.0


class BridgeConfig(BaseModel):
    channel: ChannelName = ChannelName.WEIXIN
    api_base: str = "http://127.0.0.1:8000/v1"
    api_key: str = ""
    proxy: str = Field(
        default="",
        description="Proxy URL for requests to the clone's API; empty: none (HTTP(S)_PROXY "
        "are ignored: friends' messages and the key never leave through one unasked)",
    )
    model: str = Field(default="demo-clone", description="The adapter name the server serves the clone under")
    system_prompt: str | None = Field(default=None, description="None: the server applies the adapter's persona")
    max_tokens: int | None = Field(default=None, ge=1, description="None: the clone's own reply budget (twin.json)")
    temperature: float | None = Field(
        default=None, ge=0.0, le=2.0, description="None: the clone's own tuned sampling (twin.json)"
    )
    request_timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 1.0
    answer_deadline_s: float = 900.0
    answer_poll_s: float = Field(default=1.0, description="How often queued messages are looked at")
    fallback_text: str = ""
    session_gap_s: float = 3600.0
    memory_turns: int = 12
    typing_seconds_per_char: float = 0.2
    typing_max_seconds: float = 4.0
    delay_scale: float = Field(
        default=1.0,
        ge=0,
        description="Multiplies every wait: the rhythm's and the typing "
        "pauses (--delay-scale; 0 = --no-typing-delay: at once)",
    )
    max_reply_delay_s: float = Field(default=600.0, ge=0, description="The longest wait the rhythm may draw")
    no_reply: bool = Field(
        default=False,
        description="Leave a turn unread at the owner's measured rate, never twice in a row for one contact",
    )
    rhythm_seed: int | None = Field(default=None, description="Seed for the rhythm's draws; none: a new one each run")
    groups_need_mention: bool = True
    group_overrides: dict[str, bool] = Field(default_factory=dict, description="group name or id -> answer all")
    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    replies_per_minute: int = 6
    quiet_hours: Annotated[QuietHours | None, BeforeValidator(parse_quiet_hours)] = Field(
        default=None, description="e.g. 23:00-08:00, local time"
    )
    ab_probability: float = 0.0
    ab_to_friends: bool = False
    review_replies: bool = False
    feedback_from: FeedbackFrom = FeedbackFrom.OWNER
    language: Language = Field(default=DEFAULT_LANGUAGE, description="What the bridge says to the owner: zh or en")
    good_word: str = "不错"
    bad_word: str = "不好"
    console_friend: str = Field(default="friend", description="Console channel: the friend you play")
    data_dir: Path = Path(".")
    feedback_db: str | None = Field(
        default=None,
        description=f"The feedback database (and the bridge's tables): a SQLite file, or postgresql://USER@HOST/DB "
        f"shared with the server's replicas; None = {FEEDBACK_FILE} in data_dir",
    )
    weixin: WeixinConfig = Field(default_factory=WeixinConfig)
    takeover_idle_minutes: float = Field(
        default=30.0,
        gt=0,
        description="A takeover (on itchat: the pause after "
        "the owner typed in a chat) ends this long after their last word",
    )
    guard: GuardConfig = Field(default_factory=GuardConfig, description="Guarded topics: held for the owner")

    @property
    def database(self) -> FeedbackLocation:
        return feedback_location(self.feedback_db) if self.feedback_db else self.data_dir / FEEDBACK_FILE


_ENV = {
    "TWIN_API_BASE": "api_base",
    "TWIN_API_KEY": "api_key",
    "TWIN_MODEL": "model",
    "TWIN_DATA_DIR": "data_dir",
    "TWIN_FEEDBACK_DB": "feedback_db",
}


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors()
    )


def load_config(path: Path | None, weixin: dict[str, object] | None = None, **overrides: object) -> BridgeConfig:
    """The file, then the environment, then the command line (`None` = not given); errors name file and field."""
    values: dict[str, object] = {}
    if path is not None:
        if not path.is_file():
            raise UsageError(f"{path}: no settings file there")
        try:
            with path.open("rb") as handle:
                values.update(tomllib.load(handle))
        except tomllib.TOMLDecodeError as exc:
            raise TwinError(f"{path}: {exc}") from None
    values.update({field: os.environ[name] for name, field in _ENV.items() if os.environ.get(name)})
    values.update({k: v for k, v in overrides.items() if v is not None})
    given = {k: v for k, v in (weixin or {}).items() if v is not None}
    if given:
        values["weixin"] = {**dict(values.get("weixin") or {}), **given}
    try:
        return BridgeConfig.model_validate(values)
    except ValidationError as exc:
        raise TwinError(f"{path or 'settings'}: {_problems(exc)}") from None
