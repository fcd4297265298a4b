"""Server settings: what `twin-server serve` was told, in one validated object."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, Field

from wechat_twin.errors import UsageError
from wechat_twin.server.engines.base import EngineKind, EngineOptions


class ServerSettings(BaseModel):
    model: str | None = Field(default=None, description="Local HF folder; None = the embedded default")
    served_name: str | None = None
    adapters_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = Field(default_factory=list)
    admin_keys: list[str] = Field(default_factory=list)
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
        description="Reply budget when a request sends no max_tokens; None = the adapter's twin.json, else 512",
    )
    trim_history: bool = True

    model_config = {"arbitrary_types_allowed": True}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: ServerSettings) -> None:
    """Chat clones must not be reachable by the network without a key."""
    if not is_loopback(settings.host) and not settings.api_keys:
        raise UsageError(
            f"refusing to listen on {settings.host} without an API key: pass --api-key (or set "
            "TWIN_API_KEYS), or bind 127.0.0.1"
        )
