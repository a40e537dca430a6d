"""Training dynamics computed from what a session recorded: how attention sharpens, how many FFN
units go dead, and how fast each weight matrix still moves.

Entropy and dead units are per block: `blocks[i]` for block i (every block of the model, in order);
the top-level `entropy` and `dead_units` repeat block 0's for older clients.

- Attention entropy per head: on the probe sentence, for every query position t >= 1 the entropy
  (bits) of its attention over positions 0..t, averaged over t; from each stored snapshot.
  Even attention over t + 1 tokens is log2(t + 1) bits, the `uniform` line; falling entropy is
  the "sharpening" of the seed document, measured.
- Dead units: the share of FFN hidden units whose activation is <= 0 on every probe token.
- Update ratio ‖ΔW‖ / ‖W‖ per weight matrix, from the metrics log (every kept step, thinned);
  null where the matrix started the step at zero (the log keeps NaN, JSON writes null).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.services.history import MetricsLog, SnapshotData
from model.names import block_label, block_name

MATRICES = ("W_q", "W_k", "W_v", "W_o", "W_1", "W_2")
MAX_POINTS = 500


def attention_entropy(attention: np.ndarray) -> list[float]:
    """[H][T][T] causal attention -> mean entropy (bits) per head over query positions 1..T-1."""
    att = np.asarray(attention, dtype=np.float64)  # (H, T, T)
    T = att.shape[-1]
    if T < 2:
        return [0.0] * att.shape[0]
    rows = att[:, 1:, :]  # (H, T-1, T): position 0 can only look at itself
    logs = np.log2(np.where(rows > 0, rows, 1.0))
    entropy = -(rows * logs).sum(axis=-1)  # (H, T-1)
    return entropy.mean(axis=-1).tolist()


def uniform_entropy(T: int) -> float:
    """The same average for even attention: mean of log2(t + 1) over t = 1..T-1."""
    return float(np.mean(np.log2(np.arange(2, T + 1)))) if T >= 2 else 0.0


def dead_share(ffn: np.ndarray) -> float:
    """(T, d_ff) activations -> share of units that never exceed 0 on any token."""
    values = np.asarray(ffn)
    return float(np.mean(~(values > 0).any(axis=0)))


def matrix_names(parameter_names: list[str]) -> dict[str, str]:
    """Series name -> parameter: "W_q" etc. for block 0, "blocks.1.W_q" for the blocks after."""
    names = {}
    for name in parameter_names:
        parts = name.split(".")  # blocks.<i>.<attn|ffn>.<W_x>.weight
        matrix = len(parts) == 5 and parts[0] == "blocks" and parts[4] == "weight"
        if matrix and parts[3] in MATRICES:
            block = int(parts[1])
            short = parts[3] if block == 0 else f"{block_name(block)}.{parts[3]}"
            names[short] = name
    return names


def _thin(n: int, limit: int) -> np.ndarray:
    return (
        np.arange(n) if n <= limit else np.unique(np.linspace(0, n - 1, limit).round().astype(int))
    )


def block_series(snapshots: list[SnapshotData], index: int) -> dict[str, Any]:
    """Block `index`'s entropy and dead-unit series, over the snapshots that hold that block
    (all of them, unless a session saved before later blocks were kept was loaded)."""
    held = [(s.step, s.blocks(), len(s.tokens)) for s in snapshots]
    probes = [(step, blocks[index], T) for step, blocks, T in held if len(blocks) > index]
    attention = [(step, p["attention"], T) for step, p, T in probes if p["attention"] is not None]
    per_step = [attention_entropy(a) for _, a, _ in attention]
    heads = len(per_step[0]) if per_step else 0
    entropy = {
        "steps": [step for step, _, _ in attention],
        "heads": [[row[h] for row in per_step] for h in range(heads)],
        "uniform": uniform_entropy(attention[0][2]) if attention else None,
    }
    ffn = [(step, np.asarray(p["ffn"])) for step, p, _ in probes if p["ffn"] is not None]
    dead = {
        "steps": [step for step, _ in ffn],
        "share": [dead_share(values) for _, values in ffn],
        "units": int(ffn[0][1].shape[-1]) if ffn else None,
    }
    return {
        "index": index,
        "name": block_name(index),
        "label": block_label(index),
        "entropy": entropy,
        "dead_units": dead,
    }


def dynamics_payload(
    snapshots: list[SnapshotData], log: MetricsLog, parameter_names: list[str], n_blocks: int
) -> dict[str, Any]:
    blocks = [block_series(snapshots, i) for i in range(n_blocks)]
    data = log.to_dict()
    keep = _thin(len(data["train"]["steps"]), MAX_POINTS)
    names = matrix_names(parameter_names)
    ratios = {short: data["update_ratios"][name][keep] for short, name in names.items()}
    return {
        "entropy": blocks[0]["entropy"],
        "dead_units": blocks[0]["dead_units"],
        "blocks": blocks,
        "update_ratio": {
            "steps": data["train"]["steps"][keep],
            "matrices": ratios,
            "parameters": names,
        },
    }
