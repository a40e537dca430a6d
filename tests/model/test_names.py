"""model/names.py spells the real model's hook points and parameters."""

from __future__ import annotations

import pytest

from model import names
from model.ablation import VARIANTS
from model.config import MAX_BLOCKS, ModelConfig
from model.tracing import hook_points
from model.transformer import TransformerLM


@pytest.mark.parametrize("n_blocks", [1, 2, MAX_BLOCKS])
def test_every_block_stage_and_weight_name_is_a_real_hook_point_and_parameter(n_blocks):
    model = TransformerLM(
        ModelConfig(vocab_size=11, d_model=8, n_heads=2, d_ff=16, n_blocks=n_blocks)
    )
    points = set(hook_points(model))
    params = {name for name, _ in model.named_parameters()}
    for i in range(n_blocks):
        for stage in names.BLOCK_STAGES:
            assert names.stage_name(i, stage) in points, stage
        for short in names.BLOCK_WEIGHTS:
            assert names.weight_name(i, short) in params, short
    # and every block-level weight matrix of the model has its name here
    matrices = {p for p in params if p.startswith("blocks.") and p.endswith(".W_1.weight")}
    assert matrices == {names.weight_name(i, "W_1") for i in range(n_blocks)}
    assert not any(p.startswith(names.block_name(n_blocks) + ".") for p in params | points)


def test_the_ablation_runs_the_variants_model_names_lists_in_its_order():
    assert tuple(VARIANTS) == names.VARIANTS == (names.BOTH, names.ATTENTION_ONLY, names.FFN_ONLY)
    assert VARIANTS[names.ATTENTION_ONLY] == {"use_attention": True, "use_ffn": False}
    assert VARIANTS[names.FFN_ONLY] == {"use_attention": False, "use_ffn": True}
