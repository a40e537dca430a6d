"""Sessions loaded back from the data directory: on demand (an evicted or restarted session's
next request), at start-up (the most recently used first), under a lease when replicas share the
directory. Concurrent requests for one id share one load."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from app.services import imports, persister
from app.services.builder import Parts
from app.services.errors import ServiceError, Unavailable, gone, shutting_down
from app.services.saved import SavedFiles
from app.services.session import Session
from app.services.store import short, valid_id
from model.checkpoint import MAX_STEP

if TYPE_CHECKING:
    from app.services.manager import SessionManager

log = logging.getLogger("attnflow.sessions")


class Loader:
    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.loading: dict[str, asyncio.Task[Session]] = {}

    async def load_saved(self, session_id: str) -> Session | None:
        if self.manager.store is None or self.manager.stopping or not valid_id(session_id):
            return None
        leaving = self.manager.evictor.leaving.get(session_id)
        if leaving is not None:  # its save must be on disk before it is read back
            await asyncio.shield(leaving)
        if session_id in self.manager.sessions:
            return self.manager.sessions[session_id]
        if session_id not in self.loading and not self.lease(session_id):
            return None
        if session_id not in self.loading and not self.manager.store.has(session_id):
            self.manager.unlease(session_id)
            return None
        return await self._load_once(session_id, make_room=True)

    def lease(self, session_id: str) -> bool:
        """Shared data dir: take the session's lease before touching its files. 503 while another
        live replica holds it (nginx tries the next upstream: docs/deploy.md); False for an id
        that has no lease file and so was never saved by anyone."""
        if self.manager.leases is None:
            return True
        assert self.manager.store is not None
        if not (self.manager.store.root / session_id).is_dir() and not self.manager.leases.holds(
            session_id
        ):
            return False  # no lock files for ids nobody created: a 404 costs no inode
        if not self.manager.leases.acquire(session_id):
            raise Unavailable(
                f"session {short(session_id)} is held by another replica; try again in 2 s",
                retry_after=2,
            )
        return True

    async def _load_once(self, session_id: str, make_room: bool) -> Session:
        """Load a saved session; concurrent requests for the same id share one load."""
        task = self.loading.get(session_id)
        if task is None:
            task = asyncio.create_task(self._load(session_id, make_room), name="session-load")
            self.loading[session_id] = task

            def done(finished: asyncio.Task[Session]) -> None:
                self.loading.pop(session_id, None)
                if not finished.cancelled():
                    finished.exception()  # retrieved: every waiter re-raises it anyway

            task.add_done_callback(done)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                # the shutdown stopped the load; this request itself goes on and gets an answer
                raise shutting_down() from None
            raise

    async def _load(self, session_id: str, make_room: bool) -> Session:
        assert self.manager.store is not None
        if make_room:
            await self.manager.evictor.make_room()
        self.manager.reserved += 1
        started = time.perf_counter()
        try:
            files = await asyncio.to_thread(self.manager.store.read, session_id)
            parts = await asyncio.to_thread(self._saved_parts, files)
            session = await Session.open(
                session_id, self.manager.settings, parts, self.manager.metrics
            )
            # its last use before the restart, until it is used again (the TTL starts afresh)
            session.used_at = self.manager.store.last_used(session_id) or session.used_at
            try:
                problems = await session.worker.call(persister.restore, session, files)
            except BaseException:
                session.close("failed to load")
                raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # whatever is wrong with the files, the server carries on
            message = exc.message if isinstance(exc, ServiceError) else str(exc)
            log.warning(
                "saved session %s cannot be loaded (%s); its files stay on disk",
                short(session_id),
                message,
            )
            self.manager.store.mark_broken(session_id)
            self.manager.unlease(session_id)
            self.manager.metrics.load_failures.inc()
            raise gone(f"session {session_id[:64]!r}") from None
        finally:
            self.manager.reserved -= 1
        session.last_save = time.monotonic()
        self.manager.sessions[session_id] = session
        self.manager.account(session)
        session.interrupted = _interrupted(files.meta, session.step)
        if not make_room:  # start-up loads go most recent first: each next one is older (LRU)
            self.manager.sessions.move_to_end(session_id, last=False)
        self.manager.metrics.loads.inc()
        for problem in problems:
            log.warning("saved session %s: %s", short(session_id), problem)
        log.info(
            "session %s loaded from disk at step %d in %.0f ms (%d open)",
            short(session_id),
            session.step,
            (time.perf_counter() - started) * 1000,
            len(self.manager.sessions),
        )
        return session

    def _saved_parts(self, files: SavedFiles) -> Parts:
        # the per-session limit applies to saved sessions too; the total was booked before
        limit = self.manager.settings.max_parameters
        return imports.parse(
            files.checkpoint,
            files.text,
            limit,
            self.manager.device,
            self.manager.budget.fits,
            MAX_STEP,
            saved=True,
        )

    async def restore_saved(self) -> None:
        """Start-up: load the most recently used saved sessions while the server already answers
        (a request for one that is not loaded yet loads it, or waits for its load)."""
        assert self.manager.store is not None
        pruned = await asyncio.to_thread(self.manager.store.prune, self.manager.in_use())
        if pruned:
            log.info(
                "removed %d saved sessions past ATTNFLOW_MAX_SAVED_SESSIONS=%d (least recently "
                "used first)",
                len(pruned),
                self.manager.settings.max_saved_sessions,
            )
        ids = self.manager.store.by_recency()
        for index, session_id in enumerate(ids):
            if (
                len(self.manager.sessions) + self.manager.reserved
                >= self.manager.settings.max_sessions
            ):
                log.info(
                    "%d saved sessions stay on disk (ATTNFLOW_MAX_SESSIONS=%d in memory); each "
                    "loads when it is next used",
                    len(ids) - index,
                    self.manager.settings.max_sessions,
                )
                return
            if session_id not in self.manager.sessions:
                with contextlib.suppress(ServiceError):
                    await self._load_once(session_id, make_room=False)


def interruption(step: int) -> dict[str, Any]:
    return {"step": step, "message": f"interrupted by a restart at step {step}"}


def _interrupted(meta: dict[str, Any], step: int) -> dict[str, Any] | None:
    """A session saved while its run was going comes back paused and says so; the note stays
    until a run starts again (a second restart keeps it)."""
    if meta.get("running") is True:
        return interruption(step)
    kept = meta.get("interrupted")
    if isinstance(kept, dict) and isinstance(kept.get("step"), int):
        return {"step": kept["step"], "message": str(kept.get("message", ""))[:200]}
    return None
