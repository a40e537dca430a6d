"""Read-only watch links (issue 15): a token that shows a session and never changes it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.services.events import Attention, Eval
from app.services.stream import MAX_CONTROL_BACKLOG, Broadcaster
from app.services.watch import MAX_LINKS_PER_SESSION, REVOKED, REVOKED_CODE, WatchLinks

from .conftest import LiveServer, TestClient, create_session, make_settings

S = "/api/sessions"


def new_link(client: TestClient, sid: str) -> str:
    response = client.post(f"{S}/{sid}/watch")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["path"] == f"/watch/{body['token']}"
    token: str = body["token"]
    return token


def fingerprint(client: TestClient, sid: str) -> tuple[int, str, int, bool]:
    """What a side effect would change: step, the weights, the logged steps, running."""
    info = client.get(f"{S}/{sid}").json()
    every = client.get(f"{S}/{sid}/weights?max_size=0&digits=0").content  # all, full float32
    weights = hashlib.sha256(every).hexdigest()
    logged = len(client.get(f"{S}/{sid}/metrics.json").json()["rows"])
    return info["step"], weights, logged, info["running"]


@pytest.fixture
def trained(client: TestClient) -> tuple[str, str]:
    """A session trained 12 steps (so it has history and snapshots) and a watch token for it."""
    sid = create_session(client)["id"]
    assert client.post(f"{S}/{sid}/train", json={"steps": 12}).status_code == 200
    return sid, new_link(client, sid)


def test_the_owner_creates_lists_and_revokes_links(client, trained):
    sid, token = trained
    second = new_link(client, sid)
    listed = client.get(f"{S}/{sid}/watch").json()["links"]
    assert [link["token"] for link in listed] == [token, second]
    assert client.delete(f"{S}/{sid}/watch/{token}").status_code == 204
    assert [link["token"] for link in client.get(f"{S}/{sid}/watch").json()["links"]] == [second]
    assert client.delete(f"{S}/{sid}/watch/{token}").status_code == 404  # already gone


def test_a_session_has_at_most_a_bounded_number_of_links(client):
    sid = create_session(client)["id"]
    for _ in range(MAX_LINKS_PER_SESSION):
        new_link(client, sid)
    response = client.post(f"{S}/{sid}/watch")
    assert response.status_code == 409
    assert "revoke one first" in response.json()["detail"]


def test_a_watch_token_reads_the_session_and_never_sees_its_id(client, trained):
    sid, token = trained
    bodies: list[bytes] = []

    def read(method: str, path: str, **kwargs: Any) -> Any:
        response = client.request(method, f"{S}/{token}{path}", **kwargs)
        assert response.status_code == 200, (path, response.text)
        bodies.append(response.content)
        return response

    info = read("GET", "").json()
    assert info["id"] == token
    assert info["step"] == 12
    assert read("GET", "/history").json()["train"]["steps"][-1] == 12
    assert read("GET", "/snapshots").json()["steps"][:2] == [0, 1]
    read("GET", "/snapshots/10")
    read("POST", "/snapshots/10/forward", json={"text": "the cat sat"})
    read("GET", "/snapshots/10/weights")
    read("GET", "/weights?max_size=8")
    read("POST", "/forward", json={"text": "the cat sat on the mat"})
    read("GET", "/dynamics")
    # The gradient check reads a copy: a watcher may run it on the session it watches.
    check = read(
        "POST", "/gradcheck", json={"parameter": "blocks.0.ffn.W_1.weight", "row": 1, "col": 2}
    )
    assert check.json()["step"] == 12
    assert read("GET", "/metrics.csv").text.startswith("step,loss")
    assert len(read("GET", "/metrics.json").json()["rows"]) == 12
    page = client.get(f"/watch/{token}")
    assert page.status_code == 200
    assert "<svg" in page.text
    bodies.append(page.content)
    for body in bodies:
        assert sid.encode() not in body
    assert sid not in client.get(f"/watch/{token}").url.path


# Every route that changes a session (or its links), with a body it would accept from the owner.
MUTATIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/train", {"json": {"steps": 3}}),
    ("POST", "/run", {"json": {"steps": 3}}),
    ("POST", "/pause", {}),
    ("POST", "/reset", {}),
    ("POST", "/compare", {"json": {"steps": 2}}),
    ("DELETE", "", {}),
    ("POST", "/watch", {}),
    ("GET", "/watch", {}),
    ("GET", "/checkpoint", {}),  # the owner's export: weights that may be loaded elsewhere
]


@pytest.mark.parametrize(("method", "path", "kwargs"), MUTATIONS, ids=lambda v: str(v))
def test_every_mutating_route_refuses_a_watch_token_without_side_effects(
    client, trained, method, path, kwargs
):
    sid, token = trained
    before = fingerprint(client, sid)
    response = client.request(method, f"{S}/{token}{path}", **kwargs)
    assert response.status_code == 403, response.text
    body = response.json()
    assert "read-only watch link" in body["detail"]
    assert sid not in response.text
    assert fingerprint(client, sid) == before
    assert client.get(f"{S}/{sid}/compare").status_code == 404  # no comparison was started
    assert client.get(f"{S}/{sid}/watch").json()["links"][0]["token"] == token


def test_loading_a_checkpoint_and_revoking_need_the_owner(client, trained):
    sid, token = trained
    checkpoint = client.get(f"{S}/{sid}/checkpoint").content
    before = fingerprint(client, sid)
    upload = client.put(f"{S}/{token}/checkpoint", content=checkpoint)
    assert upload.status_code == 403
    revoke = client.delete(f"{S}/{token}/watch/{token}")
    assert revoke.status_code == 403
    assert fingerprint(client, sid) == before
    assert client.get(f"{S}/{token}").status_code == 200  # still a working link


def test_the_stream_says_hello_with_the_token_and_carries_the_steps(client, trained):
    sid, token = trained
    frames: list[str] = []
    with client.websocket_connect(f"{S}/{token}/stream") as ws:
        frames.append(ws.receive_text())
        assert client.post(f"{S}/{sid}/train", json={"steps": 3}).status_code == 200
        while len([f for f in frames if '"type":"step"' in f]) < 3:
            frames.append(ws.receive_text())
    hello = json.loads(frames[0])
    assert hello["type"] == "hello"
    assert hello["session"] == token
    steps = [json.loads(f)["record"]["step"] for f in frames if '"type":"step"' in f]
    assert steps == [13, 14, 15]
    assert all(sid not in f for f in frames)


def test_revoking_ends_the_watchers_streams_and_the_token(client, trained):
    sid, token = trained
    with client.websocket_connect(f"{S}/{token}/stream") as ws:
        assert json.loads(ws.receive_text())["type"] == "hello"
        assert client.delete(f"{S}/{sid}/watch/{token}").status_code == 204
        bye = json.loads(ws.receive_text())
        assert bye == {"type": "bye", "reason": REVOKED}
        closed = ws.receive()
        assert closed["type"] == "websocket.close"
        assert closed["code"] == REVOKED_CODE
    assert client.get(f"{S}/{token}").status_code == 404
    assert client.get(f"{S}/{token}/history").status_code == 404
    assert client.get(f"/watch/{token}").status_code == 404
    with client.websocket_connect(f"{S}/{token}/stream") as ws:
        assert json.loads(ws.receive_text())["type"] == "bye"
    assert client.get(f"{S}/{sid}").status_code == 200  # the session itself is untouched


def test_deleting_the_session_removes_its_links(client, trained):
    sid, token = trained
    assert client.delete(f"{S}/{sid}").status_code == 204
    gone = client.get(f"{S}/{token}")
    assert gone.status_code == 404
    assert sid not in gone.text


def test_a_link_survives_eviction_and_a_restart(tmp_path: Path):
    with TestClient(create_app(make_settings(data_dir=tmp_path, max_sessions=1))) as client:
        sid = create_session(client)["id"]
        client.post(f"{S}/{sid}/train", json={"steps": 5})
        token = new_link(client, sid)
        create_session(client)  # one slot: the first session is saved and leaves memory
        assert sid not in client.app.state.manager.sessions  # type: ignore[attr-defined]
        info = client.get(f"{S}/{token}").json()  # loads it back, through the link
        assert (info["id"], info["step"]) == (token, 5)
    with TestClient(create_app(make_settings(data_dir=tmp_path))) as client:
        info = client.get(f"{S}/{token}").json()
        assert (info["id"], info["step"]) == (token, 5)
        assert client.post(f"{S}/{token}/train", json={"steps": 1}).status_code == 403
        assert client.delete(f"{S}/{sid}/watch/{token}").status_code == 204
    with TestClient(create_app(make_settings(data_dir=tmp_path))) as client:
        assert client.get(f"{S}/{token}").status_code == 404  # revoked stays revoked


def test_thirty_watchers_on_one_stream_all_get_the_run(live_server: LiveServer):
    from websockets.sync.client import connect

    app = live_server.server.config.app
    with httpx.Client(base_url=live_server.url) as http:
        sid = http.post(S, json={}).json()["id"]
        token = http.post(f"{S}/{sid}/watch").json()["token"]
        url = f"ws://127.0.0.1:{live_server.port}{S}/{token}/stream"
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(connect(url)) for _ in range(30)]
            for ws in sockets:
                assert json.loads(ws.recv(timeout=10))["session"] == token
            assert app.state.watch.watchers(token) == 30
            results: list[tuple[int, int, int]] = []

            def watch(ws: Any) -> None:
                last, delivered, skipped = 0, 0, 0
                while True:
                    frame = ws.recv(timeout=60)
                    assert sid not in frame
                    message = json.loads(frame)
                    if message["type"] == "step":
                        last = message["record"]["step"]
                        delivered += 1
                        skipped += message.get("skipped", 0)
                    if message["type"] == "run" and message["state"] == "finished":
                        results.append((last, delivered, skipped))
                        return

            threads = [threading.Thread(target=watch, args=(ws,)) for ws in sockets]
            for thread in threads:
                thread.start()
            assert http.post(f"{S}/{sid}/run", json={"steps": 60}).status_code == 202
            for thread in threads:
                thread.join(timeout=90)
    assert len(results) == 30
    for last, delivered, skipped in results:
        assert last == 60
        assert delivered + skipped == 60  # each step delivered or counted as skipped


def test_watchers_that_never_read_hold_bounded_memory():
    """30 watchers that read nothing while 20,000 steps are published: each queue stays at
    `max_droppable` step frames plus the control frames, and memory stops growing."""
    loop = asyncio.new_event_loop()
    try:
        broadcaster = Broadcaster(loop, max_droppable=8)
        watchers = [broadcaster.subscribe() for _ in range(30)]
        frame = Attention(step=0, tokens=[], attention="x" * 2000)  # droppable, ~2 kB

        def publish(n: int) -> None:
            for _ in range(n):
                broadcaster.publish(frame)

        tracemalloc.start()
        publish(1000)
        after_1k = tracemalloc.get_traced_memory()[0]
        publish(19000)
        after_20k = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        for watcher in watchers:
            assert len(watcher._frames) == 8
            assert watcher.skipped["attention"] == 20000 - 8
        assert after_20k - after_1k < 64 * 1024  # the queues do not grow (frames are shared)
        for _ in range(MAX_CONTROL_BACKLOG + 20):  # a reader that never reads at all is cut off
            broadcaster.publish(Eval(step=0, heldout_loss=1.0))
        assert all(w.closed for w in watchers)
    finally:
        loop.close()


def test_replicas_sharing_a_data_dir_see_each_others_links(tmp_path: Path):
    one, two = WatchLinks(tmp_path, shared=True), WatchLinks(tmp_path, shared=True)
    one.open()
    two.open()
    link = one.create("a-session-id")
    assert two.session_of(link.token) == "a-session-id"  # made by the other replica
    alone = WatchLinks(tmp_path)  # one server: its memory is the truth, read once at start
    assert alone.session_of(link.token) is None
    alone.open()
    assert alone.session_of(link.token) == "a-session-id"
    assert (tmp_path / f"{link.token}.json").stat().st_mode & 0o077 == 0  # it names the session
