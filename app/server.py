"""uvicorn, with attnflow's shutdown order.

On SIGTERM/SIGINT uvicorn stops accepting, closes every WebSocket with code 1012 at once, waits up
to `timeout_graceful_shutdown` for HTTP requests and only then runs the lifespan shutdown. By
then a stream can no longer be told why it ends. This server drains the sessions first -- runs
paused at the next chunk boundary, every stream sent `{"type": "bye", "reason": "server shutting
down"}` and closed with 1001 (going away), every changed session saved -- and then lets uvicorn
carry on. A second Ctrl+C still forces the exit.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

log = logging.getLogger("attnflow.server")
GRACEFUL_SHUTDOWN_S = 5.0  # for HTTP requests in flight, after the drain


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:  # stop accepting before the drain, not after
            server.close()
        manager = getattr(self.app.state, "manager", None)
        if manager is not None and not self.force_exit:
            try:
                await manager.drain()
            except Exception:  # the exit must go on whatever happens
                log.exception("draining the sessions failed")
        await super().shutdown(sockets=sockets)


def serve(app: FastAPI, host: str, port: int) -> int:
    """Run until SIGTERM/SIGINT; 0 after a clean shutdown, 3 when start-up failed."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # app.logs configured the loggers (JSON or text, ids redacted)
        access_log=False,  # attnflow.access logs route templates instead of raw paths
        timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN_S),
    )
    server = Server(config, app)
    # uvicorn re-raises the signal it stopped for once it is done; a no-op handler in place of
    # the default one makes a SIGTERM stop end with exit code 0, as a container runtime expects.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if server.started else 3


def _stopped(signum: int, frame: FrameType | None) -> None:
    """SIGTERM after uvicorn finished (it re-raises it), or before it started listening."""
