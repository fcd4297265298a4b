"""`twin-train update ADAPTER EXPORT... --out DIR`: its options are `UpdateOptions`' fields."""

from __future__ import annotations

from wechat_twin import output
from wechat_twin.options import settings_command
from wechat_twin.training.update.run import UpdateOptions, run_update


@settings_command
def update_command(options: UpdateOptions) -> None:
    """Continue an adapter on new chats: only sessions it has not learnt, a share of the old ones replayed."""
    folder, report = run_update(options)
    from accelerate import PartialState  # the state run_sft set up: under `accelerate launch`, one line in all

    if PartialState().is_main_process:
        counts, replay = report["update"], report["replay"]
        output.result(
            f"sessions: {counts['new']} new ({counts['newer']} after the parent's last message), "
            f"{counts['already_known']} already known, {counts['dropped']} dropped (known, but changed since)"
        )
        output.result(
            f"samples: {report['samples_train']} train / {report['samples_dev']} dev from the new sessions, "
            f"{replay['samples']} replayed from the parent's"
        )
        output.result(str(folder))
