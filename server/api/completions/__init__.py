"""POST /v1/completions (plain prompts)."""
