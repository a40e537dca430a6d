"""Training dynamics: recomputed here from the stored snapshots and the history, independently."""

from __future__ import annotations

import math

import pytest


def train(client, sid, steps):
    response = client.post(f"/api/sessions/{sid}/train", json={"steps": steps})
    assert response.status_code == 200, response.text


def entropy_bits(row):
    return -sum(p * math.log2(p) for p in row if p > 0)


def test_entropy_and_dead_units_equal_a_recomputation_from_the_snapshots(client, session):
    sid = session["id"]
    train(client, sid, 40)
    dyn = client.get(f"/api/sessions/{sid}/dynamics").json()
    steps = client.get(f"/api/sessions/{sid}/history").json()["snapshots"]
    assert dyn["entropy"]["steps"] == steps == dyn["dead_units"]["steps"]
    for k, step in enumerate(steps):
        snap = client.get(f"/api/sessions/{sid}/snapshots/{step}").json()
        att = snap["probe"]["attention"]
        T = len(att[0])
        for h, head in enumerate(att):
            expected = sum(entropy_bits(head[t][: t + 1]) for t in range(1, T)) / (T - 1)
            # served values are float32: the JSON digits differ from them by < 1e-7 each
            assert dyn["entropy"]["heads"][h][k] == pytest.approx(expected, abs=1e-6)
        ffn = snap["probe"]["ffn"]
        units = len(ffn[0])
        dead = sum(1 for u in range(units) if all(row[u] <= 0 for row in ffn)) / units
        assert dyn["dead_units"]["share"][k] == pytest.approx(dead, abs=1e-12)
    assert dyn["dead_units"]["units"] == 256
    T = len(att[0])
    assert dyn["entropy"]["uniform"] == pytest.approx(
        sum(math.log2(t + 1) for t in range(1, T)) / (T - 1)
    )
    # the random model attends almost evenly; training sharpens at least one head
    assert dyn["entropy"]["heads"][0][0] == pytest.approx(dyn["entropy"]["uniform"], abs=0.05)
    assert min(heads[-1] for heads in dyn["entropy"]["heads"]) < dyn["entropy"]["uniform"] - 0.05


def test_update_ratios_per_matrix_follow_the_history(client, session):
    sid = session["id"]
    train(client, sid, 12)
    dyn = client.get(f"/api/sessions/{sid}/dynamics").json()
    hist = client.get(f"/api/sessions/{sid}/history").json()
    ratio = dyn["update_ratio"]
    assert ratio["steps"] == hist["train"]["steps"]
    assert sorted(ratio["matrices"]) == ["W_1", "W_2", "W_k", "W_o", "W_q", "W_v"]
    assert ratio["matrices"]["W_q"] == hist["update_ratios"]["blocks.0.attn.W_q.weight"]
    assert ratio["matrices"]["W_1"] == hist["update_ratios"]["blocks.0.ffn.W_1.weight"]


def test_dynamics_of_an_untrained_session_have_one_point(client, session):
    dyn = client.get(f"/api/sessions/{session['id']}/dynamics").json()
    assert dyn["entropy"]["steps"] == [0]
    assert dyn["update_ratio"]["steps"] == []
