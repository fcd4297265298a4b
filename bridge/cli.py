"""`twin-bridge`: run the bridge on WeChat (itchat) or in a terminal, and export its feedback."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated

import typer

from wechat_twin.bridge.config import load_config
from wechat_twin.feedback.export import export_feedback

app = typer.Typer(help="Put the clone into WeChat and collect feedback for preference training.",
                  no_args_is_help=True)  # fmt: skip

ITCHAT_WARNING = (
    "itchat uses WeChat's web protocol: WeChat flags and bans accounts that use it (reported up to 2025). "
    "Log in with a secondary account, never your main one."
)


def _answer_in_background(bridge, stop: threading.Event, interval: float) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            bridge.process_pending()
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="answer", daemon=True)
    thread.start()
    return thread


@app.command()
def run(
    channel: Annotated[str, typer.Option(help="itchat (WeChat) or console (a terminal chat)")] = "itchat",
    config: Annotated[Path | None, typer.Option(help="TOML settings file (see docs/bridge.md)")] = None,
    model: Annotated[str | None, typer.Option(help="Adapter name to answer with (TWIN_MODEL)")] = None,
    api_base: Annotated[str | None, typer.Option(help="Server base URL (TWIN_API_BASE)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where feedback.db and the login live (TWIN_DATA_DIR)")] = None,
    friend: Annotated[str, typer.Option(help="Console channel: the friend you play")] = "friend",
    no_typing_delay: Annotated[bool, typer.Option(help="Send replies at once (console tries)")] = False,
    poll_seconds: float = 1.0,
) -> None:
    """Answer friends with the clone until Ctrl-C."""
    from wechat_twin.bridge.service import Bridge

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_config(config, model=model, api_base=api_base, data_dir=data_dir)
    if no_typing_delay:
        settings = settings.model_copy(update={"typing_seconds_per_char": 0.0})
    if channel == "console":
        from wechat_twin.bridge.channels.console import ConsoleChannel

        transport = ConsoleChannel(friend)
        bridge = Bridge(settings, transport)
        transport.after_each = bridge.process_pending
        transport.run(bridge.on_message)
        bridge.close()
        return
    if channel != "itchat":
        raise typer.BadParameter("choose itchat or console", param_hint="--channel")
    from wechat_twin.bridge.channels.itchat_channel import ItchatChannel

    typer.secho(ITCHAT_WARNING, fg="yellow", err=True)
    transport = ItchatChannel(settings.data_dir)
    bridge = Bridge(settings, transport)
    stop = threading.Event()
    _answer_in_background(bridge, stop, poll_seconds)
    try:
        transport.run(bridge.on_message)
    finally:
        stop.set()
        bridge.close()


@app.command("export-feedback")
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for preference.jsonl and unpaired.jsonl")],
    db: Annotated[Path, typer.Option(help="The bridge's feedback database")] = Path("feedback.db"),
) -> None:
    """Write TRL preference (prompt/chosen/rejected) and unpaired (prompt/completion/label) JSONL."""
    if not db.is_file():
        typer.echo(f"error: {db}: no feedback database there", err=True)
        raise typer.Exit(1)
    pairs, labels = export_feedback(db, out)
    typer.echo(f"wrote {pairs} preference pairs and {labels} labels to {out}")


if __name__ == "__main__":
    app()
