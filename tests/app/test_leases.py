"""Replicas sharing a data dir (ATTNFLOW_SHARED_DATA_DIR): one holder per session, and a refusal
(503 before any WebSocket accept) that a proxy can retry on another replica."""

from __future__ import annotations

import fcntl
import os

import pytest
from starlette.testclient import WebSocketDenialResponse

from app.services.lease import Leases
from tests.app.conftest import create_session, fresh_data_dir


def stream_url(sid: str) -> str:
    return f"/api/sessions/{sid}/stream"


def test_a_lease_is_held_by_one_open_file_at_a_time(tmp_path):
    first, second = Leases(tmp_path), Leases(tmp_path)
    first.open()
    assert first.acquire("a" * 32)
    assert not second.acquire("a" * 32)  # flock is per open file: same process, still refused
    first.release("a" * 32)
    assert second.acquire("a" * 32)
    second.close()


def test_a_session_another_replica_holds_gets_503_on_rest_and_on_the_stream(make_client):
    shared = {"data_dir": fresh_data_dir(), "shared_data_dir": True}
    owner, other = make_client(**shared), make_client(**shared)
    sid = create_session(owner)["id"]

    refused = other.get(f"/api/sessions/{sid}")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "2"
    with (  # no accept: an HTTP answer to the upgrade request
        pytest.raises(WebSocketDenialResponse) as denied,
        other.websocket_connect(stream_url(sid)),
    ):
        pass
    assert denied.value.status_code == 503
    assert denied.value.headers["retry-after"] == "2"
    assert "held by another replica" in denied.value.json()["detail"]

    with owner.websocket_connect(stream_url(sid)) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_a_released_session_moves_to_the_replica_that_asks_next(make_client):
    shared = {"data_dir": fresh_data_dir(), "shared_data_dir": True}
    owner, other = make_client(**shared), make_client(**shared)
    sid = create_session(owner)["id"]
    assert owner.post(f"/api/sessions/{sid}/train", json={"steps": 7}).status_code == 200
    owner.__exit__(None, None, None)  # shutdown saves it and lets the lease go

    with other.websocket_connect(stream_url(sid)) as ws:
        hello = ws.receive_json()
    assert (hello["type"], hello["step"]) == ("hello", 7)
    lock = shared["data_dir"] / "sessions" / ".leases" / f"{sid}.lock"
    fd = os.open(lock, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):  # `other` holds it now
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_an_unknown_session_still_gets_bye_in_shared_mode(make_client):
    client = make_client(data_dir=fresh_data_dir(), shared_data_dir=True)
    with client.websocket_connect(stream_url("x" * 32)) as ws:
        assert ws.receive_json()["type"] == "bye"
