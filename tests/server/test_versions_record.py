"""The promotion record on the real app (fake engine, over HTTP): kept over a restart, never pointing at a version
that cannot be served, refused whole when unreadable, refused as such on a read-only folder, and changed by the
admin key only."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADAPTER_PERSONAS
from tests.support.inprocess_server import InProcessServer, serve_fake
from wechat_twin.server.config import ServerSettings

ADMIN, API = "versions-admin-key", "versions-api-key"


@pytest.fixture
def versions_dir(tmp_path: Path, adapters_dir: Path) -> Path:
    root = tmp_path / "adapters"
    root.mkdir()
    shutil.copytree(adapters_dir / "alice", root / "me@1")
    shutil.copytree(adapters_dir / "bob", root / "me@2")
    return root


@pytest.fixture
def read_only_versions_dir(versions_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """The same versions on a read-only filesystem, as the Kubernetes manifests mount the adapters volume."""
    mount = tmp_path / "volume"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mount)], check=False).returncode:
        pytest.skip("mounting a read-only filesystem needs root")
    try:
        shutil.copytree(versions_dir, mount / "adapters")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount / "adapters"
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


def _settings(folder: Path) -> ServerSettings:
    return ServerSettings(adapters_dir=folder, admin_keys=[ADMIN], api_keys=[API])


def _post(server: InProcessServer, route: str, body: dict, key: str = ADMIN) -> httpx.Response:
    return httpx.post(f"{server.base_url}/{route}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def _persona_served(server: InProcessServer, model: str) -> str:
    """Which version answered: its persona is in the prompt the engine received."""
    headers = {"Authorization": f"Bearer {API}"}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    assert httpx.post(f"{server.base_url}/chat/completions", json=body, headers=headers, timeout=60).status_code == 200
    prompt = server.engine.tokenizer.decode(server.engine.prompts[-1])
    return next(name for name, persona in ADAPTER_PERSONAS.items() if persona in prompt)


def _card(server: InProcessServer, model: str) -> dict:
    return httpx.get(f"{server.base_url}/models/{model}", headers={"Authorization": f"Bearer {API}"}).json()


def test_a_promotion_is_kept_over_a_restart(versions_dir):
    with serve_fake(_settings(versions_dir)) as server:
        assert _persona_served(server, "me") == "bob"  # me@2: the highest while none is promoted
        assert _post(server, "promote_adapter", {"lora_name": "me@1"}).json()["promoted"] == "me@1"
        assert _persona_served(server, "me") == "alice"
    with serve_fake(_settings(versions_dir)) as server:
        assert _card(server, "me")["promoted"] == "me@1"
        assert _persona_served(server, "me") == "alice"
        back = _post(server, "rollback_adapter", {"clone": "me"})
        assert back.json() == {"clone": "me", "previous": "me@1", "promoted": "me@2"}
        assert _persona_served(server, "me") == "bob"


def test_a_version_that_cannot_be_served_is_refused_and_never_promoted(versions_dir):
    shutil.copytree(versions_dir / "me@1", versions_dir / "me@3")
    (versions_dir / "me@3" / "adapter_config.json").write_text('{"peft_type": "PREFIX_TUNING"}')
    with serve_fake(_settings(versions_dir)) as server:
        assert _card(server, "me")["versions"] == ["me@1", "me@2"]
        refused = _post(server, "promote_adapter", {"lora_name": "me@3"})
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invalid_adapter"
        assert not (versions_dir / "me.promoted.json").exists()
        assert _persona_served(server, "me") == "bob"
        unversioned = _post(server, "promote_adapter", {"lora_name": "me"})
        assert unversioned.status_code == 400
        assert "name a version" in unversioned.json()["error"]["message"]


def test_only_the_admin_key_switches_versions(versions_dir):
    with serve_fake(_settings(versions_dir)) as server:
        assert _post(server, "promote_adapter", {"lora_name": "me@1"}, key=API).status_code == 401
        assert _post(server, "rollback_adapter", {"clone": "me"}, key=API).status_code == 401
        assert _persona_served(server, "me") == "bob"


def test_an_unreadable_record_is_refused_not_guessed_at(versions_dir):
    (versions_dir / "me.promoted.json").write_text("{half a rec")
    with serve_fake(_settings(versions_dir)) as server:
        answer = httpx.post(
            f"{server.base_url}/chat/completions",
            json={"model": "me", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {API}"},
        )
        assert answer.status_code == 400
        assert "me.promoted.json" in answer.json()["error"]["message"]
        assert _persona_served(server, "me@1") == "alice"  # a version by its name still answers
        listed = httpx.get(f"{server.base_url}/models", headers={"Authorization": f"Bearer {API}"})
        assert {"me@1", "me@2"} <= {card["id"] for card in listed.json()["data"]}
        assert _post(server, "promote_adapter", {"lora_name": "me@1"}).status_code == 200  # written whole over it
        assert _persona_served(server, "me") == "alice"


def test_on_a_read_only_folder_a_promotion_is_409_with_the_way_round_it_and_nothing_switches(
    read_only_versions_dir, tmp_path
):
    settings = _settings(read_only_versions_dir).model_copy(update={"feedback_db": tmp_path / "feedback.db"})
    with serve_fake(settings) as server:
        refused = _post(server, "promote_adapter", {"lora_name": "me@1"})
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "adapters_read_only"
        assert "nothing switched" in error["message"] and "write me.promoted.json" in error["message"]
        assert str(read_only_versions_dir) not in error["message"]
        back = _post(server, "rollback_adapter", {"clone": "me"})  # to me@1, the highest below me@2
        assert (back.status_code, back.json()["error"]["code"]) == (409, "adapters_read_only")
        assert _persona_served(server, "me") == "bob"
