"""Training dynamics: recomputed here from the stored snapshots and the history, independently."""

from __future__ import annotations

import math

import pytest


def train(client, sid, steps):
    response = client.post(f"/api/sessions/{sid}/train", json={"steps": steps})
    assert response.status_code == 200, response.text


def entropy_bits(row):
    return -sum(p * math.log2(p) for p in row if p > 0)


def mean_entropies(att):
    """[H][T][T] -> per head, the mean entropy (bits) of query positions 1..T-1 over 0..t."""
    T = len(att[0])
    return [sum(entropy_bits(head[t][: t + 1]) for t in range(1, T)) / (T - 1) for head in att]


def dead_share(ffn):
    units = len(ffn[0])
    return sum(1 for u in range(units) if all(row[u] <= 0 for row in ffn)) / units


def assert_block_series_match(series, probes):
    """One block's served series against its probe at each stored step ({step: probe block})."""
    assert series["entropy"]["steps"] == list(probes) == series["dead_units"]["steps"]
    for k, probe in enumerate(probes.values()):
        for h, expected in enumerate(mean_entropies(probe["attention"])):
            # served values are float32: the JSON digits differ from them by < 1e-7 each
            assert series["entropy"]["heads"][h][k] == pytest.approx(expected, abs=1e-6)
        assert series["dead_units"]["share"][k] == pytest.approx(
            dead_share(probe["ffn"]), abs=1e-12
        )


def test_entropy_and_dead_units_equal_a_recomputation_from_the_snapshots(client, session):
    sid = session["id"]
    train(client, sid, 40)
    dyn = client.get(f"/api/sessions/{sid}/dynamics").json()
    steps = client.get(f"/api/sessions/{sid}/history").json()["snapshots"]
    probes = {s: client.get(f"/api/sessions/{sid}/snapshots/{s}").json()["probe"] for s in steps}
    assert_block_series_match(dyn, probes)
    only = dyn["blocks"]
    assert [(b["index"], b["name"], b["label"]) for b in only] == [(0, "blocks.0", "block 1")]
    assert dyn["dead_units"]["units"] == 256
    T = len(probes[0]["tokens"])
    assert dyn["entropy"]["uniform"] == pytest.approx(
        sum(math.log2(t + 1) for t in range(1, T)) / (T - 1)
    )
    # the random model attends almost evenly; training sharpens at least one head
    assert dyn["entropy"]["heads"][0][0] == pytest.approx(dyn["entropy"]["uniform"], abs=0.05)
    assert min(heads[-1] for heads in dyn["entropy"]["heads"]) < dyn["entropy"]["uniform"] - 0.05


def test_every_blocks_entropy_and_dead_units_equal_a_recomputation(client, new_session):
    sid = new_session(config={"n_blocks": 2})["id"]
    train(client, sid, 20)
    dyn = client.get(f"/api/sessions/{sid}/dynamics").json()
    steps = client.get(f"/api/sessions/{sid}/history").json()["snapshots"]
    probes = {s: client.get(f"/api/sessions/{sid}/snapshots/{s}").json()["probe"] for s in steps}
    names = client.get("/api/names").json()["blocks"]
    assert [(b["index"], b["name"], b["label"]) for b in dyn["blocks"]] == [
        (n["index"], n["name"], n["label"]) for n in names[:2]
    ]
    for i, block in enumerate(dyn["blocks"]):
        assert_block_series_match(block, {s: p["blocks"][i] for s, p in probes.items()})
        assert block["dead_units"]["units"] == len(probes[0]["blocks"][i]["ffn"][0])
    # block 0's series stay where older clients read them; block 2 has series of its own
    assert dyn["entropy"] == dyn["blocks"][0]["entropy"]
    assert dyn["dead_units"] == dyn["blocks"][0]["dead_units"]
    assert dyn["blocks"][1]["entropy"]["heads"] != dyn["blocks"][0]["entropy"]["heads"]


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
    assert ratio["parameters"]["W_q"] == "blocks.0.attn.W_q.weight"
    for short, parameter in ratio["parameters"].items():
        assert ratio["matrices"][short] == hist["update_ratios"][parameter]


def test_dynamics_of_an_untrained_session_have_one_point(client, session):
    dyn = client.get(f"/api/sessions/{session['id']}/dynamics").json()
    assert dyn["entropy"]["steps"] == [0]
    assert dyn["update_ratio"]["steps"] == []
