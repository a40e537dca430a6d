"""Training through the API: records, exactness against a plain Trainer, runs, divergence."""

from __future__ import annotations

import csv
import io
import time

import pytest


def train(client, sid, steps, **extra):
    response = client.post(f"/api/sessions/{sid}/train", json={"steps": steps, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_train_returns_one_record_per_step(client, session):
    body = train(client, session["id"], 5)
    assert [r["step"] for r in body["records"]] == [1, 2, 3, 4, 5]
    assert body["step"] == 5
    assert body["diverged"] is None
    record = body["records"][0]
    assert set(record["grad_norms"]) == set(session["shapes"])
    assert set(record["update_ratios"]) == set(session["shapes"])
    assert record["loss"] > 0
    assert record["grad_norm"] > 0
    assert record["time_ms"] > 0


def test_train_losses_equal_a_plain_trainer_with_the_same_seeds(client, new_session, plain_losses):
    info = new_session(seed=3)
    losses = [r["loss"] for r in train(client, info["id"], 12)["records"]]
    assert losses == plain_losses(12, seed=3)


def test_calls_of_steps_continue_where_the_last_stopped(client, new_session, plain_losses):
    info = new_session(seed=1)
    first = train(client, info["id"], 4)["records"]
    second = train(client, info["id"], 4)["records"]
    assert [r["step"] for r in second] == [5, 6, 7, 8]
    assert [r["loss"] for r in first + second] == plain_losses(8, seed=1)


def test_heldout_evals_arrive_every_eval_every_steps(client, new_session):
    info = new_session(optimizer={"eval_every": 3})
    body = train(client, info["id"], 7)
    assert [e["step"] for e in body["evals"]] == [3, 6]
    assert all(e["heldout_loss"] > 0 for e in body["evals"])


def test_history_has_one_point_per_step_and_the_snapshot_schedule(client, session):
    sid = session["id"]
    train(client, sid, 25)
    history = client.get(f"/api/sessions/{sid}/history").json()
    assert history["step"] == 25
    assert history["stride"] == 1
    assert history["train"]["steps"] == list(range(1, 26))
    assert len(history["train"]["loss"]) == 25
    assert all(len(v) == 25 for v in history["grad_norms"].values())
    assert history["heldout"]["steps"] == [25]
    # geometric 0, 1, 2, 4, 8, 16 plus every snapshot_every=10 steps
    assert history["snapshots"] == [0, 1, 2, 4, 8, 10, 16, 20]


def test_a_snapshot_holds_probe_attention_and_small_weights(client, session):
    sid = session["id"]
    train(client, sid, 4)
    snap = client.get(f"/api/sessions/{sid}/snapshots/4").json()
    assert snap["step"] == 4
    assert snap["loss"] > 0
    assert [t["text"] for t in snap["probe"]["tokens"]] == session["probe"].split()
    T = len(snap["probe"]["tokens"])
    assert len(snap["probe"]["attention"]) == 4
    assert len(snap["probe"]["attention"][0]) == T
    assert len(snap["weights"]["tok_emb.weight"]) <= 32
    assert client.get(f"/api/sessions/{sid}/snapshots/3").status_code == 404


def test_learning_rate_can_be_changed_per_call(client, session):
    body = train(client, session["id"], 2, lr=0.0005)
    assert all(r["lr"] == 0.0005 for r in body["records"])
    assert client.get(f"/api/sessions/{session['id']}").json()["optimizer"]["lr"] == 0.0005


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 201}, "steps"),
        ({"steps": 1, "lr": -1}, "lr"),
        ({}, "steps"),
        ({"steps": "many"}, "steps"),
    ],
)
def test_train_rejects_bad_steps_and_lr(client, session, body, field):
    response = client.post(f"/api/sessions/{session['id']}/train", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_metrics_csv_and_json_have_one_row_per_step(client, session):
    sid = session["id"]
    train(client, sid, 6)
    response = client.get(f"/api/sessions/{sid}/metrics.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["step"]) for r in rows] == list(range(1, 7))
    assert "grad_norm:tok_emb.weight" in rows[0]
    table = client.get(f"/api/sessions/{sid}/metrics.json").json()
    assert len(table["rows"]) == 6
    assert table["columns"][0] == "step"


def test_background_run_trains_until_paused(client, session):
    sid = session["id"]
    assert client.post(f"/api/sessions/{sid}/run", json={"steps": 5000}).json()["running"] is True
    wait_until(lambda: client.get(f"/api/sessions/{sid}").json()["step"] >= 3)
    paused = client.post(f"/api/sessions/{sid}/pause").json()
    assert paused["running"] is False
    time.sleep(0.1)
    assert client.get(f"/api/sessions/{sid}").json()["step"] == paused["step"]
    assert paused["step"] < 5000


def test_background_run_stops_after_its_steps(client, session):
    sid = session["id"]
    client.post(f"/api/sessions/{sid}/run", json={"steps": 6})
    wait_until(lambda: not client.get(f"/api/sessions/{sid}").json()["running"])
    assert client.get(f"/api/sessions/{sid}").json()["step"] == 6


def test_train_and_reset_while_running_are_409(client, session):
    sid = session["id"]
    client.post(f"/api/sessions/{sid}/run", json={"steps": 5000})
    try:
        assert client.post(f"/api/sessions/{sid}/train", json={"steps": 1}).status_code == 409
        assert client.post(f"/api/sessions/{sid}/reset").status_code == 409
        assert client.post(f"/api/sessions/{sid}/run", json={}).status_code == 409
    finally:
        client.post(f"/api/sessions/{sid}/pause")


def test_pause_without_a_run_is_a_no_op(client, session):
    assert client.post(f"/api/sessions/{session['id']}/pause").json()["running"] is False


def test_run_steps_over_the_limit_are_refused(client, session):
    response = client.post(f"/api/sessions/{session['id']}/run", json={"steps": 10**6})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "steps"


def test_a_diverging_step_is_reported_and_the_weights_kept(client, session, poisoned_checkpoint):
    sid = session["id"]
    assert (
        client.put(f"/api/sessions/{sid}/checkpoint", content=poisoned_checkpoint()).status_code
        == 200
    )
    query = "?max_size=0&names=lm_head.weight&digits=0"
    before = client.get(f"/api/sessions/{sid}/weights{query}").json()["weights"][0]
    body = train(client, sid, 3)
    assert body["records"] == []
    assert body["step"] == 5
    assert body["diverged"]["step"] == 6
    assert "diverged" in body["diverged"]["message"]
    assert "smaller learning rate" in body["diverged"]["message"]
    after = client.get(f"/api/sessions/{sid}/weights{query}").json()["weights"][0]
    assert after["values"] == before["values"]
    assert after["norm"] == before["norm"]
    assert client.get(f"/api/sessions/{sid}").json()["step"] == 5
