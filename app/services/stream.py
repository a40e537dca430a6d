"""Fan-out of a session's events to its WebSocket watchers, with a bounded queue per watcher.

The trainer publishes from its worker thread; frames are serialised there once and handed to the
event loop. Each watcher has its own queue: control frames always stay, while droppable ones
(app.services.events says which: `step`, `attention`, `compare`) do not -- past `max_droppable`
queued ones the oldest goes, and the next delivered frame of that type says how many were skipped.
A slow browser tab then sees fewer, current frames instead of an ever-growing backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from app.responses import dumps
from app.services.events import DROPPABLE, Bye, Message

# A watcher that let this many never-dropped frames pile up is not reading at all.
MAX_CONTROL_BACKLOG = 1000


class Watcher:
    """One client's queue; `get` waits for the next frame (None once the stream is closed)."""

    def __init__(self, max_droppable: int) -> None:
        self.max_droppable = max_droppable
        self._frames: deque[tuple[str, bytes]] = deque()
        self._droppable = 0
        self._wakeup = asyncio.Event()
        self.skipped: dict[str, int] = dict.fromkeys(DROPPABLE, 0)
        self.skipped_total = 0
        self.delivered = 0
        self.closed = False
        # Set when the server ends the stream: the WebSocket close code to send after the bye.
        self.close_code: int | None = None

    def put(self, kind: str, body: bytes) -> None:
        if self.closed:
            return
        self._frames.append((kind, body))
        if kind in DROPPABLE:
            self._droppable += 1
            if self._droppable > self.max_droppable:
                self._drop_oldest()
        elif len(self._frames) > MAX_CONTROL_BACKLOG + self.max_droppable:
            self.close()
        self._wakeup.set()

    def _drop_oldest(self) -> None:
        for index, (kind, _) in enumerate(self._frames):
            if kind in DROPPABLE:
                del self._frames[index]
                self._droppable -= 1
                self.skipped[kind] += 1
                self.skipped_total += 1
                return

    def close(self, code: int | None = None) -> None:
        if not self.closed and code is not None:
            self.close_code = code
        self.closed = True
        self._wakeup.set()

    async def get(self) -> bytes | None:
        while not self._frames:
            if self.closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        kind, body = self._frames.popleft()
        self.delivered += 1
        if kind not in DROPPABLE:
            return body
        self._droppable -= 1
        skipped, self.skipped[kind] = self.skipped[kind], 0
        # The body was serialised once for every watcher; splice this watcher's count in front.
        return b'{"skipped":%d,' % skipped + body[1:]


class Broadcaster:
    """A session's watchers. `publish` runs on the event loop; `publish_threadsafe` anywhere."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_droppable: int) -> None:
        self.loop = loop
        self.max_droppable = max_droppable
        self.watchers: set[Watcher] = set()
        self.published = 0

    @property
    def listening(self) -> bool:
        return bool(self.watchers)

    def subscribe(self) -> Watcher:
        watcher = Watcher(self.max_droppable)
        self.watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)
        watcher.close()

    def _deliver(self, kind: str, body: bytes) -> None:
        self.published += 1
        for watcher in list(self.watchers):
            watcher.put(kind, body)

    def publish(self, message: Message) -> None:
        """On the event loop."""
        self._deliver(message.type, dumps(message))

    def publish_threadsafe(self, message: Message) -> None:
        """From a worker thread: serialise here, deliver on the loop (no-op without watchers)."""
        if not self.watchers or self.loop.is_closed():
            return
        body = dumps(message)
        # RuntimeError: the loop closed between the check and the call (shutdown).
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._deliver, message.type, body)

    def close(self, reason: str, code: int = 1000) -> None:
        """Say goodbye to every watcher and end their streams with close `code` (1001 when the
        server is going away)."""
        self.publish(Bye(reason=reason))
        for watcher in list(self.watchers):
            watcher.close(code)
        self.watchers.clear()
