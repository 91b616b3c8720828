"""A LiteLLM proxy on this machine for the demo, the tests and the benchmark: real ``litellm`` in a subprocess,
offline, every model answering a fixed mock response, DistillGuard's callback enabled (or not, to measure it).

Requests authenticate with the master key or with a *simulated key* ``sk-sim-<account>`` that
:func:`simulated_key_auth` (LiteLLM's ``custom_auth`` hook) maps to the user ``<account>`` and, from the
``x-simulated-org`` header, its organisation: virtual keys of LiteLLM's own need its database, which a demo does
not have. Like :class:`~distillguard.streams.broker.EmbeddedBroker`, a context manager.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distillguard.streams.broker import free_port

if TYPE_CHECKING:
    from litellm.proxy._types import UserAPIKeyAuth

CALLBACK = "distillguard.streams.gateways.litellm.callback"
MASTER_KEY = "sk-distillguard-local"
SIMULATED_KEY_PREFIX = "sk-sim-"
ORG_HEADER = "x-simulated-org"
MOCK_RESPONSE = "Here is the answer, step by step."
MOCK_RATE_LIMIT = "litellm.RateLimitError"  # a mock_response LiteLLM turns into a 429
STARTUP_TIMEOUT_S = 120.0  # LiteLLM imports for 20-40 s on a busy two-core machine
STOP_TIMEOUT_S = 15.0


class ProxyError(RuntimeError):
    """The LiteLLM proxy did not start or did not answer."""


async def simulated_key_auth(request: Any, api_key: str) -> UserAPIKeyAuth:
    """LiteLLM ``custom_auth``: ``sk-sim-<account>`` is the user ``<account>``; the master key is LiteLLM's."""
    from fastapi import HTTPException
    from litellm.proxy._types import UserAPIKeyAuth

    if api_key == MASTER_KEY:
        return UserAPIKeyAuth(api_key=api_key, user_id="admin")
    if not api_key.startswith(SIMULATED_KEY_PREFIX) or len(api_key) == len(SIMULATED_KEY_PREFIX):
        raise HTTPException(status_code=401, detail=f"not a simulated key ({SIMULATED_KEY_PREFIX}<account>)")
    return UserAPIKeyAuth(
        api_key=api_key,
        user_id=api_key.removeprefix(SIMULATED_KEY_PREFIX),
        org_id=request.headers.get(ORG_HEADER),
    )


def simulated_key(account_id: str) -> str:
    """The key that :func:`simulated_key_auth` maps to ``account_id``."""
    return SIMULATED_KEY_PREFIX + account_id


class LiteLLMProxy:
    """``litellm --config`` on ``127.0.0.1:port`` (a free port when None) serving ``models`` with a mock
    response (``failing_models`` with a 429); with ``callback`` DistillGuard's callback is enabled. ``env`` is added to the child's environment
    (the callback's settings: ``KAFKA_BOOTSTRAP``, ``EVENTS_TOPIC``, ``LITELLM_*``); ``workers`` uvicorn worker processes
    (each with its own callback and producer)."""

    def __init__(
        self,
        workdir: str | Path,
        models: Sequence[str],
        *,
        failing_models: Sequence[str] = (),
        callback: bool = True,
        port: int | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_S,
        workers: int = 1,
    ) -> None:
        self.workdir = Path(workdir)
        self.models = list(models)
        self.failing_models = list(failing_models)
        self.callback = callback
        self.port = port or free_port()
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.workers = workers
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The proxy's base URL (OpenAI-compatible routes under ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the proxy's output goes."""
        return self.workdir / f"litellm-{self.port}.log"

    def config(self) -> dict[str, Any]:
        """The proxy's ``config.yaml``."""
        return {
            "model_list": [
                {
                    "model_name": name,
                    "litellm_params": {"model": f"openai/{name}", "api_key": "unused", "mock_response": mock},
                }
                for names, mock in ((self.models, MOCK_RESPONSE), (self.failing_models, MOCK_RATE_LIMIT))
                for name in names
            ],
            # request_correlation_in_logs: the x-litellm-session-id header reaches the callback (conversation_id)
            # prometheus: LiteLLM serves /metrics from the default registry, where the callback counts its events
            "litellm_settings": {
                "callbacks": ["prometheus", CALLBACK] if self.callback else [],
                "request_correlation_in_logs": True,
            },
            "general_settings": {
                "master_key": MASTER_KEY,
                "custom_auth": f"{__name__}.simulated_key_auth",
            },
        }

    def start(self) -> LiteLLMProxy:
        """Write the config, start the proxy and wait until it answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / f"litellm-{self.port}.yaml"
        config.write_text(json.dumps(self.config(), indent=2))  # JSON is YAML
        exe = Path(sys.executable).with_name("litellm")
        if not exe.exists():
            raise ProxyError(f"{exe} not found: install LiteLLM with pip install 'distillguard[litellm]'")
        env = (
            os.environ
            | {
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # the cost map ships in the wheel; never fetch it
                "LITELLM_MASTER_KEY": MASTER_KEY,
                "NO_DOCS": "True",
            }
            | self.env
        )
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        cmd = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*cmd, "--num_workers", str(self.workers)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ProxyError(f"litellm exited with code {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/health/liveliness", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise ProxyError(f"litellm on {self.url} did not answer within {self.startup_timeout:g}s; see {self.log_path}")

    def metrics(self) -> dict[str, float]:
        """The proxy's Prometheus samples (``name{labels}`` -> value); {} while it does not answer."""
        from prometheus_client.parser import text_string_to_metric_families

        try:
            req = urllib.request.Request(f"{self.url}/metrics/", headers={"Authorization": f"Bearer {MASTER_KEY}"})
            with urllib.request.urlopen(req, timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return {}
        return {
            s.name
            + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items())) + "}" if s.labels else ""): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
        }

    def stop(self) -> None:
        """Stop the proxy (SIGTERM, then SIGKILL): the callback's exit hook sends what it still holds."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S)

    def __enter__(self) -> LiteLLMProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
