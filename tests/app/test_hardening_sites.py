"""Finding 5 of issue 10: other websites, DNS rebinding and one greedy client.

Cross-site "simple" requests and rebinding (a foreign Host) are refused as Jupyter Server
refuses them; `ATTNFLOW_ALLOWED_ORIGINS=*` stops the server at start-up; runs are capped in
number and in steps per client, and an unwatched run that nobody asks about is paused.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from pydantic import ValidationError

from app.settings import Settings

from .conftest import REPO, LiveServer, TestClient, create_app, create_session, make_settings

EVIL = "http://evil.example"


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("POST", "/api/sessions", {"Origin": EVIL}, b""),
        ("POST", "/api/sessions/import", {"Origin": EVIL, "Content-Type": "text/plain"}, b"x"),
        ("POST", "/api/sessions", {"Origin": "null"}, b""),
        ("POST", "/api/sessions", {"Sec-Fetch-Site": "cross-site"}, b""),
        ("DELETE", "/api/sessions/" + "A" * 32, {"Origin": "http://testserver.evil"}, b""),
    ],
)
def test_cross_site_state_changes_are_refused(client, method, path, headers, body):
    before = len(client.app.state.manager.sessions)
    response = client.request(method, path, headers=headers, content=body)
    assert response.status_code == 403, response.text
    assert "cross-site request refused" in response.json()["detail"]
    assert response.headers["x-request-id"]
    assert len(client.app.state.manager.sessions) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a script: no Origin
        {"Origin": "http://testserver"},  # the page itself
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},  # typed in the address bar
    ],
)
def test_same_origin_and_scripts_still_work(client, headers):
    assert client.post("/api/sessions", headers=headers).status_code == 201


def test_listed_origins_may_change_state(make_client):
    client = make_client(allowed_origins=["http://localhost:5173"])
    ok = client.post("/api/sessions", headers={"Origin": "http://localhost:5173"})
    assert ok.status_code == 201
    assert ok.headers["access-control-allow-origin"] == "http://localhost:5173"
    refused = client.post("/api/sessions", headers={"Origin": "http://localhost:5174"})
    assert refused.status_code == 403


def test_reading_is_not_refused_for_a_foreign_origin(client, session):
    response = client.get(f"/api/sessions/{session['id']}", headers={"Origin": EVIL})
    assert response.status_code == 200  # no CORS header: the browser keeps it from evil.example
    assert "access-control-allow-origin" not in response.headers


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        return conn.recv(65536)


@pytest.fixture(scope="module")
def server():
    with LiveServer(create_app(make_settings())) as live:
        yield live


def test_dns_rebinding_is_refused_on_rest_and_the_websocket(server):
    rest = _raw(
        server.port,
        b"POST /api/sessions HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://evil.example\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n",
    )
    assert rest.startswith(b"HTTP/1.1 421"), rest[:200]
    assert b"ATTNFLOW_ALLOWED_HOSTS" in rest
    sid = "A" * 32
    handshake = (
        f"GET /api/sessions/{sid}/stream HTTP/1.1\r\nHost: evil.example:80\r\n"
        "Origin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    ws = _raw(server.port, handshake)
    assert ws.startswith(b"HTTP/1.1 403"), ws[:200]
    # the loopback names and IP literals are answered
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "[::1]", "10.1.2.3"):
        ok = _raw(
            server.port,
            f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode(),
        )
        assert ok.startswith(b"HTTP/1.1 200"), (host, ok[:100])


def test_allowed_hosts_adds_names():
    app = create_app(make_settings(allowed_hosts=["attnflow.example.org"]))
    with TestClient(app, base_url="http://attnflow.example.org") as client:
        assert client.get("/healthz").status_code == 200
    with TestClient(app, base_url="http://other.example.org") as client:
        assert client.get("/healthz").status_code == 421


def test_a_wildcard_origin_is_refused_at_start_up(monkeypatch):
    with pytest.raises(ValidationError, match=r"ATTNFLOW_ALLOWED_ORIGINS=\* is refused"):
        Settings(allowed_origins="*")
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "ATTNFLOW_ALLOWED_ORIGINS": "https://a.example,*",
        },
        check=False,
    )
    assert done.returncode == 2
    assert "ATTNFLOW_ALLOWED_ORIGINS=* is refused" in done.stderr
    assert "Traceback" not in done.stderr


# -- fair share -----------------------------------------------------------------------------


def test_run_slots_are_capped_and_the_503_says_when_one_frees(make_client):
    client = make_client(max_running=2)
    ids = [create_session(client)["id"] for _ in range(3)]
    for sid in ids[:2]:
        assert client.post(f"/api/sessions/{sid}/run", json={"steps": 5000}).status_code == 202
    time.sleep(0.3)  # a few chunks: the step time is measured
    refused = client.post(f"/api/sessions/{ids[2]}/run", json={"steps": 100})
    assert refused.status_code == 503, refused.text
    detail = refused.json()["detail"]
    assert "all 2 run slots are busy" in detail
    retry = int(refused.headers["Retry-After"])
    # 5000 steps of tiny at a few hundred steps/s: tens of seconds, not the 60 s fallback
    assert f"about {retry} s" in detail
    assert 1 <= retry <= 5000
    assert client.post(f"/api/sessions/{ids[2]}/compare", json={"steps": 10}).status_code == 503
    client.post(f"/api/sessions/{ids[0]}/pause")
    assert client.post(f"/api/sessions/{ids[2]}/run", json={"steps": 100}).status_code == 202
    for sid in ids:
        client.post(f"/api/sessions/{sid}/pause")


def test_steps_per_client_are_capped_and_unused_steps_come_back(make_client):
    client = make_client(client_steps=1000, client_window_s=3600)
    sid = create_session(client)["id"]
    assert client.post(f"/api/sessions/{sid}/train", json={"steps": 200}).status_code == 200
    assert client.post(f"/api/sessions/{sid}/run", json={"steps": 800}).status_code == 202
    refused = client.post(f"/api/sessions/{sid}/train", json={"steps": 10})
    assert refused.status_code in (409, 429)  # the run may still be going
    client.post(f"/api/sessions/{sid}/pause")
    done = client.get(f"/api/sessions/{sid}").json()["step"] - 200
    used = client.app.state.manager.fair.used("testclient")
    assert used == 200 + done  # the run's unused steps were refunded
    room = 1000 - used
    while room > 0:  # at most max_steps_per_call (200) a call
        n = min(room, 200)
        assert client.post(f"/api/sessions/{sid}/train", json={"steps": n}).status_code == 200
        room -= n
    over = client.post(f"/api/sessions/{sid}/train", json={"steps": 1})
    assert over.status_code == 429, over.text
    assert "ATTNFLOW_CLIENT_STEPS" in over.json()["detail"]
    assert int(over.headers["Retry-After"]) > 3000


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_an_unwatched_run_past_the_ttl_is_paused_saved_and_evicted(make_client):
    client = make_client(session_ttl_s=1.0, max_run_steps=100_000)
    manager = client.app.state.manager
    watched, alone = (create_session(client)["id"] for _ in range(2))
    with client.websocket_connect(f"/api/sessions/{watched}/stream") as ws:
        ws.receive_json()
        for sid in (watched, alone):
            assert (
                client.post(f"/api/sessions/{sid}/run", json={"steps": 100_000}).status_code == 202
            )
        wait_for(lambda: alone not in manager.sessions)
        assert manager.sessions[watched].running  # someone watches it: it keeps going
    info = client.get(f"/api/sessions/{alone}").json()  # back from disk, paused where it was
    assert info["running"] is False
    assert info["step"] > 0
    client.post(f"/api/sessions/{watched}/pause")
