"""The options `eval` and `compare` share, declared once: both generate replies with a base model on an engine."""

from __future__ import annotations

from typing import Annotated

import typer

from wechat_twin.server.engines.base import EngineKind

BaseModelOpt = Annotated[
    str | None, typer.Option("--model", help="Base model folder or hub id ORG/NAME (default: the one twin.json names)")
]
EngineOpt = Annotated[EngineKind, typer.Option("--engine", help="The server's engines; auto prefers vllm")]
ReplyTokensOpt = Annotated[int, typer.Option("--max-tokens", help="Tokens per generated reply")]
DEFAULT_ENGINE = EngineKind.TRANSFORMERS
DEFAULT_REPLY_TOKENS = 64
