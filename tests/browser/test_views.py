"""Secondary views and the tour, driven on a briefly trained model; saves screenshots of each."""

from __future__ import annotations

from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
pytestmark = pytest.mark.browser


@pytest.mark.browser
def test_weight_ffn_and_context_views_show_real_numbers(app_page):
    app_page.open()
    page = app_page.page
    sid = app_page.session_id()
    app_page.api("POST", f"/api/sessions/{sid}/train", {"steps": 40})
    page.wait_for_function("document.getElementById('step-count').dataset.step === '40'")

    page.click("#w-W_2")  # a weight block on the diagram opens its view
    page.wait_for_selector("#tab-weights[aria-selected=true]")
    page.wait_for_function("document.getElementById('weight-title').textContent.startsWith('W_2')")
    page.wait_for_selector("#weight-stats dd")
    assert "stored (out, in) (64, 256)" in page.text_content("#weight-title")
    app_page.shot("06-weight-W2")

    page.click("#tab-ffn")
    page.wait_for_selector("#ffn-summary[data-units]")
    assert page.get_attribute("#ffn-summary", "data-units") == "256"
    app_page.shot("07-ffn-units")

    page.click("#tab-context")
    page.click("#ctx-run")
    page.wait_for_selector("#ctx-result tr.ffn-only", timeout=60_000)
    with_attention = float(page.get_attribute("#ctx-result tr.with-attention", "data-distance"))
    ffn_only = float(page.get_attribute("#ctx-result tr.ffn-only", "data-distance"))
    assert with_attention > 1e-4
    assert ffn_only == pytest.approx(0.0, abs=1e-6)
    app_page.shot("08-what-attention-adds")
    assert app_page.errors == []


@pytest.mark.browser
def test_tour_steps_drive_the_model_and_point_at_the_diagram(app_page):
    app_page.open()
    page = app_page.page
    page.click("#btn-tour")
    page.wait_for_selector("#tour:not([hidden])")
    assert page.locator("#diagram .highlight").count() >= 2
    page.click("#tour-next")
    page.wait_for_selector("#tab-weights[aria-selected=true]")
    page.click("#tour-next")  # "both learn together" trains one real step
    page.wait_for_function("document.getElementById('step-count').dataset.step === '1'")
    app_page.shot("09-tour-learn-together")
    assert app_page.errors == []


@pytest.mark.browser
def test_comparison_run_draws_three_variants_and_the_bigram_bound(app_page):
    app_page.open()
    page = app_page.page
    page.click("#tab-settings")
    page.fill("#f-steps", "30")
    page.click("#btn-compare")
    page.wait_for_function(
        "(document.getElementById('ablation-chart').data || []).filter(t => "
        "/held-out [0-9]/.test(t.name)).length === 3",
        timeout=60_000,
    )
    names = page.evaluate("document.getElementById('ablation-chart').data.map(t => t.name)")
    assert any(n.startswith("FFN only") for n in names)
    assert any(n.startswith("attention only") for n in names)
    assert any(n.startswith("bigram bound") for n in names)
    assert any(n.startswith("attention + FFN on pairs") for n in names)  # the default corpus
    # its own figure: x from 0 to the comparison's steps, y zoomed on where the models end
    layout = page.evaluate("document.getElementById('ablation-chart').layout")
    result = app_page.api("GET", f"/api/sessions/{app_page.session_id()}/compare")
    assert layout["xaxis"]["range"] == [0, result["steps"]] == [0, 30]
    ends = [v["final_heldout_loss"] for v in result["variants"].values()] + [result["bigram_bound"]]
    lo, hi = layout["yaxis"]["range"]
    assert hi - lo < 2 * (max(ends) - min(ends))
    assert lo < min(ends)
    assert max(ends) < hi
    # the verdict's numbers are the run's own
    v = result["variants"]
    both = v["attention+ffn"]["final_heldout_loss"]
    verdict = page.text_content("#abl-verdict")
    d_att = v["attention_only"]["final_heldout_loss"] - both
    d_ffn = v["ffn_only"]["final_heldout_loss"] - both
    assert f"{abs(d_att):.2f} {'below' if d_att >= 0 else 'above'} attention alone" in verdict
    assert f"{abs(d_ffn):.2f} {'below' if d_ffn >= 0 else 'above'} FFN alone" in verdict
    bars = page.evaluate(
        "[...document.querySelectorAll('#abl-bars .abl-bar')]"
        ".map(b => [b.dataset.variant, Number(b.dataset.value)])"
    )
    assert dict(bars)["attention+ffn"] == both
    app_page.shot("12-comparison")
    assert app_page.errors == []


@pytest.mark.browser
def test_dark_scheme_renders(chromium, server_url):
    context = chromium.new_context(viewport={"width": 1366, "height": 768}, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(f"{server_url}/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        page.click("#btn-step")
        page.wait_for_function("document.getElementById('step-count').dataset.step === '1'")
        bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg != "rgb(255, 255, 255)"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "10-dark.png"))
        sid = page.evaluate("window.attnflow.state.session.id")
        page.request.delete(f"{server_url}/api/sessions/{sid}")
    finally:
        context.close()


@pytest.mark.browser
def test_predictions_show_the_top_5_of_forward_at_the_viewed_step(app_page):
    app_page.open()
    page = app_page.page
    sid = app_page.session_id()
    sentence = "the cat sat on the mat ."
    page.fill("#att-sentence", sentence)
    page.wait_for_function(
        "[...document.querySelectorAll('#panel-attention .chip')].map(c => c.textContent)"
        f".join(' ') === '{sentence}'"
    )
    # the page picks the most focused token by itself; "sat" is one click away
    assert page.locator("#panel-attention .chip.selected").count() == 1
    page.click("#panel-attention .chip >> text='sat'")
    page.wait_for_selector("#att-preds .pred")

    def shown():
        return page.evaluate(
            "[...document.querySelectorAll('#att-preds .pred')]"
            ".map(p => [p.dataset.token, Number(p.dataset.prob)])"
        )

    at0 = app_page.api("POST", f"/api/sessions/{sid}/forward", {"text": sentence})
    i = [t["text"] for t in at0["tokens"]].index("sat")
    assert shown() == [[p["token"], p["prob"]] for p in at0["predictions"][i]]
    assert len(shown()) == 5
    app_page.api("POST", f"/api/sessions/{sid}/train", {"steps": 60})
    page.click("#btn-step")  # the live views refresh after a step of their own
    page.wait_for_function("document.getElementById('att-preds-title').dataset.step === '61'")
    now = app_page.api("POST", f"/api/sessions/{sid}/forward", {"text": sentence})
    assert shown() == [[p["token"], p["prob"]] for p in now["predictions"][i]]
    # from nearly uniform at step 0 to confident after training
    assert now["predictions"][i][0]["prob"] > 2 * at0["predictions"][i][0]["prob"]
    app_page.shot("13-predictions")
    assert app_page.errors == []


@pytest.mark.browser
def test_phone_width_has_no_sideways_scroll_and_the_tour_button_takes_a_tap(chromium, server_url):
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{server_url}/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # nothing covers the tour button: the point at its centre is the button itself
        assert (
            page.evaluate(
                """() => { const b = document.getElementById('btn-tour').getBoundingClientRect();
              return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2).id; }"""
            )
            == "btn-tour"
        )
        page.tap("#btn-tour")
        page.wait_for_selector("#tour:not([hidden])")
        # the diagram keeps a legible size (it scrolls sideways in its own box instead)
        assert (
            page.evaluate("document.querySelector('#w-W_q .wname').getBoundingClientRect().height")
            >= 9
        )
        page.tap("#btn-step")
        page.wait_for_function("document.getElementById('step-count').dataset.step === '1'")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "14-phone-390.png"))
        sid = page.evaluate("window.attnflow.state.session.id")
        page.request.delete(f"{server_url}/api/sessions/{sid}")
        assert errors == []
    finally:
        context.close()


@pytest.mark.browser
def test_tour_asks_before_the_long_run_and_ends_with_this_sessions_numbers(app_page):
    app_page.open()
    page = app_page.page
    page.click("#btn-tour")
    assert page.text_content("#tour-title") == "Attention hands the FFN an output"
    page.click("#tour-next")
    page.click("#tour-next")  # "both learn together": one real step, with a replay button
    page.wait_for_function("document.getElementById('step-count').dataset.step === '1'")
    assert page.is_visible("#tour-replay")
    page.click("#tour-next")  # what attention adds (the FFN-only companion trains 1 step)
    page.wait_for_selector("#ctx-result tr.ffn-only", timeout=60_000)
    page.click("#tour-next")  # the long run: it asks, saying how long
    page.wait_for_selector("#tour-ask:not([hidden])")
    assert "about" in page.text_content("#tour-ask")
    assert " s here" in page.text_content("#tour-ask")
    page.click("#tour-skip")
    assert page.evaluate("window.attnflow.state.comparing") is False
    page.click("#tour-next")  # predict, then reveal: it asks; moving on drops the question
    page.wait_for_selector("#predict-ask:not([hidden])")
    page.click("#tour-next")
    assert page.is_hidden("#predict-ask")
    text = page.text_content("#tour-text")
    record = page.evaluate("window.attnflow.state.lastRecord")
    assert "it hands it an output" in text
    assert f"to {record['loss']:.2f} at step 1" in text
    assert page.text_content("#tour-next") == "Finish"
    assert app_page.errors == []


def mean_entropies(att):
    """[H][T][T] -> per head, the mean entropy (bits) of query positions 1..T-1 over 0..t."""
    import math

    T = len(att[0])
    rows = [[head[t][: t + 1] for t in range(1, T)] for head in att]
    return [sum(-sum(p * math.log2(p) for p in r if p > 0) for r in rs) / (T - 1) for rs in rows]


def dead_share(ffn):
    return sum(all(row[u] <= 0 for row in ffn) for u in range(len(ffn[0]))) / len(ffn[0])


PLOTTED = """(id) => document.getElementById(id).data.map(
  t => ({name: t.name, x: Array.from(t.x), y: Array.from(t.y)}))"""


def head_traces(page, block):
    """The per-head traces of block `block`'s entropy chart (not the "even attention" line)."""
    traces = page.evaluate(PLOTTED, f"dyn-entropy-{block}")
    return [t for t in traces if t["name"].startswith("head")]


def open_dynamics(app_page, query, steps):
    """Open the page on a fresh session, train it, show the Dynamics tab; the session id."""
    app_page.open(query)
    page = app_page.page
    sid = app_page.session_id()
    app_page.api("POST", f"/api/sessions/{sid}/train", {"steps": steps})
    page.wait_for_function(f"document.getElementById('step-count').dataset.step === '{steps}'")
    page.click("#tab-dynamics")
    return sid


def check_every_blocks_series(app_page, sid, n_blocks):
    """Each block's plotted entropy and dead units equal a recomputation from its snapshots."""
    page = app_page.page
    last = f"dyn-entropy-{n_blocks - 1}"
    page.wait_for_function(f"(document.getElementById('{last}')?.data || []).length >= 4")
    steps = app_page.api("GET", f"/api/sessions/{sid}/history")["snapshots"]
    probes = [app_page.api("GET", f"/api/sessions/{sid}/snapshots/{s}")["probe"] for s in steps]
    dead = page.evaluate(PLOTTED, "dyn-dead")
    assert len(dead) == n_blocks
    for i in range(n_blocks):
        heads = head_traces(page, i)
        assert dead[i]["x"] == steps
        for k, probe in enumerate(probes):
            block = probe["blocks"][i]
            for h, expected in enumerate(mean_entropies(block["attention"])):
                assert heads[h]["x"][k] == steps[k]
                assert heads[h]["y"][k] == pytest.approx(expected, abs=1e-6)
            assert dead[i]["y"][k] == pytest.approx(dead_share(block["ffn"]), abs=1e-12)
    return dead


@pytest.mark.browser
def test_dynamics_plot_entropy_and_dead_units_recomputed_from_the_snapshots(app_page):
    sid = open_dynamics(app_page, "", 64)
    check_every_blocks_series(app_page, sid, 1)
    ratio = app_page.page.evaluate("document.getElementById('dyn-ratio').data.map(t => t.name)")
    assert sorted(ratio) == ["W_1", "W_2", "W_k", "W_o", "W_q", "W_v"]
    app_page.shot("15-dynamics")
    assert app_page.errors == []


@pytest.mark.browser
def test_dynamics_of_a_two_block_session_plot_each_blocks_series(app_page):
    sid = open_dynamics(app_page, "n_blocks=2", 16)
    page = app_page.page
    dead = check_every_blocks_series(app_page, sid, 2)
    api = app_page.api("GET", f"/api/sessions/{sid}/dynamics")
    for i, block in enumerate(api["blocks"]):  # the page plots what the API serves, block by block
        heads = head_traces(page, i)
        assert len(heads) == len(block["entropy"]["heads"]) == 4
        for trace, served in zip(heads, block["entropy"]["heads"], strict=True):
            assert trace["y"] == pytest.approx(served)
        assert dead[i]["y"] == pytest.approx(block["dead_units"]["share"])
    assert [t["name"] for t in dead] == ["block 1 (of 256)", "block 2 (of 256)"]
    caption = page.text_content("#dyn-entropy-1-caption")
    assert caption.startswith("Block 2 attends over block 1's output")  # what block 2 reads
    assert "in block 2" in page.text_content("#dyn-entropy-blocks section:nth-child(2) h4")
    ratio = page.evaluate("document.getElementById('dyn-ratio').data.map(t => t.name)")
    assert {"W_q · block 1", "W_2 · block 2"} <= set(ratio)
    assert len(ratio) == 12
    page.locator("#dyn-entropy-1").scroll_into_view_if_needed()
    app_page.shot("15-dynamics-two-blocks")
    assert app_page.errors == []


@pytest.mark.browser
def test_an_emptied_settings_field_is_an_error_not_a_silent_default(app_page):
    app_page.open()
    page = app_page.page
    sid = app_page.session_id()
    page.click("#tab-settings")
    page.fill("[id='f-config.d_model']", "")
    page.click("#btn-create")
    slot = "[data-field='config.d_model'] .field-error"
    assert "d_model is empty" in page.text_content(slot)
    assert page.get_attribute("[id='f-config.d_model']", "aria-invalid") == "true"
    assert app_page.session_id() == sid  # nothing was created
    assert app_page.errors == []
