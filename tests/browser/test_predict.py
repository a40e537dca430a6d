"""Predict, then reveal: the page asks before "+1 step" and reveals that step's own argmax."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
MATRICES = {
    "W_q": "blocks.0.attn.W_q.weight",
    "W_k": "blocks.0.attn.W_k.weight",
    "W_v": "blocks.0.attn.W_v.weight",
    "W_o": "blocks.0.attn.W_o.weight",
    "W_1": "blocks.0.ffn.W_1.weight",
    "W_2": "blocks.0.ffn.W_2.weight",
}


def _most_changed(record: dict) -> str:
    ratios = {m: record["update_ratios"][name] for m, name in MATRICES.items()}
    return max(ratios, key=lambda m: ratios[m])


def _predict_one_step(app_page, guess: str, step: int) -> str:
    page = app_page.page
    sid = app_page.session_id()
    page.click("#btn-step")
    page.wait_for_selector("#predict-ask:not([hidden])")
    # Nothing trains before the learner has answered.
    assert app_page.api("GET", f"/api/sessions/{sid}")["step"] == step - 1
    page.click(f"#predict-ask [data-choice={guess}]")
    page.wait_for_function(
        f"document.getElementById('predict-reveal').dataset.guess === '{guess}' && "
        f"document.getElementById('step-count').dataset.step === '{step}'"
    )
    record = app_page.api("GET", f"/api/sessions/{sid}/snapshots/{step}")["record"]
    assert record["step"] == step
    answer = page.get_attribute("#predict-reveal", "data-answer")
    assert answer == _most_changed(record)
    assert f"Step {step}: {answer} changed most" in page.text_content("#predict-reveal")
    return answer


def test_a_prediction_is_revealed_from_the_steps_record_and_scored(app_page):
    app_page.open()
    page = app_page.page
    assert page.get_attribute("#predict-score", "data-asked") == "0"
    page.check("#predict-on")
    first = _predict_one_step(app_page, "W_q", 1)
    right = int(first == "W_q")
    assert page.get_attribute("#predict-score", "data-asked") == "1"
    assert page.get_attribute("#predict-score", "data-right") == str(right)
    # The second guess is the first step's answer: whatever happens, the score follows it.
    second = _predict_one_step(app_page, first, 2)
    right += int(second == first)
    assert page.get_attribute("#predict-score", "data-asked") == "2"
    assert page.get_attribute("#predict-score", "data-right") == str(right)
    assert page.text_content("#predict-score") == f"score {right} / 2"

    # Skipping trains the step and scores nothing.
    page.click("#btn-step")
    page.click("#predict-skip")
    page.wait_for_function("document.getElementById('step-count').dataset.step === '3'")
    assert page.get_attribute("#predict-score", "data-asked") == "2"

    # The switch and the score survive a reload (localStorage).
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.is_checked("#predict-on")
    assert page.get_attribute("#predict-score", "data-asked") == "2"
    assert page.get_attribute("#predict-score", "data-right") == str(right)
    assert app_page.errors == []


def test_with_predict_off_plus_one_step_asks_nothing(app_page):
    app_page.open()
    page = app_page.page
    page.click("#btn-step")
    page.wait_for_function("document.getElementById('step-count').dataset.step === '1'")
    assert page.is_hidden("#predict-ask")
    assert page.is_hidden("#predict-reveal")
    assert app_page.errors == []


def test_the_tour_asks_which_word_sat_attends_to_then_reveals_it_from_forward(app_page):
    app_page.open()
    page = app_page.page
    sid = app_page.session_id()
    page.click("#btn-tour")
    for _ in range(5):
        page.click("#tour-next")
        if page.is_visible("#tour-skip"):
            page.click("#tour-skip")  # the long comparison: not now
    assert page.text_content("#tour-title") == "Predict, then reveal"
    page.wait_for_selector("#predict-ask:not([hidden])")
    assert '"sat"' in page.text_content("#predict-ask")
    choices = page.eval_on_selector_all(
        "#predict-ask [data-choice]", "buttons => buttons.map(b => b.dataset.choice)"
    )
    assert choices == ["the", "cat"]
    start = app_page.api("GET", f"/api/sessions/{sid}")["step"]
    page.click("#predict-ask [data-choice=cat]")
    page.wait_for_selector("#predict-yes")
    assert "200 training steps: about" in page.text_content("#predict-ask")
    assert app_page.api("GET", f"/api/sessions/{sid}")["step"] == start  # it asked first
    page.click("#predict-yes")
    page.wait_for_selector("#predict-reveal[data-guess=cat]", timeout=60_000)
    assert app_page.api("GET", f"/api/sessions/{sid}")["step"] == start + 200
    probe = page.evaluate("window.attnflow.state.session.probe")
    trace = app_page.api("POST", f"/api/sessions/{sid}/forward", {"text": probe})
    words = [t["text"] for t in trace["tokens"]]
    sat = words.index("sat")
    heads = trace["attention"]
    mean = [sum(h[sat][j] for h in heads) / len(heads) for j in range(sat)]
    expected = words[max(range(sat), key=lambda j: mean[j])]
    assert page.get_attribute("#predict-reveal", "data-answer") == expected
    assert page.get_attribute("#predict-score", "data-asked") == "1"
    assert page.get_attribute("#predict-score", "data-right") == str(int(expected == "cat"))
    assert app_page.errors == []


def test_with_two_blocks_the_question_covers_every_blocks_matrices(app_page):
    app_page.open()
    first = app_page.session_id()
    two = app_page.api("POST", "/api/sessions", {"config": {"n_blocks": 2}})
    app_page.api("DELETE", f"/api/sessions/{first}")
    app_page.open(f"session={two['id']}")
    page = app_page.page
    page.check("#predict-on")
    page.click("#btn-step")
    page.wait_for_selector("#predict-ask:not([hidden])")
    choices = page.eval_on_selector_all(
        "#predict-ask [data-choice]", "nodes => nodes.map((n) => n.dataset.choice)"
    )
    labels = {
        f"{short} · block {b + 1}": name.replace("blocks.0.", f"blocks.{b}.")
        for b in (0, 1)
        for short, name in MATRICES.items()
    }
    assert choices == list(labels)
    guess = "W_q · block 2"
    page.click(f'#predict-ask [data-choice="{guess}"]')
    page.wait_for_function(
        "document.getElementById('step-count').dataset.step === '1' && "
        "document.getElementById('predict-reveal').dataset.answer"
    )
    record = app_page.api("GET", f"/api/sessions/{two['id']}/snapshots/1")["record"]
    ratios = {label: record["update_ratios"][name] for label, name in labels.items()}
    assert page.get_attribute("#predict-reveal", "data-answer") == max(ratios, key=ratios.get)
    assert page.get_attribute("#predict-reveal", "data-guess") == guess
    assert app_page.errors == []
