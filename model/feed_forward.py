"""The position-wise feed-forward network: W_1 (d -> d_ff), activation, W_2 (d_ff -> d)."""

from __future__ import annotations

import torch
from torch import nn

from model.config import ModelConfig
from model.tracing import HookPoint


class FeedForward(nn.Module):
    """Processes each position on its own: it sees only what attention already mixed in."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.W_1 = nn.Linear(config.d_model, config.d_ff)
        self.W_2 = nn.Linear(config.d_ff, config.d_model)
        self.act = nn.GELU() if config.activation == "gelu" else nn.ReLU()
        self.drop = nn.Dropout(config.dropout)
        self.hook_pre = HookPoint()  # (B, T, F): W_1 x + b_1, before the activation
        self.hook_post = HookPoint()  # (B, T, F): after the activation
        self.hook_out = HookPoint()  # (B, T, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.hook_pre(self.W_1(x))  # (B, T, F)
        post = self.hook_post(self.act(pre))  # (B, T, F)
        return self.hook_out(self.drop(self.W_2(post)))  # (B, T, C)
