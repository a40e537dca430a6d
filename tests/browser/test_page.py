"""The page in a real browser against the real app: loading, training, views, errors, history."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

CHART_POINTS = "(document.getElementById('loss-chart').data?.[0]?.x.length ?? 0)"


def _step(watch) -> int:
    return int(watch.page.get_attribute("#step-count", "data-step") or -1)


@pytest.mark.browser
def test_page_opens_with_no_console_errors_and_no_outside_requests(app_page):
    app_page.open(query="")  # the page as a learner opens it: a fresh session at step 0
    page = app_page.page
    for name in ("W_q", "W_k", "W_v", "W_o", "W_1", "W_2"):
        assert page.locator(f"#diagram .weight[data-param$='.{name}.weight']").count() == 1
    assert "64 × 256" in page.text_content("#w-W_1")
    assert "256 × 64" in page.text_content("#w-W_2")
    assert "(16, 32, 64)" in page.text_content("#diagram")
    assert "stored as (out, in) = (256, 64)" in page.text_content("#w-W_1 title")
    page.click("#btn-play")
    page.wait_for_function(f"{CHART_POINTS} > 5", timeout=20_000)
    app_page.shot("01-open-training")
    for tab in ("weights", "ffn", "context", "settings", "attention"):
        page.click(f"#tab-{tab}")
    page.wait_for_timeout(500)
    assert app_page.errors == []
    ws_origin = app_page.origin.replace("http://", "ws://", 1)
    outside = [u for u in app_page.requests if not u.startswith(app_page.origin + "/")]
    outside += [u for u in app_page.sockets if not u.startswith(ws_origin + "/")]
    assert outside == []
    assert app_page.sockets, "the page opened no live stream"
    scripts = page.evaluate(
        "performance.getEntriesByType('resource')"
        ".filter(e => e.name.endsWith('.js')).map(e => e.name)"
    )
    assert any(s.endswith("/static/js/main.js") for s in scripts)
    assert any(s.endswith("/static/vendor/plotly.min.js") for s in scripts)
    assert all(s.startswith(app_page.origin + "/") for s in scripts)


@pytest.mark.browser
def test_play_grows_the_loss_curve_and_animates_every_phase(app_page):
    app_page.open()
    page = app_page.page
    before = page.evaluate(CHART_POINTS)
    page.click("#btn-play")
    page.wait_for_function(f"{CHART_POINTS} > {before} + 10", timeout=20_000)
    page.wait_for_function(
        "['f','l','b','u'].every(c => "
        "(document.getElementById('diagram').dataset.phases || '').includes(c))",
        timeout=15_000,
    )
    page.wait_for_selector("#phases li.active")
    # Training outruns the eye: one step in N is animated and the rest are counted, never queued.
    page.wait_for_function("window.attnflow.player.counts().summarised > 0")
    counts = page.evaluate("window.attnflow.player.counts()")
    assert counts["animated"] < page.evaluate("window.attnflow.state.liveStep")
    assert "summarised" in page.text_content("#anim-count")
    app_page.shot("02-training-animated")
    page.click("#btn-pause")
    page.wait_for_selector("#btn-play:not([disabled])")
    assert app_page.errors == []


@pytest.mark.browser
def test_single_step_moves_the_step_counter_by_exactly_one(app_page):
    app_page.open()
    page = app_page.page
    page.wait_for_selector("#step-count[data-step]")
    start = _step(app_page)
    page.click("#btn-step")
    page.wait_for_function(f"document.getElementById('step-count').dataset.step === '{start + 1}'")
    page.wait_for_function(f"{CHART_POINTS} === {start + 1}")
    page.wait_for_timeout(1200)  # nothing else arrives: still exactly one more
    assert _step(app_page) == start + 1
    assert page.evaluate(CHART_POINTS) == start + 1
    info = app_page.api("GET", f"/api/sessions/{app_page.session_id()}")
    assert info["step"] == start + 1


@pytest.mark.browser
def test_picked_token_shows_the_same_attention_row_as_forward(app_page):
    app_page.open()
    page = app_page.page
    sentence = "the dog sat on the mat ."
    page.fill("#att-sentence", sentence)
    page.wait_for_function(
        "[...document.querySelectorAll('#panel-attention .chip')]"
        ".map(c => c.textContent).join(' ') === "
        f"'{sentence}'"
    )
    page.click("#panel-attention .chip >> text='sat'")
    page.wait_for_selector("#panel-attention .chip.selected >> text='sat'")
    shown = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#att-table tbody tr')].map(tr =>
            [tr.dataset.row,
             [...tr.querySelectorAll('td[data-value]')].map(td => Number(td.dataset.value))]))"""
    )
    result = app_page.api(
        "POST", f"/api/sessions/{app_page.session_id()}/forward", {"text": sentence}
    )
    att = result["attention"]
    i = [t["text"] for t in result["tokens"]].index("sat")
    assert len(shown) == len(att) + 1
    for h, head in enumerate(att):
        assert shown[str(h)] == pytest.approx(head[i][: i + 1], abs=1e-6)
    average = [sum(head[i][j] for head in att) / len(att) for j in range(i + 1)]
    assert shown["avg"] == pytest.approx(average, abs=1e-6)
    app_page.shot("03-attention-picked-token")


@pytest.mark.browser
def test_bad_config_shows_the_api_message_next_to_the_field(app_page):
    app_page.open()
    page = app_page.page
    page.click("#tab-settings")
    page.fill("[id='f-config.d_model']", "30")
    page.fill("[id='f-config.n_heads']", "4")
    page.click("#btn-create")
    slot = "[data-field='config.d_model'] .field-error"
    page.wait_for_function(f'document.querySelector("{slot}").textContent.length > 0')
    expected = app_page.api("POST", "/api/sessions", {"config": {"d_model": 30, "n_heads": 4}})
    messages = [e["message"] for e in expected["errors"] if e["field"] == "config.d_model"]
    assert page.text_content(slot) == messages[0]
    assert page.get_attribute("[id='f-config.d_model']", "aria-invalid") == "true"
    assert page.locator(".toast.error").count() >= 1
    app_page.shot("04-settings-validation")


@pytest.mark.browser
def test_scrubber_shows_a_stored_step_and_marks_the_loss_curve(app_page):
    app_page.open()
    page = app_page.page
    sid = app_page.session_id()
    app_page.api("POST", f"/api/sessions/{sid}/train", {"steps": 20})
    snapshots = app_page.api("GET", f"/api/sessions/{sid}/history")["snapshots"]
    assert len(snapshots) >= 2
    page.wait_for_function(f"{CHART_POINTS} >= 20")
    page.focus("#scrubber")
    page.wait_for_function(f"Number(document.getElementById('scrubber').max) === {len(snapshots)}")
    page.keyboard.press("Home")
    page.wait_for_function(
        f"document.getElementById('scrub-label').dataset.step === '{snapshots[0]}'"
    )
    assert f"step {snapshots[0]}" in page.text_content("#att-source")
    shapes = page.evaluate("document.getElementById('loss-chart').layout.shapes")
    assert len(shapes) == 1
    assert shapes[0]["x0"] == snapshots[0]
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        f"document.getElementById('scrub-label').dataset.step === '{snapshots[1]}'"
    )
    app_page.shot("05-history-scrubbed")
    page.click("#scrub-live")
    page.wait_for_function("document.getElementById('scrub-label').textContent === 'live'")
    assert page.evaluate("document.getElementById('loss-chart').layout.shapes.length") == 0


@pytest.mark.browser
def test_seed_preset_url_shows_the_seed_shapes_and_the_url_resumes_the_session(app_page):
    app_page.open(query="preset=seed")
    page = app_page.page
    diagram = page.text_content("#diagram")
    assert "(4, 256, 768)" in diagram
    for name in ("W_q", "W_k", "W_v", "W_o"):
        assert "768 × 768" in page.text_content(f"#w-{name}")
    assert "768 × 3072" in page.text_content("#w-W_1")
    assert "3072 × 768" in page.text_content("#w-W_2")
    app_page.shot("11-seed-preset")
    sid = app_page.session_id()
    assert f"session={sid}" in page.url
    assert "preset=seed" in page.url
    assert "seed=0" in page.url
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert app_page.session_id() == sid  # resumed, not a new session
    assert app_page.errors == []
