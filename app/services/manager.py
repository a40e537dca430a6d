"""All sessions of this process: creation, lookup, LRU/TTL eviction, persistence, shutdown.

Sessions in memory are bounded (`max_sessions`). Creating one past the limit evicts the least
recently used idle session; a running or comparing session is busy and never evicted, so when
every slot is busy creation answers 503 with Retry-After. Idle sessions past the TTL go when
the reaper passes.

With persistence on (`persist`, the default) every session also lives in the data directory
(app.services.store): changed sessions are saved every `persist_every_s` seconds and at
shutdown; an evicted (LRU or TTL) session is saved and leaves memory only, and loads again, under
the same id, when it is next used; at start-up the most recently used saved sessions load in the
background, up to `max_sessions`. Only DELETE removes a session's files, and `max_saved_sessions`
bounds how many stay on disk (least recently used go first). With persistence off a session that
leaves memory is gone (404).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from app.errors import ApiError, not_found
from app.metrics import Metrics
from app.schemas import SessionCreate
from app.services.builder import Parts, build, from_checkpoint, resolve_device
from app.services.session import Session
from app.services.store import SavedFiles, SessionStore, StoreError, short, valid_id
from app.settings import Settings
from model.checkpoint import from_bytes, inspect

log = logging.getLogger("attnflow.sessions")
RETRY_AFTER_S = 30
GOING_AWAY = 1001  # WebSocket close code: the server is going down
SHUTDOWN_REASON = "server shutting down"
HALT_TIMEOUT_S = 2.0  # runs stop at the next chunk boundary (~50 ms); this bounds a stuck one
STREAMS_TIMEOUT_S = 1.0  # for open streams to send their bye and close
SAVE_TIMEOUT_S = 6.0  # for the final saves
PERSIST_TICK_S = 0.25  # how often the saver looks for sessions due for a save


def new_id() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits


class SessionManager:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.device = resolve_device(settings.device)
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.store: SessionStore | None = None
        self.stream_clients = 0  # open WebSocket streams (the stream router counts them)
        self.stopping = False
        self._reserved = 0  # slots held by sessions still being built or loaded
        self._loops: list[asyncio.Task[None]] = []  # reaper, persister, start-up restore
        self._tasks: set[asyncio.Task[Any]] = set()  # saves in flight
        self._loading: dict[str, asyncio.Task[Session]] = {}
        self._leaving: dict[str, asyncio.Task[None]] = {}  # evictions saving before they close
        self._drained = False

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loops.append(asyncio.create_task(self._reap(), name="session-reaper"))
        if not self.settings.persist:
            return
        store = SessionStore(self.settings.data_dir / "sessions", self.settings.max_saved_sessions)
        try:
            await asyncio.to_thread(store.open)
        except StoreError as exc:
            log.error("sessions will not be saved: %s", exc)
            return
        self.store = store
        log.info("%d saved sessions in %s", len(store), store.root)
        self._loops.append(asyncio.create_task(self._restore_saved(), name="session-restore"))
        self._loops.append(asyncio.create_task(self._persist_loop(), name="session-persist"))

    async def drain(self, reason: str = SHUTDOWN_REASON) -> None:
        """Stop training at the next chunk boundary, say bye to every stream (close code 1001)
        and save every changed session. Idempotent; the server calls it on SIGTERM before it
        closes connections, and `shutdown` calls it for servers that do not."""
        if self._drained:
            return
        self._drained = True
        self.stopping = True
        started = time.perf_counter()
        for loop_task in self._loops:
            loop_task.cancel()
        for load in list(self._loading.values()):
            load.cancel()
        sessions = list(self.sessions.values())
        streams = self.stream_clients
        running = [t for s in sessions for t in s.halt()]
        if running:
            await asyncio.wait(running, timeout=HALT_TIMEOUT_S)
        halted = time.perf_counter()
        for session in sessions:
            session.broadcaster.close(reason, GOING_AWAY)
        deadline = time.monotonic() + STREAMS_TIMEOUT_S
        while self.stream_clients and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        pending = [*self._tasks, *self._leaving.values()]
        if pending:
            await asyncio.wait(pending, timeout=SAVE_TIMEOUT_S)
        if self.store is not None and sessions:
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(self._final_save(s) for s in sessions)), SAVE_TIMEOUT_S
                )
            except TimeoutError:
                log.error("final saves took over %.0f s; some steps may be lost", SAVE_TIMEOUT_S)
        log.info(
            "shutdown: %d runs paused in %.0f ms, %d streams closed, %d of %d sessions saved "
            "up to date; %.0f ms",
            len(running),
            (halted - started) * 1000,
            streams,
            sum(not s.dirty for s in sessions) if self.store is not None else 0,
            len(sessions),
            (time.perf_counter() - started) * 1000,
        )

    async def _final_save(self, session: Session) -> None:
        if session.dirty:
            await self.save(session)
        elif self.store is not None:  # unchanged: only remember when it was last used
            with contextlib.suppress(OSError):
                await asyncio.to_thread(
                    self.store.touch, session.id, session.step, session.last_used_wall()
                )

    async def shutdown(self) -> None:
        await self.drain()
        for loop_task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
        for session_id in list(self.sessions):
            self.remove(session_id, "the server is shutting down", GOING_AWAY)
        if self.store is not None:
            self.store.close()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- lookup --------------------------------------------------------------------------------

    async def get(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is not None and self.store is None and self._expired(session):
            self.remove(session_id, "expired")
            session = None
        elif session is None and self.store is not None:
            session = await self._load_saved(session_id)
        if session is None:
            raise not_found(f"session {session_id[:64]!r}")
        session.touch()
        if session_id in self.sessions:
            self.sessions.move_to_end(session_id)
        return session

    async def _load_saved(self, session_id: str) -> Session | None:
        if self.store is None or self.stopping or not valid_id(session_id):
            return None
        leaving = self._leaving.get(session_id)
        if leaving is not None:  # its save must be on disk before it is read back
            await asyncio.shield(leaving)
        if session_id in self.sessions:
            return self.sessions[session_id]
        if session_id not in self._loading and not self.store.has(session_id):
            return None
        return await self._load_once(session_id, make_room=True)

    async def _load_once(self, session_id: str, make_room: bool) -> Session:
        """Load a saved session; concurrent requests for the same id share one load."""
        task = self._loading.get(session_id)
        if task is None:
            task = asyncio.create_task(self._load(session_id, make_room), name="session-load")
            self._loading[session_id] = task

            def done(finished: asyncio.Task[Session]) -> None:
                self._loading.pop(session_id, None)
                if not finished.cancelled():
                    finished.exception()  # retrieved: every waiter re-raises it anyway

            task.add_done_callback(done)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                # the shutdown stopped the load; this request itself goes on and gets an answer
                raise ApiError(
                    503, "the server is shutting down", headers={"Retry-After": "10"}
                ) from None
            raise

    async def _load(self, session_id: str, make_room: bool) -> Session:
        assert self.store is not None
        if make_room:
            await self._make_room()
        self._reserved += 1
        started = time.perf_counter()
        try:
            files = await asyncio.to_thread(self.store.read, session_id)
            parts = await asyncio.to_thread(self._saved_parts, files)
            session = Session(session_id, self.settings, asyncio.get_running_loop(), self.metrics)
            # its last use before the restart, until it is used again (the TTL starts afresh)
            session.used_at = self.store.last_used(session_id) or session.used_at
            try:
                await session.install(parts)
                problems = await session.restore(files)
            except BaseException:
                session.close("failed to load")
                raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # whatever is wrong with the files, the server carries on
            message = exc.message if isinstance(exc, ApiError) else str(exc)
            log.warning(
                "saved session %s cannot be loaded (%s); its files stay on disk",
                short(session_id),
                message,
            )
            self.store.mark_broken(session_id)
            self.metrics.load_failures.inc()
            raise not_found(f"session {session_id[:64]!r}") from None
        finally:
            self._reserved -= 1
        session.last_save = time.monotonic()
        self.sessions[session_id] = session
        if not make_room:  # start-up loads go most recent first: each next one is older (LRU)
            self.sessions.move_to_end(session_id, last=False)
        self.metrics.loads.inc()
        for problem in problems:
            log.warning("saved session %s: %s", short(session_id), problem)
        log.info(
            "session %s loaded from disk at step %d in %.0f ms (%d open)",
            short(session_id),
            session.step,
            (time.perf_counter() - started) * 1000,
            len(self.sessions),
        )
        return session

    def _saved_parts(self, files: SavedFiles) -> Parts:
        _, _, _, extra = inspect(files.checkpoint)
        parts = self.parse_checkpoint(files.checkpoint, files.text)
        lineage = extra.get("lineage")
        parts.lineage = lineage if isinstance(lineage, str) and lineage else None
        return parts

    async def _restore_saved(self) -> None:
        """Start-up: load the most recently used saved sessions while the server already answers
        (a request for one that is not loaded yet loads it, or waits for its load)."""
        assert self.store is not None
        pruned = await asyncio.to_thread(self.store.prune, self._in_use())
        if pruned:
            log.info(
                "removed %d saved sessions past ATTNFLOW_MAX_SAVED_SESSIONS=%d (least recently "
                "used first)",
                len(pruned),
                self.settings.max_saved_sessions,
            )
        ids = self.store.by_recency()
        for index, session_id in enumerate(ids):
            if len(self.sessions) + self._reserved >= self.settings.max_sessions:
                log.info(
                    "%d saved sessions stay on disk (ATTNFLOW_MAX_SESSIONS=%d in memory); each "
                    "loads when it is next used",
                    len(ids) - index,
                    self.settings.max_sessions,
                )
                return
            if session_id not in self.sessions:
                with contextlib.suppress(ApiError):
                    await self._load_once(session_id, make_room=False)

    # -- creating ------------------------------------------------------------------------------

    async def create(self, request: SessionCreate) -> Session:
        def parts() -> Parts:
            return build(
                request, self.settings.max_parameters, self.device, self.settings.precision
            )

        return await self._add(parts)

    async def import_checkpoint(self, data: bytes) -> Session:
        return await self._add(lambda: self.parse_checkpoint(data, None))

    def parse_checkpoint(self, data: bytes, fallback_text: str | None) -> Parts:
        """Header, names, shapes, dtype and size checked before any tensor is allocated."""
        config, _, _, _ = inspect(data)
        limit = self.settings.max_parameters
        if config.parameter_count() > limit:
            raise ApiError(
                422,
                f"the checkpoint's model has {config.parameter_count():,} parameters, over "
                f"this server's limit of {limit:,}",
                "checkpoint",
                config.parameter_count(),
            )
        return from_checkpoint(from_bytes(data, max_parameters=limit), self.device, fallback_text)

    async def _add(self, make_parts: Callable[[], Parts]) -> Session:
        if self.stopping:
            raise ApiError(503, "the server is shutting down", headers={"Retry-After": "10"})
        await self._make_room()
        self._reserved += 1
        try:
            parts = await asyncio.to_thread(make_parts)
            session = Session(new_id(), self.settings, asyncio.get_running_loop(), self.metrics)
            try:
                await session.install(parts)
            except BaseException:
                session.close("failed to start")
                raise
        finally:
            self._reserved -= 1
        self.sessions[session.id] = session
        log.info("session %s created (%d open)", short(session.id), len(self.sessions))
        return session

    # -- leaving -------------------------------------------------------------------------------

    def remove(self, session_id: str, reason: str, code: int = 1000) -> Session | None:
        """Out of memory now, its watchers told why; its files (if any) are not touched."""
        session = self.sessions.pop(session_id, None)
        if session is not None:
            log.info("session %s removed: %s", short(session_id), reason)
            session.close(reason, code)
        return session

    async def delete(self, session_id: str) -> None:
        """DELETE: out of memory and off the disk; 404 when it was in neither."""
        loading = self._loading.get(session_id)
        if loading is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(loading)
        leaving = self._leaving.get(session_id)
        if leaving is not None:
            await asyncio.shield(leaving)
        session = self.remove(session_id, "deleted")
        on_disk = False
        if self.store is not None and valid_id(session_id):
            on_disk = await asyncio.to_thread(self.store.delete, session_id)
        if session is None and not on_disk:
            raise not_found(f"session {session_id[:64]!r}")

    async def evict(self, session_id: str, reason: str) -> None:
        """Free a memory slot. With persistence the session is saved first and loads again
        when next used; without, it is gone."""
        if self.store is None:
            self.remove(session_id, reason)
            return
        session = self.sessions.pop(session_id, None)
        if session is None:
            return

        async def save_and_close() -> None:
            try:
                await self.save(session)
            finally:
                log.info("session %s left memory (%s); it stays on disk", short(session_id), reason)
                session.close(f"{reason}; it loads again when next used")

        task = asyncio.create_task(save_and_close(), name="session-evict")
        self._leaving[session_id] = task
        task.add_done_callback(lambda _: self._leaving.pop(session_id, None))
        await asyncio.shield(task)

    def _expired(self, session: Session) -> bool:
        idle = time.monotonic() - session.last_used
        return idle > self.settings.session_ttl_s and not session.busy

    async def expire(self) -> None:
        for session_id, session in list(self.sessions.items()):
            if self._expired(session) and self.sessions.get(session_id) is session:
                ttl = self.settings.session_ttl_s
                await self.evict(session_id, f"idle for more than {ttl:.0f} s")

    async def _make_room(self) -> None:
        await self.expire()
        while len(self.sessions) + self._reserved >= self.settings.max_sessions:
            idle = next((s for s in self.sessions.values() if not s.busy), None)  # LRU first
            if idle is None:
                raise ApiError(
                    503,
                    f"all {self.settings.max_sessions} session slots are busy training; "
                    f"try again in {RETRY_AFTER_S} s",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            await self.evict(idle.id, "evicted (least recently used) to make room")

    async def _reap(self) -> None:
        interval = max(1.0, min(60.0, self.settings.session_ttl_s / 4))
        while True:
            await asyncio.sleep(interval)
            await self.expire()

    # -- saving --------------------------------------------------------------------------------

    async def save(self, session: Session) -> bool:
        """Save one session if it changed: captured on its worker thread between training
        chunks (never half a step), written by another thread. True when it was written."""
        if self.store is None:
            return False
        async with session.save_lock:
            if not session.dirty or session.worker.closed:
                return False
            started = time.perf_counter()
            try:
                state = await session.worker.call(session.capture)
                await asyncio.to_thread(self.store.write, state)
            except ApiError:  # the session closed while the save waited for its worker
                return False
            except Exception as exc:  # disk full, permissions: count it, retry next interval
                session.last_save = time.monotonic()
                self.metrics.save_failures.inc()
                log.error("saving session %s failed: %s", short(session.id), exc)
                return False
            session.saved_revision = state.revision
            session.last_save = time.monotonic()
            self.metrics.saves.inc()
            self.metrics.save_seconds.observe(time.perf_counter() - started)
            return True

    async def _save_and_prune(self, session: Session) -> None:
        assert self.store is not None
        new = not self.store.has(session.id)
        if await self.save(session) and new:
            pruned = await asyncio.to_thread(self.store.prune, self._in_use())
            for session_id in pruned:
                log.info("saved session %s removed: over the disk cap", short(session_id))

    def _in_use(self) -> set[str]:
        """Sessions the disk cap must not remove: in memory, loading or being evicted."""
        return {*self.sessions, *self._loading, *self._leaving}

    async def _persist_loop(self) -> None:
        every = self.settings.persist_every_s
        tick = min(PERSIST_TICK_S, every / 4)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if (
                    session.dirty
                    and not session.save_lock.locked()
                    and now - session.last_save >= every
                ):
                    self._spawn(self._save_and_prune(session))

    @property
    def running(self) -> int:
        return sum(s.running for s in self.sessions.values())
