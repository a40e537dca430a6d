"""The update ratio where a weight starts the step at zero: null in JSON, empty in CSV."""

from __future__ import annotations

import csv
import io

import pytest
import torch

BIAS = "blocks.0.attn.W_q.bias"  # zero-initialised: ‖W_before‖ = 0 at step 1
WEIGHT = "blocks.0.attn.W_q.weight"


def test_a_zero_initialised_bias_has_a_null_ratio_at_step_one_everywhere(client, session):
    base = f"/api/sessions/{session['id']}"
    records = client.post(f"{base}/train", json={"steps": 2}).json()["records"]
    first, second = records
    assert first["update_ratios"][BIAS] is None
    assert first["update_norms"][BIAS] > 0  # it did move: the ratio, not the change, is undefined
    assert isinstance(first["update_ratios"][WEIGHT], float)
    assert 0 < second["update_ratios"][BIAS] < 10

    history = client.get(f"{base}/history").json()
    kept = history["update_ratios"][BIAS]  # the log keeps float32
    assert kept[0] is None
    assert kept[1] == pytest.approx(second["update_ratios"][BIAS], rel=1e-6)
    snapshot = client.get(f"{base}/snapshots/1").json()
    assert snapshot["record"]["update_ratios"][BIAS] is None

    table = client.get(f"{base}/metrics.json").json()
    column = table["columns"].index(f"update_ratio:{BIAS}")
    assert table["rows"][0][column] is None
    assert table["rows"][1][column] == pytest.approx(kept[1], rel=1e-6)

    text = client.get(f"{base}/metrics.csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0][f"update_ratio:{BIAS}"] == ""
    assert float(rows[1][f"update_ratio:{BIAS}"]) == pytest.approx(kept[1], rel=1e-6)
    assert float(rows[0][f"update_ratio:{WEIGHT}"]) > 0


def test_dynamics_has_null_where_a_matrix_started_the_step_at_zero(client, session):
    """No weight matrix starts at zero by itself; one zeroed from outside (as a load could) does."""
    live = client.app.state.manager.sessions[session["id"]]
    with torch.no_grad():
        live.model.get_parameter(WEIGHT).zero_()
    base = f"/api/sessions/{session['id']}"
    client.post(f"{base}/train", json={"steps": 2})
    ratio = client.get(f"{base}/dynamics").json()["update_ratio"]
    assert ratio["steps"] == [1, 2]
    assert ratio["matrices"]["W_q"][0] is None
    assert ratio["matrices"]["W_q"][1] > 0
    assert all(v > 0 for v in ratio["matrices"]["W_k"])
