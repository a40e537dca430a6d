"""Saving sessions: what a save captures (on the session's worker thread, between steps), how a
load puts history back, and the `Persister` that saves changed sessions every
`persist_every_s` seconds and at shutdown (files: app.services.store)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from app.metrics import Metrics
from app.services import session_info
from app.services.errors import NotFound
from app.services.saved import HISTORY_FORMAT, SavedFiles, SavedState
from app.services.session import Session
from app.services.specs import CUSTOM
from app.services.store import SessionStore, short

log = logging.getLogger("attnflow.sessions")
PERSIST_TICK_S = 0.25  # how often the saver looks for sessions due for a save


def capture(session: Session) -> SavedState:
    """Worker thread, between steps: a consistent copy of what a save writes."""
    revision = session.revision
    snapshots, every = session.snapshots.items()
    history = {
        "format": HISTORY_FORMAT,
        "version": 1,
        "lineage": session.lineage,
        "names": session.log.names,
        **session_info.history_data(session),
    }
    custom = session.spec.corpus == CUSTOM
    return SavedState(
        session_id=session.id,
        revision=revision,
        step=session.step,
        # the user's text goes to corpus.txt, once, not into every checkpoint's header
        checkpoint=session_info.checkpoint_bytes(session, None, lineage=session.lineage),
        history=history,
        snapshots=[s for s in snapshots if s.step <= session.step],
        snapshot_every=every,
        text=session.parts.text if custom else None,
        last_used=session.last_used_wall(),
        lineage=session.lineage,
    )


def restore(session: Session, files: SavedFiles) -> list[str]:
    """Worker thread: put a saved history and snapshots back into a session opened from the
    saved checkpoint; returns what could not be restored, for the log."""
    problems = list(files.problems)
    history = files.history
    if history is not None:
        comparison = history.get("comparison")
        session.comparison = comparison if isinstance(comparison, dict) else None
        if history.get("lineage") != session.lineage:
            problems.append("history.json belongs to other weights (not shown)")
        else:
            try:
                session.log.restore(history, session.step)
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"history.json is malformed ({exc})")
    if files.snapshots and files.snapshot_lineage == session.lineage:
        kept = [s for s in files.snapshots if s.step <= session.step]
        session.snapshots.restore(kept, files.snapshot_every)
    session.saved_revision = session.revision
    return problems


class Persister:
    def __init__(self, store: SessionStore, metrics: Metrics, every_s: float) -> None:
        self.store = store
        self.metrics = metrics
        self.every_s = every_s
        self.save_errors: dict[str, str] = {}  # session id -> why its last save failed
        self.tasks: set[asyncio.Task[Any]] = set()  # saves in flight

    async def save(self, session: Session) -> bool:
        """Save one session if it changed: captured on its worker thread between training
        chunks (never half a step), written by another thread. True when it was written."""
        async with session.save_lock:
            if not session.dirty or session.worker.closed:
                return False
            started = time.perf_counter()
            try:
                state = await session.worker.call(capture, session)
                state.running = session.running  # comes back paused, "interrupted", after a crash
                state.interrupted = session.interrupted
                await asyncio.to_thread(self.store.write, state)
            except NotFound:  # the session closed while the save waited for its worker
                return False
            except Exception as exc:  # disk full, permissions: count it, retry next interval
                session.last_save = time.monotonic()
                self.save_errors[session.id] = str(exc)
                self.metrics.save_failures.inc()
                log.error("saving session %s failed: %s", short(session.id), exc)
                return False
            self.save_errors.pop(session.id, None)
            session.saved_revision = state.revision
            session.last_save = time.monotonic()
            self.metrics.saves.inc()
            self.metrics.save_seconds.observe(time.perf_counter() - started)
            return True

    async def final_save(self, session: Session) -> None:
        """At shutdown: save a changed session; of an unchanged one note only its last use."""
        if session.dirty:
            await self.save(session)
            return
        with contextlib.suppress(OSError):
            await asyncio.to_thread(
                self.store.touch,
                session.id,
                session.step,
                session.last_used_wall(),
                session.interrupted,
            )

    async def save_and_prune(
        self, session: Session, in_use: Callable[[], set[str]], prune: bool
    ) -> None:
        """Save; a session's first save may push the disk past its cap (`prune`: this process
        owns the data directory, so it may remove the least recently used ones)."""
        new = not self.store.has(session.id)
        if await self.save(session) and new and prune:
            pruned = await asyncio.to_thread(self.store.prune, in_use())
            for session_id in pruned:
                log.info("saved session %s removed: over the disk cap", short(session_id))

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def loop(
        self, sessions: Callable[[], list[Session]], in_use: Callable[[], set[str]], prune: bool
    ) -> None:
        """Save each changed session at most every `every_s` seconds, for ever."""
        tick = min(PERSIST_TICK_S, self.every_s / 4)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for session in sessions():
                if (
                    session.dirty
                    and not session.save_lock.locked()
                    and now - session.last_save >= self.every_s
                ):
                    self.spawn(self.save_and_prune(session, in_use, prune))
