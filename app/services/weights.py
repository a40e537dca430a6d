"""Every weight matrix by name: statistics, a histogram, change since init, heatmap values."""

from __future__ import annotations

import fnmatch
from typing import Any

import numpy as np
import torch

from app.services.errors import FieldError
from app.services.tensors import as_matrix, downsample, round_significant, to_numpy
from model.transformer import TransformerLM

HISTOGRAM_BINS = 30


def initial_state(model: TransformerLM) -> dict[str, torch.Tensor]:
    """The weights a model of this config and seed starts from (init is seeded by config.seed)."""
    fresh = TransformerLM(model.config)
    return {name: p.detach().clone() for name, p in fresh.named_parameters()}


def select(names: list[str], patterns: list[str] | None) -> list[str]:
    if not patterns:
        return names
    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if not chosen:
        asked = ",".join(patterns)
        allowed = f"a weight name or glob matching one of {names}"
        raise FieldError("names", asked, allowed, f"names {asked!r} matches no weight; {allowed}")
    return chosen


def _histogram(values: np.ndarray) -> dict[str, Any]:
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    return {"edges": round_significant(edges.astype(np.float32)), "counts": counts}


def _change(current: torch.Tensor, initial: torch.Tensor | None) -> float:
    if initial is None:
        return 0.0
    delta = float(torch.linalg.vector_norm(current.double().cpu() - initial.double().cpu()))
    base = float(torch.linalg.vector_norm(initial.double()))
    return delta / base if base > 0 else delta


def weight_entry(
    name: str,
    param: torch.Tensor,
    initial: torch.Tensor | None,
    max_size: int | None,
    values: bool,
    digits: int = 4,
) -> dict[str, Any]:
    array = to_numpy(param)
    wide = array.astype(np.float64)  # statistics of large weights must not overflow float32
    entry: dict[str, Any] = {
        "name": name,
        "shape": list(array.shape),
        "mean": float(wide.mean()),
        "std": float(wide.std()),
        "norm": float(np.linalg.norm(wide)),
        "change_from_init": _change(param, initial),
        "histogram": _histogram(array),
        "values": None,
        "downsampled": False,
    }
    if values:
        pooled, changed = downsample(as_matrix(array), max_size)
        entry["values"], entry["downsampled"] = round_significant(pooled, digits), changed
    return entry


def weights_payload(
    model: TransformerLM,
    init: dict[str, torch.Tensor],
    step: int,
    max_size: int | None,
    values: bool,
    patterns: list[str] | None,
    digits: int = 4,
) -> dict[str, Any]:
    params = dict(model.named_parameters())
    names = select(list(params), patterns)
    with torch.no_grad():
        entries = [weight_entry(n, params[n], init.get(n), max_size, values, digits) for n in names]
    return {"step": step, "weights": entries}


def downsampled_weights(model: TransformerLM, size: int = 32) -> dict[str, np.ndarray]:
    """Every parameter as a small heatmap, for snapshots."""
    with torch.no_grad():
        return {
            name: round_significant(downsample(as_matrix(to_numpy(p)), size)[0])
            for name, p in model.named_parameters()
        }
