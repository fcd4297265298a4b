"""Server settings: what `twin-server serve` was told, in one validated object."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from wechat_twin.errors import UsageError
from wechat_twin.feedback import FEEDBACK_FILE
from wechat_twin.names import NAME_RULE, is_plain_name
from wechat_twin.server.engines.base import EngineKind, EngineOptions

# A request without max_tokens to an adapter whose twin.json records the owner's p99 reply length gets
# that times the margin plus the slack; without either (and without --default-max-tokens), the fallback.
REPLY_BUDGET_MARGIN = 1.5
REPLY_BUDGET_SLACK = 16
FALLBACK_MAX_TOKENS = 512


class ServerSettings(BaseModel):
    model: str | None = Field(default=None, description="Local HF folder; None = the embedded default")
    served_name: str | None = None
    adapters_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = Field(default_factory=list)
    admin_keys: list[str] = Field(default_factory=list)
    chat_keys: dict[str, str] = Field(
        default_factory=dict, description="name -> key; these keys chat and give feedback, never manage adapters"
    )
    feedback_db: Path | None = Field(
        default=None, description=f"Where the chat page's feedback goes; None = {FEEDBACK_FILE} beside the adapters"
    )
    aliases: dict[str, str] = Field(default_factory=dict)
    engine: EngineKind = EngineKind.AUTO
    engine_options: EngineOptions = Field(default_factory=EngineOptions)
    persona_overrides_client: bool = False
    sampling_overrides_client: bool = False  # the adapter's tuned sampling replaces what a client sends
    max_body_bytes: int = Field(default=1 << 20, gt=0)
    max_pending_requests: int = Field(default=256, gt=0)
    request_timeout_s: float = Field(default=600.0, gt=0)
    log_message_text: bool = False
    default_max_tokens: int | None = Field(
        default=None,
        gt=0,
        description=f"Reply budget when a request sends no max_tokens; None = the adapter's twin.json, "
        f"else {FALLBACK_MAX_TOKENS}",
    )
    trim_history: bool = True

    model_config = {"arbitrary_types_allowed": True}

    @field_validator("chat_keys")
    @classmethod
    def _named_plainly(cls, keys: dict[str, str]) -> dict[str, str]:
        for name, key in keys.items():
            check_chat_key(name, key)
        return keys

    def feedback_path(self) -> Path | None:
        """The feedback database: as given, else beside the adapters folder (the page offers no feedback
        when there is neither)."""
        if self.feedback_db is not None:
            return self.feedback_db
        return self.adapters_dir.resolve().parent / FEEDBACK_FILE if self.adapters_dir else None


def check_chat_key(name: str, key: str) -> None:
    """A chat key's name ends up in logs and feedback rows: keep it a plain identifier."""
    if not is_plain_name(name):
        raise ValueError(f"chat key name {name!r} {NAME_RULE}")
    if not key:
        raise ValueError(f"chat key {name!r} is empty")


def parse_chat_keys(values: list[str]) -> dict[str, str]:
    """`NAME=KEY` items (the key may itself contain `=`) into name -> key."""
    keys: dict[str, str] = {}
    for value in values:
        name, sep, key = value.partition("=")
        if not sep:
            raise ValueError(f"{value!r}: write a chat key as NAME=KEY")
        check_chat_key(name, key)
        if name in keys:
            raise ValueError(f"chat key name {name!r} is given twice")
        keys[name] = key
    return keys


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: ServerSettings) -> None:
    """Chat clones must not be reachable by the network without a key."""
    if not is_loopback(settings.host) and not (settings.api_keys or settings.chat_keys):
        raise UsageError(
            f"refusing to listen on {settings.host} without an API key: pass --api-key or --chat-key "
            "(or set TWIN_API_KEYS), or bind 127.0.0.1"
        )
