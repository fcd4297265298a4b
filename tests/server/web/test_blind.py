"""The blind test end to end over HTTP, with scripted judges: a real server (the app with the small fake engine,
tests/support/inprocess_server.py), the real feedback database (a SQLite file and a real PostgreSQL server), and
`twin-train blind-report` reading what the judges' picks left there.

The held-out moments, the memory and who may see what are written here by hand: the owner's real replies the
judges must tell from the clone's are this file's DEV, never read back from the server's code.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.fake_engine import REPLY
from tests.support.inprocess_server import serve_fake
from tests.support.memory import JIE, MOM, write_memory
from tests.support.tuned_adapter import TUNED_BUDGET, TUNED_SAMPLING
from wechat_twin.feedback.store import FeedbackStore
from wechat_twin.server.adapters.card import read_card, write_card
from wechat_twin.server.adapters.heldout import HELDOUT_FILE
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.keys import ChatKey, parse_chat_key, read_key_file
from wechat_twin.training.cli import app as twin_train
from wechat_twin.training.evaluate.blind import wilson_interval

OWNER, SECOND = "owner-key-0123456789", "second-owner-key-0123"
CHAT = {
    "mom": ChatKey(key="mom-chat-key-0123456789", clones=["alice"], contact="妈妈", blind=True),
    "jie": ChatKey(key="jie-chat-key-0123456789", clones=["alice"], contact="阿杰"),  # not enabled
    "nobody": ChatKey(key="nobody-chat-key-012345", clones=["alice"], blind=True),  # speaks as no contact
    "stranger": ChatKey(key="stranger-chat-key-0123", clones=["alice"], contact="陌生人", blind=True),
    "bob-only": ChatKey(key="bob-only-chat-key-0123", clones=["bob"], contact="妈妈", blind=True),
}
SYSTEM = {"role": "system", "content": "You are Jay."}


def _sample(chat: str, *turns: str) -> dict:
    roles = ("user", "assistant")
    messages = [SYSTEM] + [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]
    return {"messages": messages, "chat": chat, "session_start": "2024-02-01T10:00:00+08:00"}


DEV = [
    _sample(MOM, "are you coming home this weekend?", "yes, Saturday", "bring a jacket, it is cold", "ok ok~"),
    _sample(MOM, "did you eat?", "yes mom, noodles [呲牙]"),
    _sample(JIE, "dota tonight?", "after 10 la", "ok 10 then", "go go go"),
]


def _real_replies() -> dict[tuple, tuple[str, str]]:
    """The conversation before each owner reply (as the page shows it: no system prompt) -> (contact, reply)."""
    found = {}
    for sample in DEV:
        turns = [(m["role"], m["content"]) for m in sample["messages"] if m["role"] != "system"]
        for i, (role, text) in enumerate(turns):
            if role == "assistant":
                found[tuple(turns[:i])] = (sample["chat"], text)
    return found


REAL = _real_replies()
CLONE_REPLY = "".join(REPLY)  # the fake engine's reply


def _clone_folder(source: Path, folder: Path) -> None:
    shutil.copytree(source, folder)
    write_memory(folder)
    write_card(folder, read_card(folder).model_copy(update={"sampling": TUNED_SAMPLING, "reply_tokens_p99": 20}))
    (folder / HELDOUT_FILE).write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in DEV), "utf-8")


@pytest.fixture
def blind_server(tmp_path, adapters_dir, feedback_location):
    """Two clones (alice, bob) carrying the same held-out moments, memory and tuned sampling."""
    root = tmp_path / "adapters"
    root.mkdir()
    for name in ("alice", "bob"):
        _clone_folder(adapters_dir / name, root / name)
    settings = ServerSettings(
        adapters_dir=root, api_keys=[OWNER, SECOND], chat_keys=CHAT, feedback_db=feedback_location
    )
    with serve_fake(settings) as server:
        yield server


def _post(server, key: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(
        f"{server.root_url}/chat/api/blind/{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def _trial(server, key: str, model: str = "alice", **extra) -> dict:
    reply = _post(server, key, "trials", {"model": model, **extra})
    assert reply.status_code == 200, reply.text
    return reply.json()


def _pick(server, key: str, trial: dict, side: int) -> dict:
    reply = _post(server, key, f"trials/{trial['trial_id']}/pick", {"picked": side})
    assert reply.status_code == 200, reply.text
    return reply.json()


def _owner_side(trial: dict) -> int:
    """Where the owner's real reply is, from this file's DEV: what a judge who knows the answer picks."""
    context = tuple((m["role"], m["content"]) for m in trial["messages"])
    contact, real = REAL[context]
    assert trial["contact"] == contact
    assert sorted(trial["candidates"]) == sorted([real, CLONE_REPLY]), "the owner's real reply and the clone's"
    return trial["candidates"].index(real)


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson's 95% interval in its textbook form, (k + z²/2 ± z·sqrt(k(n-k)/n + z²/4)) / (n + z²)."""
    spread = z * math.sqrt(k * (n - k) / n + z * z / 4)
    return (k + z * z / 2 - spread) / (n + z * z), (k + z * z / 2 + spread) / (n + z * z)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (1, 20, 0.0089, 0.2361)],  # published Wilson intervals
)
def test_the_report_interval_is_wilsons(k, n, low, high):
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)
    assert _wilson(k, n) == pytest.approx((low, high), abs=1e-4)


def _report(location) -> list[dict]:
    result = CliRunner().invoke(twin_train, ["blind-report", str(location), "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


JUDGEMENTS = 28  # under the 30 trials a minute one key may ask for


def test_scripted_judges_fool_rates_and_the_report(blind_server, feedback_location):
    """One judge always picks left (alice): the order is random, so it is fooled about half the time. Another
    knows the answer (bob): never fooled. The report's counts are the picks' and its interval Wilson's."""
    expected: Counter[tuple[str, str, str]] = Counter()
    sides = Counter()
    for _ in range(JUDGEMENTS):
        trial = _trial(blind_server, OWNER, "alice")
        owner_side = _owner_side(trial)
        sides[owner_side] += 1
        answer = _pick(blind_server, OWNER, trial, 0)
        assert answer == {"trial_id": trial["trial_id"], "owner_side": owner_side, "fooled": owner_side != 0}
        expected["alice", trial["contact"], "judgements"] += 1
        expected["alice", trial["contact"], "fooled"] += owner_side != 0
    for _ in range(JUDGEMENTS):
        trial = _trial(blind_server, SECOND, "bob")
        answer = _pick(blind_server, SECOND, trial, _owner_side(trial))
        assert answer["fooled"] is False
        expected["bob", trial["contact"], "judgements"] += 1
    assert sides[0] and sides[1], "the owner's reply lands on both sides"

    rows = {(r["adapter"], r["contact"]): r for r in _report(feedback_location)}
    for clone in ("alice", "bob"):
        for contact in (MOM, JIE):
            row = rows[clone, contact]
            assert (row["judgements"], row["fooled"]) == (
                expected[clone, contact, "judgements"],
                expected[clone, contact, "fooled"],
            )
        everyone = rows[clone, "(all)"]
        assert everyone["judgements"] == JUDGEMENTS
        assert (everyone["low"], everyone["high"]) == pytest.approx(_wilson(everyone["fooled"], JUDGEMENTS))
    left = rows["alice", "(all)"]
    assert 0.2 <= left["fool_rate"] <= 0.8, "a judge picking one side is fooled about half the time"
    assert left["fooled"] == sides[1]
    knows = rows["bob", "(all)"]
    assert knows["fooled"] == 0 and knows["fool_rate"] == 0.0 and knows["high"] < 0.5
    assert knows["verdict"].startswith("told apart")

    table = CliRunner().invoke(twin_train, ["blind-report", str(feedback_location)])
    assert table.exit_code == 0 and "told apart" in table.stdout
    assert f"bob                  (all)          {JUDGEMENTS:>10}      0        0%" in table.stdout


def test_the_clone_answers_with_its_own_sampling_and_its_memory_of_the_friend(blind_server):
    trial = _trial(blind_server, OWNER, contact="妈妈")
    used = blind_server.engine.seen[-1]
    assert (used.n, used.temperature, used.top_p, used.max_tokens) == (
        1,
        TUNED_SAMPLING["temperature"],
        TUNED_SAMPLING["top_p"],
        TUNED_BUDGET,
    )
    prompt = blind_server.engine.tokenizer.decode(blind_server.engine.prompts[-1])
    assert trial["contact"] == MOM and "Mom grows tomatoes" in prompt, "the memory of the contact judged"
    assert "Jie is my college roommate" not in prompt


def test_picks_land_in_the_feedback_database_and_only_once(blind_server, feedback_location):
    trial = _trial(blind_server, OWNER)
    _pick(blind_server, OWNER, trial, 1)
    again = _post(blind_server, OWNER, f"trials/{trial['trial_id']}/pick", {"picked": 0})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_chosen"
    store = FeedbackStore(feedback_location)
    try:
        row = dict(store.connection.execute("SELECT * FROM blind_trials").fetchone())
        exchanges = store.connection.execute("SELECT COUNT(*) AS n FROM exchanges").fetchone()["n"]
    finally:
        store.close()
    assert (row["adapter"], row["judge"], row["picked"], row["contact"]) == ("alice", "api-key-1", 1, trial["contact"])
    assert json.loads(row["candidates"]) == trial["candidates"]
    assert row["owner_side"] == _owner_side(trial)
    assert exchanges == 0, "a pick is no preference pair: dpo must never train on it"


@pytest.mark.parametrize("feedback_location", ["sqlite"], indirect=True)
def test_a_chat_key_sees_only_its_own_contacts_moments(blind_server):
    for _ in range(8):
        trial = _trial(blind_server, CHAT["mom"].key, contact=JIE)  # naming another contact changes nothing
        assert trial["contact"] == MOM
        assert REAL[tuple((m["role"], m["content"]) for m in trial["messages"])][0] == MOM
        assert "dota" not in json.dumps(trial)
    seen = {_trial(blind_server, OWNER, contact="阿杰")["contact"] for _ in range(3)}
    assert seen == {JIE}, "the owner may pick any contact"


def _refused(reply: httpx.Response, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["code"] == code and error["message"] and "type" in error and "param" in error


@pytest.mark.parametrize("feedback_location", ["sqlite"], indirect=True)
def test_keys_the_owner_did_not_enable_are_refused_in_openais_shape(blind_server):
    for name in ("jie", "nobody"):
        _refused(_post(blind_server, CHAT[name].key, "trials", {"model": "alice"}), 403, "blind_not_enabled")
        session = httpx.get(
            f"{blind_server.root_url}/chat/api/session", headers={"Authorization": f"Bearer {CHAT[name].key}"}
        ).json()
        assert session["blind"] is False
    owner_trial = _trial(blind_server, OWNER)
    _refused(
        _post(blind_server, CHAT["jie"].key, f"trials/{owner_trial['trial_id']}/pick", {"picked": 0}),
        403,
        "blind_not_enabled",
    )
    _refused(
        _post(blind_server, CHAT["mom"].key, f"trials/{owner_trial['trial_id']}/pick", {"picked": 0}),
        404,
        "trial_not_found",
    )
    _refused(_post(blind_server, CHAT["stranger"].key, "trials", {"model": "alice"}), 404, "no_moments")
    _refused(_post(blind_server, CHAT["bob-only"].key, "trials", {"model": "alice"}), 404, "model_not_found")
    _refused(_post(blind_server, OWNER, "trials", {"model": "SmolLM2-135M-Instruct"}), 400, "not_a_clone")
    _refused(
        httpx.post(f"{blind_server.root_url}/chat/api/blind/trials", json={"model": "alice"}), 401, "invalid_api_key"
    )


def test_the_flag_is_read_from_the_key_file_and_the_command_line(tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text(
        '[chat.mom]\nkey = "mom-key"\nclones = ["alice"]\ncontact = "妈妈"\nblind = true\n'
        '[chat.jie]\nkey = "jie-key"\nclones = ["alice"]\n',
        encoding="utf-8",
    )
    keys.chmod(0o600)
    read = read_key_file(keys)
    assert (read.chat["mom"].blind, read.chat["jie"].blind) == (True, False)
    assert parse_chat_key("mom=k:clone=alice:contact=妈妈:blind=yes")[1].blind is True
    assert parse_chat_key("mom=k:clone=alice")[1].blind is False
    with pytest.raises(ValueError, match="blind= takes yes or no"):
        parse_chat_key("mom=k:clone=alice:blind=maybe")
    keys.write_text('[chat.mom]\nkey = "mom-key"\nclones = ["alice"]\nblnd = true\n', encoding="utf-8")
    with pytest.raises(ValueError, match="takes key, clones, contact, blind only"):
        read_key_file(keys)


@pytest.mark.parametrize("feedback_location", ["sqlite"], indirect=True)
def test_the_page_opens_without_a_key_and_holds_no_data(blind_server):
    """Like /chat: static, it asks for the key when the API answers 401; the gate must let it through."""
    page = httpx.get(f"{blind_server.root_url}/chat/blind")
    assert page.status_code == 200 and "/chat/static/blind.js" in page.text
    for script in ("common.js", "blind.js"):  # common.js: what it shares with the chat page
        assert httpx.get(f"{blind_server.root_url}/chat/static/{script}").status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "好呀" not in page.text and MOM not in page.text
