"""The feedback database and its export to TRL's preference and unpaired formats."""

# The database's file name wherever a folder is given instead of a file: the bridge's data folder, and the
# server's default beside the adapters folder (so the chat page and the bridge can share one database).
FEEDBACK_FILE = "feedback.db"
