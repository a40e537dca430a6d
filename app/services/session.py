"""One user's model, its trainer, its history and its watchers.

Concurrency: every touch of the model (step, forward, weights, checkpoint) runs on the session's
`Worker` thread, one job at a time, so no request ever sees half an update. Training is cut into
chunks of ~`CHUNK_SECONDS`; between chunks the worker picks up queued requests (a forward pass
during a long run waits at most one chunk) and a pause takes effect. `lock` (asyncio) gives one
caller at a time the right to train: /train, /run, /reset and checkpoint loads queue on it.

Persistence: `capture` (worker thread, so between steps) copies everything a save writes;
`revision` counts changes, so the manager saves only sessions that changed since their last save.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from typing import Any, overload

import torch

from app.metrics import Metrics
from app.responses import dumps
from app.services.builder import Parts, make_stream
from app.services.errors import Busy, shutting_down
from app.services.events import Compare, CompareDone, Diverged, Run, RunState
from app.services.forward import ForwardOptions, forward_payload
from app.services.history import MetricsLog, SnapshotStore
from app.services.recorder import Recorder
from app.services.specs import CUSTOM, checkpoint_extra
from app.services.store import HISTORY_FORMAT, SavedFiles, SavedState, short
from app.services.stream import Broadcaster
from app.services.weights import initial_state, weights_payload
from app.services.worker import ThreadTuner, Worker, thread_candidates, threads_for
from app.settings import Settings
from model.ablation import run_ablation
from model.checkpoint import restore_optimizer, to_bytes
from model.data import bigram_entropy, load_corpus
from model.divergence import DivergenceGuard, RolledBack
from model.precision import autocast
from model.tokenizer import Tokenizer
from model.training import StepRecord, Trainer, TrainingDiverged
from model.transformer import TransformerLM

log = logging.getLogger("attnflow.session")
CHUNK_SECONDS = 0.05
MAX_CHUNK = 256


class Session:
    def __init__(
        self,
        session_id: str,
        settings: Settings,
        loop: asyncio.AbstractEventLoop,
        metrics: Metrics | None = None,
    ) -> None:
        self.id = session_id
        self.settings = settings
        self.metrics = metrics
        self.broadcaster = Broadcaster(loop, settings.stream_queue)
        self.worker = Worker(f"session-{short(session_id)}", 1)
        self.lock = asyncio.Lock()
        self.last_used = time.monotonic()  # for the TTL
        self.used_at = time.time()  # saved: the order sessions come back in after a restart
        self.run_task: asyncio.Task[None] | None = None
        self.compare_task: asyncio.Task[None] | None = None
        self.comparison: dict[str, Any] | None = None
        self.closed = False
        self._stop = threading.Event()
        self._compare_stop = threading.Event()
        self._halt = threading.Event()  # the server is stopping: no more steps of any kind
        self._step_seconds = 0.01
        # Changes since creation (steps, loads, comparisons) and the count the last save saw.
        self.revision = 0
        self.saved_revision = -1
        self.last_save = float("-inf")  # monotonic time the last save finished
        self.save_lock = asyncio.Lock()
        self.lineage = ""
        # {"step", "message"} when a restart stopped its run (set by the manager, kept until a
        # run starts again), shown in info() so the page can offer to resume.
        self.interrupted: dict[str, Any] | None = None

    # -- building (worker thread) ------------------------------------------------------------

    async def install(self, parts: Parts) -> None:
        await self.worker.call(self._install, parts)

    def _install(self, parts: Parts) -> None:
        """Adopt a model and everything derived from it; the old one (if any) is dropped."""
        model, config = parts.model, parts.model.config
        threads = threads_for(
            config.parameter_count(),
            self.settings.torch_threads,
            self.settings.threads_above_parameters,
        )
        self._use_threads(threads)
        self.tuner = ThreadTuner(thread_candidates(self.settings.torch_threads), threads)
        self.parts = parts
        self.spec, self.tokenizer, self.model = parts.spec, parts.tokenizer, model
        self.device = next(model.parameters()).device
        names = [name for name, _ in model.named_parameters()]
        self.shapes = {name: list(p.shape) for name, p in model.named_parameters()}
        self.log = MetricsLog(names, self.settings.max_history_points)
        self.snapshots = SnapshotStore(self.settings.snapshot_every, self.settings.max_snapshots)
        probe_ids = self.tokenizer.encode(self.spec.probe)[-config.context_length :] or [0]
        self.recorder = Recorder(
            model,
            self.tokenizer,
            probe_ids,
            self.log,
            self.snapshots,
            self.broadcaster,
            self.settings.stream_attention_interval_s,
        )
        self.trainer = Trainer(model, parts.data, self.spec.train, callbacks=[self.recorder])
        if self.settings.divergence_factor > 0:  # after the recorder: the spike is in history
            guard = DivergenceGuard(self.trainer, self.settings.divergence_factor)
            self.trainer.callbacks.append(guard)
        if parts.optimizer_state:
            restore_optimizer(model, self.trainer.optimizer, parts.optimizer_state)
        if parts.generator_state is not None:
            self.trainer.generator.set_state(parts.generator_state)
        self.trainer.step = parts.step
        # A new lineage whenever the weights stop following from the saved history (reset, load).
        self.lineage = parts.lineage or secrets.token_hex(8)
        self.revision += 1
        self.init_state = initial_state(model)
        self.bigram_bound = bigram_entropy(parts.data.train, parts.data.heldout, config.vocab_size)
        # The model no step has touched yet: its held-out loss is what "step 0" shows.
        self.recorder.snapshot(parts.step, heldout_loss=self.trainer.heldout_loss())

    # -- state ---------------------------------------------------------------------------------

    @property
    def step(self) -> int:
        return self.trainer.step

    @property
    def step_seconds(self) -> float:
        """Recent seconds per training step (a running average)."""
        return self._step_seconds

    @property
    def running(self) -> bool:
        return self.run_task is not None and not self.run_task.done()

    @property
    def comparing(self) -> bool:
        return self.compare_task is not None and not self.compare_task.done()

    @property
    def busy(self) -> bool:
        """Busy sessions are never evicted, whatever their idle time."""
        return self.running or self.comparing

    def touch(self) -> None:
        self.last_used = time.monotonic()
        self.used_at = time.time()

    @property
    def dirty(self) -> bool:
        """Changed since the last save (or never saved)."""
        return self.revision != self.saved_revision

    def last_used_wall(self) -> float:
        return self.used_at

    def info(self) -> dict[str, Any]:
        config = self.model.config
        train = self.spec.train
        return {
            "id": self.id,
            "preset": self.spec.preset,
            "corpus": self.spec.corpus,
            "tokenizer": self.spec.tokenizer,
            "seed": self.spec.seed,
            "config": config.to_dict(),
            "optimizer": {
                k: getattr(self.trainer.config, k)
                for k in ("lr", "weight_decay", "beta1", "beta2", "batch_size", "eval_every")
            },
            "step": self.step,
            "vocab_size": config.vocab_size,
            "parameters": config.parameter_count(),
            "running": self.running,
            "comparing": self.comparing,
            "probe": self.spec.probe,
            "shapes": self.shapes,
            "batch_shape": [train.batch_size, config.context_length, config.d_model],
            "bigram_bound": self.bigram_bound,
            "device": str(self.device),
            "interrupted": self.interrupted,
            "precision": self.trainer.config.precision,
        }

    def _refuse_if_running(self, action: str) -> None:
        if self.running:
            raise Busy(f"cannot {action} while a background run is going; pause it first")

    # -- training ------------------------------------------------------------------------------

    def _use_threads(self, threads: int) -> None:
        """Worker thread: intra-op threads for this thread only (see app.services.worker)."""
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        self.worker.threads = threads

    def _steps(self, n: int, background: bool) -> tuple[list[StepRecord], TrainingDiverged | None]:
        """Worker thread: up to n steps; stops early on pause (background) or divergence.
        The thread tuner picks this chunk's thread count (and shortens it to a probe)."""
        threads, limit = self.tuner.choose()
        self._use_threads(threads)
        n = min(n, limit or n)
        started = time.perf_counter()
        records: list[StepRecord] = []
        try:
            for _ in range(n):
                if (background and self._stop.is_set()) or self._halt.is_set():
                    break
                records.append(self.trainer.train_step())
        except TrainingDiverged as exc:
            return records, exc
        finally:
            self.tuner.report(threads, [r.time_ms / 1000 for r in records])
            if records:  # a running average of step time sizes the next chunk
                self.revision += 1
                per_step = (time.perf_counter() - started) / len(records)
                self._step_seconds = 0.7 * self._step_seconds + 0.3 * per_step
        return records, None

    def _chunk(self, remaining: int) -> int:
        return max(1, min(remaining, MAX_CHUNK, int(CHUNK_SECONDS / self._step_seconds)))

    async def _train(
        self, steps: int, background: bool, keep: bool
    ) -> tuple[list[StepRecord], int, TrainingDiverged | None]:
        kept: list[StepRecord] = []
        done = 0
        while done < steps and not (background and self._stop.is_set()):
            if self._halt.is_set():
                break
            records, diverged = await self.worker.call(
                self._steps, self._chunk(steps - done), background
            )
            done += len(records)
            if self.metrics is not None:
                self.metrics.count_steps(len(records))
            if keep:
                kept.extend(records)
            if diverged is not None:
                return kept, done, diverged
            if not records:
                break
        return kept, done, None

    async def train(self, steps: int, lr: float | None) -> dict[str, Any]:
        self._refuse_if_running("train")
        async with self.lock:
            self._refuse_if_running("train")
            if lr is not None:
                await self.worker.call(self.trainer.set_lr, lr)
            first_eval = self.log.n_evals()
            records, _, diverged = await self._train(steps, background=False, keep=True)
        self.touch()
        return {
            "records": records,
            "evals": self.log.evals_since(first_eval),
            "step": self.step,
            "diverged": _diverged(diverged),
        }

    def start_run(self, steps: int, lr: float | None) -> None:
        if self._halt.is_set():
            raise shutting_down()
        self._refuse_if_running("start a run")
        if self.lock.locked():
            raise Busy("cannot start a run while another training call is in progress")
        self._stop.clear()
        self.run_task = asyncio.create_task(self._run(steps, lr), name=f"run-{self.id[:6]}")

    async def _run(self, steps: int, lr: float | None) -> None:
        state: RunState = "finished"
        message = f"ran {steps} steps"
        async with self.lock:
            try:
                if lr is not None:
                    await self.worker.call(self.trainer.set_lr, lr)
                self._publish_run("started", f"running up to {steps} steps")
                _, done, diverged = await self._train(steps, background=True, keep=False)
                if diverged is not None:
                    state, message = "diverged", str(diverged)
                    self.broadcaster.publish(Diverged(**_diverged(diverged)))
                elif done < steps:
                    state, message = "paused", f"paused after {done} steps"
            except asyncio.CancelledError:
                state, message = "paused", "stopped"
                raise
            except Exception as exc:  # reported on the stream; the session stays usable
                if not self.closed:
                    log.exception("background run of session %s failed", short(self.id))
                state, message = "paused", f"stopped by an error: {exc}"
            finally:
                self.touch()
                self._publish_run(state, message)

    async def pause(self) -> None:
        task = self.run_task
        if task is not None and not task.done():
            self._stop.set()
            await asyncio.wait({task})  # not cancelled with this request if the client leaves

    def _publish_run(self, state: RunState, message: str) -> None:
        self.broadcaster.publish(Run(state=state, step=self.step, message=message))

    async def reset(self) -> None:
        self._refuse_if_running("reset")
        async with self.lock:
            self._refuse_if_running("reset")
            await self.worker.call(self._reset)
        self._publish_run("reset", "fresh weights from the same config and seed")

    def _reset(self) -> None:
        """Worker thread: building a model takes a second at seed size; never on the loop."""
        model = TransformerLM(self.model.config).to(self.device)
        self._install(Parts(self.spec, self.parts.text, self.tokenizer, self.parts.data, model))

    async def load(self, parts: Parts) -> None:
        self._refuse_if_running("load a checkpoint")
        async with self.lock:
            self._refuse_if_running("load a checkpoint")
            await self.install(parts)
        self._publish_run("reset", f"loaded a checkpoint at step {parts.step}")

    # -- reading -------------------------------------------------------------------------------

    async def forward(self, text: str, options: ForwardOptions) -> bytes:
        def job() -> bytes:
            # Traced in the precision the model trains in, and labelled so; values go out fp32.
            precision = self.trainer.config.precision
            with autocast(precision, self.device):
                payload = forward_payload(self.model, self.tokenizer, text, self.step, options)
            return dumps({**payload, "precision": precision})

        return await self.worker.call(job)

    async def weights(
        self, max_size: int | None, values: bool, names: list[str] | None, digits: int
    ) -> bytes:
        def job() -> bytes:
            return dumps(
                weights_payload(
                    self.model, self.init_state, self.step, max_size, values, names, digits
                )
            )

        return await self.worker.call(job)

    def _checkpoint_bytes(self, text: str | None, **more: Any) -> bytes:
        """Worker thread: the settings and batch order as of now."""
        trainer = self.trainer
        extra = checkpoint_extra(self.spec, text, trainer.config, trainer.generator, **more)
        return to_bytes(self.model, self.tokenizer, self.step, extra, optimizer=trainer.optimizer)

    async def checkpoint(self) -> bytes:
        return await self.worker.call(self._checkpoint_bytes, self.parts.text)

    def _history_data(self) -> dict[str, Any]:
        return {
            "step": self.step,
            **self.log.to_dict(),
            "snapshots": self.snapshots.steps(),
            "comparison": self.comparison,
        }

    def history(self) -> bytes:
        """Any thread: the log has its own lock."""
        data = self._history_data()
        data.pop("time_ms")
        data.pop("lr")
        return dumps(data)

    # -- persistence ---------------------------------------------------------------------------

    def capture(self) -> SavedState:
        """Worker thread, between steps: a consistent copy of what a save writes."""
        revision = self.revision
        snapshots, every = self.snapshots.items()
        history = {
            "format": HISTORY_FORMAT,
            "version": 1,
            "lineage": self.lineage,
            "names": self.log.names,
            **self._history_data(),
        }
        custom = self.spec.corpus == CUSTOM
        return SavedState(
            session_id=self.id,
            revision=revision,
            step=self.step,
            # the user's text goes to corpus.txt, once, not into every checkpoint's header
            checkpoint=self._checkpoint_bytes(None, lineage=self.lineage),
            history=history,
            snapshots=[s for s in snapshots if s.step <= self.step],
            snapshot_every=every,
            text=self.parts.text if custom else None,
            last_used=self.last_used_wall(),
            lineage=self.lineage,
        )

    async def restore(self, files: SavedFiles) -> list[str]:
        """Put a saved history and snapshots back (after `install` of the saved checkpoint);
        returns what could not be restored, for the log."""
        return await self.worker.call(self._restore, files)

    def _restore(self, files: SavedFiles) -> list[str]:
        problems = list(files.problems)
        history = files.history
        if history is not None:
            comparison = history.get("comparison")
            self.comparison = comparison if isinstance(comparison, dict) else None
            if history.get("lineage") != self.lineage:
                problems.append("history.json belongs to other weights (not shown)")
            else:
                try:
                    self.log.restore(history, self.step)
                except (KeyError, TypeError, ValueError) as exc:
                    problems.append(f"history.json is malformed ({exc})")
        if files.snapshots and files.snapshot_lineage == self.lineage:
            kept = [s for s in files.snapshots if s.step <= self.step]
            self.snapshots.restore(kept, files.snapshot_every)
        self.saved_revision = self.revision
        return problems

    # -- comparison ----------------------------------------------------------------------------

    def start_compare(self, steps: int, corpus: str | None = None) -> None:
        """Ablation on the session's data, or on another built-in corpus (same sizes and seed)."""
        if self.comparing:
            raise Busy("a comparison is already running for this session")
        self._compare_stop.clear()
        self.compare_task = asyncio.create_task(
            self._compare(steps, corpus), name=f"compare-{self.id[:6]}"
        )

    async def _compare(self, steps: int, corpus: str | None) -> None:
        config, spec, text, tokenizer = (
            self.model.config,
            self.spec,
            self.parts.text,
            self.tokenizer,
        )
        if corpus is not None and corpus != spec.corpus:
            text = load_corpus(corpus)
            tokenizer = Tokenizer.build(text, tokenizer.kind)
            config = config.with_changes(vocab_size=tokenizer.vocab_size)
        corpus_name = corpus or spec.corpus
        worker = Worker(f"compare-{self.id[:6]}", self.worker.threads)

        def progress(variant: str, record: StepRecord) -> None:
            message = Compare(variant=variant, step=record.step, loss=record.loss)
            self.broadcaster.publish_threadsafe(message)

        def job() -> dict[str, Any]:
            data = make_stream(text, tokenizer, self.device)  # on the session's device
            stop = self._compare_stop.is_set
            result = run_ablation(config, data, spec.train, steps, progress, stop, self.device)
            return {**result.to_dict(), "corpus": corpus_name}

        try:
            self.comparison = await worker.call(job)
            self.revision += 1
            self.broadcaster.publish(CompareDone(result=self.comparison))
        except Exception as exc:
            log.exception("comparison of session %s failed", short(self.id))
            self.broadcaster.publish(CompareDone(result=None, message=f"failed: {exc}"))
        finally:
            worker.shutdown()
            self.touch()

    # -- ending --------------------------------------------------------------------------------

    def halt(self) -> list[asyncio.Task[None]]:
        """Stop every kind of training at the next step boundary (shutdown); returns the tasks
        to wait for. Requests still get answers; new runs are refused with 503."""
        self._halt.set()
        self._stop.set()
        self._compare_stop.set()
        return [t for t in (self.run_task, self.compare_task) if t is not None and not t.done()]

    def close(self, reason: str, code: int = 1000) -> None:
        self.closed = True
        self._stop.set()
        self._compare_stop.set()
        for task in (self.run_task, self.compare_task):
            if task is not None and not task.done():
                task.cancel()
        self.broadcaster.close(reason, code)
        self.worker.shutdown()


@overload
def _diverged(exc: TrainingDiverged) -> dict[str, Any]: ...
@overload
def _diverged(exc: None) -> None: ...
def _diverged(exc: TrainingDiverged | None) -> dict[str, Any] | None:
    if exc is None:
        return None
    rolled_back_to = exc.rolled_back_to if isinstance(exc, RolledBack) else None
    return {
        "step": exc.step,
        "loss": exc.loss,
        "rolled_back_to": rolled_back_to,
        "message": str(exc),
    }
