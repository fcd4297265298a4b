"""`--revision` and `--hub`: the options of every command that takes a base model, declared once.

`twin-server serve` and the `twin-train` commands (sft, cpt, dpo, kto, eval, export) all resolve
`--model` through `resolve_base_model`, so they take the same two options with the same help.
"""

from __future__ import annotations

from typing import Annotated

import typer

from wechat_twin.server.basemodel.hub import MODELSCOPE_ENV, Hub

REVISION_HELP = "With a hub id for --model: the branch, tag or commit to use (default: the hub's main one)"
HUB_HELP = (
    f"Where a hub id comes from: huggingface (HF_ENDPOINT names a mirror) or modelscope (needs the "
    f"modelscope package); default: huggingface, or modelscope when {MODELSCOPE_ENV}=1"
)
RevisionOpt = Annotated[str | None, typer.Option(help=REVISION_HELP)]
HubOpt = Annotated[Hub | None, typer.Option(help=HUB_HELP)]
