"""The ablation runner through the API: background, progress on the stream, result in history."""

from __future__ import annotations

import time

from model.ablation import VARIANTS


def wait_for_comparison(client, sid, timeout=60.0):
    deadline = time.monotonic() + timeout
    while client.get(f"/api/sessions/{sid}").json()["comparing"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_compare_is_404_before_any_run(client, session):
    response = client.get(f"/api/sessions/{session['id']}/compare")
    assert response.status_code == 404
    assert "has not been run" in response.json()["detail"]


def test_compare_trains_three_variants_and_reports_them(client, session):
    sid = session["id"]
    response = client.post(f"/api/sessions/{sid}/compare", json={"steps": 6})
    assert response.status_code == 202
    assert response.json() == {"started": True, "steps": 6, "corpus": session["corpus"]}
    wait_for_comparison(client, sid)
    result = client.get(f"/api/sessions/{sid}/compare").json()
    assert set(result["variants"]) == set(VARIANTS)
    assert result["steps"] == 6
    assert result["corpus"] == session["corpus"]
    for variant in result["variants"].values():
        assert variant["steps"] == [1, 2, 3, 4, 5, 6]
        assert variant["final_heldout_loss"] > 0
    assert result["bigram_bound"] == session["bigram_bound"]
    ffn_only = result["variants"]["ffn_only"]["parameters"]
    assert ffn_only < result["variants"]["attention+ffn"]["parameters"]
    assert client.get(f"/api/sessions/{sid}/history").json()["comparison"] == result
    assert client.get(f"/api/sessions/{sid}").json()["step"] == 0  # its own model untouched


def test_compare_progress_and_result_arrive_on_the_stream(client, session):
    sid = session["id"]
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        ws.receive_json()
        client.post(f"/api/sessions/{sid}/compare", json={"steps": 3})
        messages = []
        while not messages or messages[-1]["type"] != "compare_done":
            messages.append(ws.receive_json())
    progress = [(m["variant"], m["step"]) for m in messages if m["type"] == "compare"]
    assert progress == [(v, s) for v in VARIANTS for s in (1, 2, 3)]
    assert set(messages[-1]["result"]["variants"]) == set(VARIANTS)


def test_a_second_compare_while_one_runs_is_409(client, session):
    sid = session["id"]
    client.post(f"/api/sessions/{sid}/compare", json={"steps": 150})
    try:
        assert client.post(f"/api/sessions/{sid}/compare", json={"steps": 2}).status_code == 409
    finally:
        client.delete(f"/api/sessions/{sid}")  # stops the comparison


def test_compare_steps_over_the_limit_are_422(client, session):
    response = client.post(f"/api/sessions/{session['id']}/compare", json={"steps": 10_000})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "steps"


def test_a_comparing_session_is_busy_and_not_evicted(make_client):
    client = make_client(max_sessions=1)
    sid = client.post("/api/sessions").json()["id"]
    client.post(f"/api/sessions/{sid}/compare", json={"steps": 150})
    try:
        response = client.post("/api/sessions")
        assert response.status_code == 503
        assert client.get(f"/api/sessions/{sid}").json()["comparing"] is True
    finally:
        client.delete(f"/api/sessions/{sid}")


def test_compare_can_run_on_another_builtin_corpus(client, session):
    """The pairs corpus, with the session's sizes and seed; the bound is that corpus's bigram."""
    from model.data import TokenStream, bigram_entropy, load_corpus
    from model.tokenizer import Tokenizer

    sid = session["id"]
    response = client.post(f"/api/sessions/{sid}/compare", json={"steps": 3, "corpus": "pairs"})
    assert response.status_code == 202
    assert response.json()["corpus"] == "pairs"
    wait_for_comparison(client, sid)
    result = client.get(f"/api/sessions/{sid}/compare").json()
    text = load_corpus("pairs")
    tokenizer = Tokenizer.build(text)
    data = TokenStream.from_text(text, tokenizer)
    assert result["corpus"] == "pairs"
    assert result["bigram_bound"] == bigram_entropy(data.train, data.heldout, tokenizer.vocab_size)
    assert result["bigram_bound"] != session["bigram_bound"]


def test_compare_on_an_unknown_corpus_is_422_naming_the_choices(client, session):
    response = client.post(f"/api/sessions/{session['id']}/compare", json={"corpus": "nope"})
    assert response.status_code == 422
    assert "pairs" in response.json()["detail"]
