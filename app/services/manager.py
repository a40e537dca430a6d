"""All sessions of this process: creation, lookup, LRU/TTL eviction, shutdown.

Sessions are bounded (`max_sessions`). Creating one past the limit evicts the least recently used
idle session; a running or comparing session is busy and never evicted, so when every slot is
busy creation answers 503 with Retry-After. Idle sessions past the TTL go on access or when the
reaper passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from app.errors import ApiError, not_found
from app.schemas import SessionCreate
from app.services.builder import Parts, build, from_checkpoint, resolve_device
from app.services.session import Session
from app.settings import Settings
from model.checkpoint import from_bytes, inspect

log = logging.getLogger("attnflow.sessions")
RETRY_AFTER_S = 30


def new_id() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits


class SessionManager:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self._reserved = 0  # slots held by sessions still being built
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap(), name="session-reaper")

    async def shutdown(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for session_id in list(self.sessions):
            self.remove(session_id, "the server is shutting down")

    def get(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is not None and self._expired(session):
            self.remove(session_id, "expired")
            session = None
        if session is None:
            raise not_found(f"session {session_id[:64]!r}")
        session.touch()
        self.sessions.move_to_end(session_id)
        return session

    def remove(self, session_id: str, reason: str) -> None:
        session = self.sessions.pop(session_id, None)
        if session is not None:
            log.info("session %s removed: %s", session_id[:6], reason)
            session.close(reason)

    async def create(self, request: SessionCreate) -> Session:
        def parts() -> Parts:
            return build(request, self.settings.max_parameters, self.device)

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
        self._make_room()
        self._reserved += 1
        try:
            parts = await asyncio.to_thread(make_parts)
            session = Session(new_id(), self.settings, asyncio.get_running_loop())
            try:
                await session.install(parts)
            except BaseException:
                session.close("failed to start")
                raise
        finally:
            self._reserved -= 1
        self.sessions[session.id] = session
        log.info("session %s created (%d open)", session.id[:6], len(self.sessions))
        return session

    def _expired(self, session: Session) -> bool:
        idle = time.monotonic() - session.last_used
        return idle > self.settings.session_ttl_s and not session.busy

    def expire(self) -> None:
        for session_id, session in list(self.sessions.items()):
            if self._expired(session):
                self.remove(session_id, f"idle for more than {self.settings.session_ttl_s:.0f} s")

    def _make_room(self) -> None:
        self.expire()
        while len(self.sessions) + self._reserved >= self.settings.max_sessions:
            idle = next((s for s in self.sessions.values() if not s.busy), None)  # LRU first
            if idle is None:
                raise ApiError(
                    503,
                    f"all {self.settings.max_sessions} session slots are busy training; "
                    f"try again in {RETRY_AFTER_S} s",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            self.remove(idle.id, "evicted (least recently used) to make room for a new session")

    async def _reap(self) -> None:
        interval = max(1.0, min(60.0, self.settings.session_ttl_s / 4))
        while True:
            await asyncio.sleep(interval)
            self.expire()

    @property
    def running(self) -> int:
        return sum(s.running for s in self.sessions.values())
