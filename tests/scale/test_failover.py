"""20 sessions through nginx + 2 replicas: a SIGKILLed replica is survived, and when it comes
back nothing is trained twice (the kernel's flocks say who holds each session)."""

from __future__ import annotations

import itertools
import json
import time

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from scripts.scaleout.cluster import Cluster
from tests.scale.conftest import holders_of

pytestmark = pytest.mark.slow
SESSIONS = 20
STEPS = 5
RUN_STEPS = 2000  # longer than the test: every run is still going when it is paused


def saved_step(cluster: Cluster, sid: str) -> int:
    meta = cluster.data_dir / "sessions" / sid / "meta.json"
    return int(json.loads(meta.read_text())["step"])


def assert_history_monotonic(http: httpx.Client, sid: str, step: int) -> None:
    history = http.get(f"/api/sessions/{sid}/history").json()
    steps = history["train"]["steps"]
    assert all(a < b for a, b in itertools.pairwise(steps)), sid
    assert history["step"] == step
    assert steps[-1] == step, (sid, steps[-3:], step)


def stream_hello(url: str, sid: str, steps: int = 0) -> dict[str, object]:
    """The stream's hello, after waiting for `steps` step frames too."""
    ws_url = f"{url.replace('http', 'ws', 1)}/api/sessions/{sid}/stream"
    with connect(ws_url, open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
        seen = 0
        while seen < steps:
            seen += json.loads(ws.recv(timeout=10))["type"] == "step"
    return hello


def steps_trained(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("attnflow_training_steps_total "))
    return float(line.split()[1])


def test_imports_land_anywhere_and_are_reachable_at_once_through_the_proxy(cluster):
    with httpx.Client(base_url=cluster.url, timeout=30) as http:
        sid = http.post("/api/sessions", json={}).json()["id"]
        assert http.post(f"/api/sessions/{sid}/train", json={"steps": 3}).status_code == 200
        checkpoint = http.get(f"/api/sessions/{sid}/checkpoint").content
        imported = [http.post("/api/sessions/import", content=checkpoint) for _ in range(6)]
        assert [r.status_code for r in imported] == [201] * 6
        ids = [r.json()["id"] for r in imported]
        for new in ids:  # the very next request, whichever replica its id hashes to
            assert http.get(f"/api/sessions/{new}").json()["step"] == 3
        assert set(holders_of(cluster, [sid, *ids]).values()) <= {0, 1}
        for doomed in [sid, *ids]:
            assert http.delete(f"/api/sessions/{doomed}").status_code == 204


def test_twenty_sessions_survive_a_killed_replica_and_none_is_trained_twice(cluster):
    with httpx.Client(base_url=cluster.url, timeout=30) as http:
        # created anywhere, then trained and read back through the proxy (routed by id)
        ids = [http.post("/api/sessions", json={}).json()["id"] for _ in range(SESSIONS)]
        for sid in ids:
            assert http.post(f"/api/sessions/{sid}/train", json={"steps": STEPS}).status_code == 200
            assert http.get(f"/api/sessions/{sid}").json()["step"] == STEPS
        owner = holders_of(cluster, ids)
        assert set(owner.values()) == {0, 1}, "both replicas hold sessions"

        # the victim's sessions train in the background until the kill
        victims = [sid for sid in ids if owner[sid] == 0]
        for sid in victims:
            assert (
                http.post(f"/api/sessions/{sid}/run", json={"steps": RUN_STEPS}).status_code == 202
            )
        time.sleep(1.5)  # a few saves (every 0.5 s)
        before = {sid: saved_step(cluster, sid) for sid in ids}
        assert all(before[sid] > STEPS for sid in victims)
        cluster.kill(0)

        for sid in ids:  # every one answers, from its last save or later
            info = http.get(f"/api/sessions/{sid}").json()
            assert info["step"] >= before[sid], (sid, info["step"], before[sid])
            assert_history_monotonic(http, sid, info["step"])
            if sid in victims:  # it was running: it comes back paused and says so
                assert not info["running"]
                assert info["interrupted"]["step"] == info["step"]
        assert set(holders_of(cluster, ids).values()) == {1}

        # the replica comes back: it refuses every session the survivor holds, REST and stream
        cluster.revive(0)
        replica = cluster.replica_url(0)
        for sid in ids:
            assert httpx.get(f"{replica}/api/sessions/{sid}").status_code == 503
        with pytest.raises(InvalidStatus) as refused:
            stream_hello(replica, ids[0])
        assert refused.value.response.status_code == 503

        # through the proxy every stream reaches the holder (nginx retries the 503 upgrade)
        for sid in ids:
            assert (
                http.post(f"/api/sessions/{sid}/run", json={"steps": RUN_STEPS}).status_code == 202
            )
        for sid in ids:
            assert stream_hello(cluster.url, sid, steps=2)["session"] == sid
        for sid in ids:
            assert http.post(f"/api/sessions/{sid}/pause").status_code == 200
        assert set(holders_of(cluster, ids).values()) == {1}
        assert steps_trained(replica) == 0  # the returned replica trained nothing
        for sid in ids:
            info = http.get(f"/api/sessions/{sid}").json()
            assert_history_monotonic(http, sid, info["step"])
            assert http.delete(f"/api/sessions/{sid}").status_code == 204
