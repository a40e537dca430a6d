"""The page says when a session's run was stopped by a server restart, and at which step."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.app.test_lifecycle import PERSIST_EVERY_S, ServerProcess

from .conftest import VIEWPORT


def test_the_page_says_a_run_was_interrupted_by_a_restart(tmp_path: Path, chromium):
    with ServerProcess(tmp_path) as server:
        sid = server.http.post("/api/sessions", json={}).json()["id"]
        run = server.http.post(f"/api/sessions/{sid}/run", json={"steps": 100_000})
        assert run.status_code == 202, run.text
        deadline = time.monotonic() + 60
        while server.http.get(f"/api/sessions/{sid}").json()["step"] < 20:
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        time.sleep(3 * PERSIST_EVERY_S)  # the running state has been saved since
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
    with ServerProcess(tmp_path) as server:
        info = server.http.get(f"/api/sessions/{sid}").json()
        assert info["running"] is False
        assert info["interrupted"]["step"] == info["step"] > 0
        context = chromium.new_context(viewport=VIEWPORT)
        try:
            page = context.new_page()
            page.goto(f"{server.url}/?session={sid}")
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            note = page.locator(".toast.info", has_text="interrupted by a restart")
            note.wait_for(timeout=10_000)
            text = note.inner_text()
            assert f"interrupted by a restart at step {info['step']}" in text
            assert "press Train" in text
        finally:
            context.close()
