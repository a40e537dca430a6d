"""Attention checked against an independent numpy computation of the same equations."""

import numpy as np
import pytest
import torch

from model.attention import CausalSelfAttention
from model.config import ModelConfig
from model.tracing import trace


def _numpy_attention(x: np.ndarray, attn: CausalSelfAttention) -> tuple[np.ndarray, np.ndarray]:
    """softmax(QK^T/sqrt(hd) + mask) V, then W_o — written from the equations in docs/model.md."""

    def linear(layer: torch.nn.Linear, inp: np.ndarray) -> np.ndarray:
        w = layer.weight.detach().double().numpy()
        b = layer.bias.detach().double().numpy()
        return inp @ w.T + b

    T, C = x.shape
    H, hd = attn.n_heads, attn.head_dim
    q = linear(attn.W_q, x).reshape(T, H, hd).transpose(1, 0, 2)
    k = linear(attn.W_k, x).reshape(T, H, hd).transpose(1, 0, 2)
    v = linear(attn.W_v, x).reshape(T, H, hd).transpose(1, 0, 2)
    weights = np.zeros((H, T, T))
    for h in range(H):
        for i in range(T):
            scores = np.array([q[h, i] @ k[h, j] / np.sqrt(hd) for j in range(i + 1)])
            e = np.exp(scores - scores.max())
            weights[h, i, : i + 1] = e / e.sum()
    z = (weights @ v).transpose(1, 0, 2).reshape(T, C)
    return linear(attn.W_o, z), weights


@pytest.fixture
def attention() -> CausalSelfAttention:
    torch.manual_seed(0)
    module = CausalSelfAttention(ModelConfig(vocab_size=10, d_model=32, n_heads=4))
    for p in module.parameters():
        torch.nn.init.normal_(p, std=0.3)  # larger than init so the softmax is not flat
    return module.eval()


def test_attention_matches_numpy_within_1e5(attention):
    x = torch.randn(1, 9, 32)
    with trace(attention, ["hook_weights"]) as tr:
        out = attention(x)
    expected_out, expected_weights = _numpy_attention(x[0].double().numpy(), attention)
    np.testing.assert_allclose(out[0].detach().numpy(), expected_out, atol=1e-5)
    np.testing.assert_allclose(tr["hook_weights"][0].numpy(), expected_weights, atol=1e-5)


def test_fused_untraced_path_equals_explicit_traced_path(attention):
    x = torch.randn(3, 12, 32)
    fused = attention(x)
    with trace(attention, ["hook_weights"]):
        explicit = attention(x)
    torch.testing.assert_close(fused, explicit, atol=1e-6, rtol=1e-5)


def test_attention_rows_sum_to_one_and_never_look_ahead(attention):
    with trace(attention, ["hook_weights", "hook_scores"]) as tr:
        attention(torch.randn(2, 10, 32))
    weights = tr["hook_weights"]  # (B, H, T, T)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 10))
    future = torch.ones(10, 10, dtype=torch.bool).triu(1)
    assert torch.all(weights[..., future] == 0)
    assert torch.all(torch.isneginf(tr["hook_scores"][..., future]))


def test_changing_a_later_token_does_not_change_earlier_outputs(attention):
    x = torch.randn(1, 8, 32)
    y = x.clone()
    y[0, 5:] = torch.randn(3, 32)
    torch.testing.assert_close(attention(x)[0, :5], attention(y)[0, :5])
    assert not torch.allclose(attention(x)[0, 5:], attention(y)[0, 5:])


def test_trace_records_per_head_shapes(attention):
    with trace(attention) as tr:
        attention(torch.randn(2, 6, 32))
    shapes = tr.shapes()
    for name in ("hook_q", "hook_k", "hook_v"):
        assert shapes[name] == (2, 4, 6, 8)
    assert shapes["hook_scores"] == shapes["hook_weights"] == (2, 4, 6, 6)
    assert shapes["hook_z"] == shapes["hook_out"] == (2, 6, 32)
