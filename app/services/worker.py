"""A session's own long-lived thread: all of its model work runs there, one job at a time.

Why one thread per session and not `anyio.to_thread` per call: the thread is the session's lock
(a step, a forward pass and a checkpoint read can never interleave), its torch thread count is
its own, and OpenMP keeps one warm thread team for it instead of one per pool thread.

How many intra-op threads: measured, per session (`ThreadTuner`). On an idle 2-core machine 2
threads run a tiny step ~15 % faster than 1; when another process holds a core, 2 threads stall
on OpenMP's barrier and run up to 10x slower. No fixed choice is right on both, so a session
times its own steps with 1 thread and with all cores, keeps the faster and re-checks now and then.
"""

from __future__ import annotations

import asyncio
import os
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

from app.services.errors import NotFound

T = TypeVar("T")
GONE = "the session was closed (deleted, expired or evicted) while this request waited"


def available_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def threads_for(parameters: int, configured: int, above: int) -> int:
    """Intra-op threads to start with: the configured count, else 1 below `above` parameters
    and all cores above (the tuner then measures whether that was right)."""
    if configured:
        return configured
    return 1 if parameters < above else available_cores()


def thread_candidates(configured: int) -> list[int]:
    """What the tuner may choose from: only the configured count when one is set."""
    if configured:
        return [configured]
    cores = available_cores()
    return sorted({1, max(1, cores // 2), cores})


class ThreadTuner:
    """Chooses a session's intra-op thread count from the measured time of its own steps.

    Every candidate is first timed on a short probe of PROBE_STEPS steps; afterwards chunks run
    with the fastest, and the others get another probe every `interval` chunks, an interval that
    doubles whenever a probe changes nothing (so a settled session spends ~1 % of its chunks on
    probes) and starts over when the best changes (so it follows load from other processes).
    The per-step time is the median of a chunk's steps: a held-out eval or a snapshot inside a
    chunk does not count against the thread count that happened to run it.
    """

    PROBE_STEPS = 4
    FIRST_INTERVAL = 16
    MAX_INTERVAL = 1024

    def __init__(self, candidates: Sequence[int], first: int) -> None:
        self.candidates = sorted(set(candidates))
        self.best = first if first in self.candidates else self.candidates[-1]
        self.per_step: dict[int, float] = {}
        self.chunks = 0
        self.interval = self.FIRST_INTERVAL
        self.next_probe = 0
        self._probing: int | None = None

    def choose(self) -> tuple[int, int | None]:
        """(threads, step limit) for the next chunk; the limit is set for a probe only."""
        if len(self.candidates) == 1:
            return self.best, None
        untried = [c for c in self.candidates if c not in self.per_step]
        if self.best in untried:  # the starting guess is measured first, on a normal chunk
            return self.best, None
        if untried or self.chunks >= self.next_probe:
            others = untried or [c for c in self.candidates if c != self.best]
            self._probing = others[self.chunks % len(others)]
            return self._probing, self.PROBE_STEPS
        return self.best, None

    def report(self, threads: int, step_seconds: Sequence[float]) -> None:
        """The times of the steps a chunk chosen by `choose` ran with `threads`."""
        self.chunks += 1
        if not step_seconds:
            return
        measured = statistics.median(step_seconds)
        known = self.per_step.get(threads)
        probed, self._probing = self._probing == threads, None
        # a probe is a fresh look (the load may have changed); the best's own chunks average
        self.per_step[threads] = (
            measured if known is None or probed else 0.7 * known + 0.3 * measured
        )
        fastest = min(self.per_step, key=self.per_step.__getitem__)
        if fastest != self.best:
            self.best, self.interval = fastest, self.FIRST_INTERVAL
        elif probed and len(self.per_step) == len(self.candidates):
            self.interval = min(2 * self.interval, self.MAX_INTERVAL)
        if probed:
            self.next_probe = self.chunks + self.interval


def _set_threads(n: int) -> None:
    # Takes effect for the calling thread: OpenMP and MKL keep the team size per thread (checked
    # with torch 2.13: a 1-thread worker stays at 1 CPU of CPU time after another thread asks for
    # 2; only torch.get_num_threads() reports the last value set anywhere).
    torch.set_num_threads(n)


class Worker:
    def __init__(self, name: str, threads: int) -> None:
        self.threads = threads
        self.closed = False
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=name, initializer=_set_threads, initargs=(threads,)
        )

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        try:
            future = self._executor.submit(fn, *args)
        except RuntimeError:  # shut down: the session went away
            raise NotFound(GONE) from None
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if self.closed and future.cancelled():  # dropped from the queue by shutdown()
                raise NotFound(GONE) from None
            raise

    def shutdown(self) -> None:
        self.closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
