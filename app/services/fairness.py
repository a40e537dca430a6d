"""Fair share of the machine (issue 10, finding 5): one client cannot hold it all.

- At most `max_running` sessions train in the background (runs and comparisons) at once; the
  503 says when the first slot is expected to free (a run's remaining steps at its measured
  speed, or the time an unwatched run is paused for idleness).
- Each client (its address, as uvicorn reports it behind a trusted proxy) may train at most
  `client_steps` steps per `client_window_s`: a call is charged the steps it asks for, and a run
  that stops early is refunded the steps it did not take. Over the budget: 429 + Retry-After.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

from app.errors import ApiError


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
    def __init__(self, max_running: int, client_steps: int, window_s: float) -> None:
        self.max_running = max_running
        self.client_steps = client_steps
        self.window_s = window_s
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
            raise ApiError(
                429,
                f"this client trained {used:,} steps in the last {self.window_s:.0f} s; at most "
                f"{self.client_steps:,} (ATTNFLOW_CLIENT_STEPS), so {max(room, 0):,} more now; "
                f"retry in {retry} s or ask for fewer",
                "steps",
                steps,
                headers={"Retry-After": str(retry)},
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
        raise ApiError(
            503,
            f"all {self.max_running} run slots are busy (ATTNFLOW_MAX_RUNNING); the first is "
            f"expected to free in about {retry} s",
            headers={"Retry-After": str(retry)},
        )
