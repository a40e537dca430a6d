"""Train attention+FFN, FFN only and attention only on the same data, seed and step budget.

This is how attnflow measures, rather than asserts, that the combination learns what neither part
learns alone: three real runs whose held-out losses can be compared with the bigram bound (the best
any model that cannot look at earlier tokens can do on average).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from model.config import ModelConfig
from model.data import TokenStream, bigram_entropy
from model.names import ATTENTION_ONLY, BOTH, FFN_ONLY
from model.training import EvalRecord, StepRecord, TrainConfig, Trainer
from model.transformer import TransformerLM

# Each variant's switches, keyed and ordered as model/names.py lists them (they run in that order).
VARIANTS: dict[str, dict[str, bool]] = {
    BOTH: {"use_attention": True, "use_ffn": True},
    ATTENTION_ONLY: {"use_attention": True, "use_ffn": False},
    FFN_ONLY: {"use_attention": False, "use_ffn": True},
}


@dataclass
class VariantResult:
    variant: str
    parameters: int
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    heldout_loss: list[float] = field(default_factory=list)
    final_heldout_loss: float = float("nan")


@dataclass
class AblationResult:
    steps: int
    bigram_bound: float  # nats/token of an add-0.1 bigram model on the held-out split
    variants: dict[str, VariantResult]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Curve:
    def __init__(
        self, result: VariantResult, on_progress: Callable[[str, StepRecord], None] | None
    ):
        self.result = result
        self.on_progress = on_progress

    def on_step(self, record: StepRecord) -> None:
        self.result.steps.append(record.step)
        self.result.train_loss.append(record.loss)
        if self.on_progress is not None:
            self.on_progress(self.result.variant, record)

    def on_eval(self, record: EvalRecord) -> None:
        self.result.eval_steps.append(record.step)
        self.result.heldout_loss.append(record.heldout_loss)


def run_ablation(
    base: ModelConfig,
    data: TokenStream,
    train_config: TrainConfig,
    steps: int,
    on_progress: Callable[[str, StepRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: torch.device | None = None,
) -> AblationResult:
    """Three fresh models from `base` (same seed, same windows in the same order), on `device`
    (where `data` puts its batches)."""
    variants = {}
    for name, switches in VARIANTS.items():
        config = base.with_changes(**switches)
        model = TransformerLM(config).to(device or torch.device("cpu"))
        result = VariantResult(variant=name, parameters=config.parameter_count())
        trainer = Trainer(model, data, train_config, callbacks=[_Curve(result, on_progress)])
        trainer.run(steps, should_stop)
        result.final_heldout_loss = trainer.heldout_loss()
        variants[name] = result
    bound = bigram_entropy(data.train, data.heldout, base.vocab_size)
    return AblationResult(steps=steps, bigram_bound=bound, variants=variants)
