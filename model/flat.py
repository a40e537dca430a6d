"""A model's parameters as views into one flat buffer.

The trainer reports every parameter's update ‖W_after − W_before‖ at every step. With one
contiguous buffer, "copy every weight" is one memcpy and "subtract" one vector op instead of one
call per parameter (bench/bench_model.py measures what the records cost).
"""

from __future__ import annotations

import torch
from torch import nn


class FlatParameters:
    """Re-homes each parameter's data into a slice of `values`.

    The Parameter objects stay the same (the optimizer and state_dict see nothing different);
    only their storage moves, so in-place updates of any parameter show up in `values`.
    """

    def __init__(self, params: list[nn.Parameter]) -> None:
        if len({(p.device, p.dtype) for p in params}) != 1:
            raise ValueError("all parameters must share one device and dtype to be flattened")
        self.params = params
        self.sizes = [p.numel() for p in params]
        with torch.no_grad():
            self.values = torch.cat([p.detach().reshape(-1) for p in params])  # (N,)
        for param, view in zip(params, torch.split(self.values, self.sizes), strict=True):
            param.data = view.view_as(param)

    def norms(self, flat: torch.Tensor) -> torch.Tensor:
        """Per-parameter L2 norms of a flat tensor laid out like `values`: (P,)."""
        return torch.stack(torch._foreach_norm(list(torch.split(flat, self.sizes))))

    def split(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Per-parameter views of a flat tensor laid out like `values` (kept, they stay valid)."""
        return list(torch.split(flat, self.sizes))

    @staticmethod
    def norms_of(parts: list[torch.Tensor]) -> torch.Tensor:
        """L2 norm of each tensor in one multi-tensor call: (len(parts),)."""
        return torch.stack(torch._foreach_norm(parts))

    def grad_norms(self) -> torch.Tensor:
        """Per-parameter L2 norms of the gradients (0 for a parameter without one): (P,)."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        return torch.stack(torch._foreach_norm(grads))
