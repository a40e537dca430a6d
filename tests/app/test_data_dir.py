"""The default data directory is the user's data directory, and `attnflow` says so at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.readiness import free_port, wait_healthy
from app.settings import Settings
from tests.live_server import ROOT

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="XDG_DATA_HOME is Linux's")


@linux_only
def test_default_is_the_xdg_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("ATTNFLOW_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    assert Settings().data_dir == tmp_path / "share" / "attnflow"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings().data_dir == tmp_path / ".local" / "share" / "attnflow"
    assert Path(ROOT) not in Settings().data_dir.parents  # never the checkout


def test_the_environment_still_decides(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTNFLOW_DATA_DIR", str(tmp_path / "elsewhere"))
    assert Settings().data_dir == tmp_path / "elsewhere"


@linux_only
@pytest.mark.slow
def test_attnflow_serve_prints_where_sessions_go_and_saves_there(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTNFLOW_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "share"), PYTHONPATH=ROOT)
    port = free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=out)
        try:
            try:
                wait_healthy(f"http://127.0.0.1:{port}", proc, 60)
            except RuntimeError as exc:
                pytest.fail(f"{exc}\n{log.read_text()}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    sessions = tmp_path / "share" / "attnflow" / "sessions"
    assert f"sessions are saved in {sessions} (ATTNFLOW_DATA_DIR)" in log.read_text()
    assert sessions.is_dir()
    assert not (tmp_path / "data").exists()  # nothing in the working directory
