"""Named hook points and a context manager that records what passes through them.

Every intermediate the browser shows (Q, K, V, attention weights, FFN activations, residual sums,
logits) flows through a `HookPoint`: an identity module named by its path in the model, e.g.
`blocks.0.attn.hook_weights`. Nothing is stored on the model. `trace(model)` attaches forward hooks
for the duration of a `with` block and always removes them; outside it the hook points cost one
identity call each, so the untraced forward runs at plain-PyTorch speed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn


class HookPoint(nn.Module):
    """Identity; a place where a trace can listen."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @property
    def is_listened_to(self) -> bool:
        return bool(self._forward_hooks)


@dataclass
class Trace:
    """Detached copies of the intermediates asked for, in the order they were computed."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    keep_grad: bool = False

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.tensors[name]

    def __contains__(self, name: object) -> bool:
        return name in self.tensors

    def names(self) -> list[str]:
        return list(self.tensors)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tuple(t.shape) for name, t in self.tensors.items()}


def hook_points(model: nn.Module) -> dict[str, HookPoint]:
    return {name: m for name, m in model.named_modules() if isinstance(m, HookPoint)}


def _select(names: Iterable[str], patterns: Iterable[str] | None) -> list[str]:
    all_names = list(names)
    if patterns is None:
        return all_names
    wanted = list(patterns)
    return [n for n in all_names if any(fnmatch.fnmatchcase(n, p) for p in wanted)]


@contextmanager
def trace(model: nn.Module, patterns: Iterable[str] | None = None) -> Iterator[Trace]:
    """Record the hook points whose names match any glob in `patterns` (all when None).

    >>> with trace(model, ["*.attn.hook_weights"]) as tr:
    ...     model(ids)
    >>> tr["blocks.0.attn.hook_weights"].shape   # (B, H, T, T)
    """
    recorded = Trace()
    points = hook_points(model)
    handles = []
    try:
        for name in _select(points, patterns):
            handles.append(points[name].register_forward_hook(_recorder(recorded, name)))
        yield recorded
    finally:
        for handle in handles:
            handle.remove()


def _recorder(recorded: Trace, name: str) -> Callable[[nn.Module, object, torch.Tensor], None]:
    def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        recorded.tensors[name] = output.detach().clone()

    return hook
