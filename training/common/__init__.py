"""What every trainer shares (SFT, CPT, DPO/KTO, evaluation): loading the base model in its training precision,
the LoRA settings the server can serve, the loss-masking chat template, and the sample files' shape."""
