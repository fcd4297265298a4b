"""DPO and KTO from the bridge's feedback: the next adapter learns what the owner chose and liked."""
