"""/docs and /redoc render every operation with every non-loopback request blocked.

FastAPI's default pages load Swagger UI / ReDoc from a CDN; ours serve them from the installed
`fastapi-offline` package (app/docs_ui.py). Any request that leaves 127.0.0.1 is aborted and
recorded, so a page that still reaches for a CDN (or a font or favicon host) fails here.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import VIEWPORT

pytestmark = pytest.mark.browser

METHODS = {"get", "put", "post", "delete", "patch", "options", "head"}


def operations(server_url: str) -> list[tuple[str, str]]:
    with urllib.request.urlopen(f"{server_url}/openapi.json", timeout=30) as response:
        schema = json.load(response)
    return [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in METHODS
    ]


class Offline:
    """A page whose every request to a host other than 127.0.0.1 is aborted and remembered."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.console: list[str] = []
        page.route("**/*", self._route)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)

    def _route(self, route: Any) -> None:
        url = route.request.url
        host = urllib.parse.urlsplit(url).hostname
        if host == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")


@pytest.fixture
def offline(chromium: Any) -> Iterator[Offline]:
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield Offline(page)
    finally:
        context.close()


def test_swagger_ui_lists_every_operation_offline(offline: Offline, server_url: str) -> None:
    expected = operations(server_url)
    assert len(expected) > 10, expected
    offline.page.goto(f"{server_url}/docs")
    offline.page.wait_for_selector(".opblock")
    shown = offline.page.eval_on_selector_all(
        ".opblock-summary",
        """rows => rows.map(r => [
            r.querySelector('.opblock-summary-method').textContent.trim(),
            r.querySelector('.opblock-summary-path').getAttribute('data-path'),
        ])""",
    )
    assert sorted(map(tuple, shown)) == sorted(expected)
    assert offline.blocked == []
    assert offline.errors == []
    assert offline.console == []


def test_redoc_lists_every_operation_offline(offline: Offline, server_url: str) -> None:
    expected = operations(server_url)
    offline.page.goto(f"{server_url}/redoc")
    offline.page.wait_for_selector("[data-section-id^='operation/']")
    sections = offline.page.eval_on_selector_all(
        "[data-section-id^='operation/']", "els => els.map(e => e.getAttribute('data-section-id'))"
    )
    assert len(set(sections)) == len(expected), sections
    # Every path appears on the page as ReDoc prints it (method + path in each operation).
    text = offline.page.inner_text("body")
    for _, path in expected:
        assert path in text, path
    assert offline.blocked == []
    assert offline.errors == []
    # The one outside reference ReDoc always renders (its footer logo) is stopped by the page's
    # Content-Security-Policy before it becomes a request: the console says so, nothing else does.
    assert all("cdn.redoc.ly" in line for line in offline.console), offline.console
