"""The trainer callback of a session: log every step, snapshot on schedule, feed the stream.

It runs on the session's worker thread, inside Trainer.train_step, after the update: the weights
it reads are the ones the step produced, and nothing else can touch them meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app.services.events import Attention, Eval, Step, vocab_tokens
from app.services.forward import probe_attention
from app.services.history import MetricsLog, SnapshotData, SnapshotStore
from app.services.snapshots import capture_snapshot
from app.services.stream import Broadcaster
from model.tokenizer import Tokenizer
from model.training import EvalRecord, StepRecord
from model.transformer import TransformerLM


class Recorder:
    def __init__(
        self,
        model: TransformerLM,
        tokenizer: Tokenizer,
        probe_ids: list[int],
        log: MetricsLog,
        snapshots: SnapshotStore,
        broadcaster: Broadcaster,
        attention_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.probe_ids = probe_ids
        self.log = log
        self.snapshots = snapshots
        self.broadcaster = broadcaster
        self.attention_interval_s = attention_interval_s
        self.clock = clock
        self._last_attention = float("-inf")

    def snapshot(
        self, step: int, record: StepRecord | None = None, heldout_loss: float | None = None
    ) -> SnapshotData:
        snap = capture_snapshot(
            self.model, self.tokenizer, self.probe_ids, step, record, heldout_loss
        )
        self.snapshots.add(snap)
        return snap

    def on_step(self, record: StepRecord) -> None:
        self.log.add_step(record)
        snap = self.snapshot(record.step, record) if self.snapshots.due(record.step) else None
        if not self.broadcaster.listening:
            return
        self.broadcaster.publish_threadsafe(Step(record=record))
        now = self.clock()
        if snap is None and now - self._last_attention < self.attention_interval_s:
            return
        self._last_attention = now
        attention = snap.attention if snap else probe_attention(self.model, self.probe_ids)
        self.broadcaster.publish_threadsafe(self.attention_message(record.step, attention))

    def attention_message(self, step: int, attention: Any) -> Attention:
        tokens = vocab_tokens(self.tokenizer, self.probe_ids)
        return Attention(step=step, tokens=tokens, attention=attention)

    def on_eval(self, record: EvalRecord) -> None:
        self.log.add_eval(record)
        self.broadcaster.publish_threadsafe(
            Eval(step=record.step, heldout_loss=record.heldout_loss)
        )
