"""Helpers the tests share: tiny adapters and a real server process."""
