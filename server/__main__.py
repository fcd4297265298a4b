"""`python -m server` = `twin-server` (the guard matters: vLLM's spawned processes re-import __main__)."""

from server.cli import app

if __name__ == "__main__":
    app()
