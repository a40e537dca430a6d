"""A session's own long-lived thread: all of its model work runs there, one job at a time.

Why one thread per session and not `anyio.to_thread` per call: the thread is the session's lock
(a step, a forward pass and a checkpoint read can never interleave), its torch thread count is set
once, and OpenMP keeps one warm thread team for it instead of one per pool thread. Measured on 2
shared cores (tiny preset): 1 intra-op thread runs a step as fast as 2 when the machine is idle and
up to 10x faster when it is not (2 threads stall on the barrier whenever another process holds a
core); so small models get 1 thread and large ones all cores (`Settings.torch_threads`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

from app.errors import ApiError

T = TypeVar("T")
GONE = "the session was closed (deleted, expired or evicted) while this request waited"


def threads_for(parameters: int, configured: int, above: int) -> int:
    """Intra-op threads for a model: the configured count, else 1 below `above` parameters."""
    if configured:
        return configured
    return 1 if parameters < above else max(1, os.cpu_count() or 1)


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
            raise ApiError(404, GONE) from None
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if self.closed and future.cancelled():  # dropped from the queue by shutdown()
                raise ApiError(404, GONE) from None
            raise

    def shutdown(self) -> None:
        self.closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
