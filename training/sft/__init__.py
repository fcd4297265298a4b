"""Supervised fine-tuning: the dataset becomes a LoRA adapter the server loads as it is."""
