"""No request can freeze the server: preparing the worst one a key can send stays off the event loop and linear.

4,000 empty alternating messages (142 KB) held the event loop 89 s and `/health/live` with it, because the
history trimming re-rendered the whole history once per dropped message; a 1 MiB body would have taken hours.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support.inprocess_server import serve_fake
from wechat_twin.server.api.chat import serving
from wechat_twin.server.api.chat.protocol import MAX_MESSAGES
from wechat_twin.server.api.chat.trimming import fit_history, wrapper_tokens
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.prompting import build_chat, render_chat_prompt

# Wall-clock bounds on the server: run alone (scripts/test.sh), not beside another worker's training.
pytestmark = pytest.mark.serial

LIVE_WITHIN_S = 0.1  # every probe, beyond the idle server's slowest
ONE_MIB = 1 << 20


def alternating(count: int, text: str = "") -> list[dict[str, str]]:
    """`count` messages, user and assistant by turns, ending with the friend's."""
    roles = ["user", "assistant"] if count % 2 else ["assistant", "user"]
    return [{"role": roles[i % 2], "content": text} for i in range(count)]


def encoded(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _timed_live(client: httpx.Client) -> float:
    started = time.perf_counter()
    client.get("/health/live").raise_for_status()
    return time.perf_counter() - started


class _Idle(BaseHTTPRequestHandler):
    """The control: a server with nothing to do, in this process, that only the machine can slow down."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def live_probe(root_url: str) -> Iterator[list[float]]:
    """Times `/health/live` every 20 ms while the block runs: what the request being prepared added to each probe.

    A loaded 2-core CI machine (load 6 and more, other servers' CPU threads spinning) stalls any process for up
    to 2 s at times, idle ones too: measured, with the start-up heap frozen. So a control server with nothing to
    do is probed alongside, and each probe loses what the machine added then: the idle baselines (10 probes
    first) and the slowest control probe overlapping it. What is left is the time the server's event loop
    did not answer.
    """
    latencies: list[float] = []
    control = ThreadingHTTPServer(("127.0.0.1", 0), _Idle)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    clients = {
        "server": httpx.Client(base_url=root_url, timeout=30),
        "control": httpx.Client(base_url=f"http://127.0.0.1:{control.server_address[1]}", timeout=30),
    }
    idle = {name: max(_timed_live(client) for _ in range(10)) for name, client in clients.items()}
    timed: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
    done = threading.Event()

    def probe(name: str) -> None:
        while not done.is_set():
            started = time.perf_counter()
            _timed_live(clients[name])
            timed[name].append((started, time.perf_counter()))
            done.wait(0.02)

    threads = [threading.Thread(target=probe, args=(name,), daemon=True) for name in clients]
    for thread in threads:
        thread.start()
    try:
        yield latencies
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=60)
        for client in clients.values():
            client.close()
        control.shutdown()
        for start, end in timed["server"]:
            machine = max((e - s for s, e in timed["control"] if s < end and e > start), default=0.0)
            latencies.append((end - start) - idle["server"] - max(machine - idle["control"], 0.0))


def assert_live(latencies: list[float]) -> None:
    """Every probe: the one stall of 0.7-1 s per big request was a full garbage collection of the start-up heap
    (`server.app.freeze_startup_heap`); nothing else on the loop comes near 100 ms."""
    assert len(latencies) >= 3, latencies
    assert max(latencies) < LIVE_WITHIN_S, sorted(latencies)[-5:]


def _send_while_probing(twin_server, body: dict) -> tuple[httpx.Response, list[float], float]:
    headers = {"Authorization": f"Bearer {twin_server.api_key}", "Content-Type": "application/json"}
    content = encoded(body)
    with live_probe(twin_server.root_url) as latencies:
        time.sleep(0.1)  # the probe is running before the request arrives
        started = time.perf_counter()
        reply = httpx.post(f"{twin_server.base_url}/chat/completions", content=content, headers=headers, timeout=120)
        took = time.perf_counter() - started
    return reply, latencies, took


def test_4000_empty_messages_are_refused_at_once_and_the_server_stays_live(twin_server):
    body = {"model": "alice", "messages": alternating(4000), "max_tokens": 1}
    reply, latencies, took = _send_while_probing(twin_server, body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == "messages" and str(MAX_MESSAGES) in error["message"], error
    assert set(error) == {"message", "type", "param", "code"}
    assert took < 5, f"the refusal took {took:.1f} s"
    assert_live(latencies)


def test_a_1_mib_history_of_the_most_messages_allowed_is_trimmed_while_the_server_stays_live(twin_server):
    text = "字" * ((ONE_MIB - 64 * MAX_MESSAGES) // (3 * MAX_MESSAGES))  # 3 bytes each in UTF-8
    body = {"model": "alice", "messages": alternating(MAX_MESSAGES - 1, text), "max_tokens": 1}
    assert ONE_MIB * 0.9 < len(encoded(body)) <= ONE_MIB
    reply, latencies, took = _send_while_probing(twin_server, body)
    assert reply.status_code == 200, reply.text
    assert int(reply.headers["x-twin-dropped-messages"]) > MAX_MESSAGES - 10
    assert took < 60, f"preparing took {took:.1f} s"
    assert_live(latencies)


def test_a_1_mib_message_is_refused_for_its_length_while_the_server_stays_live(twin_server):
    body = {"model": "alice", "messages": [{"role": "user", "content": "hi " * (ONE_MIB // 3 - 1000)}]}
    reply, latencies, took = _send_while_probing(twin_server, body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "context_length_exceeded"
    assert took < 30, f"preparing took {took:.1f} s"
    assert_live(latencies)


@pytest.mark.parametrize("seed", [2**64, 2**63, -(2**63) - 1, 10**30])
def test_a_seed_outside_int64_is_refused_as_the_clients_mistake(http, seed):
    body = {"model": "alice", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, "seed": seed}
    reply = http.post("/v1/chat/completions", json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == "seed"


@pytest.mark.parametrize("seed", [2**63 - 1, -(2**63), 0])
def test_a_seed_at_the_ends_of_int64_is_served(http, seed):
    body = {"model": "alice", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, "seed": seed}
    assert http.post("/v1/chat/completions", json=body).status_code == 200


def test_a_history_that_fits_is_rendered_once(adapters_dir, monkeypatch):
    """Rendering is most of a request's preparation: a chat that fits costs one render, nothing spent on the
    trimming's estimates (it rendered three times, two to measure the template, for every request)."""
    renders: list[int] = []
    real = serving.render_chat_prompt

    def counted(tokenizer, chat):
        renders.append(len(chat))
        return real(tokenizer, chat)

    monkeypatch.setattr(serving, "render_chat_prompt", counted)
    body = {"model": "alice", "messages": alternating(9, "we walked along the river"), "max_tokens": 2}
    with serve_fake(ServerSettings(adapters_dir=adapters_dir)) as server:
        reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    assert len(renders) == 1, renders


@pytest.mark.parametrize("count", [200, 2000])
def test_trimming_renders_the_history_a_bounded_number_of_times(tokenizer, count):
    """Linear in the history: the whole history is rendered once, then only chats about the limit's size, a few
    times (before, the whole history once per dropped message)."""
    messages = [{"role": "system", "content": "You are Tom."}, *alternating(count - 1, "we walked along the river")]
    rendered: list[int] = []

    def render(kept):
        rendered.append(len(kept))
        return render_chat_prompt(tokenizer, build_chat(kept))

    def count_tokens(texts):
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    fitted = fit_history(
        messages, render, 300, count_tokens, lambda: wrapper_tokens(lambda chat: render_chat_prompt(tokenizer, chat))
    )
    assert len(fitted.prompt_token_ids) <= 300
    assert rendered[0] == count and len(rendered) <= 12 and sum(rendered[1:]) <= 400, rendered
    kept = [messages[0], *messages[1 + fitted.dropped :]]
    assert fitted.prompt_token_ids == render_chat_prompt(tokenizer, build_chat(kept))
    one_fewer = [messages[0], *messages[fitted.dropped :]]
    assert len(render_chat_prompt(tokenizer, build_chat(one_fewer))) > 300, "more was dropped than needed"
