"""The whole API flow on a CUDA device: create, train, forward, checkpoint round trip, compare.

Skips, saying why, where torch sees no CUDA device (the CPU-only wheel, or no GPU). Each result
is checked against the same computation on the CPU: the weights start identical (they are drawn
on the CPU from the seed and then moved), so losses and attention must agree closely.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.services.builder import build
from app.services.forward import ForwardOptions, forward_payload
from app.services.specs import CreateSpec
from app.settings import Settings
from model.ablation import VARIANTS
from model.precision import AUTO_BF16_MIN_D_MODEL
from model.training import Trainer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="no CUDA device: torch.cuda.is_available() is False (CPU-only torch or no GPU)",
    ),
]
TEXT = "the cat sat on the mat ."


@pytest.fixture(params=["cuda", "auto"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        device=request.param, persist=False, data_dir=tmp_path, max_steps_per_call=200
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def create(client: TestClient, **body: object) -> dict:
    response = client.post("/api/sessions", json={"precision": "fp32", **body})
    assert response.status_code == 201, response.text
    return response.json()


def cpu_losses(steps: int) -> list[float]:
    parts = build(CreateSpec(precision="fp32"), 10**9, torch.device("cpu"))
    trainer = Trainer(parts.model, parts.data, parts.spec.train)
    return [trainer.train_step().loss for _ in range(steps)]


def test_sessions_live_on_the_gpu_and_train_like_the_cpu(client):
    info = create(client)
    assert info["device"].startswith("cuda")
    body = client.post(f"/api/sessions/{info['id']}/train", json={"steps": 30}).json()
    losses = [r["loss"] for r in body["records"]]
    assert losses == pytest.approx(cpu_losses(30), rel=5e-3)  # same weights, same batches
    assert losses[-1] < losses[0] - 1.0
    for record in body["records"]:
        assert all(v > 0 for v in record["grad_norms"].values())
        # null ("new") only for the zero-initialised biases at step 1
        ratios = record["update_ratios"]
        assert all(v > 0 for v in ratios.values() if v is not None)
        assert all(
            v is not None or (record["step"] == 1 and n.endswith(".bias"))
            for n, v in ratios.items()
        )
    assert body["evals"]
    assert all(e["heldout_loss"] > 0 for e in body["evals"])


def test_forward_on_the_gpu_matches_the_cpu(client):
    sid = create(client)["id"]
    gpu = client.post(f"/api/sessions/{sid}/forward?digits=0", json={"text": TEXT}).json()
    parts = build(CreateSpec(precision="fp32"), 10**9, torch.device("cpu"))
    cpu = forward_payload(parts.model, parts.tokenizer, TEXT, 0, ForwardOptions(digits=0))
    assert gpu["precision"] == "fp32"
    assert [t["id"] for t in gpu["tokens"]] == [t["id"] for t in cpu["tokens"]]
    attention = torch.tensor(gpu["attention"])  # (H, T, T)
    torch.testing.assert_close(attention, torch.from_numpy(cpu["attention"]), atol=1e-4, rtol=0)
    for ours, theirs in zip(gpu["stages"], cpu["stages"], strict=True):
        values = torch.tensor(ours["values"]) if "scores" not in ours["name"] else None
        if values is not None:
            expected = torch.from_numpy(theirs["values"])
            torch.testing.assert_close(values, expected, atol=1e-3, rtol=1e-3)


def test_checkpoint_round_trip_on_the_gpu_is_exact(client):
    sid = create(client)["id"]
    client.post(f"/api/sessions/{sid}/train", json={"steps": 10})
    raw = client.get(f"/api/sessions/{sid}/checkpoint").content
    imported = client.post(
        "/api/sessions/import", content=raw, headers={"Content-Type": "application/octet-stream"}
    )
    assert imported.status_code == 201, imported.text
    new = imported.json()
    assert new["device"].startswith("cuda")
    assert new["step"] == 10
    a = client.post(f"/api/sessions/{sid}/forward?digits=0", json={"text": TEXT}).json()
    b = client.post(f"/api/sessions/{new['id']}/forward?digits=0", json={"text": TEXT}).json()
    assert a["stages"] == b["stages"]
    # resumed training continues the same loss sequence (AdamW moments and batch order kept)
    after_a = client.post(f"/api/sessions/{sid}/train", json={"steps": 3}).json()["records"]
    after_b = client.post(f"/api/sessions/{new['id']}/train", json={"steps": 3}).json()["records"]
    assert [r["loss"] for r in after_b] == pytest.approx([r["loss"] for r in after_a], rel=1e-5)


def test_compare_runs_on_the_gpu(client):
    sid = create(client)["id"]
    assert client.post(f"/api/sessions/{sid}/compare", json={"steps": 20}).status_code == 202
    deadline = time.monotonic() + 120
    while client.get(f"/api/sessions/{sid}").json()["comparing"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    result = client.get(f"/api/sessions/{sid}/compare").json()
    assert set(result["variants"]) == set(VARIANTS)
    for variant in result["variants"].values():
        assert variant["steps"] == list(range(1, 21))
        assert variant["final_heldout_loss"] < variant["train_loss"][0]


@pytest.mark.skipif(
    not (torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)),
    reason="no CUDA device with bfloat16 here",
)
def test_auto_precision_is_bf16_on_the_gpu_for_wide_models(client):
    config = {"d_model": AUTO_BF16_MIN_D_MODEL, "n_heads": 4, "d_ff": 512, "context_length": 32}
    info = create(client, config=config, precision="auto")
    assert info["precision"] == "bf16"
    records = client.post(f"/api/sessions/{info['id']}/train", json={"steps": 20}).json()
    losses = [r["loss"] for r in records["records"]]
    assert losses[-1] < losses[0]
