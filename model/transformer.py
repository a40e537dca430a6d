"""The whole language model: embeddings -> block(s) -> final norm -> LM head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.block import Block
from model.config import ModelConfig, init_std, residual_init_std
from model.tracing import HookPoint


class TransformerLM(nn.Module):
    """Predicts the next token at every position from that position and, through attention only,
    the positions before it."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.context_length, config.d_model)
        self.emb_drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_blocks))
        self.ln_final = nn.LayerNorm(config.d_model) if config.norm == "pre" else None
        self.lm_head = nn.Linear(config.d_model, config.vocab_size)
        self.hook_tok_emb = HookPoint()  # (B, T, C)
        self.hook_pos_emb = HookPoint()  # (T, C)
        self.hook_embed = HookPoint()  # (B, T, C): token + position, the block's input
        self.hook_final = HookPoint()  # (B, T, C): after the final norm
        self.hook_logits = HookPoint()  # (B, T, V)
        self._init_weights()

    def _init_weights(self) -> None:
        """Every weight starts random from the config's seed, independently of the global RNG."""
        gen = torch.Generator().manual_seed(self.config.seed)
        std, resid_std = init_std(self.config), residual_init_std(self.config)
        for name, p in self.named_parameters():
            if name.endswith(("W_o.weight", "W_2.weight")):
                nn.init.normal_(p, 0.0, resid_std, generator=gen)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
            elif name.startswith("ln") or ".ln" in name:
                nn.init.ones_(p)  # LayerNorm gain
            else:
                nn.init.normal_(p, 0.0, std, generator=gen)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) long -> logits (B, T, V)."""
        T = ids.shape[1]
        if self.config.context_length < T:
            raise ValueError(
                f"sequence of {T} tokens is longer than context_length={self.config.context_length}"
            )
        positions = torch.arange(T, device=ids.device)  # (T,)
        tok = self.hook_tok_emb(self.tok_emb(ids))  # (B, T, C)
        pos = self.hook_pos_emb(self.pos_emb(positions))  # (T, C)
        x = self.hook_embed(self.emb_drop(tok + pos))  # (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        if self.ln_final is not None:
            x = self.ln_final(x)  # (B, T, C)
        x = self.hook_final(x)
        return self.hook_logits(self.lm_head(x))  # (B, T, V)

    def loss(self, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy in nats."""
        logits = self(ids)  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    def weight_names(self) -> list[str]:
        """Parameter names, in the order the diagram draws them."""
        return [name for name, _ in self.named_parameters()]
