"""A changed copy of a served adapter, loaded into the running test server for one test and gone afterwards.

Tests that need a clone with something extra (a rhythm in its card, a memory file) copy a trained folder,
change the copy, and load it over the admin route, rather than training or restarting the shared server.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def served_copy(server, name: str, prepare: Callable[[Path], object], of: str = "alice") -> Iterator[str]:
    """The served name of a copy of the adapter `of`, changed by `prepare(folder)` before it is loaded; unloaded
    and removed when the block ends."""
    folder = server.adapters_dir / name
    shutil.copytree(server.adapters_dir / of, folder)
    prepare(folder)
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    loaded = httpx.post(
        f"{server.base_url}/load_lora_adapter",
        json={"lora_name": name, "lora_path": str(folder)},
        headers=admin,
        timeout=120,
    )
    assert loaded.status_code == 200, loaded.text
    try:
        yield name
    finally:
        httpx.post(f"{server.base_url}/unload_lora_adapter", json={"lora_name": name}, headers=admin, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
