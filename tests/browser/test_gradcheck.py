"""The gradient check in "Inside a weight" shows the API's numbers."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
W2 = "blocks.0.ffn.W_2.weight"


def test_the_gradient_check_shows_what_the_api_computes(app_page):
    app_page.open()
    page = app_page.page
    sid = app_page.session_id()
    app_page.api("POST", f"/api/sessions/{sid}/train", {"steps": 10})
    page.wait_for_function("document.getElementById('step-count').dataset.step === '10'")
    page.click("#tab-weights")
    page.wait_for_selector(f"#gc-param option[value='{W2}']", state="attached")
    page.select_option("#gc-param", W2)
    assert page.text_content(f"#gc-param option[value='{W2}']") == "W_2 · block 1"
    page.fill("#gc-in", "100")  # W_2 is (in 256, out 64) on the heatmap, stored (64, 256)
    page.fill("#gc-out", "7")
    page.click("#gc-run")
    page.wait_for_selector("#gc-autograd")
    shown = {
        key: float(page.get_attribute(f"#gc-{key}", "data-value"))
        for key in ("autograd", "fd", "rel", "autograd32", "w", "loss")
    }
    body = {"parameter": W2, "row": 7, "col": 100}
    api = app_page.api("POST", f"/api/sessions/{sid}/gradcheck", body)
    assert shown["autograd"] == pytest.approx(api["autograd"], rel=1e-9)
    assert shown["autograd32"] == pytest.approx(api["autograd_fp32"], rel=1e-5)
    assert shown["fd"] == pytest.approx(api["finite_difference"], rel=1e-6)
    assert shown["w"] == api["value"]
    assert shown["loss"] == pytest.approx(api["loss"], rel=1e-12)
    assert shown["rel"] < 1e-4
    assert api["relative_error"] < 1e-4
    head = page.text_content("#gc-head")
    assert head.startswith("W_2 · block 1, input 100, output 7")  # blocks counted from 1
    assert "live model at step 10" in head
    assert "they agree" in head

    page.fill("#gc-out", "64")  # out of range: the server's 422 in words
    page.click("#gc-run")
    page.wait_for_selector("#gc-head .error")
    assert "[0, 63]" in page.text_content("#gc-head .error")
    assert app_page.errors == [] or all("422" in e for e in app_page.errors)
