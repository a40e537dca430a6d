"""One step at a time, and every view at the viewed step (issue 8), in a real browser."""

from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser

SENTENCE = "the dog lay on the mat ."
ATT = "blocks.0.attn.hook_weights"
FFN = "blocks.0.ffn.hook_post"
STAGES = f"{ATT},{FFN}"
# Phase starts and finished steps, as the player announces them.
LISTEN = """() => {
  window.__events = [];
  for (const name of ['attnflow:phase', 'attnflow:step-done'])
    document.addEventListener(name, (e) => window.__events.push({name, ...e.detail}));
}"""


def js_num(x: float, digits: int) -> str:
    """What the page's num(x, digits) prints: toPrecision, then trailing zeros dropped."""
    text = repr(float(f"{x:.{digits}g}"))
    return text[:-2] if text.endswith(".0") else text


def step_of(page) -> int:
    return int(page.get_attribute("#step-count", "data-step"))


def forward(watch, text, step=None):
    sid = watch.session_id()
    path = (
        f"/api/sessions/{sid}/forward"
        if step is None
        else f"/api/sessions/{sid}/snapshots/{step}/forward"
    )
    return watch.api("POST", f"{path}?stages={STAGES}", {"text": text})


ROWS = """(table) => Object.fromEntries([...document.querySelectorAll(`#${table} tbody tr`)]
  .map(tr => [tr.dataset.row,
              [...tr.querySelectorAll('td[data-value]')].map(td => Number(td.dataset.value))]))"""


def shown_rows(page, table="att-table"):
    return page.evaluate(ROWS, table)


def assert_rows_match(rows, attention, i):
    for h, head in enumerate(attention):
        assert rows[str(h)] == pytest.approx(head[i][: i + 1], abs=1e-6)


def one_step(page, speed: str, through: bool = False) -> dict:
    """Clicks +1 step at `speed` and returns the player's step-done event."""
    page.select_option("#speed", speed)
    page.evaluate("window.__events = []")
    page.click("#btn-step")
    if through:
        return {}
    page.wait_for_function(
        "window.__events.some(e => e.name === 'attnflow:step-done')", timeout=30_000
    )
    return page.evaluate("window.__events.find(e => e.name === 'attnflow:step-done')")


def scrub_home(page) -> None:
    """Home on the focused scrubber, until the attention view shows step 0. In two full runs on a
    loaded machine the view stayed live after one press (cause not pinned down: focusing the
    slider also refreshes the snapshot list); a learner presses again, and so does this."""
    for attempt in range(3):
        page.keyboard.press("Home")
        try:
            page.wait_for_function(
                "document.getElementById('att-source').dataset.step === '0'", timeout=8_000
            )
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.focus("#scrubber")


def test_page_opens_at_step_0_paused_and_stays_there(app_page):
    app_page.open()
    page = app_page.page
    sid = app_page.session_id()
    assert step_of(page) == 0
    assert page.evaluate("window.attnflow.state.running") is False
    assert page.is_enabled("#btn-step")
    assert page.is_enabled("#btn-play")
    assert "Press +1 step" in page.text_content("#phase-text")
    page.wait_for_timeout(3000)  # untouched for 3 s: nothing trains
    assert step_of(page) == 0
    assert app_page.api("GET", f"/api/sessions/{sid}")["step"] == 0
    snap = app_page.api("GET", f"/api/sessions/{sid}/snapshots/0")
    assert page.get_attribute("#diagram .loss-value", "data-value") == str(snap["heldout_loss"])
    assert page.get_attribute("#att-source", "data-step") == "0"
    # The loss chart is not empty at step 0: the held-out curve starts at the untouched model.
    held = page.evaluate(
        "(() => { const t = document.getElementById('loss-chart').data[1];"
        " return [Array.from(t.x), Array.from(t.y)]; })()"
    )
    assert held == [[0], [snap["heldout_loss"]]]
    app_page.shot("20-step-0")
    assert app_page.errors == []


def test_speed_scales_the_step_and_no_animation_is_instant(app_page):
    app_page.open()
    page = app_page.page
    page.evaluate(LISTEN)
    normal = one_step(page, "1")
    slow = one_step(page, "0.25")
    instant = one_step(page, "0")
    assert step_of(page) == 3
    # 0.25x lasts 4x as long as 1x. The player keeps a timeline, so a step never ends before its
    # nominal length (the phase durations of config.js over the speed); a busy machine can only
    # make either step later, so the ratio of the two measured lengths is checked loosely.
    nominal = page.evaluate(
        "import('/static/js/config.js')"
        ".then(m => Object.values(m.TIMING.phaseMs).reduce((a, b) => a + b, 0))"
    )
    assert normal["duration"] >= nominal - 5
    assert slow["duration"] >= 4 * nominal - 5
    assert slow["duration"] >= 2.5 * normal["duration"]
    assert instant["duration"] < 0.05 * normal["duration"]
    phases = [e["phase"] for e in page.evaluate("window.__events") if e["name"] == "attnflow:phase"]
    assert phases == ["forward", "loss", "backward", "update"]
    assert app_page.errors == []


def test_step_through_stops_after_each_phase_with_that_steps_figures(app_page):
    app_page.open()
    page = app_page.page
    page.evaluate(LISTEN)
    page.check("#step-through")
    one_step(page, "4", through=True)
    for phase, go in (("forward", "click"), ("loss", "key"), ("backward", "click")):
        page.wait_for_selector(f"#phases li.waiting[data-phase={phase}]")
        page.wait_for_timeout(600)  # it waits: no later phase starts on its own
        started = [
            e["phase"] for e in page.evaluate("window.__events") if e["name"] == "attnflow:phase"
        ]
        assert started[-1] == phase
        record = page.evaluate("window.attnflow.state.lastRecord")
        text = page.text_content("#phase-text")
        if phase == "loss":
            assert f"Loss {js_num(record['loss'], 3)} nats per token at step 1" in text
        if phase == "backward":
            wq = record["grad_norms"]["blocks.0.attn.W_q.weight"]
            assert f"the gradient reaching W_q has norm {js_num(wq, 2)}" in text
            app_page.shot("21-step-through-backward")
        if go == "click":
            page.click("#btn-next-phase")
        else:
            page.focus("#diagram")
            page.keyboard.press("n")
    page.wait_for_function("window.__events.some(e => e.name === 'attnflow:step-done')")
    assert "update" in page.text_content("#phase-text") or "done" in page.text_content(
        "#phase-text"
    )
    # Replay plays the same step again and trains nothing.
    page.uncheck("#step-through")
    page.evaluate("window.__events = []")
    page.click("#btn-replay")
    page.wait_for_function("window.__events.some(e => e.name === 'attnflow:step-done')")
    assert page.evaluate("window.__events.find(e => e.name === 'attnflow:step-done').step") == 1
    assert step_of(page) == 1
    assert app_page.api("GET", f"/api/sessions/{app_page.session_id()}")["step"] == 1
    assert app_page.errors == []


def test_scrubbing_to_step_0_shows_the_random_model_everywhere_and_keeps_the_sentence(app_page):
    app_page.open()
    page = app_page.page
    sid = app_page.session_id()
    before = forward(app_page, SENTENCE)  # the model's own step-0 forward, before any training
    app_page.api("POST", f"/api/sessions/{sid}/train", {"steps": 20})
    page.fill("#att-sentence", SENTENCE)
    page.wait_for_function(
        "[...document.querySelectorAll('#panel-attention .chip')].map(c => c.textContent).join(' ')"
        f" === '{SENTENCE}'"
    )
    page.wait_for_function("document.getElementById('att-source').dataset.step === '20'")
    page.click("#att-seed-word")  # the seed's word, one click away
    page.wait_for_selector("#panel-attention .chip.selected >> text='mat'")
    live = forward(app_page, SENTENCE)
    i = [t["text"] for t in live["tokens"]].index("mat")
    assert_rows_match(shown_rows(page), live["attention"], i)

    snapshots = app_page.api("GET", f"/api/sessions/{sid}/history")["snapshots"]
    page.focus("#scrubber")
    page.wait_for_function(f"Number(document.getElementById('scrubber').max) === {len(snapshots)}")
    scrub_home(page)
    past = forward(app_page, SENTENCE, step=0)
    assert past["attention"] == before["attention"]
    rows = shown_rows(page)
    assert_rows_match(rows, past["attention"], i)
    assert_rows_match(rows, before["attention"], i)
    ffn0 = np.array(next(s for s in before["stages"] if s["name"] == FFN)["values"])
    # Both come rounded to 5 decimals from two forward passes of the same weights, whose float
    # sums may differ in the last bits (thread count): a value on a rounding boundary can then
    # differ by one unit, 1e-5 (2 of 1,792 in one CI run). The model after 20 steps differs by far
    # more than that.
    assert np.array(page.evaluate("window.attnflow.state.viewed.ffn")) == pytest.approx(
        ffn0, abs=1.5e-5
    )
    page.click("#tab-ffn")
    silent = int((~(ffn0 > 0).any(axis=0)).sum())
    page.wait_for_selector("#ffn-note[data-step='0']")
    assert page.get_attribute("#ffn-summary", "data-silent") == str(silent)
    snap0 = app_page.api("GET", f"/api/sessions/{sid}/snapshots/0")
    assert page.get_attribute("#diagram .loss-value", "data-value") == str(snap0["heldout_loss"])
    assert page.get_attribute("#diagram", "data-figures-step") == "0"
    assert page.get_attribute("#w-W_q", "data-grad") == ""  # no step has made this model yet
    assert step_of(page) == 0
    assert page.input_value("#att-sentence") == SENTENCE  # the typed sentence survives
    page.click("#tab-weights")
    page.wait_for_selector("#weight-title[data-step='0']")
    app_page.shot("22-scrubbed-to-0")

    page.focus("#scrubber")
    page.keyboard.press("ArrowRight")  # step 1: the first step's figures
    page.wait_for_function("document.getElementById('diagram').dataset.figuresStep === '1'")
    snap1 = app_page.api("GET", f"/api/sessions/{sid}/snapshots/1")
    wq = "blocks.0.attn.W_q.weight"
    assert float(page.get_attribute("#w-W_q", "data-grad")) == snap1["record"]["grad_norms"][wq]
    assert float(page.get_attribute("#w-W_q", "data-ratio")) == snap1["record"]["update_ratios"][wq]

    page.click("#scrub-live")
    page.wait_for_function("document.getElementById('diagram').dataset.figuresStep === '20'")
    page.click("#tab-attention")
    page.wait_for_function("document.getElementById('att-source').dataset.step === '20'")
    assert_rows_match(shown_rows(page), live["attention"], i)
    assert step_of(page) == 20
    assert page.input_value("#att-sentence") == SENTENCE
    assert app_page.errors == []


def test_step_0_vs_now_shows_both_side_by_side(app_page):
    app_page.open()
    page = app_page.page
    sid = app_page.session_id()
    app_page.api("POST", f"/api/sessions/{sid}/train", {"steps": 30})
    page.wait_for_function("document.getElementById('step-count').dataset.step === '30'")
    page.click("#att-contrast [data-mode=side]")
    page.wait_for_selector("#att-table-0 tbody tr")
    # The page picks the most focused token anew for step 30: wait until the table is drawn for
    # the token it picked (a row of token i has i + 1 entries) before comparing.
    page.wait_for_function(
        """() => { const i = window.attnflow.state.selectedToken;
          const tr = document.querySelector('#att-table-0 tbody tr');
          const shown = tr === null ? -1 : tr.querySelectorAll('td[data-value]').length;
          return i !== null && shown === i + 1; }"""
    )
    past = forward(app_page, page.evaluate("window.attnflow.state.sentence"), step=0)
    i = page.evaluate("window.attnflow.state.selectedToken")
    base = shown_rows(page, "att-table-0")
    assert_rows_match(base, past["attention"], i)
    app_page.shot("23-step-0-vs-now")
    assert app_page.errors == []


def test_while_training_every_step_label_shows_the_step_or_says_it_is_older(app_page):
    app_page.open()
    page = app_page.page
    page.click("#btn-play")
    page.wait_for_function("window.attnflow.state.liveStep > 60", timeout=30_000)
    for _ in range(6):
        labels = page.evaluate(
            """() => ({the: Number(document.getElementById('step-count').dataset.step),
              labels: [...document.querySelectorAll('[data-step]')]
                .filter(e => e.id !== 'step-count' && e.getClientRects().length)
                .map(e => ({id: e.id || e.tagName, step: Number(e.dataset.step),
                            older: e.dataset.older, text: e.textContent}))})"""
        )
        assert len(labels["labels"]) >= 2
        for label in labels["labels"]:
            if label["older"] is None:
                continue  # not a step label (e.g. a snapshot tick)
            assert label["step"] == labels["the"] or (
                label["older"] == "true"
                and "older" in label["text"]
                and label["step"] < labels["the"]
            ), label
        page.wait_for_timeout(400)
    app_page.shot("24-training-labels")
    page.click("#btn-pause")
    assert app_page.errors == []


def test_reset_sits_by_train_and_asks_before_throwing_training_away(app_page):
    app_page.open()
    page = app_page.page
    sid = app_page.session_id()
    app_page.api("POST", f"/api/sessions/{sid}/train", {"steps": 12})
    page.wait_for_function("document.getElementById('step-count').dataset.step === '12'")
    page.click("#btn-reset")
    page.wait_for_selector("#reset-confirm:not([hidden])")
    assert "12 steps" in page.text_content("#reset-confirm")
    page.click("#btn-reset-no")
    assert app_page.api("GET", f"/api/sessions/{sid}")["step"] == 12
    page.click("#btn-reset")
    page.click("#btn-reset-yes")
    page.wait_for_function("document.getElementById('step-count').dataset.step === '0'")
    assert app_page.api("GET", f"/api/sessions/{sid}")["step"] == 0
    page.click("#tab-settings")
    page.fill("[id='f-seed']", "5")
    app_page.api("POST", f"/api/sessions/{sid}/train", {"steps": 3})
    page.wait_for_function("document.getElementById('step-count').dataset.step === '3'")
    page.click("#btn-create")
    page.wait_for_selector("#create-confirm:not([hidden])")
    page.click("#btn-create-no")
    assert app_page.session_id() == sid
    assert app_page.errors == []
