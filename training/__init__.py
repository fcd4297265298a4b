"""Chat exports in, LoRA clone out: import, clean, build sessions, train and evaluate."""
