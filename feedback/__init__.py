"""The feedback database and its export to TRL's preference and unpaired formats."""
