"""Per-session precision: fp32, or bf16 autocast over fp32 weights, moments and records."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load as load_safetensors

from model.checkpoint import read_header
from model.precision import AUTO_BF16_MIN_D_MODEL, fast_bf16

TEXT = "the cat sat on the mat ."
WIDE = {"d_model": AUTO_BF16_MIN_D_MODEL, "n_heads": 4, "d_ff": 64, "context_length": 16}


def forward(client, sid, query="?digits=0"):
    response = client.post(f"/api/sessions/{sid}/forward{query}", json={"text": TEXT})
    assert response.status_code == 200, response.text
    return response.json()


def test_auto_is_fp32_for_tiny_and_follows_the_cpu_for_wide_models(new_session):
    assert new_session()["precision"] == "fp32"  # d_model 64: bf16 measured 2x slower there
    wide = new_session(config=WIDE, precision="auto")
    assert wide["precision"] == ("bf16" if fast_bf16(torch.device("cpu")) else "fp32")
    assert new_session(config=WIDE, precision="fp32")["precision"] == "fp32"
    assert new_session(precision="bf16")["precision"] == "bf16"


def test_the_server_setting_is_the_default_and_a_request_overrides_it(make_client):
    client = make_client(precision="bf16")
    assert client.post("/api/sessions", json={}).json()["precision"] == "bf16"
    body = {"precision": "fp32"}
    assert client.post("/api/sessions", json=body).json()["precision"] == "fp32"


def test_an_unknown_precision_is_a_422_naming_the_field(client):
    response = client.post("/api/sessions", json={"precision": "fp16"})
    assert response.status_code == 422
    assert any(e["field"] == "precision" for e in response.json()["errors"])


def test_bf16_trace_is_labelled_and_close_to_the_fp32_trace_of_the_same_weights(
    new_session, client
):
    fp32 = forward(client, new_session(precision="fp32")["id"])
    bf16 = forward(client, new_session(precision="bf16")["id"])  # same seed: same weights
    assert (fp32["precision"], bf16["precision"]) == ("fp32", "bf16")
    a, b = torch.tensor(fp32["attention"]), torch.tensor(bf16["attention"])  # (H, T, T)
    torch.testing.assert_close(b.sum(-1), torch.ones(a.shape[:-1]), atol=1e-2, rtol=0)  # bf16 rows
    assert (a - b).abs().max() < 2e-2  # bf16 keeps ~3 significant digits of q and k
    assert not torch.equal(a, b)  # it really ran in bf16
    # every stage but the masked scores (-inf sent as null) is a finite fp32 number
    stages = [torch.tensor(s["values"]) for s in bf16["stages"] if "scores" not in s["name"]]
    assert all(torch.isfinite(values).all() for values in stages)


def test_bf16_records_are_fp32_numbers_and_the_checkpoint_says_bf16(new_session, client):
    sid = new_session(precision="bf16")["id"]
    records = client.post(f"/api/sessions/{sid}/train", json={"steps": 5}).json()["records"]
    assert len(records) == 5
    for record in records:
        assert all(v > 0 for v in record["grad_norms"].values())
        assert all(v > 0 for v in record["update_norms"].values())
    raw = client.get(f"/api/sessions/{sid}/checkpoint").content
    _, metadata, _ = read_header(raw)
    assert json.loads(metadata["extra"])["train"]["precision"] == "bf16"
    tensors = load_safetensors(raw)
    assert any(name.startswith("optim.exp_avg_sq.") for name in tensors)
    assert {t.dtype for t in tensors.values()} == {torch.float32}  # weights and moments: fp32
    imported = client.post(
        "/api/sessions/import", content=raw, headers={"Content-Type": "application/octet-stream"}
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["precision"] == "bf16"
    assert forward(client, imported.json()["id"]) | {"step": 0} == forward(client, sid) | {
        "step": 0
    }


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_session_info_and_checkpoint_agree_on_precision(new_session, client, precision):
    sid = new_session(precision=precision)["id"]
    assert client.get(f"/api/sessions/{sid}").json()["precision"] == precision
