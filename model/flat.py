"""A model's parameters and gradients as views into two flat buffers.

The trainer reports every parameter's gradient norm and update ‖W_after − W_before‖ at every step.
With one contiguous buffer, "copy every weight" is one memcpy and "subtract" one vector op, instead
of one call per parameter: on the tiny preset that is the difference between the records costing
a few percent of a step and a fifth of it (bench/bench_model.py).
"""

from __future__ import annotations

import torch
from torch import nn


class FlatParameters:
    """Re-homes each parameter's data and gradient into slices of `values` and `grads`.

    The Parameter objects stay the same (the optimizer and state_dict see nothing different);
    only their storage moves. Gradients accumulate in place into `grads`, so they must be zeroed
    with `zero_grad()` here, never set to None.
    """

    def __init__(self, params: list[nn.Parameter]) -> None:
        if len({(p.device, p.dtype) for p in params}) != 1:
            raise ValueError("all parameters must share one device and dtype to be flattened")
        self.params = params
        self.sizes = [p.numel() for p in params]
        with torch.no_grad():
            self.values = torch.cat([p.detach().reshape(-1) for p in params])  # (N,)
        self.grads = torch.zeros_like(self.values)  # (N,)
        self.value_views = list(torch.split(self.values, self.sizes))
        self.grad_views = [
            g.view_as(p) for g, p in zip(torch.split(self.grads, self.sizes), params, strict=True)
        ]
        for param, view in zip(params, self.value_views, strict=True):
            param.data = view.view_as(param)
        self.zero_grad()

    def zero_grad(self) -> None:
        """Zero the gradient buffer and (re)attach each parameter's slice of it as its .grad."""
        self.grads.zero_()
        for param, grad in zip(self.params, self.grad_views, strict=True):
            if param.grad is not grad:
                param.grad = grad

    def norms(self, flat: torch.Tensor) -> torch.Tensor:
        """Per-parameter L2 norms of a flat tensor laid out like `values`: (P,)."""
        return torch.stack(torch._foreach_norm(list(torch.split(flat, self.sizes))))
