"""Fair share of the machine (issue 10, finding 5): one client cannot hold it all.

- At most `max_running` sessions train in the background (runs and comparisons) at once; the
  503 says when the first slot is expected to free (a run's remaining steps at its measured
  speed, or the time an unwatched run is paused for idleness).
- Each client (its address, as uvicorn reports it behind a trusted proxy) may train at most
  `client_steps` steps per `client_window_s`: a call is charged the steps it asks for, and a run
  that stops early is refunded the steps it did not take. Over the budget: 429 + Retry-After.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.services.errors import RateLimited, Unavailable

if TYPE_CHECKING:
    from app.services.session import Session

COMPARE_VARIANTS = 3  # a comparison trains three models


@dataclass
class Charge:
    client: str
    steps: int
    at: float = field(default_factory=time.monotonic)


@dataclass
class RunSlot:
    """A background run in progress: what it was asked for and where it started."""

    session_id: str
    target_step: int
    charge: Charge


class Fairness:
    def __init__(
        self,
        max_running: int,
        client_steps: int,
        window_s: float,
        sessions: Mapping[str, Session] | None = None,
        ttl_s: float = 3600.0,
    ) -> None:
        self.max_running = max_running
        self.client_steps = client_steps
        self.window_s = window_s
        self.sessions: Mapping[str, Session] = sessions if sessions is not None else {}
        self.ttl_s = ttl_s
        self._charges: dict[str, deque[Charge]] = {}
        self.runs: dict[str, RunSlot] = {}

    def _recent(self, client: str, now: float) -> deque[Charge]:
        charges = self._charges.setdefault(client, deque())
        while charges and now - charges[0].at >= self.window_s:
            charges.popleft()
        if not charges:
            self._charges.pop(client, None)
        return charges

    def used(self, client: str) -> int:
        return sum(c.steps for c in self._recent(client, time.monotonic()))

    def charge(self, client: str, steps: int) -> Charge:
        """Book `steps` for `client` now, or 429 when its window has no room for them."""
        now = time.monotonic()
        charges = self._recent(client, now)
        used = sum(c.steps for c in charges)
        if used + steps > self.client_steps:
            room = self.client_steps - used
            retry = self._retry_after(charges, used + steps - self.client_steps, now)
            raise RateLimited(
                f"this client trained {used:,} steps in the last {self.window_s:.0f} s; at most "
                f"{self.client_steps:,} (ATTNFLOW_CLIENT_STEPS), so {max(room, 0):,} more now; "
                f"retry in {retry} s or ask for fewer",
                "steps",
                steps,
                retry_after=retry,
            )
        booked = Charge(client, steps, now)
        self._charges.setdefault(client, charges).append(booked)
        return booked

    def _retry_after(self, charges: deque[Charge], excess: int, now: float) -> int:
        freed = 0
        for charge in charges:
            freed += charge.steps
            if freed >= excess:
                return max(1, math.ceil(self.window_s - (now - charge.at)))
        return max(1, math.ceil(self.window_s))

    def refund(self, charge: Charge, unused: int) -> None:
        """A call that took fewer steps than it booked gives the rest back."""
        charge.steps = max(0, charge.steps - max(0, unused))

    def admit_run(self, running: int, next_free_s: float | None) -> None:
        """503 when every run slot is taken, saying when the first is expected to free."""
        if running < self.max_running:
            return
        retry = max(1, math.ceil(next_free_s)) if next_free_s is not None else 60
        raise Unavailable(
            f"all {self.max_running} run slots are busy (ATTNFLOW_MAX_RUNNING); the first is "
            f"expected to free in about {retry} s",
            retry_after=retry,
        )

    # -- what the routers call -----------------------------------------------------------------

    def _busy(self) -> int:
        return sum(s.busy for s in list(self.sessions.values()))

    def next_free_s(self) -> float | None:
        """When the first run slot is expected to free: a run's remaining steps at its recent
        speed, or the moment an unwatched run is paused for idleness (the TTL)."""
        now = time.monotonic()
        times = []
        for session_id, slot in list(self.runs.items()):
            session = self.sessions.get(session_id)
            if session is None or not session.running:
                continue
            times.append(max(0, slot.target_step - session.step) * session.step_seconds)
            if not session.broadcaster.listening:
                times.append(max(0.0, self.ttl_s - (now - session.last_used)))
        return min(times) if times else None

    def _admit(self, session: Session) -> None:
        if not session.busy:
            self.admit_run(self._busy(), self.next_free_s())

    async def train(
        self, session: Session, client: str, steps: int, lr: float | None
    ) -> dict[str, Any]:
        """/train: charged up front, the steps not taken (divergence, an error) refunded."""
        charge = self.charge(client, steps)
        start = session.step
        try:
            return await session.train(steps, lr)
        finally:
            self.refund(charge, steps - (session.step - start))

    def start_run(self, session: Session, client: str, steps: int, lr: float | None) -> None:
        """/run: a run slot and the client's steps; what a paused run did not use comes back."""
        self._admit(session)
        charge = self.charge(client, steps)
        start = session.step
        try:
            session.start_run(steps, lr)
        except BaseException:
            self.refund(charge, steps)
            raise
        session.interrupted = None
        self.runs[session.id] = RunSlot(session.id, start + steps, charge)
        task = session.run_task
        assert task is not None

        def finished(_: asyncio.Task[None]) -> None:
            if (
                self.runs.get(session.id, None) is not None
                and self.runs[session.id].charge is charge
            ):
                del self.runs[session.id]
            self.refund(charge, steps - (session.step - start))

        task.add_done_callback(finished)

    def start_compare(self, session: Session, client: str, steps: int, corpus: str | None) -> None:
        self._admit(session)
        charge = self.charge(client, COMPARE_VARIANTS * steps)
        try:
            session.start_compare(steps, corpus)
        except BaseException:
            self.refund(charge, COMPARE_VARIANTS * steps)
            raise
