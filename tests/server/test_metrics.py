"""/metrics counts what each request did (one request, its tokens, one latency and one TTFT observation), and
gives the engine's load under vLLM's names, which inference gateways route by."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.support.fake_engine import Knobs
from tests.support.inprocess_server import serve_fake
from tests.support.metrics import GatewayView, MetricsSnapshot, gateway_view
from wechat_twin.server.config import ServerSettings

HELLO = [{"role": "user", "content": "hello"}]


def _streamed_usage(http: httpx.Client, body: dict) -> dict:
    usage = None
    with http.stream(
        "POST", "/v1/chat/completions", json={**body, "stream": True, "stream_options": {"include_usage": True}}
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {"):
                usage = json.loads(line[6:]).get("usage") or usage
    assert usage is not None
    return usage


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_one_request_moves_each_metric_by_what_it_did(http, twin_server, stream):
    body = {"model": "bob", "messages": HELLO, "max_tokens": 4, "temperature": 0}
    before = MetricsSnapshot.scrape(twin_server.root_url)
    if stream:
        usage = _streamed_usage(http, body)
    else:
        response = http.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        usage = response.json()["usage"]
    after = MetricsSnapshot.scrape(twin_server.root_url)

    assert before.rise(after, "twin_requests_total", route="chat", model="bob", status="200") == 1
    assert after.total("twin_requests_total") - before.total("twin_requests_total") == 1
    assert before.rise(after, "twin_prompt_tokens_total", model="bob") == usage["prompt_tokens"]
    assert before.rise(after, "twin_completion_tokens_total", model="bob") == usage["completion_tokens"]
    assert usage["completion_tokens"] > 0
    assert before.rise(after, "twin_request_latency_seconds_count", model="bob") == 1
    assert before.rise(after, "twin_time_to_first_token_seconds_count", model="bob") == 1
    assert after.value("twin_queue_depth") == 0


def _stream_replies(client, model: str, count: int, max_tokens: int) -> tuple[list[threading.Thread], list]:
    """`count` streamed replies from `model` at once, on threads; each appends its reply (or its error) to the list."""
    outcomes: list = []

    def one(i: int) -> None:
        try:
            stream = client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": f"Tell me story number {i}."}],
                max_tokens=max_tokens,
                temperature=0,
                stream=True,
            )
            outcomes.append("".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices))
        except Exception as exc:  # reported by the test, not lost on the thread
            outcomes.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads, outcomes


def _watch(root_url: str, threads: list[threading.Thread]) -> list[GatewayView]:
    """Scrape the gateway's gauges over and over until every thread is done."""
    views = []
    while any(thread.is_alive() for thread in threads):
        views.append(gateway_view(root_url))
        time.sleep(0.02)
    for thread in threads:
        thread.join()
    return views


def test_vllm_gauges_follow_the_load(client, http, twin_server, engine_name):
    """What a gateway reads while four streamed replies from one clone run, and once they are done."""
    health = http.get("/health").json()
    started = time.time()
    threads, outcomes = _stream_replies(client, "bob", count=4, max_tokens=48)
    during = _watch(twin_server.root_url, threads)
    after = gateway_view(twin_server.root_url)

    assert all(isinstance(outcome, str) and outcome for outcome in outcomes), outcomes
    assert during, "no scrape happened while the replies ran"
    assert max(view.running for view in during) >= 1
    assert all(view.running + view.waiting <= 4 for view in during)
    assert any("bob" in view.lora["running_lora_adapters"].split(",") for view in during)
    assert all(0 <= view.kv_cache_usage <= 1 for view in during)
    assert max(view.kv_cache_usage for view in during) > 0
    assert {view.model_name for view in [*during, after]} == {health["model"]}

    assert (after.running, after.waiting, after.kv_cache_usage) == (0, 0, 0)
    assert after.lora["running_lora_adapters"] == after.lora["waiting_lora_adapters"] == ""
    # vLLM: --max-loras (2 in SERVER_ARGS); transformers: its loaded adapters, bob among them (its own test counts).
    if engine_name == "vllm":
        assert after.lora["max_lora"] == "2"
    else:
        assert int(after.lora["max_lora"]) >= 1
    assert started <= after.lora_updated_at <= time.time()


def test_the_gauges_count_a_request_while_it_runs_with_any_engine(adapters_dir):
    """An engine with no load report of its own (the fake one) counts each unfinished request as running."""
    knobs = Knobs(token_delay_s=0.1, reply_tokens=40)
    settings = ServerSettings(adapters_dir=adapters_dir, api_keys=["key"])
    with serve_fake(settings, knobs) as server:
        from openai import OpenAI

        client = OpenAI(base_url=server.base_url, api_key="key", max_retries=0)
        before = gateway_view(server.root_url)
        threads, outcomes = _stream_replies(client, "alice", count=2, max_tokens=30)
        during = _watch(server.root_url, threads)
        after = gateway_view(server.root_url)
    assert all(isinstance(outcome, str) for outcome in outcomes), outcomes
    assert (before.running, after.running) == (0, 0)
    assert max(view.running for view in during) == 2
    assert after.lora == {"max_lora": "0", "running_lora_adapters": "", "waiting_lora_adapters": ""}


@pytest.mark.parametrize("opened", [False, True], ids=["keyed", "metrics-without-key"])
def test_on_a_public_bind_a_scraper_without_a_key_reads_metrics_only_when_the_owner_opened_them(adapters_dir, opened):
    """Routers and gateways scrape /metrics without a key, as vLLM serves it; everything else still needs one."""
    settings = ServerSettings(
        host="0.0.0.0", adapters_dir=adapters_dir, api_keys=["k" * 32], metrics_without_key=opened
    )
    with serve_fake(settings) as server:
        scrape = httpx.get(f"{server.root_url}/metrics")
        models = httpx.get(f"{server.base_url}/models")
        schema = httpx.get(f"{server.root_url}/openapi.json")
    assert models.status_code == schema.status_code == 401
    if opened:
        assert scrape.status_code == 200
        assert "vllm:num_requests_running" in scrape.text
    else:
        assert scrape.status_code == 401
        assert scrape.json()["error"]["code"] == "invalid_api_key"
