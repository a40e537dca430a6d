"""Fixtures shared by the browser and scale-out suites.

Playwright's sync API allows one `sync_playwright()` at a time in a process: a second one, started
while the first is alive, fails ("using Playwright Sync API inside the asyncio loop"). So one
headless Chromium serves every test that drives a page, whichever folder it is in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]


@pytest.fixture(scope="session")
def headless_chromium() -> Iterator[object]:
    """Debian's Chromium under Playwright, once per test run; skips where it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()
