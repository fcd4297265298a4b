"""The clone server: an OpenAI-compatible API over vLLM (or transformers) with per-request LoRA."""
