"""The trainer callback of a session: log every step, snapshot on schedule, feed the stream.

It runs on the session's worker thread, inside Trainer.train_step, after the update: the weights
it reads are the ones the step produced, and nothing else can touch them meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app.services.forward import probe_attention
from app.services.history import MetricsLog, SnapshotData, SnapshotStore
from app.services.stream import Broadcaster
from app.services.weights import downsampled_weights
from model.tokenizer import Tokenizer
from model.training import EvalRecord, StepRecord
from model.transformer import TransformerLM

PHASES = ("forward", "loss", "backward", "update")


def capture_snapshot(
    model: TransformerLM, tokenizer: Tokenizer, probe_ids: list[int], step: int, loss: float | None
) -> SnapshotData:
    tokens = [{"text": tokenizer.vocab[i], "id": i, "unknown": i == 0} for i in probe_ids]
    return SnapshotData(
        step=step,
        loss=loss,
        tokens=tokens,
        attention=probe_attention(model, probe_ids),
        weights=downsampled_weights(model),
    )


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

    def snapshot(self, step: int, loss: float | None) -> SnapshotData:
        snap = capture_snapshot(self.model, self.tokenizer, self.probe_ids, step, loss)
        self.snapshots.add(snap)
        return snap

    def on_step(self, record: StepRecord) -> None:
        self.log.add_step(record)
        snap = self.snapshot(record.step, record.loss) if self.snapshots.due(record.step) else None
        if not self.broadcaster.listening:
            return
        self.broadcaster.publish_threadsafe({"type": "step", "record": record, "phases": PHASES})
        now = self.clock()
        if snap is None and now - self._last_attention < self.attention_interval_s:
            return
        self._last_attention = now
        attention = snap.attention if snap else probe_attention(self.model, self.probe_ids)
        self.broadcaster.publish_threadsafe(self.attention_message(record.step, attention))

    def attention_message(self, step: int, attention: Any) -> dict[str, Any]:
        tokens = [self.tokenizer.vocab[i] for i in self.probe_ids]
        return {"type": "attention", "step": step, "tokens": tokens, "attention": attention}

    def on_eval(self, record: EvalRecord) -> None:
        self.log.add_eval(record)
        self.broadcaster.publish_threadsafe(
            {"type": "eval", "step": record.step, "heldout_loss": record.heldout_loss}
        )
