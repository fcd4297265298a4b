"""`twin-train export`: a clone as one ordinary model folder, for tools that cannot load a LoRA per request."""
