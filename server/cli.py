"""`twin-server`: serve the base model and its clones, or install the embedded default."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from wechat_twin.server.basemodel.embedded import EmbeddedModelError, ensure_embedded_model
from wechat_twin.server.config import ServerSettings, parse_chat_keys
from wechat_twin.server.engines.base import EngineOptions

app = typer.Typer(help="Serve chat clones over an OpenAI-compatible API.", no_args_is_help=True)


def _keys(flag_values: list[str] | None, env_name: str) -> list[str]:
    keys = list(flag_values or [])
    keys += [k.strip() for k in os.environ.get(env_name, "").split(",") if k.strip()]
    return keys


def _aliases(values: list[str] | None) -> dict[str, str]:
    aliases = {}
    for value in values or []:
        alias, sep, target = value.partition("=")
        if not sep or not alias or not target:
            raise typer.BadParameter(f"{value!r}: write an alias as NAME=SERVED_MODEL", param_hint="--alias")
        aliases[alias] = target
    return aliases


def _chat_keys(values: list[str] | None) -> dict[str, str]:
    try:
        return parse_chat_keys(_keys(values, "TWIN_CHAT_KEYS"))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--chat-key") from exc


@app.command()
def serve(
    model: Annotated[
        str | None,
        typer.Option(help="Local Hugging Face folder of the base model; default: the embedded SmolLM2-135M-Instruct"),
    ] = None,
    served_name: Annotated[str | None, typer.Option(help="Name clients use for the base model")] = None,
    adapters: Annotated[Path | None, typer.Option(help="Folder of adapter folders (one per clone)")] = None,
    host: Annotated[str, typer.Option(help="Bind address; anything but loopback needs an API key")] = "127.0.0.1",
    port: int = 8000,
    api_key: Annotated[list[str] | None, typer.Option(help="API key (repeatable; also TWIN_API_KEYS=a,b)")] = None,
    admin_key: Annotated[
        list[str] | None, typer.Option(help="Key for adapter management (also TWIN_ADMIN_KEYS)")
    ] = None,
    chat_key: Annotated[
        list[str] | None,
        typer.Option(help="NAME=KEY: a key that can chat and give feedback but not manage adapters, for friends "
                     "(repeatable; also TWIN_CHAT_KEYS=name=key,...)"),
    ] = None,
    feedback_db: Annotated[
        Path | None,
        typer.Option(help="SQLite file for the chat page's feedback (default: feedback.db beside --adapters)"),
    ] = None,
    alias: Annotated[list[str] | None, typer.Option(help="NAME=SERVED_MODEL, e.g. gpt-3.5-turbo=alice")] = None,
    engine: Annotated[str, typer.Option(help="auto, vllm or transformers")] = "auto",
    persona_override: Annotated[
        bool, typer.Option(help="Use the adapter's twin.json persona even when the client sends its own system prompt")
    ] = False,
    max_model_len: int | None = None,
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16, float16")] = "auto",
    gpu_memory_utilization: float = 0.9,
    tensor_parallel_size: int = 1,
    max_lora_rank: int = 16,
    max_loras: int = 4,
    max_num_seqs: int | None = None,
    enforce_eager: Annotated[bool, typer.Option(help="Skip graph capture/compilation (faster start)")] = False,
    max_body_bytes: int = 1 << 20,
    max_pending: Annotated[int, typer.Option(help="Requests in flight before 429")] = 256,
    request_timeout: Annotated[float, typer.Option(help="Seconds before a generation is cut off (504)")] = 600.0,
    log_message_text: Annotated[bool, typer.Option(help="Debug: log message text (off: logs carry none)")] = False,
    log_level: str = "info",
) -> None:
    """Start the API server."""
    import uvicorn

    from wechat_twin.server.app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if dtype == "auto" and engine != "transformers":
        try:
            import torch

            dtype = "auto" if torch.cuda.is_available() else "float32"
        except ImportError:
            pass
    settings = ServerSettings(
        model=model,
        served_name=served_name,
        adapters_dir=adapters,
        host=host,
        port=port,
        api_keys=_keys(api_key, "TWIN_API_KEYS"),
        admin_keys=_keys(admin_key, "TWIN_ADMIN_KEYS"),
        chat_keys=_chat_keys(chat_key),
        feedback_db=feedback_db,
        aliases=_aliases(alias),
        engine=engine,
        engine_options=EngineOptions(
            max_model_len=max_model_len,
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
            max_lora_rank=max_lora_rank,
            max_loras=max_loras,
            enforce_eager=enforce_eager,
            max_num_seqs=max_num_seqs,
        ),
        persona_overrides_client=persona_override,
        max_body_bytes=max_body_bytes,
        max_pending_requests=max_pending,
        request_timeout_s=request_timeout,
        log_message_text=log_message_text,
    )
    if adapters is not None and not adapters.is_dir():
        raise typer.BadParameter(f"{adapters} is not a folder", param_hint="--adapters")
    try:
        application = create_app(settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    uvicorn.run(application, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)


@app.command("install-model")
def install_model(
    force: Annotated[bool, typer.Option(help="Convert again even if the cache is complete")] = False,
) -> None:
    """Convert the embedded SmolLM2-135M-Instruct into the per-user cache (done automatically on first use)."""
    try:
        path = ensure_embedded_model(force=force)
    except EmbeddedModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(str(path))


if __name__ == "__main__":
    app()
