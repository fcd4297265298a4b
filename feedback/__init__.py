"""The feedback database and its export to TRL's preference and unpaired formats."""

from pathlib import Path

# The database's file name wherever a folder is given instead of a file: the bridge's data folder, and the
# server's default beside the adapters folder (so the chat page and the bridge can share one database).
FEEDBACK_FILE = "feedback.db"
# What a `--feedback-db` (or the bridge's `feedback_db`) starts with when it names a PostgreSQL database.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(location: object) -> bool:
    """Whether a feedback location names a PostgreSQL database rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


FeedbackLocation = Path | str
"""A SQLite file, or a `postgresql://` URL (kept a `str`: a `Path` would fold its `//`)."""


def feedback_location(text: str) -> FeedbackLocation:
    """What a user typed for the feedback database (an option, a setting): a URL stays one, anything else is a file."""
    return text if is_postgres_url(text) else Path(text)
