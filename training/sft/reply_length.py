"""How long the owner's long replies are, in tokens: the server's reply budget for requests without max_tokens.

chatgpt-on-wechat and many scripts send no `max_tokens`; without a budget an adapter that never emits
EOS generates until the context is full. The owner's own 99th-percentile turn is a budget that cuts
almost none of their real replies. It is measured here, once, with the base model's tokenizer, and
recorded in twin.json.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def owner_reply_tokens_p99(tokenizer: Any, samples: Iterable[list[dict[str, str]]]) -> int | None:
    """The nearest-rank 99th percentile of the assistant turns' token counts; None when there are none."""
    lengths = sorted(
        len(tokenizer(m["content"], add_special_tokens=False)["input_ids"])
        for sample in samples
        for m in sample
        if m["role"] == "assistant"
    )
    if not lengths:
        return None
    return max(1, lengths[math.ceil(0.99 * len(lengths)) - 1])
