"""Adapter folders: the `twin.json` card and the registry the server serves from."""
