"""A real `twin-server serve` process on a free loopback port, started and stopped by tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.support import free_port


@dataclass
class ServerProcess:
    model_path: Path
    adapters_dir: Path
    engine: str
    log_path: Path
    api_key: str = "test-key"
    admin_key: str = "admin-key"
    base_name: str = "SmolLM2-135M-Instruct"
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "wechat_twin.server",
            "serve",
            "--model",
            str(self.model_path),
            "--served-name",
            self.base_name,
            "--adapters",
            str(self.adapters_dir),
            "--port",
            str(self.port),
            "--api-key",
            self.api_key,
            "--admin-key",
            self.admin_key,
            "--engine",
            self.engine,
            "--max-model-len",
            "1024",
            "--max-lora-rank",
            "8",
            "--dtype",
            "float32",
            "--enforce-eager",
            *self.extra_args,
        ]

    def start(self, timeout_s: float = 240.0, attempts: int = 3, env: dict[str, str] | None = None) -> None:
        """Start and wait for /health; a port taken between choosing and binding it is chosen again."""
        for attempt in range(attempts):
            try:
                self._start_once(timeout_s, env or {})
                return
            except RuntimeError as exc:
                if "address already in use" not in str(exc) or attempt == attempts - 1:
                    raise
                self.port = free_port()

    def _start_once(self, timeout_s: float, extra_env: dict[str, str]) -> None:
        env = {
            **os.environ,
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
            **extra_env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; log:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.root_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"server did not come up in {timeout_s:.0f} s; log:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
