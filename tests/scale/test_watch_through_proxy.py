"""Watch links through nginx + 2 replicas: a token reaches the replica holding its session (no
503 hop), reads and streams there, may change nothing, and follows the session to the survivor
when that replica is SIGKILLed (docs/deploy.md, Watch links behind the proxy)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from scripts.scaleout.cluster import Cluster
from tests.scale.conftest import holders_of
from tests.scale.nginx_hash import Ring

pytestmark = pytest.mark.slow
SESSIONS = 12  # old-style whole-token keys miss the holder for each with probability 1/2
RUN_STEPS = 2000  # longer than the test: paused by hand


def saved_step(cluster: Cluster, sid: str) -> int:
    meta = cluster.data_dir / "sessions" / sid / "meta.json"
    return int(json.loads(meta.read_text())["step"])


def retries(url: str) -> float:
    """REST answers this replica gave with 503 (held elsewhere: nginx then tried the next)."""
    total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("attnflow_http_requests_total{") and 'status="503"' in line:
            total += float(line.split()[-1])
    return total


@contextmanager
def open_stream(url: str, ref: str) -> Iterator[tuple[ClientConnection, dict[str, object]]]:
    """The stream (by session id or watch token) and its hello."""
    ws_url = f"{url.replace('http', 'ws', 1)}/api/sessions/{ref}/stream"
    with connect(ws_url, open_timeout=15) as ws:
        yield ws, json.loads(ws.recv(timeout=15))


def ends(ws: ClientConnection) -> bool:
    """True once the stream is closed (a timeout fails the test instead)."""
    try:
        while True:
            ws.recv(timeout=15)
    except ConnectionClosed:
        return True


def watch_steps(url: str, token: str, steps: int = 2) -> dict[str, object]:
    """Open the stream with the token, wait for `steps` step frames; the hello."""
    with open_stream(url, token) as (ws, hello):
        seen = 0
        while seen < steps:
            seen += json.loads(ws.recv(timeout=15))["type"] == "step"
    return hello


def assert_watcher_reads(http: httpx.Client, token: str, at_least: int) -> None:
    info = http.get(f"/api/sessions/{token}")
    assert info.status_code == 200, info.text
    assert info.json()["id"] == token
    assert info.json()["step"] >= at_least
    assert http.get(f"/api/sessions/{token}/history").status_code == 200
    forward = http.post(f"/api/sessions/{token}/forward", json={"text": "the cat sat"})
    assert forward.status_code == 200
    assert http.get(f"/watch/{token}").status_code == 200


def assert_read_only(http: httpx.Client, token: str) -> None:
    for method, path, body in [
        ("POST", "/train", {"steps": 1}),
        ("POST", "/run", {"steps": 1}),
        ("POST", "/reset", None),
        ("POST", "/watch", None),
        ("DELETE", "", None),
    ]:
        response = http.request(method, f"/api/sessions/{token}{path}", json=body)
        assert response.status_code == 403, (path, response.text)
        assert "read-only watch link" in response.json()["detail"]


def test_watch_links_reach_their_sessions_replica_and_follow_it_after_a_kill(cluster: Cluster):
    for index, proc in enumerate(cluster.procs):  # an earlier test may have left one down
        if proc is None:
            cluster.revive(index)
    ring = Ring([f"127.0.0.1:{port}" for port in cluster.ports])
    replicas = [cluster.replica_url(i) for i in range(len(cluster.ports))]
    with httpx.Client(base_url=cluster.url, timeout=30) as http:
        ids: list[str] = []
        tokens: dict[str, str] = {}

        def enough() -> bool:
            """SESSIONS or more, on both replicas, and one whose token hashed whole goes elsewhere
            (routes are random: keep creating until the case the test is about is there)."""
            homes = {ring.first(sid[:8]) for sid in ids}
            moved = any(ring.first(tokens[sid]) != ring.first(sid[:8]) for sid in ids)
            return len(ids) >= SESSIONS and homes == {0, 1} and moved

        while not enough():
            assert len(ids) < 4 * SESSIONS, "routes this uneven are vanishingly unlikely"
            ids.append(http.post("/api/sessions", json={}).json()["id"])
            tokens[ids[-1]] = http.post(f"/api/sessions/{ids[-1]}/watch").json()["token"]
        owner = holders_of(cluster, ids)
        assert set(owner.values()) == {0, 1}, "both replicas made sessions"
        # creation landed where its route hashes (the ring model agrees with nginx), and the
        # token carries the same route; hashed whole, as before routes, some tokens go elsewhere
        assert all(ring.first(sid[:8]) == owner[sid] for sid in ids)
        assert all(tokens[sid][:8] == sid[:8] and sid[8:] not in tokens[sid] for sid in ids)
        assert any(ring.first(tokens[sid]) != owner[sid] for sid in ids)

        hops = [retries(url) for url in replicas]
        for sid in ids:
            assert http.post(f"/api/sessions/{sid}/train", json={"steps": 3}).status_code == 200
            assert_watcher_reads(http, tokens[sid], 3)
            assert_read_only(http, tokens[sid])
        assert [retries(url) for url in replicas] == hops, "every request went straight there"
        for sid in ids:  # the stream, with the token, delivers the owner's run
            run = http.post(f"/api/sessions/{sid}/run", json={"steps": RUN_STEPS})
            assert run.status_code == 202, run.text
            assert watch_steps(cluster.url, tokens[sid])["session"] == tokens[sid]
            assert http.post(f"/api/sessions/{sid}/pause").status_code == 200
        assert http.get(f"/api/sessions/{ids[0]}").json()["step"] > 3

        # the owner replica of some sessions dies while a watcher is connected to one of them
        victims = [sid for sid in ids if owner[sid] == 0]
        time.sleep(1.0)  # saved (every 0.5 s) since the pause
        saved = {sid: saved_step(cluster, sid) for sid in victims}
        assert all(saved[sid] > 3 for sid in victims)
        with open_stream(cluster.url, tokens[victims[0]]) as (ws, hello):
            assert hello["session"] == tokens[victims[0]]
            cluster.kill(0)
            assert ends(ws)

        for sid in victims:  # the watcher comes first: its token takes the session over
            assert_watcher_reads(http, tokens[sid], saved[sid])
            assert_read_only(http, tokens[sid])
        assert set(holders_of(cluster, ids).values()) == {1}
        for sid in victims:  # and the owner's id reaches the same replica
            run = http.post(f"/api/sessions/{sid}/run", json={"steps": RUN_STEPS})
            assert run.status_code == 202, run.text
            assert watch_steps(cluster.url, tokens[sid])["session"] == tokens[sid]
            assert http.post(f"/api/sessions/{sid}/pause").status_code == 200
        assert set(holders_of(cluster, ids).values()) == {1}

        cluster.revive(0)
        for sid in ids:
            assert http.delete(f"/api/sessions/{sid}").status_code == 204
            assert http.get(f"/api/sessions/{tokens[sid]}").status_code == 404
