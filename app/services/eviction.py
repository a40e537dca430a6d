"""Making room: LRU eviction when the session slots or the memory budget are full, and the TTL
reaper. With persistence an evicted session is saved first and loads again when next used; a
busy (running or comparing) session is never evicted."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from app.services.budget import mib
from app.services.errors import Unavailable
from app.services.session import Session
from app.services.store import short

if TYPE_CHECKING:
    from app.services.manager import SessionManager

log = logging.getLogger("attnflow.sessions")
RETRY_AFTER_S = 30


class Evictor:
    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.ttl_s = manager.settings.session_ttl_s
        self.leaving: dict[str, asyncio.Task[bool]] = {}  # evictions saving before they close

    def expired(self, session: Session) -> bool:
        idle = time.monotonic() - session.last_used
        return idle > self.ttl_s and not session.busy

    def unwatched(self, session: Session) -> bool:
        """A background run nobody watches and nobody asked about for the TTL."""
        idle = time.monotonic() - session.last_used
        return session.running and not session.broadcaster.listening and idle > self.ttl_s

    async def evict(self, session_id: str, reason: str) -> bool:
        """Free a memory slot; True when the session left memory. With persistence it leaves
        only once its save succeeded (and it was not used meanwhile), and loads again when next
        used; a session that cannot be saved stays. Without persistence it is gone."""
        manager = self.manager
        if manager.persister is None:
            manager.remove(session_id, reason)
            return True
        if session_id not in manager.sessions:
            return True
        leaving = self.leaving.get(session_id)
        if leaving is None:
            leaving = asyncio.create_task(self._save_then_close(session_id, reason))
            self.leaving[session_id] = leaving
            leaving.add_done_callback(lambda _: self.leaving.pop(session_id, None))
        return await asyncio.shield(leaving)

    async def _save_then_close(self, session_id: str, reason: str) -> bool:
        manager = self.manager
        assert manager.persister is not None
        session = manager.sessions[session_id]
        used_at = session.last_used
        await manager.persister.save(session)
        error = manager.persister.save_errors.get(session_id)
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
        manager.sessions.pop(session_id, None)
        manager.budget.release(session_id)
        manager.unlease(session_id)  # saved: another replica may load it now
        log.info(
            "session %s left memory (%s); saved at step %d, it loads again when next used",
            short(session_id),
            reason,
            session.step,
        )
        session.close(f"{reason}; it loads again when next used")
        return True

    async def expire(self) -> None:
        sessions = self.manager.sessions
        for session_id, session in list(sessions.items()):
            if self.unwatched(session):
                log.info(
                    "session %s: its run is paused (no watcher and no request for %.0f s)",
                    short(session_id),
                    self.ttl_s,
                )
                await session.pause()
                session.last_used -= 1  # still past the TTL: it goes below, once saved
            if self.expired(session) and sessions.get(session_id) is session:
                await self.evict(session_id, f"idle for more than {self.ttl_s:.0f} s")

    async def make_room(self) -> None:
        """A free session slot, evicting the least recently used idle session if need be."""
        manager = self.manager
        await self.expire()
        while len(manager.sessions) + manager.reserved >= manager.settings.max_sessions:
            for idle in [s for s in manager.sessions.values() if not s.busy]:  # LRU first
                if await self.evict(idle.id, "evicted (least recently used) to make room"):
                    break
            else:
                raise self._no_room()

    def _no_room(self) -> Unavailable:
        manager = self.manager
        errors = manager.persister.save_errors if manager.persister is not None else {}
        unsaved = {i: e for i, e in errors.items() if i in manager.sessions}
        if unsaved:
            first, error = next(iter(unsaved.items()))
            why = (
                f"the idle ones cannot be saved to make room ({len(unsaved)} failed; session "
                f"{short(first)}: {error}), so they stay in memory"
            )
        else:
            why = "every one is busy training"
        return Unavailable(
            f"all {manager.settings.max_sessions} session slots are taken: {why}; "
            f"try again in {RETRY_AFTER_S} s",
            retry_after=RETRY_AFTER_S,
        )

    async def free_memory(self, needed: int) -> None:
        """Evict idle sessions (saved first) until `needed` more bytes fit the total budget."""
        budget = self.manager.budget
        for candidate in [s for s in self.manager.sessions.values() if not s.busy]:
            if budget.used + needed <= budget.max_total:
                return
            await self.evict(candidate.id, "evicted (least recently used) to free memory")
        if budget.used + needed > budget.max_total:
            raise Unavailable(
                f"the sessions in memory need an estimated {mib(budget.used)} and this one "
                f"{mib(needed)}, over this server's budget of {mib(budget.max_total)} "
                f"(ATTNFLOW_MAX_TOTAL_BYTES); try again in {RETRY_AFTER_S} s",
                retry_after=RETRY_AFTER_S,
            )

    async def reap(self) -> None:
        interval = max(1.0, min(60.0, self.ttl_s / 4))
        while True:
            await asyncio.sleep(interval)
            await self.expire()
