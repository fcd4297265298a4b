"""Server settings: what `twin-server serve` was told, in one validated object."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from wechat_twin.errors import UsageError
from wechat_twin.feedback import FEEDBACK_FILE, FeedbackLocation
from wechat_twin.network import is_loopback
from wechat_twin.server.engines.base import EngineKind, EngineOptions
from wechat_twin.server.keys import ChatKey, check_chat_key_name, check_key_set

# A request without max_tokens to an adapter whose twin.json records the owner's p99 reply length gets
# that times the margin plus the slack; without either (and without --default-max-tokens), the fallback.
REPLY_BUDGET_MARGIN = 1.5
REPLY_BUDGET_SLACK = 16
FALLBACK_MAX_TOKENS = 512
# Requests in flight before 429; also the connections one client address may hold (a proxy is one address).
MAX_PENDING_REQUESTS = 256


class ServerSettings(BaseModel):
    model: str | None = Field(default=None, description="Local HF folder; None = the embedded default")
    served_name: str | None = None
    base_source: str | None = Field(
        default=None,
        description="What `model` was resolved from (hub id, embedded name, folder), as adapters' twin.json names "
        "their base; None: `model` itself",
    )
    base_revision: str | None = Field(
        default=None,
        description="With a hub id: the --revision `model` was taken at; an adapter trained at another is refused",
    )
    adapters_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = Field(default_factory=list)
    admin_keys: list[str] = Field(default_factory=list)
    chat_keys: dict[str, ChatKey] = Field(
        default_factory=dict,
        description="name -> key; these keys chat with their clones and give feedback, never manage adapters",
    )
    require_key: bool = Field(default=False, description="Refuse to start without a key, even on loopback")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Host names clients may reach the server by, besides its bound address"
    )
    feedback_db: FeedbackLocation | None = Field(
        default=None,
        description=f"Where the chat page's feedback goes: a SQLite file or a postgresql:// URL (what replicas "
        f"share); None = {FEEDBACK_FILE} beside the adapters",
    )
    aliases: dict[str, str] = Field(default_factory=dict)
    engine: EngineKind = EngineKind.AUTO
    engine_options: EngineOptions = Field(default_factory=EngineOptions)
    persona_overrides_client: bool = False
    sampling_overrides_client: bool = False  # the adapter's tuned sampling replaces what a client sends
    max_body_bytes: int = Field(default=1 << 20, gt=0)
    max_pending_requests: int = Field(default=MAX_PENDING_REQUESTS, gt=0)
    max_pending_per_key: int = Field(default=64, gt=0, description="Requests in flight per key before 429")
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="Seconds a connection has to send a request's headers (slowloris)"
    )
    max_connections: int = Field(
        default=1024, gt=0, description="Connections open at once before a new one is answered 503 and closed"
    )
    max_connections_per_client: int = Field(
        default=MAX_PENDING_REQUESTS,
        gt=0,
        description="Connections one client address holds open before a new one is answered 429 and closed",
    )
    body_timeout_s: float = Field(default=30.0, gt=0, description="Seconds a client has to send its whole body")
    request_timeout_s: float = Field(default=600.0, gt=0)
    log_message_text: bool = False
    metrics_without_key: bool = Field(
        default=False,
        description="/metrics open on a public bind, as vLLM leaves it, for scrapers that send no key",
    )
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
    def _named_plainly(cls, keys: dict[str, ChatKey]) -> dict[str, ChatKey]:
        for name in keys:
            check_chat_key_name(name)
        return keys

    @property
    def keyless(self) -> bool:
        return not (self.api_keys or self.admin_keys or self.chat_keys)

    @property
    def public(self) -> bool:
        """Bound beyond loopback: reachable by the network, so everything but health needs a key."""
        return not is_loopback(self.host)

    def feedback_path(self) -> FeedbackLocation | None:
        """The feedback database: as given (a file or a PostgreSQL URL), else beside the adapters folder (the
        page offers no feedback when there is neither)."""
        if self.feedback_db is not None:
            return self.feedback_db
        return self.adapters_dir.resolve().parent / FEEDBACK_FILE if self.adapters_dir else None


def check_exposure(settings: ServerSettings) -> None:
    """Chat clones must not be reachable by the network without a key, nor by a key anyone could guess."""
    if settings.public and not (settings.api_keys or settings.chat_keys):
        raise UsageError(
            f"refusing to listen on {settings.host} without an API key: pass --key-file (or --api-key, "
            "--chat-key, TWIN_API_KEYS), or bind 127.0.0.1"
        )
    if settings.require_key and settings.keyless:
        raise UsageError("--require-key: no key given; pass --key-file (or --api-key, TWIN_API_KEYS)")
    try:
        check_key_set(settings.api_keys, settings.admin_keys, settings.chat_keys, settings.public)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
