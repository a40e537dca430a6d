"""Sessions in the data directory: saved periodically and at shutdown, back after a restart with
their history and batch order, damaged files skipped, the memory and disk limits kept.

These run the app in-process (TestClient: its exit is the lifespan shutdown); test_lifecycle.py
does the same with a real server process, kill -9 and SIGTERM.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app.main import create_app
from app.services.builder import decode_generator
from app.services.saved import CHECKPOINT, HISTORY, META, SNAPSHOTS, atomic_write
from model.checkpoint import inspect

from .conftest import TestClient, create_session, make_settings

TEXT = " ".join(f"word{i % 37} and then more{i % 11} ." for i in range(120))


def started(data_dir: Path, **changes: object) -> TestClient:
    return TestClient(create_app(make_settings(data_dir=data_dir, **changes)))


def session_dir(data_dir: Path, sid: str) -> Path:
    return data_dir / "sessions" / sid


def saved_step(data_dir: Path, sid: str) -> int:
    return inspect((session_dir(data_dir, sid) / CHECKPOINT).read_bytes())[2]


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def forward(client: TestClient, sid: str) -> bytes:
    response = client.post(f"/api/sessions/{sid}/forward?digits=0", json={"text": "the cat sat"})
    assert response.status_code == 200
    return response.content


def test_a_restart_brings_a_session_back_where_it_was(tmp_path, plain_losses):
    with started(tmp_path) as client:
        sid = create_session(client, seed=3)["id"]
        client.post(f"/api/sessions/{sid}/train", json={"steps": 6})
        history = client.get(f"/api/sessions/{sid}/history").json()
        snapshot = client.get(f"/api/sessions/{sid}/snapshots/4").json()
        before = forward(client, sid)
    files = {p.name for p in session_dir(tmp_path, sid).iterdir()}
    assert {CHECKPOINT, HISTORY, SNAPSHOTS, META} <= files
    assert saved_step(tmp_path, sid) == 6

    with started(tmp_path) as client:
        info = client.get(f"/api/sessions/{sid}").json()  # same id, so the page URL still works
        assert (info["step"], info["seed"], info["corpus"]) == (6, 3, "catmat")
        assert client.get(f"/api/sessions/{sid}/history").json() == history
        assert client.get(f"/api/sessions/{sid}/snapshots/4").json() == snapshot
        assert forward(client, sid) == before
        records = client.post(f"/api/sessions/{sid}/train", json={"steps": 4}).json()["records"]
    # AdamW moments and the batch generator came back too: the run goes on exactly as an
    # uninterrupted one would.
    assert [r["step"] for r in records] == [7, 8, 9, 10]
    assert [r["loss"] for r in records] == plain_losses(10, seed=3)[6:]


def test_a_user_text_session_keeps_its_corpus(tmp_path):
    with started(tmp_path) as client:
        sid = create_session(client, text=TEXT)["id"]
        client.post(f"/api/sessions/{sid}/train", json={"steps": 2})
    assert (session_dir(tmp_path, sid) / "corpus.txt").read_text() == TEXT
    with started(tmp_path) as client:
        info = client.get(f"/api/sessions/{sid}").json()
        assert (info["corpus"], info["step"]) == ("custom", 2)
        assert client.post(f"/api/sessions/{sid}/train", json={"steps": 1}).status_code == 200


def test_changed_sessions_are_saved_while_the_server_runs(tmp_path):
    with started(tmp_path, persist_every_s=0.2) as client:
        sid = create_session(client)["id"]
        client.post(f"/api/sessions/{sid}/train", json={"steps": 3})
        meta = session_dir(tmp_path, sid) / META
        wait_for(lambda: meta.is_file() and json.loads(meta.read_text())["step"] == 3)
        assert saved_step(tmp_path, sid) == 3
        saves = client.app.state.metrics.saves.value()
        time.sleep(0.5)  # an unchanged session is not written again (5 passes of the saver)
        assert client.app.state.metrics.saves.value() == saves


def test_damaged_files_never_stop_start_up(tmp_path, capsys):
    with started(tmp_path) as client:
        good, truncated, garbage, missing = (create_session(client)["id"] for _ in range(4))
        for sid in (good, truncated, garbage, missing):
            client.post(f"/api/sessions/{sid}/train", json={"steps": 2})
    checkpoint = session_dir(tmp_path, truncated) / CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])  # a crash mid-write, without atomicity
    (session_dir(tmp_path, garbage) / HISTORY).write_bytes(b'{"format": "attnflow-hist')
    (session_dir(tmp_path, missing) / CHECKPOINT).unlink()
    (tmp_path / "sessions" / ("A" * 32)).mkdir()  # an empty session directory
    (tmp_path / "sessions" / "notes.txt").write_text("not a session")
    leftover = session_dir(tmp_path, good) / f".{CHECKPOINT}.123.tmp"
    leftover.write_bytes(b"half a file")
    capsys.readouterr()

    with started(tmp_path) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get(f"/api/sessions/{good}").json()["step"] == 2
        assert client.get(f"/api/sessions/{good}/history").json()["train"]["steps"] == [1, 2]
        # the model is fine, only its curves are gone
        assert client.get(f"/api/sessions/{garbage}").json()["step"] == 2
        assert client.get(f"/api/sessions/{garbage}/history").json()["train"]["steps"] == []
        for sid in (truncated, missing, "A" * 32):
            assert client.get(f"/api/sessions/{sid}").status_code == 404
        assert client.post("/api/sessions").status_code == 201
    log = capsys.readouterr().err
    assert not leftover.exists()
    assert f"saved session {truncated[:8]} cannot be loaded" in log
    assert f"saved session {garbage[:8]}: history.json is unreadable" in log
    assert f"saved session {missing[:8]} has no checkpoint.safetensors" in log
    assert "ignoring notes.txt" in log
    for sid in (good, truncated, garbage, missing):
        assert sid not in log  # logs carry 8 characters of an id, never all of it


def test_a_history_ahead_of_its_checkpoint_is_cut_back(tmp_path):
    """A crash between writing history.json and checkpoint.safetensors (in that order)."""
    with started(tmp_path) as client:
        sid = create_session(client)["id"]
        client.post(f"/api/sessions/{sid}/train", json={"steps": 3})
    older = (session_dir(tmp_path, sid) / CHECKPOINT).read_bytes()
    with started(tmp_path) as client:
        client.post(f"/api/sessions/{sid}/train", json={"steps": 5})
    atomic_write(session_dir(tmp_path, sid) / CHECKPOINT, older)
    with started(tmp_path) as client:
        assert client.get(f"/api/sessions/{sid}").json()["step"] == 3
        history = client.get(f"/api/sessions/{sid}/history").json()
        assert history["train"]["steps"] == [1, 2, 3]
        assert max(history["snapshots"]) <= 3  # the one at step 4 belonged to the lost steps


def test_restored_sessions_count_toward_the_limit_most_recent_first(tmp_path, capsys):
    with started(tmp_path) as client:
        old, middle, recent = (create_session(client)["id"] for _ in range(3))
        for sid in (old, middle, recent):
            client.get(f"/api/sessions/{sid}")
            time.sleep(0.01)
    with started(tmp_path) as client:  # loaded, not used: their last use stays what it was
        wait_for(lambda: len(client.app.state.manager.sessions) == 3)
    capsys.readouterr()
    with started(tmp_path, max_sessions=2) as client:
        manager = client.app.state.manager
        wait_for(lambda: len(manager.sessions) == 2)
        assert set(manager.sessions) == {middle, recent}
        assert "1 saved sessions stay on disk" in capsys.readouterr().err
        # the one left on disk loads when asked for, in place of the least recently used
        assert client.get(f"/api/sessions/{old}").status_code == 200
        assert set(manager.sessions) == {old, recent}


def test_delete_removes_the_files_for_good(tmp_path):
    with started(tmp_path) as client:
        sid = create_session(client)["id"]
    assert session_dir(tmp_path, sid).is_dir()
    with started(tmp_path) as client:
        assert client.delete(f"/api/sessions/{sid}").status_code == 204
        assert not session_dir(tmp_path, sid).exists()
        assert client.delete(f"/api/sessions/{sid}").status_code == 404
    with started(tmp_path) as client:
        assert client.get(f"/api/sessions/{sid}").status_code == 404


def test_the_disk_keeps_at_most_max_saved_sessions(tmp_path):
    with started(tmp_path) as client:
        ids = [create_session(client)["id"] for _ in range(3)]
        for sid in ids:
            client.get(f"/api/sessions/{sid}")
            time.sleep(0.01)
    with started(tmp_path, max_saved_sessions=2) as client:
        wait_for(lambda: len(client.app.state.manager.sessions) == 2)
        assert client.get(f"/api/sessions/{ids[0]}").status_code == 404  # least recently used
    assert sorted(p.name for p in (tmp_path / "sessions").iterdir() if p.is_dir()) == sorted(
        ids[1:]
    )


def test_an_unusable_data_dir_turns_saving_off_not_the_server(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the data directory should be")
    with started(blocked) as client:
        assert client.app.state.manager.store is None
        assert client.post("/api/sessions").status_code == 201
    assert "sessions will not be saved" in capsys.readouterr().err


def test_two_servers_never_share_a_data_dir(tmp_path, capsys):
    with started(tmp_path) as first, started(tmp_path) as second:
        assert first.app.state.manager.store is not None
        assert second.app.state.manager.store is None
    assert "in use by another attnflow process" in capsys.readouterr().err


@pytest.mark.parametrize("value", [None, 5, "", "not base64!", "QUJD"])
def test_a_bad_generator_state_is_ignored(value):
    assert decode_generator(value) is None
