"""The gradient check of one weight entry, run on a session's worker between training steps.

The session's worker runs one job at a time, training chunks included, so the check sees whole
steps only: the copy it makes is of weights no step is writing, and the batch it takes is the one
the next step will draw (from a copy of the batch generator; the session's own does not move).
Nothing of the session changes: see model/gradcheck.py.
"""

from __future__ import annotations

from typing import Any, Protocol

from app.services.budget import gradcheck_estimate, refuse_over
from app.services.worker import Worker
from model.gradcheck import BATCH_NOTE, check_entry, gradient_check, next_batch
from model.training import Trainer
from model.transformer import TransformerLM


class Checkable(Protocol):
    """What the check needs of a session."""

    @property
    def worker(self) -> Worker: ...
    @property
    def model(self) -> TransformerLM: ...
    @property
    def trainer(self) -> Trainer: ...
    @property
    def step(self) -> int: ...


async def check_gradient(
    session: Checkable, parameter: str, row: int, col: int, max_bytes: int
) -> dict[str, Any]:
    """FieldError for an entry the model does not have; OverLimit when the float64 copies would
    pass `max_bytes` (ATTNFLOW_MAX_SESSION_BYTES). Both before queueing behind a training chunk."""
    check_entry(session.model, parameter, row, col)
    needed = gradcheck_estimate(session.model.config, session.trainer.config.batch_size)
    refuse_over(needed, max_bytes, "this gradient check", "parameter", "try a smaller model")

    def job() -> dict[str, Any]:
        x, y = next_batch(session.trainer)  # (B, T), (B, T)
        result = gradient_check(session.model, (x, y), parameter, row, col)
        return {
            **result.to_dict(),
            "step": session.step,
            "batch": BATCH_NOTE,
            "batch_shape": list(x.shape),
        }

    return await session.worker.call(job)
