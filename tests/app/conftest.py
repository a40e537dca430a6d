"""Fixtures for the app's tests: small limits, an in-process client, a live uvicorn server."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import uvicorn
from fastapi import FastAPI

from app.main import create_app
from app.services.builder import build
from app.services.specs import CreateSpec
from app.settings import Settings
from model.checkpoint import to_bytes
from model.training import Trainer
from tests.live_server import free_port

with warnings.catch_warnings():  # starlette suggests httpx2 for its test client; httpx still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[2]
# Every app of the test run saves its sessions under here (persistence stays on, as deployed),
# each in its own fresh directory so no test sees another's sessions come back.
DATA_ROOT = Path(tempfile.mkdtemp(prefix="attnflow-tests-"))


def fresh_data_dir() -> Path:
    return Path(tempfile.mkdtemp(dir=DATA_ROOT))


@pytest.fixture(scope="session", autouse=True)
def _remove_data_root() -> Iterator[None]:
    yield
    shutil.rmtree(DATA_ROOT, ignore_errors=True)


def make_settings(**changes: Any) -> Settings:
    """Defaults that keep tests fast: tiny limits where a test does not ask for more."""
    values: dict[str, Any] = {
        "max_sessions": 16,
        "max_steps_per_call": 200,
        "max_run_steps": 5000,
        "stream_attention_interval_s": 0.0,
        "snapshot_every": 10,
        "torch_threads": 1,
        # Starlette's TestClient sends `Host: testserver`; httpx ASGI tests use http://test
        "allowed_hosts": ["localhost", "127.0.0.1", "::1", "testserver", "test"],
    }
    values.update(changes)
    values.setdefault("data_dir", fresh_data_dir())
    return Settings(**values)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def make_app() -> Callable[..., FastAPI]:
    """An app with its own settings (for tests that drive it at the ASGI level)."""

    def factory(**changes: Any) -> FastAPI:
        return create_app(make_settings(**changes))

    return factory


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """A client of an app with its own settings, closed at the end of the test."""
    with contextlib.ExitStack() as stack:

        def factory(**changes: Any) -> TestClient:
            return stack.enter_context(TestClient(create_app(make_settings(**changes))))

        yield factory


def create_session(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/sessions", json=body)
    assert response.status_code == 201, response.text
    info: dict[str, Any] = response.json()
    return info


@pytest.fixture
def new_session(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Create a session on `client` with this body; returns its SessionInfo."""

    def factory(**body: Any) -> dict[str, Any]:
        return create_session(client, **body)

    return factory


@pytest.fixture
def session(client: TestClient) -> dict[str, Any]:
    """A fresh tiny session on catmat."""
    return create_session(client)


@pytest.fixture
def plain_losses() -> Callable[..., list[float]]:
    """Losses of the same session built by the same code, trained by a bare Trainer (no app)."""

    def losses(steps: int, **request: Any) -> list[float]:
        parts = build(CreateSpec(**request), 10**9, torch.device("cpu"))
        trainer = Trainer(parts.model, parts.data, parts.spec.train)
        return [trainer.train_step().loss for _ in range(steps)]

    return losses


@pytest.fixture
def poisoned_checkpoint() -> Callable[[int], bytes]:
    """A tiny-preset checkpoint at `step` whose LM head overflows: the next loss is inf."""

    def make(step: int = 5) -> bytes:
        parts = build(CreateSpec(), 10**9, torch.device("cpu"))
        with torch.no_grad():
            parts.model.lm_head.weight.mul_(1e38)
        return to_bytes(parts.model, parts.tokenizer, step, extra=parts.spec.to_extra(None))

    return make


class LiveServer:
    """uvicorn serving an app on a free 127.0.0.1 port, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    with LiveServer(create_app(make_settings())) as server:
        yield server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
