"""Finding 4 of issue 10: an import meets the API's own schemas and limits.

Each case edits one value in a real checkpoint's metadata (or its tensors) and expects a
field-level 422 naming that value, on both POST /api/sessions/import and PUT .../checkpoint.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

Header = dict[str, Any]


def edit_header(data: bytes, edit: Callable[[Header], None]) -> bytes:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    edit(header)
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data[8 + n :]


def meta_json(key: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Header], None]:
    def edit(header: Header) -> None:
        value = json.loads(header["__metadata__"][key])
        change(value)
        header["__metadata__"][key] = json.dumps(value)

    return edit


def set_meta(key: str, value: str) -> Callable[[Header], None]:
    def edit(header: Header) -> None:
        header["__metadata__"][key] = value

    return edit


CASES = [
    (set_meta("step", str(2**63)), "checkpoint.step"),
    (
        meta_json("extra", lambda e: e["train"].update(batch_size=10**9)),
        "checkpoint.extra.train.batch_size",
    ),
    (meta_json("extra", lambda e: e["train"].update(lr=1e9)), "checkpoint.extra.train.lr"),
    (meta_json("extra", lambda e: e.update(text="word " * 600_000)), "checkpoint.extra.text"),
    (meta_json("extra", lambda e: e.update(probe="p" * 1_000_000)), "checkpoint.extra.probe"),
    (meta_json("extra", lambda e: e.update(preset="x" * 100_000)), "checkpoint.extra.preset"),
    (meta_json("extra", lambda e: e.update(seed=-1)), "checkpoint.extra.seed"),
    (
        meta_json("extra", lambda e: e["train"].update(instrument="yes")),
        "checkpoint.extra.train.instrument",
    ),
    (
        meta_json("config", lambda c: c.update(use_attention="no")),
        "checkpoint.config.use_attention",
    ),
    (meta_json("config", lambda c: c.update(d_model=64.0)), "checkpoint.config.d_model"),
    (meta_json("config", lambda c: c.update(dropout=True)), "checkpoint.config.dropout"),
]


@pytest.fixture
def checkpoint(client, session) -> bytes:
    sid = session["id"]
    assert client.post(f"/api/sessions/{sid}/train", json={"steps": 2}).status_code == 200
    return client.get(f"/api/sessions/{sid}/checkpoint").content


@pytest.mark.parametrize(("edit", "field"), CASES)
def test_metadata_past_the_api_limits_is_refused_by_field(client, session, checkpoint, edit, field):
    bad = edit_header(checkpoint, edit)
    for method, path in (
        ("POST", "/api/sessions/import"),
        ("PUT", f"/api/sessions/{session['id']}/checkpoint"),
    ):
        response = client.request(method, path, content=bad)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field, response.json()
    # the session the PUT aimed at is untouched
    assert client.get(f"/api/sessions/{session['id']}").json()["step"] == 2


def _poison(checkpoint: bytes, name: str, value: float) -> bytes:
    (n,) = struct.unpack("<Q", checkpoint[:8])
    header = json.loads(checkpoint[8 : 8 + n])
    start, end = header[name]["data_offsets"]
    data = bytearray(checkpoint)
    base = 8 + n
    data[base + start : base + end] = np.full((end - start) // 4, value, np.float32).tobytes()
    return bytes(data)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("lm_head.weight", float("nan")),
        ("tok_emb.weight", float("inf")),
        ("optim.exp_avg_sq.lm_head.bias", -1.0),
    ],
)
def test_non_finite_weights_and_impossible_moments_are_refused(client, checkpoint, name, value):
    response = client.post("/api/sessions/import", content=_poison(checkpoint, name, value))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == f"checkpoint.tensors.{name}"


def test_an_untouched_checkpoint_still_imports(client, checkpoint):
    response = client.post("/api/sessions/import", content=checkpoint)
    assert response.status_code == 201, response.text
    assert response.json()["step"] == 2
