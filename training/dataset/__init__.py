"""Turn parsed messages into a training dataset: clean, redact, cut sessions, split, write, report."""
