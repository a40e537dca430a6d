"""Tensors to JSON-ready numpy: significant-digit rounding and mean-pool downsampling.

Rounding is what keeps the JSON small: a float32 printed in full takes ~11 characters, rounded to
4 significant digits ~6, and orjson then prints the shortest form that reads back the same.
"""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_DIGITS = 4


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()


def round_significant(values: np.ndarray, digits: int = DEFAULT_DIGITS) -> np.ndarray:
    """Round to `digits` significant digits (0 keeps full float32); non-finite values pass."""
    values = np.asarray(values, dtype=np.float32)
    if digits <= 0 or values.size == 0:
        return values
    as64 = values.astype(np.float64)
    finite = np.isfinite(as64) & (as64 != 0)
    magnitude = np.floor(np.log10(np.abs(np.where(finite, as64, 1.0))))
    scale = 10.0 ** (digits - 1 - magnitude)
    rounded = np.where(finite, np.round(as64 * scale) / scale, as64)
    return np.ascontiguousarray(rounded, dtype=np.float32)


def pool_axis(values: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Average contiguous runs so the axis has `size` entries (runs differ by at most one).

    -inf entries (masked scores) stay -inf only where a whole run is masked; partly masked runs
    average their finite entries, so a pooled score map still shows the causal triangle.
    """
    n = values.shape[axis]
    if n <= size:
        return values
    starts = (np.arange(size) * n) // size
    finite = np.isfinite(values)
    if finite.all() and n % size == 0:  # equal runs: a reshape and a mean, the fastest way
        split = (*values.shape[:axis], size, n // size, *values.shape[axis + 1 :])
        return values.reshape(split).mean(axis=axis + 1, dtype=np.float32)
    if finite.all():  # the common case (weights, activations): a plain block mean
        shape = [1] * values.ndim
        shape[axis] = size
        counts = np.diff(np.append(starts, n)).reshape(shape)
        return (np.add.reduceat(values, starts, axis=axis) / counts).astype(np.float32)
    sums = np.add.reduceat(np.where(finite, values, 0.0), starts, axis=axis)
    hits = np.add.reduceat(finite.astype(np.float32), starts, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = sums / hits
    return np.where(hits > 0, pooled, -np.inf).astype(np.float32)


def downsample(values: np.ndarray, max_dim: int | None) -> tuple[np.ndarray, bool]:
    """Each axis longer than max_dim mean-pooled to max_dim entries; (values, changed)."""
    if not max_dim:
        return values, False
    changed = False
    for axis, n in enumerate(values.shape):
        if n > max_dim:
            values = pool_axis(values, axis, max_dim)
            changed = True
    return values, changed


def as_matrix(values: np.ndarray) -> np.ndarray:
    """1-D parameters (biases, LayerNorm gains) as one row, so every weight is a heatmap."""
    return values.reshape(1, -1) if values.ndim == 1 else values
