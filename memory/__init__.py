"""Per-contact memory: the owner's past exchanges with each friend, searchable, plus the owner's facts.

Its own package because both sides need it: `twin-train data` builds the file, SFT and evaluation
retrieve from it, and the server retrieves from it per request (the server never imports training).
Standard library only (sqlite3 with FTS5), so the server gains no dependency.
"""
