"""Multi-head causal self-attention with four separate, named projections W_q, W_k, W_v, W_o."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from model.config import ModelConfig
from model.tracing import HookPoint


class CausalSelfAttention(nn.Module):
    """Each position mixes the value vectors of itself and earlier positions.

    The weights it learns are its own (W_q, W_k, W_v, W_o); what it hands to the next layer is an
    output tensor of the same shape as its input, built from the other tokens of the sequence.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.head_dim = config.head_dim
        self.dropout = config.dropout
        self.W_q = nn.Linear(d, d)
        self.W_k = nn.Linear(d, d)
        self.W_v = nn.Linear(d, d)
        self.W_o = nn.Linear(d, d)
        self.attn_drop = nn.Dropout(config.dropout)
        self.hook_q = HookPoint()  # (B, H, T, hd)
        self.hook_k = HookPoint()  # (B, H, T, hd)
        self.hook_v = HookPoint()  # (B, H, T, hd)
        self.hook_scores = HookPoint()  # (B, H, T, T), masked entries are -inf
        self.hook_weights = HookPoint()  # (B, H, T, T), rows sum to 1
        self.hook_z = HookPoint()  # (B, T, C): heads concatenated, before W_o
        self.hook_out = HookPoint()  # (B, T, C): after W_o

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape  # (B, T, C)
        q = self.hook_q(self._split_heads(self.W_q(x)))  # (B, H, T, hd)
        k = self.hook_k(self._split_heads(self.W_k(x)))  # (B, H, T, hd)
        v = self.hook_v(self._split_heads(self.W_v(x)))  # (B, H, T, hd)
        if self.hook_scores.is_listened_to or self.hook_weights.is_listened_to:
            z = self._explicit_attention(q, k, v)  # (B, H, T, hd)
        else:
            drop = self.dropout if self.training else 0.0
            z = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        z = self.hook_z(z.transpose(1, 2).reshape(B, T, C))  # (B, T, C)
        return self.hook_out(self.W_o(z))  # (B, T, C)

    def _explicit_attention(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        """softmax(q k^T / sqrt(hd) + causal mask) v, written out so a trace can see each step."""
        T = q.size(-2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, H, T, T)
        future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)  # (T, T)
        scores = self.hook_scores(scores.masked_fill(future, float("-inf")))  # (B, H, T, T)
        weights = self.hook_weights(torch.softmax(scores, dim=-1))  # (B, H, T, T)
        return self.attn_drop(weights) @ v  # (B, H, T, hd)
