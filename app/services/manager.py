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
from pathlib import Path
from typing import Any

from app.metrics import Metrics
from app.services import imports
from app.services.budget import mib, session_estimate
from app.services.builder import Parts, build, resolve_device
from app.services.errors import (
    FieldError,
    NotFound,
    ServiceError,
    Unavailable,
    gone,
    shutting_down,
)
from app.services.fairness import Fairness
from app.services.lease import Leases
from app.services.session import Session
from app.services.specs import CreateSpec
from app.services.store import SavedFiles, SessionStore, StoreError, short, valid_id
from app.settings import Settings
from model.checkpoint import MAX_STEP
from model.config import ModelConfig

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


class OverBudget(Exception):
    """A new session would pass ATTNFLOW_MAX_TOTAL_BYTES: make room (evict), then retry."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


class SessionManager:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.device = resolve_device(settings.device)
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.store: SessionStore | None = None
        self.leases: Leases | None = None  # replicas sharing the data dir (shared_data_dir)
        self.stream_clients = 0  # open WebSocket streams (the stream router counts them)
        self.stopping = False
        self._reserved = 0  # slots held by sessions still being built or loaded
        self._loops: list[asyncio.Task[None]] = []  # reaper, persister, start-up restore
        self._tasks: set[asyncio.Task[Any]] = set()  # saves in flight
        self._loading: dict[str, asyncio.Task[Session]] = {}
        self._leaving: dict[str, asyncio.Task[bool]] = {}  # evictions saving before they close
        self._drained = False
        self.estimates: dict[str, int] = {}  # session id -> estimated bytes (app.services.budget)
        self.save_errors: dict[str, str] = {}  # session id -> why its last save failed
        self.fair = Fairness(
            settings.max_running,
            settings.client_steps,
            settings.client_window_s,
            self.sessions,
            settings.session_ttl_s,
        )
        self.uploads = asyncio.Semaphore(settings.max_uploads)

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loops.append(asyncio.create_task(self._reap(), name="session-reaper"))
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
        log.info("%d saved sessions in %s", len(store), store.root)
        if shared:  # another replica may hold any of them: each loads when asked for
            self._loops.append(asyncio.create_task(self._persist_loop(), name="session-persist"))
            return
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
                    self.store.touch,
                    session.id,
                    session.step,
                    session.last_used_wall(),
                    session.interrupted,
                )

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
            raise gone(f"session {session_id[:64]!r}")
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
        if session_id not in self._loading and not self._lease(session_id):
            return None
        if session_id not in self._loading and not self.store.has(session_id):
            self._unlease(session_id)
            return None
        return await self._load_once(session_id, make_room=True)

    def _lease(self, session_id: str) -> bool:
        """Shared data dir: take the session's lease before touching its files. 503 while another
        live replica holds it (nginx tries the next upstream: docs/deploy.md); False for an id
        that has no lease file and so was never saved by anyone."""
        if self.leases is None:
            return True
        assert self.store is not None
        if not (self.store.root / session_id).is_dir() and not self.leases.holds(session_id):
            return False  # no lock files for ids nobody created: a 404 costs no inode
        if not self.leases.acquire(session_id):
            raise Unavailable(
                f"session {short(session_id)} is held by another replica; try again in 2 s",
                retry_after=2,
            )
        return True

    def _unlease(self, session_id: str) -> None:
        if self.leases is not None:
            self.leases.release(session_id)

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
                raise shutting_down() from None
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
            message = exc.message if isinstance(exc, ServiceError) else str(exc)
            log.warning(
                "saved session %s cannot be loaded (%s); its files stay on disk",
                short(session_id),
                message,
            )
            self.store.mark_broken(session_id)
            self._unlease(session_id)
            self.metrics.load_failures.inc()
            raise gone(f"session {session_id[:64]!r}") from None
        finally:
            self._reserved -= 1
        session.last_save = time.monotonic()
        self.sessions[session_id] = session
        self.account(session)
        session.interrupted = _interrupted(files.meta, session.step)
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
        # the per-session limit applies to saved sessions too; the total was booked before
        limit = self.settings.max_parameters
        return imports.parse(
            files.checkpoint, files.text, limit, self.device, self._fits, MAX_STEP, saved=True
        )

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
                with contextlib.suppress(ServiceError):
                    await self._load_once(session_id, make_room=False)

    # -- creating ------------------------------------------------------------------------------

    async def create(self, spec: CreateSpec) -> Session:
        def parts() -> Parts:
            return build(
                spec,
                self.settings.max_parameters,
                self.device,
                self._budget,
                self.settings.precision,
            )

        return await self._add(parts)

    async def import_checkpoint(self, data: bytes | Path) -> Session:
        def parts() -> Parts:
            limit = self.settings.max_parameters
            return imports.parse(data, None, limit, self.device, self._budget)

        return await self._add(parts)

    def parse_checkpoint(self, data: bytes | Path, fallback_text: str | None) -> Parts:
        """For a checkpoint loaded into an existing session: header, metadata (through the API's
        schemas), sizes and the per-session memory estimate checked before any tensor is
        allocated (app.services.imports)."""
        return imports.parse(
            data, fallback_text, self.settings.max_parameters, self.device, self._fits
        )

    # -- the memory budget ---------------------------------------------------------------------

    def _estimate(self, config: ModelConfig, batch_size: int) -> int:
        s = self.settings
        return session_estimate(config, batch_size, s.max_history_points, s.max_snapshots).total

    def _fits(self, config: ModelConfig, batch_size: int) -> None:
        """422 when one session of this config would pass ATTNFLOW_MAX_SESSION_BYTES."""
        s = self.settings
        estimate = session_estimate(config, batch_size, s.max_history_points, s.max_snapshots)
        if estimate.total > s.max_session_bytes:
            raise FieldError(
                "config",
                estimate.total,
                f"at most {mib(s.max_session_bytes)} of memory",
                f"a session of this config and batch_size={batch_size} needs an estimated "
                f"{estimate.describe()}, over this server's limit of {mib(s.max_session_bytes)} "
                "(ATTNFLOW_MAX_SESSION_BYTES); choose a smaller batch_size, context_length, "
                "d_model or vocabulary",
            )

    def _budget(self, config: ModelConfig, batch_size: int) -> None:
        """Before a new session is allocated: its own limit, then the total (OverBudget)."""
        self._fits(config, batch_size)
        needed = self._estimate(config, batch_size)
        if sum(self.estimates.values()) + needed > self.settings.max_total_bytes:
            raise OverBudget(needed)

    def account(self, session: Session) -> None:
        """Book a session's estimate (after creation, a load, a checkpoint upload)."""
        batch = session.trainer.config.batch_size
        self.estimates[session.id] = self._estimate(session.model.config, batch)

    async def _free_memory(self, needed: int) -> None:
        """Evict idle sessions (saved first) until `needed` more bytes fit the total budget."""
        limit = self.settings.max_total_bytes
        for candidate in [s for s in self.sessions.values() if not s.busy]:
            if sum(self.estimates.values()) + needed <= limit:
                return
            await self.evict(candidate.id, "evicted (least recently used) to free memory")
        used = sum(self.estimates.values())
        if used + needed > limit:
            raise Unavailable(
                f"the sessions in memory need an estimated {mib(used)} and this one "
                f"{mib(needed)}, over this server's budget of {mib(limit)} "
                f"(ATTNFLOW_MAX_TOTAL_BYTES); try again in {RETRY_AFTER_S} s",
                retry_after=RETRY_AFTER_S,
            )

    async def _add(self, make_parts: Callable[[], Parts]) -> Session:
        if self.stopping:
            raise shutting_down()
        await self._make_room()
        self._reserved += 1
        try:
            try:
                parts = await asyncio.to_thread(make_parts)
            except OverBudget as over:
                await self._free_memory(over.needed)
                parts = await asyncio.to_thread(make_parts)
            session = Session(new_id(), self.settings, asyncio.get_running_loop(), self.metrics)
            if self.leases is not None:  # a fresh random id: nobody else can hold it
                await asyncio.to_thread(self.leases.acquire, session.id)
            try:
                await session.install(parts)
            except BaseException:
                session.close("failed to start")
                self._unlease(session.id)
                raise
        except OverBudget as over:  # the others grew while this one waited
            raise Unavailable(
                f"this session needs an estimated {mib(over.needed)}, more than the memory "
                f"budget has left (ATTNFLOW_MAX_TOTAL_BYTES); try again in {RETRY_AFTER_S} s",
                retry_after=RETRY_AFTER_S,
            ) from None
        finally:
            self._reserved -= 1
        self.sessions[session.id] = session
        self.account(session)
        if self.leases is not None:  # on disk at once: the replica its id hashes to can see it
            await self.save(session)  # is held here (503), and nginx comes on to this one
        log.info("session %s created (%d open)", short(session.id), len(self.sessions))
        return session

    # -- leaving -------------------------------------------------------------------------------

    def remove(self, session_id: str, reason: str, code: int = 1000) -> Session | None:
        """Out of memory now, its watchers told why; its files (if any) are not touched."""
        session = self.sessions.pop(session_id, None)
        self.estimates.pop(session_id, None)
        self.save_errors.pop(session_id, None)
        if session is not None:
            log.info("session %s removed: %s", short(session_id), reason)
            session.close(reason, code)
        self._unlease(session_id)
        return session

    async def delete(self, session_id: str) -> None:
        """DELETE: out of memory and off the disk; 404 when it was in neither."""
        loading = self._loading.get(session_id)
        if loading is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(loading)
        leaving = self._leaving.get(session_id)
        if leaving is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(leaving)
        leased = session_id in self.sessions or (valid_id(session_id) and self._lease(session_id))
        on_disk = False
        if self.store is not None and leased:
            on_disk = await asyncio.to_thread(self.store.delete, session_id)
        session = self.remove(session_id, "deleted")  # releases the lease after the files go
        if session is None and not on_disk:
            raise gone(f"session {session_id[:64]!r}")

    async def evict(self, session_id: str, reason: str) -> bool:
        """Free a memory slot; True when the session left memory. With persistence it leaves
        only once its save succeeded (and it was not used meanwhile), and loads again when next
        used; a session that cannot be saved stays. Without persistence it is gone."""
        if self.store is None:
            self.remove(session_id, reason)
            return True
        if session_id not in self.sessions:
            return True
        leaving = self._leaving.get(session_id)
        if leaving is None:
            leaving = asyncio.create_task(self._save_then_close(session_id, reason))
            self._leaving[session_id] = leaving
            leaving.add_done_callback(lambda _: self._leaving.pop(session_id, None))
        return await asyncio.shield(leaving)

    async def _save_then_close(self, session_id: str, reason: str) -> bool:
        session = self.sessions[session_id]
        used_at = session.last_used
        await self.save(session)
        error = self.save_errors.get(session_id)
        if error is not None or session.dirty:
            log.error(
                "session %s stays in memory (%s was wanted): it cannot be saved: %s",
                short(session_id),
                reason,
                error or "it changed while it was being saved",
            )
            return False
        if session.busy or session.lock.locked() or session.last_used != used_at:
            log.info("session %s stays in memory: it was used while being saved", short(session_id))
            return False
        self.sessions.pop(session_id, None)
        self.estimates.pop(session_id, None)
        self._unlease(session_id)  # saved: another replica may load it now
        log.info(
            "session %s left memory (%s); saved at step %d, it loads again when next used",
            short(session_id),
            reason,
            session.step,
        )
        session.close(f"{reason}; it loads again when next used")
        return True

    def _expired(self, session: Session) -> bool:
        idle = time.monotonic() - session.last_used
        return idle > self.settings.session_ttl_s and not session.busy

    def _unwatched(self, session: Session) -> bool:
        """A background run nobody watches and nobody asked about for the TTL."""
        idle = time.monotonic() - session.last_used
        return (
            session.running
            and not session.broadcaster.listening
            and (idle > self.settings.session_ttl_s)
        )

    async def expire(self) -> None:
        ttl = self.settings.session_ttl_s
        for session_id, session in list(self.sessions.items()):
            if self._unwatched(session):
                log.info(
                    "session %s: its run is paused (no watcher and no request for %.0f s)",
                    short(session_id),
                    ttl,
                )
                await session.pause()
                session.last_used -= 1  # still past the TTL: it goes below, once saved
            if self._expired(session) and self.sessions.get(session_id) is session:
                await self.evict(session_id, f"idle for more than {ttl:.0f} s")

    async def _make_room(self) -> None:
        await self.expire()
        while len(self.sessions) + self._reserved >= self.settings.max_sessions:
            for idle in [s for s in self.sessions.values() if not s.busy]:  # LRU first
                if await self.evict(idle.id, "evicted (least recently used) to make room"):
                    break
            else:
                raise self._no_room()

    def _no_room(self) -> Unavailable:
        unsaved = {i: e for i, e in self.save_errors.items() if i in self.sessions}
        if unsaved:
            first, error = next(iter(unsaved.items()))
            why = (
                f"the idle ones cannot be saved to make room ({len(unsaved)} failed; session "
                f"{short(first)}: {error}), so they stay in memory"
            )
        else:
            why = "every one is busy training"
        return Unavailable(
            f"all {self.settings.max_sessions} session slots are taken: {why}; "
            f"try again in {RETRY_AFTER_S} s",
            retry_after=RETRY_AFTER_S,
        )

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

    async def _save_and_prune(self, session: Session) -> None:
        assert self.store is not None
        new = not self.store.has(session.id)
        # replicas never prune: a session not in this one's memory may be in another's
        if await self.save(session) and new and self.leases is None:
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
