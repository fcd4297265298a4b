"""`twin-server promote` and `rollback`: ask a running server to switch the version a clone answers with.

The switch itself is the server's (`POST /v1/promote_adapter`, `/v1/rollback_adapter`): it checks and loads
the version first and keeps it over a restart. This only finds the admin key (the key file the server reads,
or TWIN_ADMIN_KEYS) and reports the server's answer: the new serving version on stdout, the old on stderr.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wechat_twin import output
from wechat_twin.errors import TwinError, UsageError
from wechat_twin.server.keys import check_key_file_mode, read_key_file

ADMIN_KEYS_ENV = "TWIN_ADMIN_KEYS"
TIMEOUT_S = 600.0  # a promotion loads the version onto the engine first: as long as a first request may wait


def admin_key(key_file: Path | None) -> str | None:
    """The key file's first admin key (else its first API key: a server without admin keys lets API keys
    manage adapters), else TWIN_ADMIN_KEYS's first; None for a keyless local server."""
    if key_file is not None:
        try:
            check_key_file_mode(key_file)
            keys = read_key_file(key_file)
        except ValueError as exc:
            raise UsageError(f"--key-file: {exc}") from exc
        if keys.admin or keys.api:
            return (keys.admin or keys.api)[0]
    from_env = [k.strip() for k in os.environ.get(ADMIN_KEYS_ENV, "").split(",") if k.strip()]
    return from_env[0] if from_env else None


def switch(url: str, route: str, body: dict[str, Any], key: str | None) -> None:
    """POST the switch; one `error:` line with the server's message when it refuses."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.post(f"{url.rstrip('/')}/{route}", json=body, headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise TwinError(f"cannot reach the server at {url}: {exc}") from exc
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text
        raise TwinError(f"the server refused ({response.status_code}): {message}")
    answer = response.json()
    output.say(f"{answer['clone']}: was {answer['previous'] or 'no version'}, now {answer['promoted']}")
    output.result(answer["promoted"])
