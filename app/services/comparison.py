"""A session's ablation comparison: the three variants trained in the background on a worker of
their own, progress on the session's stream, the result kept with the session's history."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from app.services.builder import make_stream
from app.services.errors import Busy
from app.services.events import Compare, CompareDone
from app.services.specs import Spec
from app.services.stream import Broadcaster
from app.services.worker import Worker
from model.ablation import run_ablation
from model.config import ModelConfig
from model.data import load_corpus
from model.tokenizer import Tokenizer
from model.training import StepRecord

log = logging.getLogger("attnflow.session")


@dataclass(frozen=True)
class Source:
    """What the session trains on, as of the request: the comparison reuses its sizes and seed."""

    config: ModelConfig
    spec: Spec
    text: str
    tokenizer: Tokenizer
    device: torch.device
    threads: int


class Comparison:
    def __init__(self, name: str, broadcaster: Broadcaster, on_end: Callable[[bool], None]) -> None:
        self.name = name
        self.broadcaster = broadcaster
        self.on_end = on_end  # on_end(changed): the session counts a use, and a change if any
        self.result: dict[str, Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, source: Source, steps: int, corpus: str | None = None) -> None:
        """Ablation on the session's data, or on another built-in corpus (same sizes and seed)."""
        if self.running:
            raise Busy("a comparison is already running for this session")
        self._stop.clear()
        self.task = asyncio.create_task(
            self._run(source, steps, corpus), name=f"compare-{self.name}"
        )

    async def _run(self, source: Source, steps: int, corpus: str | None) -> None:
        config, spec, text, tokenizer = source.config, source.spec, source.text, source.tokenizer
        if corpus is not None and corpus != spec.corpus:
            text = load_corpus(corpus)
            tokenizer = Tokenizer.build(text, tokenizer.kind)
            config = config.with_changes(vocab_size=tokenizer.vocab_size)
        corpus_name = corpus or spec.corpus
        worker = Worker(f"compare-{self.name}", source.threads)

        def progress(variant: str, record: StepRecord) -> None:
            message = Compare(variant=variant, step=record.step, loss=record.loss)
            self.broadcaster.publish_threadsafe(message)

        def job() -> dict[str, Any]:
            data = make_stream(text, tokenizer, source.device)  # on the session's device
            stop = self._stop.is_set
            result = run_ablation(config, data, spec.train, steps, progress, stop, source.device)
            return {**result.to_dict(), "corpus": corpus_name}

        changed = False
        try:
            self.result = await worker.call(job)
            changed = True
            self.broadcaster.publish(CompareDone(result=self.result))
        except Exception as exc:
            log.exception("comparison of session %s failed", self.name)
            self.broadcaster.publish(CompareDone(result=None, message=f"failed: {exc}"))
        finally:
            worker.shutdown()
            self.on_end(changed)

    def stop(self) -> None:
        """Stop at the next step boundary (pause, shutdown)."""
        self._stop.set()

    def cancel(self) -> None:
        self._stop.set()
        if self.running:
            assert self.task is not None
            self.task.cancel()
