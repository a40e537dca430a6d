"""Named starting points.

`tiny` trains in seconds on two cores; `seed` has the seed document's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.errors import FieldError


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    # ModelConfig fields other than vocab_size (which comes from the tokenizer).
    model: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 16
    lr: float = 3e-3


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        description="d_model 64, 4 heads, d_ff 256, context 32, batch 16: learns in seconds",
        model={"d_model": 64, "n_heads": 4, "d_ff": 256, "context_length": 32},
        batch_size=16,
        lr=3e-3,
    ),
    "small": Preset(
        name="small",
        description="d_model 128, 4 heads, d_ff 512, context 64, batch 32",
        model={"d_model": 128, "n_heads": 4, "d_ff": 512, "context_length": 64},
        batch_size=32,
        lr=2e-3,
    ),
    "seed": Preset(
        name="seed",
        description=(
            "the seed document's shapes: batch 4, seq 256, d_model 768, 12 heads, d_ff 3072 "
            "(about half a second per step on two cores)"
        ),
        model={"d_model": 768, "n_heads": 12, "d_ff": 3072, "context_length": 256},
        batch_size=4,
        lr=3e-4,
    ),
}
DEFAULT_PRESET = "tiny"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise FieldError(
            "preset",
            name,
            f"one of {sorted(PRESETS)}",
            f"preset {name!r} is unknown: choose one of {sorted(PRESETS)}",
        ) from None
