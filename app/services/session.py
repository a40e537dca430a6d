"""One user's model, its trainer, its history and its watchers: the session's state and its
training loop. Info and payloads: app.services.session_info; saving: app.services.persister;
the ablation: app.services.comparison; everything built from the model: app.services.model_state.

Concurrency: every touch of the model (step, forward, weights, checkpoint) runs on the session's
`Worker` thread, one job at a time, so no request ever sees half an update. Training is cut into
chunks of ~50 ms (app.services.training_loop); between chunks the worker picks up queued requests
(a forward pass during a long run waits at most one chunk) and a pause takes effect. `lock`
(asyncio) gives one caller at a time the right to train: /train, /run, /reset and checkpoint loads
queue on it.

`revision` counts changes, so the persister saves only sessions that changed since their last save.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from app.metrics import Metrics
from app.services import session_info
from app.services.builder import Parts
from app.services.comparison import Comparison, Source
from app.services.errors import Busy, shutting_down
from app.services.events import Diverged, Run, RunState
from app.services.forward import ForwardOptions
from app.services.model_state import ModelState, build_state
from app.services.store import short
from app.services.stream import Broadcaster
from app.services.training_loop import diverged_fields, train_steps
from app.services.worker import Worker
from app.settings import Settings
from model.transformer import TransformerLM

log = logging.getLogger("attnflow.session")


class Session:
    """Complete once constructed: `Session.open` builds the model state on the new session's
    worker thread first."""

    def __init__(
        self,
        session_id: str,
        settings: Settings,
        worker: Worker,
        broadcaster: Broadcaster,
        state: ModelState,
        metrics: Metrics | None = None,
    ) -> None:
        self.id = session_id
        self.settings = settings
        self.metrics = metrics
        self.broadcaster = broadcaster
        self.worker = worker
        self.lock = asyncio.Lock()
        self.last_used = time.monotonic()  # for the TTL
        self.used_at = time.time()  # saved: the order sessions come back in after a restart
        self.run_task: asyncio.Task[None] | None = None
        self.compare = Comparison(short(session_id), broadcaster, self._compared)
        self.closed = False
        self.stop_event = threading.Event()
        self.halt_event = threading.Event()  # the server is stopping: no more steps of any kind
        self.step_seconds = 0.01  # recent seconds per training step (a running average)
        # Changes since creation (steps, loads, comparisons) and the count the last save saw.
        self.revision = 0
        self.saved_revision = -1
        self.last_save = float("-inf")  # monotonic time the last save finished
        self.save_lock = asyncio.Lock()
        # {"step", "message"} when a restart stopped its run (set by the manager, kept until a
        # run starts again), shown in info() so the page can offer to resume.
        self.interrupted: dict[str, Any] | None = None
        self._adopt(state)

    @classmethod
    async def open(
        cls, session_id: str, settings: Settings, parts: Parts, metrics: Metrics | None = None
    ) -> Session:
        broadcaster = Broadcaster(asyncio.get_running_loop(), settings.stream_queue)
        worker = Worker(f"session-{short(session_id)}", 1)
        try:
            state = await worker.call(build_state, parts, settings, broadcaster)
        except BaseException:
            worker.shutdown()
            raise
        return cls(session_id, settings, worker, broadcaster, state, metrics)

    def _adopt(self, state: ModelState) -> None:
        """Take a model and everything derived from it; the old one (if any) is dropped."""
        self.state = state
        self.parts, self.spec = state.parts, state.parts.spec
        self.tokenizer, self.model = state.parts.tokenizer, state.parts.model
        self.device = next(self.model.parameters()).device
        self.shapes, self.log, self.snapshots = state.shapes, state.log, state.snapshots
        self.recorder, self.trainer, self.tuner = state.recorder, state.trainer, state.tuner
        self.lineage, self.init_state = state.lineage, state.init_state
        self.bigram_bound = state.bigram_bound
        self.worker.threads = state.threads
        self.revision += 1

    def _replace(self, parts: Parts) -> None:
        """Worker thread: no other job can see the session between the old state and the new."""
        self._adopt(build_state(parts, self.settings, self.broadcaster))

    # -- state ---------------------------------------------------------------------------------

    @property
    def step(self) -> int:
        return self.trainer.step

    @property
    def running(self) -> bool:
        return self.run_task is not None and not self.run_task.done()

    @property
    def comparing(self) -> bool:
        return self.compare.running

    @property
    def comparison(self) -> dict[str, Any] | None:
        return self.compare.result

    @comparison.setter
    def comparison(self, result: dict[str, Any] | None) -> None:
        self.compare.result = result

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

    def _refuse_if_running(self, action: str) -> None:
        if self.running:
            raise Busy(f"cannot {action} while a background run is going; pause it first")

    # -- training ------------------------------------------------------------------------------

    async def train(self, steps: int, lr: float | None) -> dict[str, Any]:
        self._refuse_if_running("train")
        async with self.lock:
            self._refuse_if_running("train")
            if lr is not None:
                await self.worker.call(self.trainer.set_lr, lr)
            first_eval = self.log.n_evals()
            records, _, diverged = await train_steps(self, steps, background=False, keep=True)
        self.touch()
        return {
            "records": records,
            "evals": self.log.evals_since(first_eval),
            "step": self.step,
            "diverged": None if diverged is None else diverged_fields(diverged),
        }

    def start_run(self, steps: int, lr: float | None) -> None:
        if self.halt_event.is_set():
            raise shutting_down()
        self._refuse_if_running("start a run")
        if self.lock.locked():
            raise Busy("cannot start a run while another training call is in progress")
        self.stop_event.clear()
        self.run_task = asyncio.create_task(self._run(steps, lr), name=f"run-{self.id[:6]}")

    async def _run(self, steps: int, lr: float | None) -> None:
        state: RunState = "finished"
        message = f"ran {steps} steps"
        async with self.lock:
            try:
                if lr is not None:
                    await self.worker.call(self.trainer.set_lr, lr)
                self._publish_run("started", f"running up to {steps} steps")
                _, done, diverged = await train_steps(self, steps, background=True, keep=False)
                if diverged is not None:
                    state, message = "diverged", str(diverged)
                    self.broadcaster.publish(Diverged(**diverged_fields(diverged)))
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
            self.stop_event.set()
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
        self._replace(Parts(self.spec, self.parts.text, self.tokenizer, self.parts.data, model))

    async def load(self, parts: Parts) -> None:
        self._refuse_if_running("load a checkpoint")
        async with self.lock:
            self._refuse_if_running("load a checkpoint")
            await self.worker.call(self._replace, parts)
        self._publish_run("reset", f"loaded a checkpoint at step {parts.step}")

    # -- reading (app.services.session_info) ---------------------------------------------------

    def info(self) -> dict[str, Any]:
        return session_info.info(self)

    def history(self) -> bytes:
        return session_info.history_bytes(self)

    async def forward(self, text: str, options: ForwardOptions) -> bytes:
        return await self.worker.call(session_info.forward_bytes, self, text, options)

    async def weights(
        self, max_size: int | None, values: bool, names: list[str] | None, digits: int
    ) -> bytes:
        job = session_info.weights_bytes
        return await self.worker.call(job, self, max_size, values, names, digits)

    async def checkpoint(self) -> bytes:
        return await self.worker.call(session_info.checkpoint_bytes, self, self.parts.text)

    # -- comparison (app.services.comparison) --------------------------------------------------

    def start_compare(self, steps: int, corpus: str | None = None) -> None:
        """Ablation on the session's data, or on another built-in corpus (same sizes and seed)."""
        source = Source(
            self.model.config,
            self.spec,
            self.parts.text,
            self.tokenizer,
            self.device,
            self.worker.threads,
        )
        self.compare.start(source, steps, corpus)

    def _compared(self, changed: bool) -> None:
        if changed:
            self.revision += 1
        self.touch()

    # -- ending --------------------------------------------------------------------------------

    def halt(self) -> list[asyncio.Task[None]]:
        """Stop every kind of training at the next step boundary (shutdown); returns the tasks
        to wait for. Requests still get answers; new runs are refused with 503."""
        self.halt_event.set()
        self.stop_event.set()
        self.compare.stop()
        tasks = (self.run_task, self.compare.task)
        return [t for t in tasks if t is not None and not t.done()]

    def close(self, reason: str, code: int = 1000) -> None:
        self.closed = True
        self.stop_event.set()
        self.compare.cancel()
        if self.run_task is not None and not self.run_task.done():
            self.run_task.cancel()
        self.broadcaster.close(reason, code)
        self.worker.shutdown()
