"""`twin-train`: one command per step, each defined in its own module and registered here."""

from __future__ import annotations

from wechat_twin.commands import command_app
from wechat_twin.training.dataset.command import data
from wechat_twin.training.demo import demo_command
from wechat_twin.training.evaluate.blind import blind_report_command
from wechat_twin.training.evaluate.command import eval_command
from wechat_twin.training.export.command import export_command
from wechat_twin.training.preference.dpo import dpo_command
from wechat_twin.training.preference.kto import kto_command
from wechat_twin.training.pretrain.cpt import cpt_command
from wechat_twin.training.sft.command import sft_command

app = command_app("Build a chat clone: import chat exports, train, evaluate.")


@app.callback()
def main() -> None:
    """Build a chat clone: import chat exports, train, evaluate."""


app.command("data")(data)
app.command("sft")(sft_command)
app.command("demo")(demo_command)
app.command("eval")(eval_command)
app.command("blind-report")(blind_report_command)
app.command("dpo")(dpo_command)
app.command("kto")(kto_command)
app.command("cpt")(cpt_command)
app.command("export")(export_command)


if __name__ == "__main__":
    app()
