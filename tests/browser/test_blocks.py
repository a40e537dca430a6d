"""The diagram draws every block of the model (issue 11 item 4), in a real browser."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PHONE, SCREENSHOTS

pytestmark = pytest.mark.browser

# Records, from the moment it runs, when each block's frame is lit by which phase.
WATCH_LIGHTS = """() => {
  window.__lit = [];
  const seen = new Set();
  new MutationObserver((changes) => {
    for (const c of changes) {
      const g = c.target, lit = g.dataset.lit, key = `${g.dataset.block}|${lit}`;
      if (lit && !seen.has(key)) {
        seen.add(key);
        window.__lit.push({ block: Number(g.dataset.block), lit, at: performance.now() });
      }
    }
  }).observe(document.getElementById('diagram'),
             { subtree: true, attributes: true, attributeFilter: ['data-lit'] });
  document.addEventListener('attnflow:step-done', () => (window.__done = true));
}"""

# [label text box, group frame box] of every group, to check the label sits inside its frame.
BOXES = """() => [...document.querySelectorAll('#diagram .group')].map((g) => {
  const r = g.querySelector('rect').getBBox(), t = g.querySelector('.group-label').getBBox();
  return [[t.x, t.y, t.width, t.height], [r.x, r.y, r.width, r.height]];
})"""


def first_lit(lights: list[dict], phase: str) -> dict[int, float]:
    return {x["block"]: x["at"] for x in lights if x["lit"] == phase}


@pytest.mark.parametrize("n_blocks", [2, 3])
def test_every_block_is_drawn_and_backward_walks_them_last_to_first(app_page, n_blocks):
    app_page.open(f"n_blocks={n_blocks}")
    page = app_page.page
    assert page.evaluate("window.attnflow.state.session.config.n_blocks") == n_blocks
    # the settings field allows as many blocks as the server does (GET /api/names)
    most = app_page.api("GET", "/api/names")["max_blocks"]
    assert page.evaluate("document.getElementById('f-config.n_blocks').max") == str(most)
    assert page.locator("#diagram .group[data-part=attn]").count() == n_blocks
    assert page.locator("#diagram .group[data-part=ffn]").count() == n_blocks
    for i in range(n_blocks):
        assert page.text_content(f"#block-{i}") == f"block {i + 1}"
        for short in ("W_q", "W_k", "W_v", "W_o", "W_1", "W_2"):
            param = f"blocks.{i}.{'ffn' if short in ('W_1', 'W_2') else 'attn'}.{short}.weight"
            assert page.locator(f"#diagram .weight[data-param='{param}']").count() == 1
    for (tx, ty, tw, th), (rx, ry, rw, rh) in page.evaluate(BOXES):
        assert rx <= tx
        assert tx + tw <= rx + rw
        assert ry <= ty
        assert ty + th <= ry + rh

    page.evaluate(WATCH_LIGHTS)
    page.select_option("#speed", "1")
    page.click("#btn-step")
    page.wait_for_function("window.__done === true", timeout=30_000)
    lights = page.evaluate("window.__lit")
    forward = first_lit(lights, "forward")
    backward = first_lit(lights, "backward")
    assert sorted(forward) == sorted(backward) == list(range(n_blocks)), lights
    # forward walks the blocks input side first, backward the other way round
    assert [forward[i] for i in range(n_blocks)] == sorted(forward.values())
    assert [backward[i] for i in reversed(range(n_blocks))] == sorted(backward.values())
    assert backward[n_blocks - 1] < backward[0]
    # the update lights every block, after the backward pass
    assert sorted(first_lit(lights, "update")) == list(range(n_blocks))
    assert min(first_lit(lights, "update").values()) > max(backward.values())

    # at rest, each block's matrices show that block's own figures of the step
    page.wait_for_function("document.getElementById('diagram').dataset.figuresStep === '1'")
    record = app_page.api("GET", f"/api/sessions/{app_page.session_id()}/snapshots/1")["record"]
    last = n_blocks - 1
    for block, node in ((0, "#w-W_q"), (last, f"#w-W_q-b{last}")):
        param = f"blocks.{block}.attn.W_q.weight"
        assert page.get_attribute(node, "data-param") == param
        assert float(page.get_attribute(node, "data-grad")) == record["grad_norms"][param]
        assert float(page.get_attribute(node, "data-ratio")) == record["update_ratios"][param]
    assert (
        record["grad_norms"][f"blocks.{last}.attn.W_q.weight"]
        != record["grad_norms"]["blocks.0.attn.W_q.weight"]
    )
    app_page.shot(f"30-blocks-{n_blocks}")
    assert app_page.errors == []


def test_four_blocks_scroll_inside_the_diagram_box_on_a_phone(chromium, server_url):
    context = chromium.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{server_url}/?n_blocks=4")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        assert page.locator("#diagram .group[data-part=attn]").count() == 4
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        wrap = page.evaluate(
            "(() => { const w = document.querySelector('.diagram-wrap');"
            " return [w.scrollWidth, w.clientWidth]; })()"
        )
        assert wrap[0] > 2 * wrap[1]  # the diagram scrolls sideways in its own box
        # and keeps a legible size
        height = "document.querySelector('#w-W_q-b3 .wname').getBoundingClientRect().height"
        assert page.evaluate(height) >= 9
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "31-phone-4-blocks.png"))
        sid = page.evaluate("window.attnflow.state.session.id")
        page.request.delete(f"{server_url}/api/sessions/{sid}")
        assert errors == []
    finally:
        context.close()
