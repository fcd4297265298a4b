"""Continued pretraining: a LoRA on the owner's own plain text, as a step before SFT."""
