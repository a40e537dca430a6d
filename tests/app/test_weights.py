"""GET /weights: statistics checked against numpy, histograms, values, change since init."""

from __future__ import annotations

import numpy as np
import pytest

from model.config import ModelConfig
from model.transformer import TransformerLM


def weights(client, sid, query=""):
    response = client.get(f"/api/sessions/{sid}/weights{query}")
    assert response.status_code == 200, response.text
    return {w["name"]: w for w in response.json()["weights"]}


def test_every_parameter_is_listed_with_its_shape(client, session):
    listed = weights(client, session["id"])
    assert {n: w["shape"] for n, w in listed.items()} == session["shapes"]


def test_statistics_match_an_independent_model_of_the_same_seed(client, session):
    listed = weights(client, session["id"], "?max_size=0&digits=0")
    model = TransformerLM(ModelConfig(**session["config"]))
    for name, param in model.named_parameters():
        values = param.detach().double().numpy()
        entry = listed[name]
        assert entry["mean"] == pytest.approx(values.mean(), abs=1e-7)
        assert entry["std"] == pytest.approx(values.std(), rel=1e-5, abs=1e-9)
        assert entry["norm"] == pytest.approx(np.linalg.norm(values), rel=1e-5)
        assert sum(entry["histogram"]["counts"]) == values.size
        assert len(entry["histogram"]["edges"]) == len(entry["histogram"]["counts"]) + 1
        assert entry["change_from_init"] == 0.0


def test_full_values_equal_the_weights(client, session):
    query = "?max_size=0&digits=0&names=blocks.0.attn.W_q.weight"
    listed = weights(client, session["id"], query)
    model = TransformerLM(ModelConfig(**session["config"]))
    expected = model.blocks[0].attn.W_q.weight.detach().numpy()
    values = np.array(listed["blocks.0.attn.W_q.weight"]["values"], dtype=np.float32)
    assert np.array_equal(values, expected)  # float32 printed shortest reads back exactly


def test_training_moves_weights_away_from_init(client, session):
    client.post(f"/api/sessions/{session['id']}/train", json={"steps": 3})
    listed = weights(client, session["id"], "?values=false")
    assert all(w["change_from_init"] > 0 for w in listed.values())
    assert all(w["values"] is None for w in listed.values())


def test_max_size_downsamples_for_heatmaps(client, session):
    listed = weights(client, session["id"], "?max_size=8")
    emb = listed["tok_emb.weight"]
    assert np.array(emb["values"]).shape == (8, 8)
    assert emb["downsampled"] is True
    assert emb["shape"] == session["shapes"]["tok_emb.weight"]


def test_one_dimensional_parameters_come_as_one_row(client, session):
    listed = weights(client, session["id"], "?max_size=0&names=*.bias,ln_final.*")
    bias = listed["blocks.0.attn.W_q.bias"]
    assert np.array(bias["values"]).shape == (1, 64)
    assert bias["downsampled"] is False
    assert "ln_final.weight" in listed


def test_a_names_glob_matching_nothing_is_422(client, session):
    response = client.get(f"/api/sessions/{session['id']}/weights?names=nothing")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "names"


def test_downsampled_values_are_block_means(client, session):
    listed = weights(client, session["id"], "?max_size=2&names=pos_emb.weight&digits=0")
    model = TransformerLM(ModelConfig(**session["config"]))
    table = model.pos_emb.weight.detach()  # (32, 64)
    expected = table.reshape(2, 16, 2, 32).mean(dim=(1, 3)).numpy()
    np.testing.assert_allclose(
        np.array(listed["pos_emb.weight"]["values"]), expected, rtol=1e-3, atol=1e-6
    )
