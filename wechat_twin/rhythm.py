"""The rhythm's contract: what `twin-train data` measures and the bridge replays (`twin.json`'s `rhythm`).

Training writes it and the bridge reads it from the server's model card, over HTTP; the bridge may not
import training or the server, so the shape both sides agree on (hour bands, quantile points, how a
contact is named) lives here, standard library only. Contacts are named by a hash of their export id
or name, never in clear: the model card travels to every key that may see the model's card.
"""

from __future__ import annotations

import hashlib

HOUR_BANDS: tuple[tuple[int, int], ...] = ((0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 24))
QUANTILE_POINTS = 21  # the 0th, 5th, ..., 100th percentile: a drawn value follows them within a few percent
MIN_BAND_REPLIES = 20  # fewer replies in an hour band: that band falls back to the whole distribution
MIN_CONTACT_REPLIES = 30  # fewer replies to a contact: that contact falls back to the whole export


def band_name(hour: int) -> str:
    """The band an hour of the day (0-23) falls in, as the rhythm's keys name it: `"8-12"`."""
    for start, end in HOUR_BANDS:
        if start <= hour < end:
            return f"{start}-{end}"
    raise ValueError(f"{hour} is not an hour of the day")


def contact_key(name: str) -> str:
    """A contact's name or id as the rhythm keys it: the same short hash the dataset names a chat by."""
    return hashlib.sha256(name.encode()).hexdigest()[:12]
