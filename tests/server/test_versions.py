"""Versions of one clone on a real server: `model: me` answers with the promoted version (the highest while none
was promoted), `me@1` still reaches an older one, a promotion or rollback (admin route and `twin-server promote`)
switches later requests only, a stream admitted before finishes on its version, and a chat key given `me`
reaches its versions and nothing else."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.server_process import ServerProcess
from tests.support.tiers import slow_fixture

PROMPT = [{"role": "user", "content": "Tell me a short story about a cat."}]
FRIEND_KEY = "me-only-friend-key"
LONG = 64  # tokens: the stream is still running when the promotion answers (a few ms)


@pytest.fixture(scope="module")
def versions_dir(tmp_path_factory: pytest.TempPathFactory, adapters_dir: Path) -> Path:
    """`me@1` and `me@2` answer differently (other weights, other persona); `other` is another clone."""
    root = tmp_path_factory.mktemp("versions")
    shutil.copytree(adapters_dir / "alice", root / "me@1")
    shutil.copytree(adapters_dir / "bob", root / "me@2")
    shutil.copytree(adapters_dir / "alice", root / "other")
    return root


@pytest.fixture(scope="module")
@slow_fixture
def server(tmp_path_factory: pytest.TempPathFactory, embedded_model: Path, versions_dir: Path, engine_name: str):
    log = tmp_path_factory.mktemp("versions-server") / "server.log"
    process = ServerProcess(
        embedded_model,
        versions_dir,
        engine_name,
        log,
        extra_args=["--max-loras", "2", "--chat-key", f"friend={FRIEND_KEY}:clone=me"],
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def replies(client: OpenAI) -> dict[str, str]:
    """Each version's greedy reply, asked for by its own name."""
    return {name: _reply(client, name) for name in ("me@1", "me@2")}


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory, server: ServerProcess) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.toml"
    path.write_text(f'admin = ["{server.admin_key}"]\napi = ["{server.api_key}"]\n')
    path.chmod(0o600)
    return path


def _reply(client: OpenAI, model: str, max_tokens: int = 24) -> str:
    out = client.chat.completions.create(model=model, messages=PROMPT, max_tokens=max_tokens, temperature=0)
    return out.choices[0].message.content


def _cli(server: ServerProcess, key_file: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wechat_twin.server", *args, "--url", server.base_url, "--key-file", str(key_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _promote(server: ServerProcess, name: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    return httpx.post(f"{server.base_url}/promote_adapter", json={"lora_name": name}, headers=headers, timeout=120)


def test_me_answers_with_the_highest_version_until_one_is_promoted(client, replies):
    assert replies["me@1"] != replies["me@2"]
    assert _reply(client, "me") == replies["me@2"]
    card = client.models.retrieve("me")
    assert card.model_extra["versions"] == ["me@1", "me@2"]
    assert card.model_extra["promoted"] == "me@2"
    assert {"me", "me@1", "me@2", "other"} <= {m.id for m in client.models.list().data}


def test_promote_and_rollback_through_the_cli_switch_me_and_persist(server, client, replies, key_file, versions_dir):
    promoted = _cli(server, key_file, "promote", "me@1")
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.strip() == "me@1"
    assert "was me@2" in promoted.stderr
    assert _reply(client, "me") == replies["me@1"]
    assert _reply(client, "me@2") == replies["me@2"]  # the other version is still reachable by its name
    assert client.models.retrieve("me@2").model_extra["promoted"] == "me@1"
    record = versions_dir / "me.promoted.json"
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600

    back = _cli(server, key_file, "rollback", "me")
    assert back.returncode == 0, back.stderr
    assert back.stdout.strip() == "me@2"
    assert _reply(client, "me") == replies["me@2"]

    nothing = _cli(server, key_file, "rollback", "me")  # me@1 was rolled away from: below me@2 it is the next
    assert nothing.returncode == 0, nothing.stderr
    assert _reply(client, "me") == replies["me@1"]
    refused = _cli(server, key_file, "rollback", "me")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: the server refused (400)")
    assert _promote(server, "me@2").status_code == 200


def test_a_promotion_during_a_stream_leaves_the_stream_on_its_version(server, client):
    assert _promote(server, "me@2").status_code == 200
    expected_old = _reply(client, "me@2", LONG)
    expected_new = _reply(client, "me@1", LONG)
    assert expected_old != expected_new
    stream = client.chat.completions.create(model="me", messages=PROMPT, max_tokens=LONG, temperature=0, stream=True)
    chunks = iter(stream)
    text = next(chunks).choices[0].delta.content or ""
    switched = _promote(server, "me@1")
    assert switched.status_code == 200
    assert switched.json() == {"clone": "me", "previous": "me@2", "promoted": "me@1"}
    after = _reply(client, "me", LONG)  # admitted after the switch, while the stream may still run
    text += "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == expected_old
    assert after == expected_new
    assert _promote(server, "me@2").status_code == 200


def test_a_key_given_me_reaches_its_versions_and_no_other_clone(server, replies):
    friend = OpenAI(base_url=server.base_url, api_key=FRIEND_KEY, max_retries=0, timeout=120)
    assert _reply(friend, "me@1") == replies["me@1"]
    assert _reply(friend, "me@2") == replies["me@2"]
    assert _reply(friend, "me") == replies["me@2"]
    assert {m.id for m in friend.models.list().data} == {"me", "me@1", "me@2"}
    with pytest.raises(openai.NotFoundError) as refused:
        _reply(friend, "other")
    assert "other" not in refused.value.message.split("Served models:")[1]
    promote = httpx.post(
        f"{server.base_url}/promote_adapter",
        json={"lora_name": "me@1"},
        headers={"Authorization": f"Bearer {FRIEND_KEY}"},
        timeout=30,
    )
    assert promote.status_code == 403
