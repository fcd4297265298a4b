"""`twin-bridge`: run the bridge on WeChat (weixin, itchat) or in a terminal, and export its feedback."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated

import typer

from wechat_twin import output
from wechat_twin.bridge.channels.base import Channel, ChannelStopped
from wechat_twin.bridge.config import BridgeConfig, ChannelName, WeixinConfig, load_config
from wechat_twin.bridge.texts import DEFAULT_LANGUAGE, Language, Texts
from wechat_twin.commands import command_app
from wechat_twin.errors import UsageError
from wechat_twin.feedback import FEEDBACK_FILE, feedback_location
from wechat_twin.feedback.export import export_feedback

app = command_app("Put the clone into WeChat and collect feedback for preference training.")

_DEFAULTS = BridgeConfig()


def _answer_in_background(bridge, stop: threading.Event, interval: float) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            try:
                bridge.process_pending()
            except ChannelStopped:
                return
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="answer", daemon=True)
    thread.start()
    return thread


def _transport(settings: BridgeConfig) -> Channel:
    texts = Texts(settings.language)
    if settings.channel is ChannelName.WEIXIN:
        from wechat_twin.bridge.channels.weixin.channel import WeixinChannel

        return WeixinChannel(
            settings.weixin,
            settings.data_dir,
            say=output.say,
            ask_code=lambda: typer.prompt(texts("ask_code")),
            confirm_owner=lambda user: typer.confirm(texts("confirm_owner", user=user)),
            texts=texts,
        )
    from wechat_twin.bridge.channels.itchat_channel import ItchatChannel

    output.warning(texts("itchat_warning"))
    return ItchatChannel(settings.data_dir, texts)


@app.command()
def run(
    channel: Annotated[
        ChannelName | None,
        typer.Option(
            help=f"weixin (WeChat's bot API, recommended), itchat (web protocol: ban risk) or console (a terminal "
            f"chat) (default: {_DEFAULTS.channel.value})",
            show_default=False,
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML settings file (see docs/bridge.md)")] = None,
    model: Annotated[
        str | None, typer.Option(help=f"Adapter name to answer with (TWIN_MODEL) (default: {_DEFAULTS.model})")
    ] = None,
    api_base: Annotated[
        str | None, typer.Option(help=f"Server base URL (TWIN_API_BASE) (default: {_DEFAULTS.api_base})")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help=f"Where {FEEDBACK_FILE} and the login live (TWIN_DATA_DIR) (default: the working folder)"),
    ] = None,
    feedback_db: Annotated[
        str | None,
        typer.Option(
            help=f"The feedback database (TWIN_FEEDBACK_DB): a SQLite file or "
            "postgresql://USER@HOST/DB shared with the server "
            f"(default: {FEEDBACK_FILE} in --data-dir)"
        ),
    ] = None,
    ilink_base: Annotated[
        str | None, typer.Option(help=f"weixin channel: the iLink API host (default: {WeixinConfig().base_url})")
    ] = None,
    friend: Annotated[
        str | None, typer.Option(help=f"console channel: the friend you play (default: {_DEFAULTS.console_friend})")
    ] = None,
    no_typing_delay: Annotated[
        bool, typer.Option("--no-typing-delay", help="Send replies at once (--delay-scale 0)")
    ] = False,
    delay_scale: Annotated[
        float | None,
        typer.Option(
            min=0,
            show_default=False,
            help=f"Multiply every wait: the clone's learned reply latency and bubble "
            f"gaps, or the fixed typing pauses (default: {_DEFAULTS.delay_scale}; "
            "console: 0)",
        ),
    ] = None,
    poll_seconds: Annotated[
        float | None, typer.Option(help=f"How often queued messages are looked at (default: {_DEFAULTS.answer_poll_s})")
    ] = None,
) -> None:
    """Answer friends with the clone until Ctrl-C."""
    from wechat_twin.bridge.service import Bridge

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per long poll otherwise
    settings = load_config(
        config,
        weixin={"base_url": ilink_base},
        channel=channel,
        model=model,
        api_base=api_base,
        data_dir=data_dir,
        feedback_db=feedback_db,
        console_friend=friend,
        answer_poll_s=poll_seconds,
        delay_scale=0.0 if no_typing_delay else delay_scale,
    )
    if settings.channel is ChannelName.CONSOLE:
        _console(settings, paced=delay_scale is not None and not no_typing_delay)
        return
    transport = _transport(settings)
    bridge = Bridge(settings, transport)
    stop = threading.Event()
    answering = _answer_in_background(bridge, stop, settings.answer_poll_s)
    try:
        transport.run(bridge)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        answering.join(timeout=settings.request_timeout_s)
        bridge.close()


def _console(settings: BridgeConfig, paced: bool) -> None:
    """A terminal answers after each line typed, at once; with `--delay-scale` a reply comes when it is due."""
    from wechat_twin.bridge.channels.console import ConsoleChannel
    from wechat_twin.bridge.service import Bridge

    if not paced:
        settings = settings.model_copy(update={"delay_scale": 0.0})
    console = ConsoleChannel(settings.console_friend, texts=Texts(settings.language))
    bridge = Bridge(settings, console)
    console.after_each = bridge.process_pending
    stop = threading.Event()
    answering = _answer_in_background(bridge, stop, settings.answer_poll_s) if paced else None
    try:
        console.run(bridge)
    finally:
        stop.set()
        if answering is not None:
            answering.join(timeout=settings.request_timeout_s)
        bridge.close()


@app.command("export-feedback")
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for preference.jsonl and unpaired.jsonl")],
    db: Annotated[
        str,
        typer.Option(
            help="The feedback database: a SQLite file or a postgresql:// URL (TWIN_FEEDBACK_DB)",
            envvar="TWIN_FEEDBACK_DB",
        ),
    ] = FEEDBACK_FILE,
) -> None:
    """Write TRL preference (prompt/chosen/rejected) and unpaired (prompt/completion/label) JSONL."""
    database = feedback_location(db)
    if isinstance(database, Path) and not database.is_file():
        raise UsageError(f"{db}: no feedback database there")
    pairs, labels = export_feedback(database, out)
    output.result(f"wrote {pairs} preference pairs and {labels} labels to {out}")


@app.command("log")
def log(
    contact: Annotated[str | None, typer.Option(help="Only this contact (id, or the name the bridge knows)")] = None,
    since: Annotated[str | None, typer.Option(help="Only from this day on (YYYY-MM-DD, local time)")] = None,
    db: Annotated[Path, typer.Option(help="The bridge's database")] = Path(FEEDBACK_FILE),
    out: Annotated[Path | None, typer.Option(help="Also write the list to this file (owner-only)")] = None,
    language: Annotated[Language | None, typer.Option(help="zh or en (default: zh)")] = None,
) -> None:
    """List what the bridge sent in your name: time, contact, whether the clone wrote it, you approved its
    draft, or you wrote it, and the text."""
    from wechat_twin.bridge.sent_log import sent_lines, write_log

    lines = sent_lines(db, contact, since, Texts(language or DEFAULT_LANGUAGE))
    for line in lines:
        output.result(line)
    if out is not None:
        write_log(out, lines)


if __name__ == "__main__":
    app()
