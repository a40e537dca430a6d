"""Next-token training with AdamW, one record per step, and callbacks for whoever listens.

The trainer knows nothing of the web app: the app's stream and snapshot publishers are callbacks.
Each step's record holds what the diagram animates: the loss, every parameter's gradient norm, and
every parameter's update ‖W_after − W_before‖ and its ratio to ‖W‖ (None where W starts the step
at zero: see `update_ratio`).

What keeps the records cheap (bench/bench_model.py measures it): the parameters live in one flat
buffer, so "copy every weight" is one memcpy into a buffer kept between steps and "subtract" one
vector op; all norms of a step come from two multi-tensor calls; ‖W‖ of this step is ‖W_after‖ of
the last one. AdamW is torch's fused kernel (one pass over weights, gradients and moments).

Precision: "bf16" runs the forward pass under autocast (matmuls in bfloat16) while the weights,
their gradients and the AdamW moments stay float32; every number in a record is float32.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch

from model.data import TokenStream
from model.errors import FieldError
from model.flat import FlatParameters
from model.precision import PRECISIONS, autocast
from model.transformer import TransformerLM


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN/inf; the weights stay as they were before that step."""

    def __init__(self, step: int, loss: float, reason: str) -> None:
        self.step = step
        self.loss = loss
        super().__init__(
            f"training diverged at step {step} ({reason}, loss={loss}); the weights are kept "
            "as they were after the last good step. Try a smaller learning rate."
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.99
    eps: float = 1e-8
    # Held-out loss every `eval_every` steps on `eval_batches` fixed windows (0 turns it off).
    eval_every: int = 25
    eval_batches: int = 4
    # Seeds the order of training windows (the weights have the model config's own seed).
    data_seed: int = 0
    # Per-parameter norms in each record; off only to measure what they cost.
    instrument: bool = True
    # "bf16": forward passes under bfloat16 autocast; weights, grads and AdamW state stay fp32.
    precision: str = "fp32"

    def __post_init__(self) -> None:
        for name in ("lr", "eps"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and value > 0):
                raise FieldError(name, value, "a finite number greater than 0")
        if not (_is_number(self.weight_decay) and 0 <= self.weight_decay < math.inf):
            raise FieldError("weight_decay", self.weight_decay, "a finite number >= 0")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not (_is_number(value) and 0 <= value < 1):
                raise FieldError(name, value, "a number from 0 up to (not including) 1")
        for name, minimum in (("batch_size", 1), ("eval_every", 0), ("eval_batches", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise FieldError(name, value, f"a whole number >= {minimum}")
        if self.precision not in PRECISIONS:
            raise FieldError("precision", self.precision, f"one of {list(PRECISIONS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StepRecord:
    step: int  # the number of updates applied after this step (1 for the first)
    loss: float  # training loss of this step's batch, before the update
    lr: float
    grad_norm: float  # over all parameters
    grad_norms: dict[str, float] = field(default_factory=dict)
    update_norms: dict[str, float] = field(default_factory=dict)  # ‖W_after − W_before‖
    # ‖ΔW‖ / ‖W_before‖; None ("new") where W_before is zero or next to it (see update_ratio)
    update_ratios: dict[str, float | None] = field(default_factory=dict)
    time_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvalRecord:
    step: int
    heldout_loss: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ‖W_before‖ at or below this share of ‖ΔW‖ makes the ratio undefined: a ratio above 1e6 only
# ever comes from a weight that started the step at zero (AdamW moves a weight by ~lr per entry).
NEW_WEIGHT_SHARE = 1e-6


def update_ratio(update: float, weight: float) -> float | None:
    """‖ΔW‖ / ‖W_before‖, or None where ‖W_before‖ <= NEW_WEIGHT_SHARE · ‖ΔW‖ (zero included).

    A zero-initialised bias at step 1 would otherwise report ‖ΔW‖ / 0, e.g. 2.4e10: a number that
    says nothing. None means "new": the weight had no size to compare its change with.
    """
    if weight <= NEW_WEIGHT_SHARE * update:
        return None
    return update / weight


def fused_adamw_supported(device: torch.device) -> bool:
    """torch's fused AdamW kernel exists for CPU and CUDA parameters (not e.g. meta or mps)."""
    return device.type in ("cpu", "cuda")


class TrainerCallback(Protocol):
    def on_step(self, record: StepRecord) -> None: ...
    def on_eval(self, record: EvalRecord) -> None: ...


class Trainer:
    def __init__(
        self,
        model: TransformerLM,
        data: TokenStream,
        config: TrainConfig,
        callbacks: Sequence[TrainerCallback] = (),
    ) -> None:
        self.model = model
        self.data = data
        self.config = config
        self.callbacks = list(callbacks)
        self.step = 0
        self.generator = torch.Generator().manual_seed(config.data_seed)
        self.device = next(model.parameters()).device
        self.optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=config.lr,
            betas=(config.beta1, config.beta2),
            eps=config.eps,
            weight_decay=config.weight_decay,
            fused=fused_adamw_supported(self.device) or None,
        )
        self._names = [name for name, _ in model.named_parameters()]
        self._flat = FlatParameters(list(model.parameters()))
        self._before: torch.Tensor | None = None  # (N,) kept between steps: no allocation
        self._pair_views: list[torch.Tensor] = []  # per-parameter views of _before, then values
        self._weight_norms: list[float] | None = None  # ‖W‖ of each, as the last step left it
        self._weight_version = -1
        batches = data.heldout_batches(
            config.batch_size, model.config.context_length, config.eval_batches
        )
        # One forward over all held-out windows: the mean of equal-sized batch means, faster.
        self._heldout = (torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]))

    def set_lr(self, lr: float) -> None:
        if not (math.isfinite(lr) and lr > 0):
            raise FieldError("lr", lr, "a finite number greater than 0")
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.config = TrainConfig(**{**self.config.to_dict(), "lr": lr})

    def train_step(self) -> StepRecord:
        started = time.perf_counter()
        if not self.model.training:
            self.model.train()
        x, y = self.data.batch(
            "train", self.config.batch_size, self.model.config.context_length, self.generator
        )  # (B, T), (B, T)
        with autocast(self.config.precision, self.device):
            loss = self.model.loss(x, y)  # fp32: cross-entropy runs in fp32 under autocast
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise TrainingDiverged(self.step + 1, loss_value, "non-finite loss")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norms = self._flat.grad_norms()  # (P,)
        grad_total = grad_norms.norm().item()
        if not math.isfinite(grad_total):
            self.optimizer.zero_grad(set_to_none=True)
            raise TrainingDiverged(self.step + 1, loss_value, "non-finite gradient")
        if self.config.instrument:
            record = self._apply_update(grad_norms)
        else:
            self.optimizer.step()
            record = StepRecord(0, 0.0, 0.0, 0.0)
        self.step += 1
        record.step, record.loss, record.grad_norm = self.step, loss_value, grad_total
        record.lr = self.optimizer.param_groups[0]["lr"]
        record.time_ms = (time.perf_counter() - started) * 1000
        for callback in self.callbacks:
            callback.on_step(record)
        if self.config.eval_every and self.step % self.config.eval_every == 0:
            self.evaluate()
        return record

    def _apply_update(self, grad_norms: torch.Tensor) -> StepRecord:
        """optimizer.step() while measuring each parameter's update, in a handful of calls."""
        flat = self._flat
        with torch.no_grad():
            if self._before is None:
                self._before = torch.empty_like(flat.values)
                self._pair_views = flat.split(self._before) + flat.split(flat.values)
            before = self._before.copy_(flat.values)  # (N,) one copy of every weight
            weight = self._norms_before()  # ‖W_before‖ of each parameter
            self.optimizer.step()
            before.sub_(flat.values)  # (N,) W_before − W_after
            both = flat.norms_of(self._pair_views)  # (2P,): ‖ΔW‖ of each, then ‖W_after‖
            table = torch.cat([grad_norms, both]).tolist()  # one sync for all numbers
        n = len(self._names)
        grads, update, after = table[:n], table[n : 2 * n], table[2 * n :]
        self._remember_norms(after)
        ratio = [update_ratio(u, w) for u, w in zip(update, weight, strict=True)]
        return StepRecord(
            step=0,
            loss=0.0,
            lr=0.0,
            grad_norm=0.0,
            grad_norms=dict(zip(self._names, grads, strict=True)),
            update_norms=dict(zip(self._names, update, strict=True)),
            update_ratios=dict(zip(self._names, ratio, strict=True)),
        )

    def _version(self) -> int:
        """Changes whenever a weight is written in place by anything but the fused AdamW step
        (which leaves the version counters alone): a load, a reset, a test poisoning a bias."""
        return self._flat.values._version + sum(p._version for p in self._flat.params)

    def _norms_before(self) -> list[float]:
        if self._weight_norms is None or self._version() != self._weight_version:
            self._weight_norms = self._flat.norms(self._flat.values).tolist()
        return self._weight_norms

    def _remember_norms(self, after: list[float]) -> None:
        self._weight_norms, self._weight_version = after, self._version()

    def run(self, n_steps: int, should_stop: Callable[[], bool] | None = None) -> list[StepRecord]:
        records = []
        for _ in range(n_steps):
            if should_stop is not None and should_stop():
                break
            records.append(self.train_step())
        return records

    def heldout_loss(self) -> float:
        """Mean next-token loss on the fixed held-out windows, in the training precision."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), autocast(self.config.precision, self.device):
                return self.model.loss(*self._heldout).item()
        finally:
            self.model.train(was_training)

    def evaluate(self) -> EvalRecord:
        record = EvalRecord(step=self.step, heldout_loss=self.heldout_loss())
        for callback in self.callbacks:
            callback.on_eval(record)
        return record
