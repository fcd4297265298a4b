"""The clone's API over httpx: OpenAI chat format, retries with backoff, one clear failure type."""

from __future__ import annotations

import time

import httpx


class ApiUnavailable(RuntimeError):
    """The API could not answer after every retry; the message is queued, not lost."""


class CloneApi:
    def __init__(
        self, base_url: str, api_key: str, timeout_s: float, retries: int, backoff_s: float, proxy: str = ""
    ) -> None:
        """Only `proxy` is used: HTTP(S)_PROXY are ignored (`trust_env=False`), or a proxy set for other
        programs would see every friend's message and the key, in cleartext to a local `http://` API."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, trust_env=False, proxy=proxy or None
        )
        self.retries = retries
        self.backoff_s = backoff_s
        self._base_model: dict[str, str | None] = {}

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: dict) -> dict:
        for attempt in range(self.retries + 1):
            try:
                response = self._http.post(path, json=body)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return response.json()
                if response.status_code < 500 and response.status_code != 429:
                    raise ApiUnavailable(f"API refused the request ({response.status_code}): {response.text[:300]}")
                problem = f"HTTP {response.status_code}"
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2**attempt)
        raise ApiUnavailable(f"API at {self._http.base_url} unavailable after {self.retries + 1} tries: {problem}")

    def base_model_of(self, model: str) -> str | None:
        """The served model's parent (its base), recorded with each exchange for preference training."""
        if model not in self._base_model:
            try:
                listing = self._http.get("/models").json()["data"]
            except (httpx.HTTPError, KeyError, ValueError):
                return None
            entry = next((m for m in listing if m["id"] == model), None)
            self._base_model[model] = (entry.get("parent") or entry["id"]) if entry else None
        return self._base_model[model]

    def model_card(self, model: str) -> dict | None:
        """The server's card for `model` (`GET /models/{id}`), `{}` when it serves no such model, None when
        the server cannot be asked now (the caller asks again later)."""
        try:
            response = self._http.get(f"/models/{model}")
        except httpx.HTTPError:
            return None
        if response.status_code == 404:
            return {}
        return response.json() if response.status_code == 200 else None

    def replies(
        self,
        model: str,
        messages: list[dict[str, str]],
        n: int,
        max_tokens: int | None = None,
        temperature: float | None = None,
        contact: str | None = None,
    ) -> list[str]:
        """`contact` goes out as OpenAI's `user` field: the server finds that friend's memory by it. A sampling
        value left None is not sent, so the server applies the clone's own (twin.json's tuned sampling and
        reply budget)."""
        sampling = {"max_tokens": max_tokens, "temperature": temperature}
        body = {"model": model, "messages": messages, "n": n, **{k: v for k, v in sampling.items() if v is not None}}
        if contact:
            body["user"] = contact
        data = self._post("/chat/completions", body)
        return [choice["message"]["content"] for choice in data["choices"]]
