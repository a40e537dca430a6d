"""The page through nginx in headless Chromium: it loads, its stream delivers steps, and after the
replica holding its session is SIGKILLed the page's stream reconnects to the other one."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.browser.conftest import VIEWPORT, PageWatch
from tests.scale.conftest import holders_of

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_until(page: object, done: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Let Playwright deliver events (they arrive only inside its calls) until `done()`."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def test_the_page_streams_through_the_proxy_and_reconnects_after_a_kill(cluster, headless_chromium):
    frames: list[dict[str, object]] = []  # every stream frame the page received, in order
    context = headless_chromium.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        watch = PageWatch(page=page, origin=cluster.url)
        page.on("pageerror", lambda e: watch.errors.append(f"uncaught: {e}"))

        def on_socket(ws: object) -> None:
            watch.sockets.append(ws.url)
            ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))

        page.on("websocket", on_socket)
        watch.open()
        sid = watch.session_id()
        page.click("#btn-play")
        wait_until(page, lambda: sum(f["type"] == "step" for f in frames) >= 10, "steps")
        assert frames[0] == {**frames[0], "type": "hello", "session": sid}
        ws_origin = cluster.url.replace("http", "ws", 1)
        assert all(url.startswith(ws_origin) for url in watch.sockets)

        holder = holders_of(cluster, [sid])[sid]
        cluster.kill(holder)
        seen = len(frames)
        wait_until(page, lambda: any(f["type"] == "hello" for f in frames[seen:]), "hello")
        again = next(f for f in frames[seen:] if f["type"] == "hello")
        assert again["session"] == sid
        assert again["running"] is False  # comes back paused, from its last save
        assert holders_of(cluster, [sid])[sid] == 1 - holder
        assert len(watch.sockets) >= 2  # the page opened a new stream itself

        page.click("#btn-play")  # and it trains on the surviving replica, streamed
        seen = len(frames)
        wait_until(page, lambda: sum(f["type"] == "step" for f in frames[seen:]) >= 10, "more")
        assert watch.errors == []
        page.click("#btn-pause")
        page.request.delete(f"{cluster.url}/api/sessions/{sid}")
    finally:
        context.close()
        if None in cluster.procs:
            cluster.revive(cluster.procs.index(None))
