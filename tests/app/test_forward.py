"""POST /forward: tokens, stages, attention and predictions, checked against model.tracing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.config import ModelConfig
from model.data import load_corpus
from model.tokenizer import Tokenizer
from model.tracing import trace
from model.transformer import TransformerLM

TEXT = "the cat sat on the mat ."


def forward(client, sid, text=TEXT, query="", **body):
    response = client.post(f"/api/sessions/{sid}/forward{query}", json={"text": text, **body})
    assert response.status_code == 200, response.text
    return response.json()


def reference_trace(info, text=TEXT):
    """An independent model of the same config and seed (step 0), traced directly."""
    tokenizer = Tokenizer.build(load_corpus(info["corpus"]), info["tokenizer"])
    model = TransformerLM(ModelConfig(**info["config"])).eval()
    ids = torch.tensor([tokenizer.encode(text)])
    with torch.no_grad(), trace(model) as tr:
        logits = model(ids)
    return tr.tensors, logits[0]


def test_forward_marks_unknown_tokens(client, session):
    body = forward(client, session["id"], "the cat sat on the zebra .")
    assert [t["text"] for t in body["tokens"]] == ["the", "cat", "sat", "on", "the", "zebra", "."]
    assert [t["unknown"] for t in body["tokens"]] == [False] * 5 + [True, False]
    assert body["tokens"][5]["id"] == 0


def test_forward_returns_every_stage_with_its_shape(client, session):
    body = forward(client, session["id"])
    stages = {s["name"]: s for s in body["stages"]}
    T, d, H = 7, 64, 4
    assert stages["hook_embed"]["shape"] == [T, d]
    assert stages["hook_pos_emb"]["shape"] == [T, d]
    assert stages["blocks.0.attn.hook_q"]["shape"] == [H, T, d // H]
    assert stages["blocks.0.attn.hook_weights"]["shape"] == [H, T, T]
    assert stages["blocks.0.ffn.hook_post"]["shape"] == [T, 256]
    assert stages["hook_logits"]["shape"] == [T, session["vocab_size"]]
    for stage in body["stages"]:
        assert stage["downsampled"] is False
        assert stage["original_shape"] == stage["shape"]
        assert np.array(stage["values"], dtype=float).shape == tuple(stage["shape"])
    assert np.array(body["attention"]).shape == (H, T, T)
    assert body["attention_shape"] == [H, T, T]


def test_forward_attention_equals_an_independent_trace(client, session):
    body = forward(client, session["id"], query="?digits=0")
    tensors, _ = reference_trace(session)
    expected = tensors["blocks.0.attn.hook_weights"][0].numpy()
    np.testing.assert_allclose(np.array(body["attention"]), expected, rtol=1e-6, atol=1e-7)
    stages = {s["name"]: s for s in body["stages"]}
    resid = tensors["blocks.0.hook_resid_post"][0].numpy()
    np.testing.assert_allclose(
        np.array(stages["blocks.0.hook_resid_post"]["values"]), resid, rtol=1e-6, atol=1e-6
    )


def test_forward_rounds_to_four_significant_digits_by_default(client, session):
    body = forward(client, session["id"])
    tensors, _ = reference_trace(session)
    expected = tensors["blocks.0.attn.hook_weights"][0].numpy()
    np.testing.assert_allclose(np.array(body["attention"]), expected, rtol=1e-3)
    assert body["digits"] == 4


def test_masked_scores_are_null_and_attention_rows_sum_to_one(client, session):
    body = forward(client, session["id"])
    scores = body["scores"][0]
    assert scores[0][1] is None
    assert scores[1][0] is not None
    for row in body["attention"][0]:
        assert math.isclose(sum(row), 1.0, abs_tol=1e-3)


def test_predictions_are_top_k_sorted_and_match_the_logits(client, session):
    body = forward(client, session["id"], top_k=3)
    _, logits = reference_trace(session)
    probs = torch.softmax(logits, -1)
    assert len(body["predictions"]) == len(body["tokens"])
    for t, predictions in enumerate(body["predictions"]):
        assert len(predictions) == 3
        assert [p["prob"] for p in predictions] == sorted(
            (p["prob"] for p in predictions), reverse=True
        )
        assert predictions[0]["id"] == int(probs[t].argmax())
        assert math.isclose(predictions[0]["prob"], float(probs[t].max()), abs_tol=1e-4)


def test_stages_query_selects_stages_by_glob(client, session):
    body = forward(client, session["id"], query="?stages=*.attn.hook_weights,hook_logits")
    assert [s["name"] for s in body["stages"]] == ["blocks.0.attn.hook_weights", "hook_logits"]


def test_stage_glob_matching_nothing_is_a_422_listing_the_stages(client, session):
    response = client.post(
        f"/api/sessions/{session['id']}/forward?stages=nothing*", json={"text": TEXT}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "stages"
    assert "hook_logits" in response.json()["detail"]


def test_max_dim_downsamples_each_axis_and_says_so(client, session):
    body = forward(client, session["id"], query="?max_dim=4")
    stages = {s["name"]: s for s in body["stages"]}
    embed = stages["hook_embed"]
    assert embed["shape"] == [4, 4]
    assert embed["original_shape"] == [7, 64]
    assert embed["downsampled"] is True
    assert np.array(embed["values"]).shape == (4, 4)
    assert np.array(body["attention"]).shape == (4, 4, 4)
    assert body["attention_shape"] == [4, 7, 7]


def test_a_trace_over_the_float_limit_is_downsampled_unless_full_is_asked(make_client):
    client = make_client(max_trace_floats=4096)
    sid = client.post("/api/sessions", json={}).json()["id"]
    text = " ".join(["the cat sat on the mat ."] * 4)
    auto = client.post(f"/api/sessions/{sid}/forward", json={"text": text}).json()
    assert auto["auto_downsampled"] is True
    assert any(s["downsampled"] for s in auto["stages"])
    full = client.post(f"/api/sessions/{sid}/forward?full=true", json={"text": text}).json()
    assert full["auto_downsampled"] is False
    assert not any(s["downsampled"] for s in full["stages"])


def test_text_longer_than_the_context_keeps_the_last_tokens_and_says_so(client, session):
    words = ["the", "cat", "sat", "on", "mat"] * 8  # 40 tokens, context 32
    body = forward(client, session["id"], " ".join(words))
    assert body["truncated"] is True
    assert body["n_tokens_in"] == 40
    assert len(body["tokens"]) == 32
    assert [t["text"] for t in body["tokens"]] == words[-32:]
    assert "40" in body["notice"]
    assert "32" in body["notice"]


def test_text_over_the_character_limit_is_a_422(make_client):
    client = make_client(max_text_chars=50)
    sid = client.post("/api/sessions", json={}).json()["id"]
    response = client.post(f"/api/sessions/{sid}/forward", json={"text": "a " * 40})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "text"
    assert "50" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "🙂🙂"}, "text"),
        ({}, "text"),
        ({"text": "a", "top_k": 0}, "top_k"),
    ],
)
def test_forward_rejects_unusable_bodies(client, session, body, field):
    response = client.post(f"/api/sessions/{session['id']}/forward", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_forward_on_a_model_without_attention_has_null_attention(client):
    info = client.post("/api/sessions", json={"config": {"use_attention": False}}).json()
    body = forward(client, info["id"])
    assert body["attention"] is None
    assert body["scores"] is None
    assert not any(".attn." in s["name"] for s in body["stages"])
