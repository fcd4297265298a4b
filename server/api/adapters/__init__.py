"""Runtime adapter management with vLLM's request bodies."""
