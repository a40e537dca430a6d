import pytest
import torch

from model.config import ModelConfig
from model.tracing import hook_points, trace
from model.transformer import TransformerLM

ATTENTION_WEIGHTS = ("W_q", "W_k", "W_v", "W_o")
FFN_WEIGHTS = ("W_1", "W_2")


def _model(**changes) -> TransformerLM:
    return TransformerLM(ModelConfig(vocab_size=30, d_model=32, n_heads=4, d_ff=64, **changes))


def test_traced_and_untraced_forward_give_the_same_logits():
    model = _model().eval()
    ids = torch.randint(0, 30, (2, 16))
    plain = model(ids)
    with trace(model) as tr:
        traced = model(ids)
    torch.testing.assert_close(plain, traced, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(tr["hook_logits"], traced.detach())


def test_trace_lists_every_named_intermediate_with_its_shape():
    model = _model(n_blocks=2).eval()
    with trace(model) as tr:
        model(torch.randint(0, 30, (1, 7)))
    shapes = tr.shapes()
    assert shapes["hook_embed"] == (1, 7, 32)
    assert shapes["hook_pos_emb"] == (7, 32)
    for i in range(2):
        assert shapes[f"blocks.{i}.attn.hook_weights"] == (1, 4, 7, 7)
        assert shapes[f"blocks.{i}.ffn.hook_pre"] == (1, 7, 64)
        assert shapes[f"blocks.{i}.ffn.hook_post"] == (1, 7, 64)
        assert shapes[f"blocks.{i}.hook_resid_mid"] == (1, 7, 32)
        assert shapes[f"blocks.{i}.hook_resid_post"] == (1, 7, 32)
    assert shapes["hook_logits"] == (1, 7, 30)


def test_trace_hooks_are_removed_after_the_block_even_on_error():
    model = _model()
    with pytest.raises(ValueError, match="context_length"), trace(model):
        model(torch.randint(0, 30, (1, 40)))
    assert not any(point.is_listened_to for point in hook_points(model).values())


def test_trace_patterns_select_only_what_was_asked():
    model = _model().eval()
    with trace(model, ["*.attn.hook_weights"]) as tr:
        model(torch.randint(0, 30, (1, 5)))
    assert tr.names() == ["blocks.0.attn.hook_weights"]


def test_residual_sums_are_what_the_trace_says():
    """resid_mid = embed + attn_out and resid_post = resid_mid + ffn_out (pre-LN)."""
    model = _model().eval()
    with trace(model) as tr:
        model(torch.randint(0, 30, (1, 9)))
    torch.testing.assert_close(
        tr["blocks.0.hook_resid_mid"], tr["hook_embed"] + tr["blocks.0.attn.hook_out"]
    )
    torch.testing.assert_close(
        tr["blocks.0.hook_resid_post"], tr["blocks.0.hook_resid_mid"] + tr["blocks.0.ffn.hook_out"]
    )
    gelu = torch.nn.functional.gelu(tr["blocks.0.ffn.hook_pre"])
    torch.testing.assert_close(tr["blocks.0.ffn.hook_post"], gelu)


def test_one_backward_pass_gives_every_attention_and_ffn_weight_a_nonzero_gradient():
    model = _model()
    ids = torch.randint(0, 30, (4, 16))
    model.loss(ids[:, :-1], ids[:, 1:]).backward()
    grads = dict(model.named_parameters())
    for name in ATTENTION_WEIGHTS:
        assert grads[f"blocks.0.attn.{name}.weight"].grad.norm() > 0, name
    for name in FFN_WEIGHTS:
        assert grads[f"blocks.0.ffn.{name}.weight"].grad.norm() > 0, name


def test_without_attention_no_attention_weight_exists_or_gets_a_gradient():
    model = _model(use_attention=False)
    ids = torch.randint(0, 30, (2, 10))
    model.loss(ids[:, :-1], ids[:, 1:]).backward()
    names = [n for n, _ in model.named_parameters()]
    assert not any(".attn." in n for n in names)
    assert all(p.grad is not None for p in model.parameters())


def test_ffn_only_output_at_a_position_ignores_earlier_tokens_but_attention_does_not():
    ids_a = torch.tensor([[1, 2, 3, 9]])
    ids_b = torch.tensor([[4, 5, 6, 9]])  # same last token at the same position
    ffn_only = _model(use_attention=False).eval()
    torch.testing.assert_close(ffn_only(ids_a)[0, -1], ffn_only(ids_b)[0, -1])
    full = _model().eval()
    assert not torch.allclose(full(ids_a)[0, -1], full(ids_b)[0, -1])


@pytest.mark.parametrize("norm", ["pre", "post", "none"])
@pytest.mark.parametrize("residual", [True, False])
def test_every_norm_and_residual_variant_runs_forward_and_backward(norm, residual):
    model = _model(norm=norm, residual=residual, activation="relu")
    ids = torch.randint(0, 30, (2, 8))
    loss = model.loss(ids[:, :-1], ids[:, 1:])
    loss.backward()
    assert torch.isfinite(loss)
    has_ln = any("ln_" in n for n, _ in model.named_parameters())
    assert has_ln == (norm != "none")


def test_post_norm_applies_layernorm_after_each_residual_sum():
    model = _model(norm="post").eval()
    with trace(model) as tr:
        model(torch.randint(0, 30, (1, 6)))
    mid = tr["blocks.0.hook_resid_mid"]
    torch.testing.assert_close(mid.mean(-1), torch.zeros(1, 6), atol=1e-5, rtol=0)
    expected = model.blocks[0].ln_attn(tr["hook_embed"] + tr["blocks.0.attn.hook_out"])
    torch.testing.assert_close(mid, expected.detach())


def test_initial_loss_is_close_to_uniform_guess():
    model = _model()
    ids = torch.randint(0, 30, (8, 32))
    loss = model.loss(ids[:, :-1], ids[:, 1:]).item()
    assert abs(loss - torch.log(torch.tensor(30.0)).item()) < 0.1
