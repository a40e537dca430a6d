"""A deeper model: snapshots, traces and dynamics cover every block, not only block 0."""

from __future__ import annotations

import numpy as np
import pytest

from app.services.dynamics import matrix_names
from app.services.saved import decode_snapshots, encode_snapshots
from model.names import block_name

from .conftest import create_session


@pytest.fixture
def two_blocks(client):
    return create_session(client, config={"n_blocks": 2})


def test_a_two_block_snapshot_has_each_blocks_attention_and_ffn(client, two_blocks):
    sid = two_blocks["id"]
    client.post(f"/api/sessions/{sid}/train", json={"steps": 2})
    probe = client.get(f"/api/sessions/{sid}/snapshots/2").json()["probe"]
    assert len(probe["blocks"]) == 2
    assert probe["blocks"][0]["attention"] == probe["attention"]
    assert probe["blocks"][0]["ffn"] == probe["ffn"]
    first, second = (np.array(b["attention"]) for b in probe["blocks"])
    assert first.shape == second.shape == (4, len(probe["tokens"]), len(probe["tokens"]))
    assert not np.allclose(first, second)  # block 1's own attention, not a copy of block 0's
    np.testing.assert_allclose(second.sum(axis=-1), 1.0, atol=1e-3)


def test_a_two_block_forward_traces_every_block(client, two_blocks):
    body = client.post(
        f"/api/sessions/{two_blocks['id']}/forward", json={"text": "the cat sat"}
    ).json()
    names = {stage["name"] for stage in body["stages"]}
    for i in range(2):
        assert f"{block_name(i)}.attn.hook_weights" in names
        assert f"{block_name(i)}.ffn.hook_post" in names


def test_dynamics_follow_the_update_ratio_of_every_blocks_matrices(client, two_blocks):
    sid = two_blocks["id"]
    client.post(f"/api/sessions/{sid}/train", json={"steps": 3})
    matrices = client.get(f"/api/sessions/{sid}/dynamics").json()["update_ratio"]["matrices"]
    assert {"W_q", "W_1", "blocks.1.W_q", "blocks.1.W_2"} <= set(matrices)
    assert all(len(series) == 3 for series in matrices.values())


def test_matrix_names_keep_block_zero_short_and_prefix_the_others():
    names = matrix_names(
        [
            "blocks.0.attn.W_q.weight",
            "blocks.0.attn.W_q.bias",
            "blocks.1.ffn.W_1.weight",
            "lm_head.weight",
        ]
    )
    assert names == {"W_q": "blocks.0.attn.W_q.weight", "blocks.1.W_1": "blocks.1.ffn.W_1.weight"}


def test_every_blocks_snapshot_survives_a_save_and_load(client, two_blocks):
    sid = two_blocks["id"]
    client.post(f"/api/sessions/{sid}/train", json={"steps": 1})
    session = client.portal.call(client.app.state.manager.get, sid)
    snapshots, every = session.snapshots.items()
    back, _, _ = decode_snapshots(encode_snapshots(snapshots, every, "x"))
    assert [len(s.blocks()) for s in back] == [2] * len(snapshots)
    np.testing.assert_array_equal(back[-1].later_blocks[0][0], snapshots[-1].later_blocks[0][0])
