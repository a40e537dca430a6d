"""Everything a session derives from one model, made in one piece on the session's worker thread.

A `Session` is constructed with a `ModelState` and swaps in a new one (on its worker thread) on a
reset or a checkpoint load, so no request ever sees a half-built or half-replaced session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import torch

from app.services.builder import Parts
from app.services.history import MetricsLog, SnapshotStore
from app.services.recorder import Recorder
from app.services.stream import Broadcaster
from app.services.weights import initial_state
from app.services.worker import ThreadTuner, thread_candidates, threads_for
from app.settings import Settings
from model.checkpoint import restore_optimizer
from model.data import bigram_entropy
from model.divergence import DivergenceGuard
from model.training import Trainer


@dataclass
class ModelState:
    parts: Parts
    threads: int  # torch intra-op threads of the worker thread
    tuner: ThreadTuner
    shapes: dict[str, list[int]]
    log: MetricsLog
    snapshots: SnapshotStore
    recorder: Recorder
    trainer: Trainer
    # A new lineage whenever the weights stop following from the saved history (reset, load).
    lineage: str
    init_state: dict[str, torch.Tensor]
    bigram_bound: float | None


def use_threads(threads: int) -> None:
    """Worker thread: intra-op threads for this thread only (see app.services.worker)."""
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)


def build_state(parts: Parts, settings: Settings, broadcaster: Broadcaster) -> ModelState:
    """Worker thread: the trainer, recorder, history and step-0 snapshot of `parts.model`."""
    model, config = parts.model, parts.model.config
    threads = threads_for(
        config.parameter_count(), settings.torch_threads, settings.threads_above_parameters
    )
    use_threads(threads)
    names = [name for name, _ in model.named_parameters()]
    log = MetricsLog(names, settings.max_history_points)
    snapshots = SnapshotStore(settings.snapshot_every, settings.max_snapshots)
    probe_ids = parts.tokenizer.encode(parts.spec.probe)[-config.context_length :] or [0]
    recorder = Recorder(
        model,
        parts.tokenizer,
        probe_ids,
        log,
        snapshots,
        broadcaster,
        settings.stream_attention_interval_s,
    )
    trainer = Trainer(model, parts.data, parts.spec.train, callbacks=[recorder])
    if settings.divergence_factor > 0:  # after the recorder: the spike is in history
        trainer.callbacks.append(DivergenceGuard(trainer, settings.divergence_factor))
    if parts.optimizer_state:
        restore_optimizer(model, trainer.optimizer, parts.optimizer_state)
    if parts.generator_state is not None:
        trainer.generator.set_state(parts.generator_state)
    trainer.step = parts.step
    state = ModelState(
        parts=parts,
        threads=threads,
        tuner=ThreadTuner(thread_candidates(settings.torch_threads), threads),
        shapes={name: list(p.shape) for name, p in model.named_parameters()},
        log=log,
        snapshots=snapshots,
        recorder=recorder,
        trainer=trainer,
        lineage=parts.lineage or secrets.token_hex(8),
        init_state=initial_state(model),
        bigram_bound=bigram_entropy(parts.data.train, parts.data.heldout, config.vocab_size),
    )
    # The model no step has touched yet: its held-out loss is what "step 0" shows.
    recorder.snapshot(parts.step, heldout_loss=trainer.heldout_loss())
    return state
