"""Finding 2 of issue 10: eviction never loses data.

A session leaves memory only after its save succeeded; when the disk is full it stays, creation
answers 503 saying why, and the log says the truth. Every value that reaches a save was
validated on the way in, so a save cannot fail on content (a step of 2**64 is refused).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import app.services.store as store_module
from model.checkpoint import inspect

from .conftest import TestClient, create_app, create_session, make_settings

CHECKPOINT = "checkpoint.safetensors"


def started(data_dir: Path, **changes: object) -> TestClient:
    settings = {"max_sessions": 2, "persist_every_s": 0.2, **changes}
    return TestClient(create_app(make_settings(data_dir=data_dir, **settings)))


def saved_step(data_dir: Path, sid: str) -> int | None:
    path = data_dir / "sessions" / sid / CHECKPOINT
    return inspect(path.read_bytes())[2] if path.is_file() else None


def wait_saved(client: TestClient, data_dir: Path, sid: str, step: int) -> None:
    import time

    deadline = time.monotonic() + 20
    while saved_step(data_dir, sid) != step:
        assert time.monotonic() < deadline, f"session never saved at step {step}"
        time.sleep(0.05)


def train(client: TestClient, sid: str, steps: int) -> None:
    while steps:
        n = min(steps, 200)
        response = client.post(f"/api/sessions/{sid}/train", json={"steps": n})
        assert response.status_code == 200, response.text
        steps -= n


def disk_full(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def run_scenario(
    client: TestClient, data_dir: Path, fill: contextlib.AbstractContextManager
) -> None:
    """The red-team sequence: saved at 30, the disk fills, trained to 130, a second session that
    was never saved, then a third session is asked for."""
    evicted = create_session(client)["id"]
    train(client, evicted, 30)
    wait_saved(client, data_dir, evicted, 30)
    with fill:
        train(client, evicted, 100)
        never_saved = create_session(client)["id"]
        response = client.post("/api/sessions", json={})
        assert response.status_code == 503, response.text
        assert "No space left on device" in response.json()["detail"]
        assert "cannot be saved" in response.json()["detail"]
        assert response.headers["Retry-After"]
        # both are still here, where they were
        assert client.get(f"/api/sessions/{evicted}").json()["step"] == 130
        assert client.get(f"/api/sessions/{never_saved}").status_code == 200
        assert saved_step(data_dir, evicted) == 30
        assert saved_step(data_dir, never_saved) is None
    # space again: now the least recently used one is saved, then leaves
    assert client.post("/api/sessions", json={}).status_code == 201
    assert saved_step(data_dir, evicted) == 130
    info = client.get(f"/api/sessions/{evicted}").json()  # loads back from disk
    assert info["step"] == 130
    history = client.get(f"/api/sessions/{evicted}/history").json()
    assert history["train"]["steps"][-1] == 130


def test_a_full_disk_keeps_sessions_in_memory_and_says_so(tmp_path, monkeypatch, capsys):
    with started(tmp_path) as client:
        patch = monkeypatch.context()

        @contextlib.contextmanager
        def fill() -> Iterator[None]:
            with patch as m:
                m.setattr(store_module, "atomic_write", disk_full)
                yield

        run_scenario(client, tmp_path, fill())
    log = capsys.readouterr().err
    assert "stays in memory" in log
    assert "it cannot be saved: [Errno 28] No space left on device" in log
    assert "it stays on disk" not in log


def test_idle_sessions_past_the_ttl_stay_when_they_cannot_be_saved(tmp_path, monkeypatch):
    with started(tmp_path, session_ttl_s=0.2) as client:
        sid = create_session(client)["id"]
        train(client, sid, 5)
        monkeypatch.setattr(store_module, "atomic_write", disk_full)
        manager = client.app.state.manager
        import time

        time.sleep(0.3)
        client.portal.call(manager.expire)
        assert sid in manager.sessions  # its save failed: still in memory
        monkeypatch.undo()
        client.portal.call(manager.expire)
        assert sid not in manager.sessions
        assert saved_step(tmp_path, sid) == 5


@contextlib.contextmanager
def small_tmpfs(size: str = "4m") -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="attnflow-tmpfs-"))
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(root)],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if mounted.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=10, check=False)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def filled(directory: Path) -> Iterator[None]:
    """Take every free byte of the file system `directory` is on."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for block in (65536, 512, 1):
            with contextlib.suppress(OSError):
                while handle.write(b"\0" * block):
                    pass
    try:
        yield
    finally:
        filler.unlink()


def test_a_real_full_tmpfs_loses_nothing(tmp_path):
    with small_tmpfs() as data_dir, started(data_dir) as client:
        run_scenario(client, data_dir, filled(data_dir))


def _with_step(data: bytes, step: str) -> bytes:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"]["step"] = step
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data[8 + n :]


@pytest.mark.parametrize("step", [str(2**64), str(2**63), str(2**53 + 1), str(2**50 + 1)])
def test_a_step_no_save_can_write_is_refused_at_import(client, session, step):
    data = client.get(f"/api/sessions/{session['id']}/checkpoint").content
    response = client.post("/api/sessions/import", content=_with_step(data, step))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "checkpoint.step"


def test_the_largest_step_allowed_saves_and_comes_back(tmp_path):
    with started(tmp_path) as client:
        sid = create_session(client)["id"]
        data = client.get(f"/api/sessions/{sid}/checkpoint").content
        imported = client.post("/api/sessions/import", content=_with_step(data, str(2**50)))
        assert imported.status_code == 201, imported.text
        copy = imported.json()["id"]
        train(client, copy, 2)
        assert client.app.state.manager.save_errors == {}
    with started(tmp_path) as client:
        assert client.get(f"/api/sessions/{copy}").json()["step"] == 2**50 + 2
    assert os.path.isdir(tmp_path / "sessions" / copy)
