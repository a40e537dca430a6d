"""The WebSocket stream: order, several watchers, slow watchers, origins, endings."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.websockets import WebSocketDisconnect

from app.routers.stream import origin_allowed


def read_until_run_ends(ws, limit=5000):
    """Messages up to and including the run's final state."""
    messages = []
    for _ in range(limit):
        message = ws.receive_json()
        messages.append(message)
        if message["type"] == "run" and message["state"] in ("finished", "paused", "diverged"):
            return messages
    raise AssertionError("the run did not end")


def stream_url(sid: str) -> str:
    return f"/api/sessions/{sid}/stream"


def test_stream_says_hello_with_the_session_state(client, session):
    with client.websocket_connect(stream_url(session["id"])) as ws:
        hello = ws.receive_json()
    assert hello == {
        "type": "hello",
        "session": session["id"],
        "step": 0,
        "running": False,
        "comparing": False,
    }


def test_stream_delivers_every_step_in_order_with_phases(client, session):
    sid = session["id"]
    with client.websocket_connect(stream_url(sid)) as ws:
        ws.receive_json()
        client.post(f"/api/sessions/{sid}/run", json={"steps": 12})
        messages = read_until_run_ends(ws)
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "run"
    assert messages[0]["state"] == "started"
    assert messages[-1]["state"] == "finished"
    assert messages[-1]["step"] == 12
    steps = [m for m in messages if m["type"] == "step"]
    assert [m["record"]["step"] for m in steps] == list(range(1, 13))
    assert all(m["skipped"] == 0 for m in steps)
    assert steps[0]["phases"] == ["forward", "loss", "backward", "update"]
    assert set(steps[0]["record"]["update_norms"]) == set(session["shapes"])
    attention = [m for m in messages if m["type"] == "attention"]
    assert attention
    assert len(attention[0]["attention"]) == 4
    assert [t["text"] for t in attention[0]["tokens"]] == session["probe"].split()


def test_steps_of_train_calls_reach_the_stream_too(client, session):
    sid = session["id"]
    with client.websocket_connect(stream_url(sid)) as ws:
        ws.receive_json()
        client.post(f"/api/sessions/{sid}/train", json={"steps": 3})
        steps = []
        while len(steps) < 3:
            message = ws.receive_json()
            if message["type"] == "step":
                steps.append(message["record"]["step"])
    assert steps == [1, 2, 3]


def test_two_watchers_see_the_same_steps(client, session):
    sid = session["id"]
    with (
        client.websocket_connect(stream_url(sid)) as one,
        client.websocket_connect(stream_url(sid)) as two,
    ):
        one.receive_json()
        two.receive_json()
        client.post(f"/api/sessions/{sid}/run", json={"steps": 8})
        first, second = read_until_run_ends(one), read_until_run_ends(two)

    def steps(messages):
        return [m["record"]["step"] for m in messages if m["type"] == "step"]

    assert steps(first) == steps(second) == list(range(1, 9))


def test_a_diverging_run_is_reported_on_the_stream(client, session, poisoned_checkpoint):
    sid = session["id"]
    client.put(f"/api/sessions/{sid}/checkpoint", content=poisoned_checkpoint(step=2))
    with client.websocket_connect(stream_url(sid)) as ws:
        ws.receive_json()
        client.post(f"/api/sessions/{sid}/run", json={"steps": 10})
        messages = read_until_run_ends(ws)
    assert messages[-1]["state"] == "diverged"
    assert "diverged at step 3" in messages[-1]["message"]
    assert client.get(f"/api/sessions/{sid}").json()["step"] == 2


def test_deleting_the_session_says_bye_and_closes(client, session):
    sid = session["id"]
    with client.websocket_connect(stream_url(sid)) as ws:
        ws.receive_json()
        client.delete(f"/api/sessions/{sid}")
        assert ws.receive_json() == {"type": "bye", "reason": "deleted"}
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()


def test_an_unknown_session_gets_bye_and_close_4404(client):
    with client.websocket_connect(stream_url("nope")) as ws:
        assert ws.receive_json()["type"] == "bye"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4404


def test_a_foreign_origin_is_refused(client, session):
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(
            stream_url(session["id"]), headers={"origin": "http://evil.example"}
        ),
    ):
        pass
    assert refused.value.code == 1008


def test_same_origin_and_scripts_without_origin_are_allowed(client, session):
    for headers in ({"origin": "http://testserver"}, {}):
        with client.websocket_connect(stream_url(session["id"]), headers=headers) as ws:
            assert ws.receive_json()["type"] == "hello"


def test_allowed_origins_setting_admits_listed_origins(make_client):
    client = make_client(allowed_origins=["http://localhost:5173"])
    sid = client.post("/api/sessions", json={}).json()["id"]
    with client.websocket_connect(
        stream_url(sid), headers={"origin": "http://localhost:5173"}
    ) as ws:
        assert ws.receive_json()["type"] == "hello"


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "expected"),
    [
        (None, "a:1", [], True),
        ("http://a:1", "a:1", [], True),
        ("http://A:1", "a:1", [], True),
        ("http://a:2", "a:1", [], False),
        ("http://b:1", "a:1", ["http://b:1"], True),
        ("http://b:1", "a:1", ["*"], True),
        ("null", "a:1", [], False),
    ],
)
def test_origin_rule(origin, host, allowed, expected):
    assert origin_allowed(origin, host, allowed) is expected


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_slow_watcher_gets_skipped_counts_and_every_control_message(make_app):
    """A watcher whose socket takes 20 ms per frame, while the trainer makes ~100 steps/s."""
    app = make_app(stream_queue=4)
    frames: list[dict] = []
    ended = asyncio.Event()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            sid = (await http.post("/api/sessions", json={})).json()["id"]
            connected = False

            async def receive():
                nonlocal connected
                if not connected:
                    connected = True
                    return {"type": "websocket.connect"}
                await ended.wait()
                return {"type": "websocket.disconnect", "code": 1000}

            async def send(message):
                if message["type"] != "websocket.send":
                    return
                frame = json.loads(message["text"])
                frames.append(frame)
                if frame["type"] == "run" and frame["state"] == "finished":
                    ended.set()
                await asyncio.sleep(0.02)  # the slow part: this client's socket

            scope = {
                "type": "websocket",
                "path": stream_url(sid),
                "raw_path": stream_url(sid).encode(),
                "query_string": b"",
                "headers": [(b"host", b"test")],
                "root_path": "",
                "scheme": "ws",
                "server": ("test", 80),
                "client": ("test", 1),
                "subprotocols": [],
            }
            watcher = asyncio.create_task(app(scope, receive, send))
            while not frames:
                await asyncio.sleep(0.01)
            await http.post(f"/api/sessions/{sid}/run", json={"steps": 150})
            await asyncio.wait_for(ended.wait(), timeout=120)
            await asyncio.wait_for(watcher, timeout=10)
    steps = [f for f in frames if f["type"] == "step"]
    skipped = sum(f["skipped"] for f in steps)
    assert skipped > 0, "a slow watcher should have had frames dropped"
    delivered = [f["record"]["step"] for f in steps]
    assert delivered == sorted(delivered)
    assert delivered[-1] == 150
    assert len(delivered) + skipped == 150  # every step is either delivered or counted
    states = [f["state"] for f in frames if f["type"] == "run"]
    assert states == ["started", "finished"]
    evals = [f["step"] for f in frames if f["type"] == "eval"]
    assert evals == [25, 50, 75, 100, 125, 150]  # never dropped


def test_a_real_server_refuses_a_foreign_origin_with_403(live_server):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    sid = httpx.post(f"{live_server.url}/api/sessions", json={}).json()["id"]
    url = live_server.url.replace("http", "ws", 1) + stream_url(sid)
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="http://evil.example")
    assert refused.value.response.status_code == 403
    with connect(url, origin=live_server.url) as ws:
        assert json.loads(ws.recv())["type"] == "hello"
