"""A one-block language model and its training loop, written without any attnflow code.

The yardstick for bench_api.py: the loop a PyTorch user would write for the same shapes, with
the usual speed-ups (one fused QKV projection, scaled_dot_product_attention, torch's default
thread count). Pre-LN block, GELU FFN, final LayerNorm, LM head, AdamW with default settings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PlainBlockLM(nn.Module):
    def __init__(self, vocab: int, d: int, heads: int, d_ff: int, context: int) -> None:
        super().__init__()
        self.heads = heads
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(context, d)
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        B, T = ids.shape
        x = self.tok(ids) + self.pos(torch.arange(T, device=ids.device))  # (B, T, d)
        q, k, v = self.qkv(self.ln1(x)).split(x.shape[-1], dim=-1)  # 3 x (B, T, d)
        q, k, v = (t.view(B, T, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, hd)
        x = x + self.proj(z.transpose(1, 2).reshape(B, T, -1))
        x = x + self.ff(self.ln2(x))
        return self.head(self.ln_f(x))  # (B, T, V)


class PlainTraining:
    """Random windows of a token sequence; loss, zero_grad, backward, AdamW step."""

    def __init__(
        self,
        ids: torch.Tensor,
        shapes: dict[str, int],
        batch: int,
        lr: float,
        bf16: bool = False,
        device: str = "cpu",
    ) -> None:
        torch.manual_seed(0)
        vocab = int(ids.max()) + 1
        self.model = PlainBlockLM(
            vocab, shapes["d_model"], shapes["n_heads"], shapes["d_ff"], shapes["context_length"]
        ).to(device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr)
        self.ids, self.batch, self.T = ids, batch, shapes["context_length"]
        self.bf16, self.device = bf16, torch.device(device)

    def step(self) -> float:
        starts = torch.randint(0, len(self.ids) - self.T - 1, (self.batch,))
        rows = torch.stack([self.ids[s : s + self.T + 1] for s in starts.tolist()])
        rows = rows.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.model(rows[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), rows[:, 1:].flatten())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()
