"""POST /gradcheck: agrees with autograd, never touches the live session, refuses bad entries."""

from __future__ import annotations

import hashlib

import pytest
import torch

WQ = "blocks.0.attn.W_q.weight"
W1 = "blocks.0.ffn.W_1.weight"
W2 = "blocks.0.ffn.W_2.weight"


def _fingerprint(live) -> str:
    """Every parameter's bytes, the AdamW state and the batch generator's state."""
    digest = hashlib.sha256()
    for name, p in live.model.named_parameters():
        digest.update(name.encode())
        digest.update(p.detach().cpu().numpy().tobytes())
        for value in live.trainer.optimizer.state[p].values():
            digest.update(value.detach().cpu().numpy().tobytes())
    digest.update(live.trainer.generator.get_state().numpy().tobytes())
    return digest.hexdigest()


def test_gradcheck_agrees_and_leaves_the_live_weights_bit_identical(client, session):
    base = f"/api/sessions/{session['id']}"
    client.post(f"{base}/train", json={"steps": 20})
    live = client.app.state.manager.sessions[session["id"]]
    before = _fingerprint(live)
    weights_before = client.get(f"{base}/weights", params={"max_size": 0, "digits": 0}).json()
    results = []
    for parameter, row, col in ((WQ, 3, 5), (W1, 200, 60), (W2, 60, 200)):
        response = client.post(
            f"{base}/gradcheck", json={"parameter": parameter, "row": row, "col": col}
        )
        assert response.status_code == 200, response.text
        result = response.json()
        assert (result["parameter"], result["row"], result["col"]) == (parameter, row, col)
        assert result["relative_error"] < 1e-4, result
        assert result["finite_difference"] == pytest.approx(result["autograd"], rel=1e-4)
        assert result["step"] == 20
        assert result["batch_shape"] == session["batch_shape"][:2]
        stored = live.model.get_parameter(parameter)[row, col].item()
        assert result["value"] == stored
        results.append(result)
    assert _fingerprint(live) == before
    after = client.get(f"{base}/weights", params={"max_size": 0, "digits": 0}).json()
    assert after == weights_before
    # The batch checked is the next step's: that step's loss is the checked L(w).
    record = client.post(f"{base}/train", json={"steps": 1}).json()["records"][0]
    assert record["loss"] == pytest.approx(results[0]["loss"], rel=1e-5)


def test_gradcheck_during_a_background_run_sees_whole_steps(client, session):
    base = f"/api/sessions/{session['id']}"
    assert client.post(f"{base}/run", json={"steps": 400}).status_code == 202
    try:
        response = client.post(f"{base}/gradcheck", json={"parameter": W1, "row": 1, "col": 2})
        assert response.status_code == 200, response.text
        assert response.json()["relative_error"] < 1e-4
    finally:
        client.post(f"{base}/pause")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"parameter": "blocks.0.attn.W_z.weight", "row": 0, "col": 0}, "parameter", WQ),
        ({"parameter": "blocks.0.attn.W_q.bias", "row": 0, "col": 0}, "parameter", W2),
        ({"parameter": "blocks.1.attn.W_q.weight", "row": 0, "col": 0}, "parameter", "one of"),
        ({"parameter": WQ, "row": 64, "col": 0}, "row", "[0, 63]"),
        ({"parameter": W1, "row": 0, "col": 64}, "col", "[0, 63]"),
        ({"parameter": W1, "row": 256, "col": 0}, "row", "[0, 255]"),
        ({"parameter": WQ, "row": -1, "col": 0}, "row", "greater than or equal to 0"),
        ({"parameter": WQ, "row": "3", "col": 0}, "row", "integer"),
        ({"parameter": WQ, "row": 0}, "col", "required"),
        ({"parameter": WQ, "row": 0, "col": 0, "h": 1e-3}, "h", "not permitted"),
        ({"parameter": "x" * 101, "row": 0, "col": 0}, "parameter", "at most 100"),
    ],
)
def test_gradcheck_refuses_an_entry_the_model_does_not_have(client, session, body, field, words):
    live = client.app.state.manager.sessions[session["id"]]
    before = _fingerprint(live)
    response = client.post(f"/api/sessions/{session['id']}/gradcheck", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == field
    assert words in error["message"]
    assert _fingerprint(live) == before


def test_gradcheck_of_an_unknown_session_is_404(client):
    body = {"parameter": WQ, "row": 0, "col": 0}
    assert client.post("/api/sessions/nope/gradcheck", json=body).status_code == 404


def test_gradcheck_works_on_every_block(client, new_session):
    info = new_session(config={"n_blocks": 2})
    body = {"parameter": "blocks.1.attn.W_o.weight", "row": 7, "col": 9}
    result = client.post(f"/api/sessions/{info['id']}/gradcheck", json=body).json()
    assert result["relative_error"] < 1e-4
    assert torch.isfinite(torch.tensor(result["autograd"]))
