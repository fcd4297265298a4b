"""Transports: the bridge logic sees only `Channel` and `IncomingMessage`."""
