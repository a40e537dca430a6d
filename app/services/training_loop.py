"""A session's training loop, cut into chunks of ~`CHUNK_SECONDS` on its worker thread: between
chunks the worker picks up queued requests (a forward pass during a long run waits at most one
chunk) and a pause or a shutdown takes effect."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from app.services.model_state import use_threads
from model.divergence import RolledBack
from model.training import StepRecord, TrainingDiverged

if TYPE_CHECKING:
    from app.services.session import Session

CHUNK_SECONDS = 0.05
MAX_CHUNK = 256


def run_chunk(
    session: Session, n: int, background: bool
) -> tuple[list[StepRecord], TrainingDiverged | None]:
    """Worker thread: up to n steps; stops early on pause (background) or divergence.
    The thread tuner picks this chunk's thread count (and shortens it to a probe)."""
    threads, limit = session.tuner.choose()
    use_threads(threads)
    session.worker.threads = threads
    n = min(n, limit or n)
    started = time.perf_counter()
    records: list[StepRecord] = []
    try:
        for _ in range(n):
            if (background and session.stop_event.is_set()) or session.halt_event.is_set():
                break
            records.append(session.trainer.train_step())
    except TrainingDiverged as exc:
        return records, exc
    finally:
        session.tuner.report(threads, [r.time_ms / 1000 for r in records])
        if records:  # a running average of step time sizes the next chunk
            session.revision += 1
            per_step = (time.perf_counter() - started) / len(records)
            session.step_seconds = 0.7 * session.step_seconds + 0.3 * per_step
    return records, None


def chunk_size(session: Session, remaining: int) -> int:
    return max(1, min(remaining, MAX_CHUNK, int(CHUNK_SECONDS / session.step_seconds)))


async def train_steps(
    session: Session, steps: int, background: bool, keep: bool
) -> tuple[list[StepRecord], int, TrainingDiverged | None]:
    kept: list[StepRecord] = []
    done = 0
    while done < steps and not (background and session.stop_event.is_set()):
        if session.halt_event.is_set():
            break
        records, diverged = await session.worker.call(
            run_chunk, session, chunk_size(session, steps - done), background
        )
        done += len(records)
        if session.metrics is not None:
            session.metrics.count_steps(len(records))
        if keep:
            kept.extend(records)
        if diverged is not None:
            return kept, done, diverged
        if not records:
            break
    return kept, done, None


def diverged_fields(exc: TrainingDiverged) -> dict[str, Any]:
    """/train's `diverged` object; the stream's `diverged` message has the same fields."""
    rolled_back_to = exc.rolled_back_to if isinstance(exc, RolledBack) else None
    return {
        "step": exc.step,
        "loss": exc.loss,
        "rolled_back_to": rolled_back_to,
        "message": str(exc),
    }
