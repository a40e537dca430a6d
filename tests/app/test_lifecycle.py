"""The real server process (`python3 -m app.cli serve`): kill -9 mid-training loses at most the
last save interval and the session comes back; SIGTERM pauses, says bye to streams (close 1001),
saves the step reached and exits 0 within 10 s.

Marked slow: three server start-ups (~3 s each on two cores) make these ~17 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app.readiness import free_port, wait_healthy
from model.checkpoint import inspect

from .conftest import REPO

PERSIST_EVERY_S = 0.5
START_TIMEOUT_S = 60
pytestmark = pytest.mark.slow


class ServerProcess:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ATTNFLOW_HOST": "127.0.0.1",
            "ATTNFLOW_PORT": str(self.port),
            "ATTNFLOW_DATA_DIR": str(data_dir),
            "ATTNFLOW_PERSIST_EVERY_S": str(PERSIST_EVERY_S),
            "ATTNFLOW_TORCH_THREADS": "1",
            "ATTNFLOW_LOG_JSON": "1",
            **{f"ATTNFLOW_{k.upper()}": v for k, v in env.items()},
        }
        self.log_path = data_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            cwd=REPO,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(self.url, self.process, START_TIMEOUT_S, name="the server")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{self.output()}") from None
        self.http = httpx.Client(base_url=self.url, timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def metric(self, name: str) -> float:
        for line in self.http.get("/metrics").text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        raise KeyError(name)


def checkpoint_step(data_dir: Path, sid: str) -> int:
    return inspect((data_dir / "sessions" / sid / "checkpoint.safetensors").read_bytes())[2]


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def read_until_closed(ws: Any) -> tuple[list[dict[str, Any]], ConnectionClosed]:
    messages = []
    while True:
        try:
            messages.append(json.loads(ws.recv(timeout=10)))
        except ConnectionClosed as closed:
            return messages, closed


def test_after_kill_9_a_session_comes_back_at_its_last_saved_step(tmp_path, capsys):
    with ServerProcess(tmp_path) as server:
        sid = server.http.post("/api/sessions", json={}).json()["id"]
        assert server.http.post(f"/api/sessions/{sid}/run", json={"steps": 100_000}).is_success
        started = time.monotonic()
        wait_for(lambda: server.metric("attnflow_persist_saves_total") >= 3, 30, "three saves")
        saved = checkpoint_step(tmp_path, sid)  # a save that completed before the kill
        reached = server.http.get(f"/api/sessions/{sid}").json()["step"]
        rate = reached / (time.monotonic() - started)
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
    on_disk = checkpoint_step(tmp_path, sid)
    lost = reached - on_disk
    with capsys.disabled():
        print(f"\nkill -9 at step >= {reached} ({rate:.0f} steps/s): saved {on_disk}, lost {lost}")
    assert 0 < saved <= on_disk
    # at most one interval, plus the saver's tick and two saves, of training is lost
    assert lost <= rate * (PERSIST_EVERY_S + 0.125 + 1.0) + 10

    with ServerProcess(tmp_path) as server:
        info = server.http.get(f"/api/sessions/{sid}")
        assert info.status_code == 200, server.output()
        assert info.json()["step"] == on_disk
        history = server.http.get(f"/api/sessions/{sid}/history").json()
        assert history["train"]["steps"] == list(range(1, on_disk + 1))
        forward = server.http.post(f"/api/sessions/{sid}/forward", json={"text": "the cat sat"})
        assert forward.status_code == 200
        assert forward.json()["step"] == on_disk
        assert server.http.post(f"/api/sessions/{sid}/run", json={"steps": 20}).is_success
        wait_for(
            lambda: server.http.get(f"/api/sessions/{sid}").json()["step"] == on_disk + 20,
            20,
            "the resumed run",
        )


def test_sigterm_pauses_says_bye_saves_everything_and_exits_0(tmp_path, capsys):
    # No periodic saves after the first: what is on disk afterwards comes from the shutdown.
    with ServerProcess(tmp_path, persist_every_s="3600") as server:
        sid = server.http.post("/api/sessions", json={}).json()["id"]
        url = f"ws://127.0.0.1:{server.port}/api/sessions/{sid}/stream"
        with connect(url, open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            server.http.post(f"/api/sessions/{sid}/run", json={"steps": 100_000})
            steps = 0
            while steps < 20:
                steps += json.loads(ws.recv(timeout=10))["type"] == "step"
            assert server.process is not None
            stopped = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            messages, closed = read_until_closed(ws)
            bye_after = time.monotonic() - stopped
        code = server.process.wait(10)
        exit_after = time.monotonic() - stopped
        output = server.output()
    with capsys.disabled():
        print(f"\nSIGTERM: bye after {bye_after * 1000:.0f} ms, exit after {exit_after:.2f} s")
    assert code == 0, output
    assert exit_after < 10
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1001
    assert messages[-1] == {"type": "bye", "reason": "server shutting down"}
    run = [m for m in messages if m["type"] == "run"]
    assert run[-1]["state"] == "paused"
    reached = run[-1]["step"]
    # nothing lost on a clean stop: the saved step is the step reached
    assert checkpoint_step(tmp_path, sid) == reached
    history = json.loads((tmp_path / "sessions" / sid / "history.json").read_text())
    assert history["step"] == reached
    assert len(history["train"]["steps"]) == reached
    assert sid not in output  # logs carry 8 characters of a session id
    assert '"route":"/api/sessions/{session_id}/run"' in output
