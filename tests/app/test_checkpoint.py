"""Checkpoints: download, upload, import, and every way a file can be refused."""

from __future__ import annotations

import io
import json
import pickle
import struct

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

TEXT = "the cat sat on the mat ."


def download(client, sid) -> bytes:
    response = client.get(f"/api/sessions/{sid}/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert "attachment" in response.headers["content-disposition"]
    return response.content


def forward_bytes(client, sid) -> bytes:
    response = client.post(f"/api/sessions/{sid}/forward?digits=0", json={"text": TEXT})
    assert response.status_code == 200
    return response.content


def without_step(body: bytes) -> dict:
    data = json.loads(body)
    data.pop("step")
    return data


def test_download_then_import_reproduces_the_same_forward_outputs_exactly(client, session):
    sid = session["id"]
    client.post(f"/api/sessions/{sid}/train", json={"steps": 5})
    data = download(client, sid)
    imported = client.post("/api/sessions/import", content=data)
    assert imported.status_code == 201
    info = imported.json()
    assert info["step"] == 5
    assert info["config"] == client.get(f"/api/sessions/{sid}").json()["config"]
    assert info["corpus"] == "catmat"
    assert info["preset"] == "tiny"
    assert forward_bytes(client, info["id"]) == forward_bytes(client, sid)


def test_imported_session_keeps_the_optimizer_moments_and_resumes_the_step(client, session):
    sid = session["id"]
    client.post(f"/api/sessions/{sid}/train", json={"steps": 3})
    original = download(client, sid)
    info = client.post("/api/sessions/import", content=original).json()
    saved, reloaded = load_safetensors(original), load_safetensors(download(client, info["id"]))
    moments = [name for name in saved if name.startswith("optim.exp_avg")]
    assert moments
    for name in moments:
        assert torch.equal(saved[name], reloaded[name])
    body = client.post(f"/api/sessions/{info['id']}/train", json={"steps": 2}).json()
    assert [r["step"] for r in body["records"]] == [4, 5]


def test_put_replaces_the_model_of_an_existing_session(client, new_session):
    trained = new_session(seed=5)
    client.post(f"/api/sessions/{trained['id']}/train", json={"steps": 4})
    target = new_session()
    response = client.put(
        f"/api/sessions/{target['id']}/checkpoint", content=download(client, trained["id"])
    )
    assert response.status_code == 200
    assert response.json()["step"] == 4
    assert response.json()["seed"] == 5
    assert forward_bytes(client, target["id"]) == forward_bytes(client, trained["id"])
    history = client.get(f"/api/sessions/{target['id']}/history").json()
    assert history["train"]["steps"] == []
    assert history["snapshots"] == [4]


def test_a_pickle_disguised_as_a_checkpoint_is_refused_without_unpickling(
    client, session, monkeypatch
):
    buffer = io.BytesIO()
    torch.save({"tok_emb.weight": torch.zeros(3, 3)}, buffer)

    def forbidden(*args, **kwargs):
        raise AssertionError("the server tried to unpickle an upload")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    for response in (
        client.post("/api/sessions/import", content=buffer.getvalue()),
        client.put(f"/api/sessions/{session['id']}/checkpoint", content=buffer.getvalue()),
    ):
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "checkpoint"
        assert "safetensors" in response.json()["detail"]


def test_a_checkpoint_with_wrong_shapes_is_refused(client, session):
    data = bytearray(download(client, session["id"]))
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    header["lm_head.bias"]["shape"] = [7]
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (length - len(encoded))
    assert len(encoded) == length
    data[8 : 8 + length] = encoded
    response = client.post("/api/sessions/import", content=bytes(data))
    assert response.status_code == 422
    assert "lm_head.bias" in response.json()["detail"]


def test_safetensors_without_attnflow_metadata_are_refused(client):
    data = save_safetensors({"x": torch.zeros(2)})
    response = client.post("/api/sessions/import", content=data)
    assert response.status_code == 422
    assert "attnflow" in response.json()["detail"]


@pytest.mark.parametrize("body", [b"", b"garbage", b"\xff" * 64])
def test_empty_and_garbage_uploads_are_422(client, body):
    response = client.post("/api/sessions/import", content=body)
    assert response.status_code == 422


def test_an_upload_over_the_size_limit_is_413(make_client):
    client = make_client(max_upload_bytes=10_000)
    sid = client.post("/api/sessions").json()["id"]
    data = client.get(f"/api/sessions/{sid}/checkpoint").content
    assert len(data) > 10_000
    response = client.post("/api/sessions/import", content=data)
    assert response.status_code == 413
    assert "10,000" in response.json()["detail"]


def test_a_checkpoint_model_over_the_parameter_limit_is_refused_before_loading(make_client):
    client = make_client(max_parameters=70_000)
    sid = client.post("/api/sessions").json()["id"]  # tiny: ~62k parameters
    trained = client.get(f"/api/sessions/{sid}/checkpoint").content
    small_limit = make_client(max_parameters=1_000)
    response = small_limit.post("/api/sessions/import", content=trained)
    assert response.status_code == 422
    assert "1,000" in response.json()["detail"]


def test_put_while_running_is_409(client, session):
    sid = session["id"]
    data = download(client, sid)
    client.post(f"/api/sessions/{sid}/run", json={"steps": 5000})
    try:
        assert client.put(f"/api/sessions/{sid}/checkpoint", content=data).status_code == 409
    finally:
        client.post(f"/api/sessions/{sid}/pause")


def test_a_session_on_user_text_round_trips_with_its_text(client, new_session):
    text = "a long time ago in a galaxy far far away there lived a cat . " * 12
    info = new_session(text=text, config={"context_length": 8})
    data = download(client, info["id"])
    imported = client.post("/api/sessions/import", content=data).json()
    assert imported["corpus"] == "custom"
    assert imported["bigram_bound"] == info["bigram_bound"]
