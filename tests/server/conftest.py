"""Clients for the shared server: the official `openai` SDK and raw HTTP."""

from __future__ import annotations

import httpx
import pytest
from openai import OpenAI


@pytest.fixture(scope="session")
def client(twin_server) -> OpenAI:
    return OpenAI(base_url=twin_server.base_url, api_key=twin_server.api_key, max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def http(twin_server):
    with httpx.Client(
        base_url=twin_server.root_url, headers={"Authorization": f"Bearer {twin_server.api_key}"}, timeout=120
    ) as session:
        yield session


@pytest.fixture(scope="session")
def tokenizer(embedded_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model)
