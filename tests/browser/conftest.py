"""Fixtures for the browser suite: the real app on a free 127.0.0.1 port, and headless Chromium.

The app runs as `uvicorn app.main:create_app --factory` in a subprocess (tests/live_server.py).
ATTNFLOW_BROWSER_APP="module:attr" points the suite at another ASGI app
(add ATTNFLOW_BROWSER_FACTORY=1 for a factory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM, LAUNCH_ARGS
from tests.live_server import serve

__all__ = ["CHROMIUM", "LAUNCH_ARGS", "PHONE", "SCREENSHOTS", "VIEWPORT", "PageWatch"]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def _app_target() -> tuple[str, bool]:
    override = os.environ.get("ATTNFLOW_BROWSER_APP")
    if override:
        return override, os.environ.get("ATTNFLOW_BROWSER_FACTORY") == "1"
    return "app.main:create_app", True


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    target, factory = _app_target()
    log_path = tmp_path_factory.mktemp("server") / "uvicorn.log"
    with log_path.open("wb") as log, serve(target=target, factory=factory, log=log) as url:
        yield url


@pytest.fixture(scope="session")
def chromium(server_url: str, headless_chromium: object) -> object:
    """The run's one browser (tests/conftest.py), once the app it tests is up."""
    return headless_chromium


@dataclass
class PageWatch:
    """A page of the app plus what it logged and requested."""

    page: object
    origin: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)

    def open(self, query: str = "") -> None:
        self.page.goto(f"{self.origin}/?{query}" if query else f"{self.origin}/")
        self.page.wait_for_selector("body[data-ready=true]", timeout=30_000)

    def session_id(self) -> str:
        return self.page.evaluate("window.attnflow.state.session.id")

    def api(self, method: str, path: str, body: object | None = None) -> object:
        response = self.page.request.fetch(f"{self.origin}{path}", method=method, data=body)
        return (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else response
        )

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def app_page(chromium: object, server_url: str) -> Iterator[PageWatch]:
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch = PageWatch(page=page, origin=server_url)
    page.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watch.errors.append(f"uncaught: {e}"))
    page.on("request", lambda r: watch.requests.append(r.url))
    page.on("websocket", lambda ws: watch.sockets.append(ws.url))
    yield watch
    try:
        if page.evaluate("Boolean(window.attnflow && window.attnflow.state.session)"):
            sid = watch.session_id()
            companion = page.evaluate("window.attnflow.companionId()")
            page.request.post(f"{server_url}/api/sessions/{sid}/pause")
            for doomed in (sid, companion):
                if doomed:
                    page.request.delete(f"{server_url}/api/sessions/{doomed}")
    finally:
        context.close()
