"""Stop a run that is blowing up, and put back the last good weights.

The trainer already stops on a non-finite loss or gradient; a learning rate that is merely far
too high (lr=10 on tiny) instead drives the loss up for thousands of steps (2.1 -> 1.5e3) and
wrecks the model with finite numbers. The rule, a trainer callback:

- smooth the per-step loss with an exponential moving average (`smoothing` = 0.1, ~10 steps);
- track the running minimum of that average (from the first step: a healthy run never climbs
  to 4x the loss it started from);
- after `warmup` (5) steps, the run has diverged when the average exceeds `factor` (default 4) times that minimum *and*
  is more than `margin` (1 nat) above it (so a loss near 0 does not trip on noise);
- every `keep_every` steps while the average is within 1.5x its minimum, the weights and AdamW
  moments are copied as the last good state (12 bytes per parameter); on divergence they are
  copied back in place and TrainingDiverged is raised with `rolled_back_to` set.

The step counter is not rolled back: steps stay monotonic in the history, which shows the spike.
"""

from __future__ import annotations

import math

import torch

from model.training import EvalRecord, StepRecord, Trainer, TrainingDiverged


class RolledBack(TrainingDiverged):
    """Divergence caught by the guard: the weights are those of step `rolled_back_to`."""

    def __init__(self, step: int, loss: float, reason: str, rolled_back_to: int) -> None:
        super().__init__(step, loss, reason)
        self.rolled_back_to = rolled_back_to


class DivergenceGuard:
    def __init__(
        self,
        trainer: Trainer,
        factor: float = 4.0,
        margin: float = 1.0,
        smoothing: float = 0.1,
        warmup: int = 5,
        keep_every: int = 25,
    ) -> None:
        self.trainer = trainer
        self.factor = factor
        self.margin = margin
        self.smoothing = smoothing
        self.warmup = warmup
        self.keep_every = keep_every
        self.average: float | None = None
        self.best = math.inf
        self.seen = 0
        self._params = list(trainer.model.parameters())
        self._weights: list[torch.Tensor] = []
        self._moments: list[dict[str, object]] = []
        self.good_step = trainer.step
        self.keep()

    def keep(self) -> None:
        """Copy the current weights and optimiser state as the last good ones."""
        with torch.no_grad():
            self._weights = [p.detach().clone() for p in self._params]
        state = self.trainer.optimizer.state
        self._moments = [
            {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in state[p].items()}
            if p in state
            else {}
            for p in self._params
        ]
        self.good_step = self.trainer.step

    def restore(self) -> int:
        """Copy the last good state back, in place (views of the parameters stay valid)."""
        state = self.trainer.optimizer.state
        with torch.no_grad():
            for param, weights, moments in zip(
                self._params, self._weights, self._moments, strict=True
            ):
                param.copy_(weights)
                if not moments:
                    state.pop(param, None)
                    continue
                current = state.setdefault(param, {})
                for key, value in moments.items():
                    if isinstance(value, torch.Tensor):
                        held = current.get(key)
                        if isinstance(held, torch.Tensor) and held.shape == value.shape:
                            held.copy_(value)
                        else:
                            current[key] = value.clone()
                    else:
                        current[key] = value
        self.average = None  # the next steps start a fresh average from the good weights
        return self.good_step

    def on_step(self, record: StepRecord) -> None:
        loss = record.loss
        a = self.smoothing
        self.average = loss if self.average is None else (1 - a) * self.average + a * loss
        self.seen += 1
        self.best = min(self.best, self.average)
        if self.seen > self.warmup and self.diverging():
            average, best = self.average, self.best
            step = self.restore()
            raise RolledBack(
                record.step,
                loss,
                f"smoothed loss {average:.4g} is over {self.factor:g}x its minimum {best:.4g}; "
                f"weights and optimiser rolled back to step {step}",
                step,
            )
        if record.step % self.keep_every == 0 and self.average <= 1.5 * self.best:
            self.keep()

    def diverging(self) -> bool:
        average, best = self.average, self.best
        if average is None or not math.isfinite(best):
            return False
        return average > self.factor * best and average - best > self.margin

    def on_eval(self, record: EvalRecord) -> None:
        return None
