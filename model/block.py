"""One transformer block: attention, then the feed-forward network, with residuals and LayerNorm."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from model.attention import CausalSelfAttention
from model.config import ModelConfig
from model.feed_forward import FeedForward
from model.tracing import HookPoint


class Block(nn.Module):
    """x -> attention -> FFN, where each sublayer's output is what the next one receives.

    `norm` decides where LayerNorm sits (pre: before each sublayer; post: after each residual sum;
    none), `residual` whether the sublayer's input is added back. A sublayer switched off by the
    config has no parameters at all.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.norm = config.norm
        self.residual = config.residual
        self.attn = CausalSelfAttention(config) if config.use_attention else None
        self.ffn = FeedForward(config) if config.use_ffn else None
        with_norm = config.norm != "none"
        self.ln_attn = nn.LayerNorm(config.d_model) if with_norm and self.attn else None
        self.ln_ffn = nn.LayerNorm(config.d_model) if with_norm and self.ffn else None
        self.resid_drop = nn.Dropout(config.dropout)
        self.hook_resid_mid = HookPoint()  # (B, T, C): after the attention sublayer
        self.hook_resid_post = HookPoint()  # (B, T, C): after the FFN sublayer

    def _sublayer(
        self,
        x: torch.Tensor,
        layer: Callable[[torch.Tensor], torch.Tensor],
        ln: nn.LayerNorm | None,
    ) -> torch.Tensor:
        if self.norm == "pre" and ln is not None:
            out = self.resid_drop(layer(ln(x)))  # (B, T, C)
            return x + out if self.residual else out
        out = self.resid_drop(layer(x))  # (B, T, C)
        summed = x + out if self.residual else out
        return ln(summed) if ln is not None else summed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.attn is not None:
            x = self._sublayer(x, self.attn, self.ln_attn)  # (B, T, C)
        x = self.hook_resid_mid(x)
        if self.ffn is not None:
            x = self._sublayer(x, self.ffn, self.ln_ffn)  # (B, T, C)
        return self.hook_resid_post(x)
