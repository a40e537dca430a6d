"""Finding 6 of issue 10: divergence stops and rolls back; a crash leaves runs paused and saying
so; and a crash loop (10 x kill -9 at a random moment of training, restart) loses nothing but
the documented bound (one persist interval of steps, as test_lifecycle.py measures)."""

from __future__ import annotations

import random
import signal
import time

import pytest
import torch

from model.checkpoint import from_bytes

from .conftest import create_session
from .test_lifecycle import PERSIST_EVERY_S, ServerProcess


def weights(data: bytes) -> dict[str, torch.Tensor]:
    return from_bytes(data).model.state_dict()


def test_a_far_too_high_lr_stops_and_rolls_back(client):
    sid = create_session(client, optimizer={"lr": 10.0})["id"]
    start = weights(client.get(f"/api/sessions/{sid}/checkpoint").content)
    result = client.post(f"/api/sessions/{sid}/train", json={"steps": 200}).json()
    diverged = result["diverged"]
    assert diverged is not None
    assert diverged["rolled_back_to"] == 0
    assert "rolled back to step 0" in diverged["message"]
    assert len(result["records"]) < 50  # stopped early, not after 200 wrecked steps
    after = weights(client.get(f"/api/sessions/{sid}/checkpoint").content)
    assert all(torch.equal(start[name], after[name]) for name in start)
    history = client.get(f"/api/sessions/{sid}/history").json()
    steps = history["train"]["steps"]
    assert steps == sorted(steps)  # the spike stays in the history, steps stay monotonic
    assert max(history["train"]["loss"]) > 4 * min(history["train"]["loss"])


def test_a_background_run_says_diverged_on_the_stream(client):
    sid = create_session(client, optimizer={"lr": 10.0})["id"]
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        assert ws.receive_json()["type"] == "hello"
        assert client.post(f"/api/sessions/{sid}/run", json={"steps": 1000}).status_code == 202
        kinds: list[dict] = []
        while not kinds or kinds[-1].get("type") != "run" or kinds[-1]["state"] == "started":
            kinds.append(ws.receive_json())
    diverged = next(m for m in kinds if m["type"] == "diverged")
    assert diverged["rolled_back_to"] == 0
    assert kinds[-1]["state"] == "diverged"


def test_a_healthy_run_never_trips_the_guard(client):
    sid = create_session(client, corpus="pairs")["id"]
    for _ in range(3):
        result = client.post(f"/api/sessions/{sid}/train", json={"steps": 200}).json()
        assert result["diverged"] is None


@pytest.mark.slow
def test_a_crash_loop_loses_at_most_one_interval_and_says_interrupted(tmp_path, capsys):
    rng = random.Random(10)
    sid = None
    observed = 0  # the last step seen before a kill
    rate = 1.0  # steps/s of the last round
    lost_steps = []
    for round_ in range(10):
        with ServerProcess(tmp_path) as server:
            if sid is None:
                sid = server.http.post("/api/sessions", json={}).json()["id"]
            info = server.http.get(f"/api/sessions/{sid}")
            assert info.status_code == 200, server.output()
            info = info.json()
            step = info["step"]
            history = server.http.get(f"/api/sessions/{sid}/history").json()
            assert history["train"]["steps"] == list(range(1, step + 1))  # monotonic, no gap
            if round_:
                assert info["running"] is False
                assert info["interrupted"] == {
                    "step": step,
                    "message": f"interrupted by a restart at step {step}",
                }
                lost_steps.append(observed - step)
                assert observed - step <= rate * (PERSIST_EVERY_S + 0.125 + 1.0) + 10
            # one click to resume
            resumed = server.http.post(f"/api/sessions/{sid}/run", json={"steps": 100_000})
            assert resumed.status_code == 202, resumed.text
            assert resumed.json()["interrupted"] is None
            began, first = time.monotonic(), step
            deadline = began + rng.uniform(0.8, 2.5)
            while time.monotonic() < deadline:
                observed = server.http.get(f"/api/sessions/{sid}").json()["step"]
                time.sleep(0.05)
            rate = max(1.0, (observed - first) / (time.monotonic() - began))
            assert server.process is not None
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(10)
    with capsys.disabled():
        print(f"\ncrash loop: steps lost per kill -9 {lost_steps} (last rate {rate:.0f}/s)")
    assert len(lost_steps) == 9
