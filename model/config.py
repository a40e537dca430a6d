"""The model's configuration: one frozen dataclass, validated when it is made."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from model.errors import FieldError

Activation = Literal["gelu", "relu"]
NormPlacement = Literal["pre", "post", "none"]

ACTIVATIONS: tuple[str, ...] = ("gelu", "relu")
NORM_PLACEMENTS: tuple[str, ...] = ("pre", "post", "none")
MAX_BLOCKS = 4


class ConfigError(FieldError):
    """A model config value that cannot work; names the field, the value and what is allowed."""


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and switches of the model. Every field can be set from the API or the CLI."""

    vocab_size: int
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 256
    # The longest sequence the position table covers; training windows use exactly this length.
    context_length: int = 32
    n_blocks: int = 1
    activation: Activation = "gelu"
    # Ablations: a block without attention cannot mix tokens; one without an FFN has no per-token
    # non-linear processing. Their parameters are then never created.
    use_attention: bool = True
    use_ffn: bool = True
    residual: bool = True
    # "pre": x + f(LN(x)) (GPT-2 style); "post": LN(x + f(x)) (original Transformer); "none".
    norm: NormPlacement = "pre"
    dropout: float = 0.0
    # Seeds the initial weights: same config and seed give the same model, bit for bit.
    seed: int = 0

    def __post_init__(self) -> None:
        self._check_positive("vocab_size", self.vocab_size, minimum=2)
        self._check_positive("d_model", self.d_model)
        self._check_positive("n_heads", self.n_heads)
        self._check_positive("d_ff", self.d_ff)
        self._check_positive("context_length", self.context_length, minimum=2)
        if not isinstance(self.n_blocks, int) or not 1 <= self.n_blocks <= MAX_BLOCKS:
            raise ConfigError("n_blocks", self.n_blocks, f"an integer from 1 to {MAX_BLOCKS}")
        if self.d_model % self.n_heads:
            raise ConfigError(
                "d_model",
                self.d_model,
                # each head gets d_model / n_heads dims
                f"a multiple of n_heads ({self.n_heads})",
            )
        if self.activation not in ACTIVATIONS:
            raise ConfigError("activation", self.activation, f"one of {list(ACTIVATIONS)}")
        if self.norm not in NORM_PLACEMENTS:
            raise ConfigError("norm", self.norm, f"one of {list(NORM_PLACEMENTS)}")
        if not (isinstance(self.dropout, int | float) and 0.0 <= self.dropout < 1.0):
            raise ConfigError("dropout", self.dropout, "a number in [0, 1)")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ConfigError("seed", self.seed, "an integer in [0, 2**63)")

    @staticmethod
    def _check_positive(name: str, value: object, minimum: int = 1) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(name, value, f"an integer >= {minimum}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def parameter_count(self) -> int:
        """Number of parameters a model of this config holds, computed without allocating it."""
        d, f = self.d_model, self.d_ff
        ln = 2 * d if self.norm != "none" else 0
        per_block = 0
        if self.use_attention:
            per_block += 4 * (d * d + d) + ln
        if self.use_ffn:
            per_block += (d * f + f) + (f * d + d) + ln
        embeddings = self.vocab_size * d + self.context_length * d
        final_norm = 2 * d if self.norm == "pre" else 0
        head = d * self.vocab_size + self.vocab_size + final_norm
        return embeddings + self.n_blocks * per_block + head

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            name = unknown[0]
            raise ConfigError(
                name,
                values[name],
                f"a field of {sorted(known)}",
                f"{name} is not a model setting; the settings are {sorted(known)}",
            )
        return cls(**values)

    def with_changes(self, **changes: Any) -> ModelConfig:
        return replace(self, **changes)


def init_std(config: ModelConfig) -> float:
    """Standard deviation of the random initial weights (GPT-2's 0.02, kept for every size)."""
    del config
    return 0.02


def residual_init_std(config: ModelConfig) -> float:
    """Output projections feeding the residual stream start smaller so its variance stays ~1."""
    return init_std(config) / math.sqrt(2 * config.n_blocks)
