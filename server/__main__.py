"""`python -m wechat_twin.server` = `twin-server` (the guard matters: vLLM's spawned processes re-import __main__)."""

from wechat_twin.server.cli import app

if __name__ == "__main__":
    app()
