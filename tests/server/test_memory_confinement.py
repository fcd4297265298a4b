"""An adapter folder serves only the memory inside it, opened read-only by a correctly escaped URI."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.support.inprocess_server import serve_fake
from tests.support.memory import write_memory
from wechat_twin.memory.store import MEMORY_FILE, MemoryStore
from wechat_twin.server.adapters.card import read_card, write_card
from wechat_twin.server.config import ServerSettings

ADMIN = "admin-key-0123456789"


def _with_card_memory(folder: Path, memory: str) -> None:
    write_card(folder, read_card(folder).model_copy(update={"memory": memory}))


@pytest.fixture
def adapters(tmp_path, adapters_dir) -> Path:
    """`other/` holds another clone's memory; `root/` is the served adapters folder."""
    other = tmp_path / "other"
    other.mkdir()
    write_memory(other)
    root = tmp_path / "root"
    root.mkdir()
    return root


@pytest.mark.parametrize("memory", ["ABSOLUTE", "../../other/memory.sqlite", "link/memory.sqlite", "~/memory.sqlite"])
def test_a_memory_path_leading_out_of_the_adapter_folder_refuses_the_adapter(adapters, adapters_dir, memory):
    folder = adapters / "thief"
    shutil.copytree(adapters_dir / "alice", folder)
    (folder / "link").symlink_to(adapters.parent / "other")
    outside = str(adapters.parent / "other" / MEMORY_FILE)
    _with_card_memory(folder, outside if memory == "ABSOLUTE" else memory)
    with serve_fake(ServerSettings(adapters_dir=adapters, admin_keys=[ADMIN])) as server:
        reply = httpx.post(
            f"{server.base_url}/load_lora_adapter",
            json={"lora_name": "thief"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert reply.status_code == 400, reply.text
        assert (
            "outside the adapter folder" in reply.json()["error"]["message"]
            or "'..'" in reply.json()["error"]["message"]
        )
        assert "thief" not in [
            m["id"]
            for m in httpx.get(f"{server.base_url}/models", headers={"Authorization": f"Bearer {ADMIN}"}).json()["data"]
        ]


def test_a_memory_sqlite_symlinked_out_of_the_folder_refuses_the_adapter(adapters, adapters_dir):
    folder = adapters / "thief"
    shutil.copytree(adapters_dir / "alice", folder)
    (folder / MEMORY_FILE).symlink_to(adapters.parent / "other" / MEMORY_FILE)
    with serve_fake(ServerSettings(adapters_dir=adapters, admin_keys=[ADMIN])) as server:
        reply = httpx.post(
            f"{server.base_url}/load_lora_adapter",
            json={"lora_name": "thief"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert reply.status_code == 400, reply.text
        assert "outside the adapter folder" in reply.json()["error"]["message"]


@pytest.mark.parametrize("name", ["a#b", "a?mode=rwc", "a%23b"])
def test_a_folder_name_with_uri_characters_opens_its_own_file_read_only(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    path = write_memory(folder)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    store = MemoryStore(path)
    try:
        assert store.contacts(), "the right file was not opened"
        with pytest.raises(Exception, match="readonly"):
            store._conn.execute("CREATE TABLE intruder (x)")
    finally:
        store.close()
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "another file was created"
