"""Bridge settings from a TOML file, with the secrets and addresses also settable by environment."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field


class BridgeConfig(BaseModel):
    api_base: str = "http://127.0.0.1:8000/v1"
    api_key: str = ""
    model: str = Field(default="demo-clone", description="The adapter name the server serves the clone under")
    system_prompt: str | None = Field(default=None, description="None: the server applies the adapter's persona")
    max_tokens: int = 128
    temperature: float = 0.8
    request_timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 1.0
    answer_deadline_s: float = 900.0
    fallback_text: str = ""
    session_gap_s: float = 3600.0
    memory_turns: int = 12
    typing_seconds_per_char: float = 0.2
    typing_max_seconds: float = 4.0
    groups_need_mention: bool = True
    group_overrides: dict[str, bool] = Field(default_factory=dict, description="group name or id -> answer all")
    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    replies_per_minute: int = 6
    quiet_hours: str = Field(default="", description="e.g. 23:00-08:00, local time")
    ab_probability: float = 0.0
    ab_to_friends: bool = False
    review_replies: bool = False
    feedback_from: str = Field(default="owner", description="owner, friends or both")
    good_word: str = "不错"
    bad_word: str = "不好"
    data_dir: Path = Path(".")

    @property
    def database(self) -> Path:
        return self.data_dir / "feedback.db"


_ENV = {"TWIN_API_BASE": "api_base", "TWIN_API_KEY": "api_key", "TWIN_MODEL": "model", "TWIN_DATA_DIR": "data_dir"}


def load_config(path: Path | None, **overrides: object) -> BridgeConfig:
    values: dict[str, object] = {}
    if path is not None:
        with path.open("rb") as handle:
            values.update(tomllib.load(handle))
    values.update({field: os.environ[name] for name, field in _ENV.items() if os.environ.get(name)})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return BridgeConfig.model_validate(values)
