"""A class watching one run, and runs side by side (issue 15), in a real browser."""

from __future__ import annotations

import csv
import io

import pytest

from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser

OWNER_CONTROLS = [
    "#btn-play",
    "#btn-pause",
    "#btn-step",
    "#btn-reset",
    "#tab-settings",
    "#abl-run",
    "#predict",
]


def step_of(page) -> int:
    return int(page.get_attribute("#step-count", "data-step"))


def test_a_watcher_follows_the_owner_live_and_is_told_when_the_link_is_revoked(
    app_page, chromium, server_url
):
    owner = app_page.page
    app_page.open()
    sid = app_page.session_id()
    owner.click("#btn-share")
    owner.click("#share-new")
    link = owner.locator(".share-url").first.input_value()
    assert "/watch/" in link
    assert sid not in link
    app_page.shot("40-share-a-watch-link")

    context = chromium.new_context()
    try:
        watcher = context.new_page()
        watcher.set_default_timeout(20_000)
        seen: list[str] = []
        watcher.on("request", lambda r: seen.append(r.url))
        watcher.on("websocket", lambda ws: seen.append(ws.url))
        frames: list[str] = []
        watcher.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
        watcher.goto(link)
        watcher.wait_for_selector("body[data-ready=true]", timeout=30_000)
        assert watcher.is_visible("#watch-badge")
        for selector in OWNER_CONTROLS:
            assert watcher.locator(selector).count() == 0, selector
        start = step_of(watcher)
        # The tour leaves out the step that trains (predict, then reveal); the others remain.
        watcher.click("#btn-tour")
        titles = []
        for _ in range(10):
            titles.append(watcher.inner_text("#tour-title"))
            if watcher.inner_text("#tour-next") == "Finish":
                break
            watcher.click("#tour-next")
        assert "Predict, then reveal" not in titles
        assert titles[-1] == "The answer"
        watcher.click("#tour-next")  # Finish

        owner.click("#btn-play")
        watcher.wait_for_function(
            f"Number(document.querySelector('#step-count').dataset.step) > {start + 20}"
        )
        owner.click("#btn-pause")
        owner.wait_for_function("!window.attnflow.state.running")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        watcher.screenshot(path=str(SCREENSHOTS / "41-watching-read-only.png"))

        watcher.keyboard.press("Space")  # the owner's shortcut does nothing here
        watcher.keyboard.press("s")
        watcher.wait_for_timeout(500)
        info = app_page.api("GET", f"/api/sessions/{sid}")
        assert info["running"] is False
        assert step_of(watcher) <= info["step"]

        assert sid not in watcher.content()
        assert all(sid not in url for url in seen)
        assert frames, "the watcher's stream carried frames"
        assert all(sid not in frame for frame in frames)
        assert sid not in watcher.evaluate("JSON.stringify(window.attnflow.state)")

        owner.click(".share-revoke")
        watcher.wait_for_selector("#watch-ended", state="visible")
        assert "revoked" in watcher.inner_text("#watch-ended")
        token = link.rsplit("/", 1)[1]
        assert watcher.request.get(f"{server_url}/api/sessions/{token}").status == 404
    finally:
        context.close()


def trace_points(page, label_part: str) -> tuple[list[float], list[float]]:
    data = page.evaluate(
        """(part) => document.getElementById('loss-chart').data
             .filter((t) => t.name.includes(part))
             .map((t) => [Array.from(t.x), Array.from(t.y)])""",
        label_part,
    )
    assert len(data) == 1, data
    return data[0][0], data[0][1]


def metrics_curve(watch, ref: str) -> tuple[list[float], list[float]]:
    table = watch.api("GET", f"/api/sessions/{ref}/metrics.json")
    step, loss = table["columns"].index("step"), table["columns"].index("loss")
    return [r[step] for r in table["rows"]], [r[loss] for r in table["rows"]]


def test_other_runs_join_the_loss_chart_with_their_settings(app_page, tmp_path):
    page = app_page.page
    app_page.open("lr=0.03&seed=1")  # one of this browser's own sessions
    mine = app_page.session_id()
    assert app_page.api("POST", f"/api/sessions/{mine}/train", {"steps": 30})["step"] == 30
    other = app_page.api("POST", "/api/sessions", {"config": {"norm": "none"}})
    theirs = other["id"]
    app_page.api("POST", f"/api/sessions/{theirs}/train", {"steps": 20})
    token = app_page.api("POST", f"/api/sessions/{theirs}/watch")["token"]
    try:
        app_page.open()  # a fresh session of this page; the first is remembered
        page.focus("#runs-pick")
        page.select_option("#runs-pick", mine)
        page.click("#runs-add")
        page.wait_for_selector("#runs-list .run")
        page.fill("#runs-paste", f"{app_page.origin}/watch/{token}")
        page.click("#runs-add")
        page.wait_for_function("document.querySelectorAll('#runs-list .run').length === 2")

        xs, ys = trace_points(page, "lr 0.03")
        assert (xs, ys) == metrics_curve(app_page, mine)
        assert len(xs) == 30
        xs, ys = trace_points(page, "norm none")
        assert (xs, ys) == metrics_curve(app_page, theirs)
        assert "lr 0.003" in page.inner_text("#runs-self")
        app_page.shot("42-runs-side-by-side")

        with page.expect_download() as download:
            page.click("#runs-csv")
        rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
        assert len(rows) == 30 + 20
        assert [float(r["loss"]) for r in rows if r["run"] == "1"] == metrics_curve(app_page, mine)[
            1
        ]
        with page.expect_download() as image:
            page.click("#runs-png")
        assert image.value.path().read_bytes()[:4] == b"\x89PNG"

        page.click("#runs-list .run-remove >> nth=0")
        page.wait_for_function("document.getElementById('loss-chart').data.length === 3")
        trace_points(page, "norm none")  # the other one stays
        assert not app_page.errors, app_page.errors
    finally:
        for sid in (mine, theirs):
            page.request.delete(f"{app_page.origin}/api/sessions/{sid}")
