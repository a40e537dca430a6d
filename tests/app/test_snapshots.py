"""Snapshots: the model at a stored step, for any sentence, checked against the live model then."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.services.builder import build
from app.services.history import SnapshotData, SnapshotStore
from app.services.specs import CreateSpec
from model.training import Trainer

SENTENCE = "the dog lay on the mat ."
STAGES = "blocks.0.attn.hook_weights,blocks.0.ffn.hook_post"


def train(client, sid, steps):
    response = client.post(f"/api/sessions/{sid}/train", json={"steps": steps})
    assert response.status_code == 200, response.text
    return response.json()


def forward(client, sid, text, step=None):
    path = (
        f"/api/sessions/{sid}/forward"
        if step is None
        else f"/api/sessions/{sid}/snapshots/{step}/forward"
    )
    response = client.post(path, params={"stages": STAGES}, json={"text": text})
    assert response.status_code == 200, response.text
    return response.json()


def stage(result, name):
    return np.array(next(s for s in result["stages"] if s["name"] == name)["values"])


def test_a_typed_sentence_at_step_0_equals_the_live_model_before_training(client, session):
    sid = session["id"]
    before = forward(client, sid, SENTENCE)
    train(client, sid, 20)
    after = forward(client, sid, SENTENCE)
    past = forward(client, sid, SENTENCE, step=0)
    assert past["step"] == 0
    assert past["attention"] == before["attention"]
    assert past["predictions"] == before["predictions"]
    assert (
        stage(past, "blocks.0.ffn.hook_post").tolist()
        == stage(before, "blocks.0.ffn.hook_post").tolist()
    )
    # and the live model has moved on: the past is not the present
    assert not np.allclose(np.array(after["attention"]), np.array(before["attention"]), atol=1e-3)


def test_a_stored_step_forwards_like_the_live_model_did_at_that_step(client, session):
    sid = session["id"]
    train(client, sid, 16)  # 16 is a power of two: always snapshotted
    then = forward(client, sid, SENTENCE)
    train(client, sid, 9)
    assert forward(client, sid, SENTENCE, step=16)["attention"] == then["attention"]


def test_the_snapshot_holds_the_probe_views_and_the_step_that_led_there(client, session):
    sid = session["id"]
    records = train(client, sid, 8)["records"]
    live = forward(client, sid, session["probe"])
    snap = client.get(f"/api/sessions/{sid}/snapshots/8").json()
    assert snap["record"]["step"] == 8
    assert snap["record"]["loss"] == records[-1]["loss"] == snap["loss"]
    assert snap["record"]["grad_norms"] == records[-1]["grad_norms"]
    assert snap["record"]["update_ratios"] == records[-1]["update_ratios"]
    assert snap["probe"]["attention"] == live["attention"]
    assert snap["probe"]["predictions"] == live["predictions"]
    assert np.allclose(
        snap["probe"]["ffn"], stage(live, "blocks.0.ffn.hook_post"), rtol=1e-6, atol=0
    )


def test_step_0_knows_its_heldout_loss_and_that_no_step_made_it(client, new_session):
    info = new_session(seed=2)
    snap = client.get(f"/api/sessions/{info['id']}/snapshots/0").json()
    assert snap["record"] is None
    assert snap["loss"] is None
    parts = build(CreateSpec(seed=2), 10**9, torch.device("cpu"))
    expected = Trainer(parts.model, parts.data, parts.spec.train).heldout_loss()
    assert snap["heldout_loss"] == pytest.approx(expected, rel=1e-6)
    # a random model is near-uniform over the vocabulary: about ln(V) nats
    assert snap["heldout_loss"] == pytest.approx(np.log(info["vocab_size"]), rel=0.1)


def test_weights_at_a_stored_step_equal_the_live_weights_then(client, session):
    sid = session["id"]
    params = {"names": "blocks.0.ffn.W_1.weight", "max_size": 0}
    at0 = client.get(f"/api/sessions/{sid}/weights", params=params).json()
    train(client, sid, 5)
    past = client.get(f"/api/sessions/{sid}/snapshots/0/weights", params=params).json()
    assert past["step"] == 0
    assert past["weights"][0]["values"] == at0["weights"][0]["values"]
    assert past["weights"][0]["histogram"] == at0["weights"][0]["histogram"]
    assert past["weights"][0]["change_from_init"] == 0.0


def test_the_snapshot_list_names_the_stored_steps_and_the_live_one(client, session):
    sid = session["id"]
    train(client, sid, 5)
    assert client.get(f"/api/sessions/{sid}/snapshots").json() == {"steps": [0, 1, 2, 4], "step": 5}


def test_a_step_without_a_snapshot_is_a_404_naming_the_stored_ones(client, session):
    sid = session["id"]
    train(client, sid, 3)
    response = client.post(f"/api/sessions/{sid}/snapshots/3/forward", json={"text": SENTENCE})
    assert response.status_code == 404
    assert "stored: [0, 1, 2]" in response.json()["detail"]


def snap(step, floats):
    state = {"w": torch.zeros(floats)}
    return SnapshotData(step=step, loss=None, tokens=[], attention=None, state=state)


def test_the_store_keeps_full_weights_of_step_0_and_the_newest_within_its_budget():
    store = SnapshotStore(every=10, max_snapshots=64, state_budget=250)
    for step in (0, 1, 2, 4, 8, 10, 16, 20):
        store.add(snap(step, 100))
    kept = [s for s in store.steps() if store.get(s).state is not None]
    assert kept == [0, 20]
    assert store.steps() == [0, 1, 2, 4, 8, 10, 16, 20]  # the snapshots themselves all stay


def test_the_store_drops_periodic_full_weights_before_geometric_ones():
    store = SnapshotStore(every=10, max_snapshots=64, state_budget=450)
    for step in (0, 1, 2, 10, 20):
        store.add(snap(step, 100))
    assert [s for s in store.steps() if store.get(s).state is not None] == [0, 1, 2, 20]


def test_forgotten_full_weights_give_a_404_that_says_why(client, session):
    sid = session["id"]
    train(client, sid, 4)
    # the app-level budget keeps everything for tiny; forget step 2's copy as a bigger model would
    client.app.state.manager.sessions[sid].snapshots.get(2).state = None
    response = client.post(f"/api/sessions/{sid}/snapshots/2/forward", json={"text": SENTENCE})
    assert response.status_code == 404
    assert "no longer kept" in response.json()["detail"]
    # step 0 is always recomputable from the seed
    assert (
        client.post(f"/api/sessions/{sid}/snapshots/0/forward", json={"text": SENTENCE}).status_code
        == 200
    )
