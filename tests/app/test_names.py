"""GET /api/names: the names model/names.py defines, as the page reads them."""

from __future__ import annotations

from model import names
from model.config import MAX_BLOCKS
from tests.app.conftest import create_session


def test_names_are_the_ones_model_names_defines(client):
    body = client.get("/api/names").json()
    assert body["phases"] == list(names.PHASES)
    assert list(body["variants"].values()) == list(names.VARIANTS)
    assert body["variants"]["both"] == names.BOTH
    assert body["variants"]["attention_only"] == names.ATTENTION_ONLY
    assert body["variants"]["ffn_only"] == names.FFN_ONLY
    assert body["max_blocks"] == MAX_BLOCKS
    assert [b["name"] for b in body["blocks"]] == [names.block_name(i) for i in range(MAX_BLOCKS)]
    assert [b["label"] for b in body["blocks"]] == ["block 1", "block 2", "block 3", "block 4"]
    last = body["blocks"][-1]
    assert last["stages"]["attention_weights"] == "blocks.3.attn.hook_weights"
    assert last["stages"]["ffn_hidden"] == "blocks.3.ffn.hook_post"
    assert last["weights"]["W_o"] == "blocks.3.attn.W_o.weight"
    assert set(last["stages"]) == set(names.BLOCK_STAGES)
    assert set(last["weights"]) == set(names.BLOCK_WEIGHTS)


def test_a_two_block_sessions_parameters_and_stages_are_named_by_its_blocks(client):
    info = create_session(client, preset="tiny", config={"n_blocks": 2})
    blocks = client.get("/api/names", params={"n_blocks": 2}).json()["blocks"]
    assert [b["index"] for b in blocks] == [0, 1]
    weights = {w for b in blocks for w in b["weights"].values()}
    in_blocks = {n for n in info["shapes"] if n.startswith("blocks.")}
    assert weights <= in_blocks  # every named weight exists in the session
    assert all(any(n.startswith(b["name"] + ".") for b in blocks) for n in in_blocks)
    wanted = [blocks[1]["stages"]["attention_weights"], blocks[1]["stages"]["ffn_hidden"]]
    forward = client.post(
        f"/api/sessions/{info['id']}/forward",
        params={"stages": ",".join(wanted)},
        json={"text": "the cat sat"},
    )
    assert forward.status_code == 200, forward.text
    assert [s["name"] for s in forward.json()["stages"]] == wanted


def test_names_refuse_a_block_count_out_of_range(client):
    for n in (0, MAX_BLOCKS + 1):
        response = client.get("/api/names", params={"n_blocks": n})
        assert response.status_code == 422, response.text
