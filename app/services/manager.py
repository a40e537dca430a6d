"""All sessions of this process: the registry (creation, lookup, loading, deletion, shutdown).
Eviction: app.services.eviction; saving: app.services.persister; the memory budget:
app.services.budget.

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
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from app.metrics import Metrics
from app.services import imports
from app.services.budget import MemoryBudget, OverBudget, mib
from app.services.builder import Parts, build, resolve_device
from app.services.errors import Unavailable, gone, shutting_down
from app.services.eviction import RETRY_AFTER_S, Evictor
from app.services.fairness import Fairness
from app.services.ids import new_session_id
from app.services.lease import Leases
from app.services.loader import Loader, interruption
from app.services.persister import Persister
from app.services.session import Session
from app.services.specs import CreateSpec
from app.services.store import SessionStore, StoreError, short, valid_id
from app.settings import Settings

log = logging.getLogger("attnflow.sessions")
GOING_AWAY = 1001  # WebSocket close code: the server is going down
SHUTDOWN_REASON = "server shutting down"
HALT_TIMEOUT_S = 2.0  # runs stop at the next chunk boundary (~50 ms); this bounds a stuck one
STREAMS_TIMEOUT_S = 1.0  # for open streams to send their bye and close
SAVE_TIMEOUT_S = 6.0  # for the final saves


class SessionManager:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.device = resolve_device(settings.device)
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.store: SessionStore | None = None
        self.persister: Persister | None = None
        self.leases: Leases | None = None  # replicas sharing the data dir (shared_data_dir)
        self.stream_clients = 0  # open WebSocket streams (the stream router counts them)
        self.stopping = False
        self.reserved = 0  # slots held by sessions still being built or loaded
        self._loops: list[asyncio.Task[None]] = []  # reaper, persister, start-up restore
        self._drained = False
        s = settings
        self.budget = MemoryBudget(
            s.max_session_bytes, s.max_total_bytes, s.max_history_points, s.max_snapshots
        )
        self.evictor = Evictor(self)
        self.loader = Loader(self)
        self.fair = Fairness(
            s.max_running, s.client_steps, s.client_window_s, self.sessions, s.session_ttl_s
        )
        self.uploads = asyncio.Semaphore(s.max_uploads)

    @property
    def save_errors(self) -> dict[str, str]:
        """Session id -> why its last save failed."""
        return self.persister.save_errors if self.persister is not None else {}

    async def expire(self) -> None:
        await self.evictor.expire()

    def account(self, session: Session) -> None:
        """Book a session's estimate (after creation, a load, a checkpoint upload)."""
        self.budget.book(session.id, session.model.config, session.trainer.config.batch_size)

    def in_use(self) -> set[str]:
        """Sessions the disk cap must not remove: in memory, loading or being evicted."""
        return {*self.sessions, *self.loader.loading, *self.evictor.leaving}

    @property
    def running(self) -> int:
        return sum(s.running for s in self.sessions.values())

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loops.append(asyncio.create_task(self.evictor.reap(), name="session-reaper"))
        if not self.settings.persist:
            return
        shared = self.settings.shared_data_dir
        store = SessionStore(
            self.settings.data_dir / "sessions", self.settings.max_saved_sessions, shared
        )
        try:
            await asyncio.to_thread(store.open)
            if shared:
                self.leases = Leases(store.root)
                await asyncio.to_thread(self.leases.open)
        except (StoreError, OSError) as exc:
            log.error("sessions will not be saved: %s", exc)
            return
        self.store = store
        self.persister = Persister(store, self.metrics, self.settings.persist_every_s)
        log.info("%d saved sessions in %s", len(store), store.root)
        if not shared:  # with replicas, another may hold any of them: each loads when asked for
            self._loops.append(
                asyncio.create_task(self.loader.restore_saved(), name="session-restore")
            )
        # replicas never prune: a session not in this one's memory may be in another's
        saving = self.persister.loop(lambda: list(self.sessions.values()), self.in_use, not shared)
        self._loops.append(asyncio.create_task(saving, name="session-persist"))

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
        for load in list(self.loader.loading.values()):
            load.cancel()
        sessions = list(self.sessions.values())
        streams = self.stream_clients
        was_running = [s for s in sessions if s.running]
        running = [t for s in sessions for t in s.halt()]
        if running:
            await asyncio.wait(running, timeout=HALT_TIMEOUT_S)
        for session in was_running:  # they come back paused and say so (the final save keeps it)
            session.interrupted = interruption(session.step)
        halted = time.perf_counter()
        for session in sessions:
            session.broadcaster.close(reason, GOING_AWAY)
        deadline = time.monotonic() + STREAMS_TIMEOUT_S
        while self.stream_clients and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self.persister is not None:
            await self._final_saves(self.persister, sessions)
        log.info(
            "shutdown: %d runs paused in %.0f ms, %d streams closed, %d of %d sessions saved "
            "up to date; %.0f ms",
            len(running),
            (halted - started) * 1000,
            streams,
            sum(not s.dirty for s in sessions) if self.persister is not None else 0,
            len(sessions),
            (time.perf_counter() - started) * 1000,
        )

    async def _final_saves(self, saver: Persister, sessions: list[Session]) -> None:
        pending = [*saver.tasks, *self.evictor.leaving.values()]
        if pending:
            await asyncio.wait(pending, timeout=SAVE_TIMEOUT_S)
        if not sessions:
            return
        try:
            await asyncio.wait_for(
                asyncio.gather(*(saver.final_save(s) for s in sessions)), SAVE_TIMEOUT_S
            )
        except TimeoutError:
            log.error("final saves took over %.0f s; some steps may be lost", SAVE_TIMEOUT_S)

    async def shutdown(self) -> None:
        await self.drain()
        for loop_task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
        for session_id in list(self.sessions):
            self.remove(session_id, "the server is shutting down", GOING_AWAY)
        if self.leases is not None:
            self.leases.close()
        if self.store is not None:
            self.store.close()

    # -- lookup --------------------------------------------------------------------------------

    async def get(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is not None and self.store is None and self.evictor.expired(session):
            self.remove(session_id, "expired")
            session = None
        elif session is None and self.store is not None:
            session = await self.loader.load_saved(session_id)
        if session is None:
            raise gone(f"session {session_id[:64]!r}")
        session.touch()
        if session_id in self.sessions:
            self.sessions.move_to_end(session_id)
        return session

    def unlease(self, session_id: str) -> None:
        if self.leases is not None:
            self.leases.release(session_id)

    # -- creating ------------------------------------------------------------------------------

    async def create(self, spec: CreateSpec, route: str | None = None) -> Session:
        """A new session; `route`: the routing key the proxy chose for it (app.services.ids)."""

        def parts() -> Parts:
            return build(
                spec,
                self.settings.max_parameters,
                self.device,
                self.budget.check,
                self.settings.precision,
            )

        return await self._add(parts, route)

    async def import_checkpoint(self, data: bytes | Path, route: str | None = None) -> Session:
        def parts() -> Parts:
            limit = self.settings.max_parameters
            return imports.parse(data, None, limit, self.device, self.budget.check)

        return await self._add(parts, route)

    def parse_checkpoint(self, data: bytes | Path, fallback_text: str | None) -> Parts:
        """For a checkpoint loaded into an existing session: header, metadata (through the API's
        schemas), sizes and the per-session memory estimate checked before any tensor is
        allocated (app.services.imports)."""
        return imports.parse(
            data, fallback_text, self.settings.max_parameters, self.device, self.budget.fits
        )

    async def _add(self, make_parts: Callable[[], Parts], route: str | None) -> Session:
        if self.stopping:
            raise shutting_down()
        await self.evictor.make_room()
        self.reserved += 1
        try:
            try:
                parts = await asyncio.to_thread(make_parts)
            except OverBudget as over:
                await self.evictor.free_memory(over.needed)
                parts = await asyncio.to_thread(make_parts)
            session_id = new_session_id(route)
            if self.leases is not None:  # a fresh random id: nobody else can hold it
                await asyncio.to_thread(self.leases.acquire, session_id)
            try:
                session = await Session.open(session_id, self.settings, parts, self.metrics)
            except BaseException:
                self.unlease(session_id)
                raise
        except OverBudget as over:  # the others grew while this one waited
            raise Unavailable(
                f"this session needs an estimated {mib(over.needed)}, more than the memory "
                f"budget has left (ATTNFLOW_MAX_TOTAL_BYTES); try again in {RETRY_AFTER_S} s",
                retry_after=RETRY_AFTER_S,
            ) from None
        finally:
            self.reserved -= 1
        self.sessions[session.id] = session
        self.account(session)
        if self.leases is not None and self.persister is not None:
            # on disk at once: the replica its id hashes to can see it, is held here (503), and
            # nginx comes on to this one
            await self.persister.save(session)
        log.info("session %s created (%d open)", short(session.id), len(self.sessions))
        return session

    # -- leaving -------------------------------------------------------------------------------

    def remove(self, session_id: str, reason: str, code: int = 1000) -> Session | None:
        """Out of memory now, its watchers told why; its files (if any) are not touched."""
        session = self.sessions.pop(session_id, None)
        self.budget.release(session_id)
        self.save_errors.pop(session_id, None)
        if session is not None:
            log.info("session %s removed: %s", short(session_id), reason)
            session.close(reason, code)
        self.unlease(session_id)
        return session

    async def delete(self, session_id: str) -> None:
        """DELETE: out of memory and off the disk; 404 when it was in neither."""
        loading = self.loader.loading.get(session_id)
        if loading is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(loading)
        leaving = self.evictor.leaving.get(session_id)
        if leaving is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(leaving)
        leased = session_id in self.sessions or (
            valid_id(session_id) and self.loader.lease(session_id)
        )
        on_disk = False
        if self.store is not None and leased:
            on_disk = await asyncio.to_thread(self.store.delete, session_id)
        session = self.remove(session_id, "deleted")  # releases the lease after the files go
        if session is None and not on_disk:
            raise gone(f"session {session_id[:64]!r}")
