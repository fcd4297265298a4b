"""`twin-train blind-report FEEDBACK`: the blind test's judgements, per clone version and per contact.

A judgement is one pick on `/chat/blind` (docs/chat-page.md): the judge saw a held-out moment, the owner's real
reply and the clone's, and took one for the owner's. The fool rate is the share where they took the clone's.
A judge who cannot tell the two apart picks either at random: 50% is a clone indistinguishable from its owner,
0% one always caught (above 50%: the clone reads more like the owner than the owner does). The 95% interval is
Wilson's score interval, which stays inside [0, 1] and keeps its coverage at the few dozen judgements a
person gives, where the normal approximation does not; the verdict reads it against 50%.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Annotated

import typer

from wechat_twin import output
from wechat_twin.errors import TwinError
from wechat_twin.feedback import FeedbackLocation, feedback_location, is_postgres_url
from wechat_twin.feedback.blind import BlindTrials, Tally
from wechat_twin.feedback.store import FeedbackStore

INDISTINGUISHABLE = 0.5
Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile: a two-sided 95% interval
ALL_CONTACTS = "(all)"


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion; (0, 1) when there are no trials."""
    if trials == 0:
        return 0.0, 1.0
    share = successes / trials
    denominator = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def verdict(low: float, high: float) -> str:
    if high < INDISTINGUISHABLE:
        return "told apart: judges find the owner's reply more often than chance"
    if low > INDISTINGUISHABLE:
        return "taken for the owner more often than the owner"
    return "indistinguishable: the interval holds 50%"


@dataclass(frozen=True)
class Row:
    adapter: str
    contact: str
    judgements: int
    fooled: int
    fool_rate: float
    low: float
    high: float
    verdict: str


def row_of(adapter: str, contact: str, judgements: int, fooled: int) -> Row:
    low, high = wilson_interval(fooled, judgements)
    return Row(adapter, contact, judgements, fooled, fooled / judgements, low, high, verdict(low, high))


def report_rows(tallies: list[Tally]) -> list[Row]:
    """Each version's contacts, then the version over all its contacts."""
    rows: list[Row] = []
    for adapter in sorted({t.adapter for t in tallies}):
        mine = [t for t in tallies if t.adapter == adapter]
        rows += [row_of(adapter, t.contact, t.judgements, t.fooled) for t in mine]
        if len(mine) > 1:
            rows.append(row_of(adapter, ALL_CONTACTS, sum(t.judgements for t in mine), sum(t.fooled for t in mine)))
    return rows


def format_rows(rows: list[Row]) -> str:
    header = (
        f"{'clone':<20} {'contact':<14} {'judgements':>10} {'fooled':>6} {'fool rate':>9}  {'95% interval':<15} verdict"
    )
    lines = [header]
    for r in rows:
        interval = f"{r.low:.0%} - {r.high:.0%}"
        lines.append(
            f"{r.adapter:<20} {r.contact:<14} {r.judgements:>10} {r.fooled:>6} {r.fool_rate:>9.0%}  "
            f"{interval:<15} {r.verdict}"
        )
    return "\n".join(lines)


def read_tallies(location: FeedbackLocation) -> list[Tally]:
    if not is_postgres_url(location) and not location.is_file():  # type: ignore[union-attr]
        raise TwinError(f"{location}: no such feedback database (the server's --feedback-db, or feedback.db)")
    store = FeedbackStore(location)
    try:
        return BlindTrials(store).tallies()
    finally:
        store.close()


def blind_report_command(
    feedback: Annotated[
        str,
        typer.Argument(
            help="The server's feedback database: its feedback.db (beside --adapters by default) or a postgresql:// URL"
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a row instead of the table")] = False,
) -> None:
    """Print the blind test's fool rate per clone version and contact, with a 95% interval and a verdict."""
    rows = report_rows(read_tallies(feedback_location(feedback)))
    if not rows:
        output.say("no judgements yet: judges pick on /chat/blind (docs/chat-page.md)")
        return
    if as_json:
        for row in rows:
            output.result(json.dumps(asdict(row), ensure_ascii=False))
        return
    output.result(format_rows(rows))
