"""WebSocket stream of a session's training: steps, evals, attention, run and compare events."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.deps import ManagerDep, SessionId, SettingsDep, WatchDep, get_access
from app.errors import service_error_response, status_of
from app.responses import dumps
from app.services.errors import ServiceError
from app.services.events import Bye, Hello
from app.services.stream import Watcher

router = APIRouter(prefix="/api/sessions", tags=["stream"])
POLICY_VIOLATION = 1008
SESSION_GONE = 4404
RETRY_ELSEWHERE = 503  # proxy_next_upstream http_503 (scripts/scaleout/nginx.conf.template)


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Scripts send no Origin; browsers do, and it must be this host or an allowed origin."""
    if origin is None:
        return True
    if "*" in allowed or origin.rstrip("/") in allowed:
        return True
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


async def _refuse(websocket: WebSocket, exc: ServiceError) -> None:
    """Answer the upgrade request itself with the error (ASGI's denial-response extension), so
    a proxy sees the status and can try the next replica (docs/deploy.md, Scale-out)."""
    response = service_error_response(exc)
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # a server without the extension: the handshake fails with 403
        await websocket.close(code=POLICY_VIOLATION, reason=exc.message[:120])


async def _pump(websocket: WebSocket, watcher: Watcher, done: anyio.CancelScope) -> None:
    """Send queued frames until the stream ends (session gone) or the client does."""
    with contextlib.suppress(WebSocketDisconnect, OSError):
        while (frame := await watcher.get()) is not None:
            await websocket.send_text(frame.decode())
    done.cancel()


async def _drain(websocket: WebSocket, done: anyio.CancelScope) -> None:
    """Read (and ignore) what the client sends, to notice when it goes."""
    with contextlib.suppress(WebSocketDisconnect):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    done.cancel()


@router.websocket("/{session_id}/stream")
async def stream(
    websocket: WebSocket,
    session_id: SessionId,
    manager: ManagerDep,
    settings: SettingsDep,
    links: WatchDep,
) -> None:
    """Every step as it happens; droppable frames are coalesced for slow clients."""
    if not origin_allowed(
        websocket.headers.get("origin"), websocket.headers.get("host"), settings.allowed_origins
    ):
        await websocket.close(code=POLICY_VIOLATION, reason="origin not allowed")
        return
    try:  # before accept: a 503 (held by another replica, full, stopping) is an HTTP answer
        access = await get_access(session_id, manager, links)  # to the upgrade, which nginx
    except ServiceError as exc:  # retries on the next replica; its id, or a watch token
        if status_of(exc) == RETRY_ELSEWHERE:
            await _refuse(websocket, exc)
            return
        await websocket.accept()
        await websocket.send_text(dumps(Bye(reason=exc.message)).decode())
        await websocket.close(code=SESSION_GONE)
        return
    await websocket.accept()
    session = access.session
    watcher = session.broadcaster.subscribe()
    links.attach(access, watcher)  # revoking the watch token ends this stream
    hello = Hello(
        session=access.public_id,
        step=session.step,
        running=session.running,
        comparing=session.comparing,
    )
    manager.stream_clients += 1
    try:
        await websocket.send_text(dumps(hello).decode())
        async with anyio.create_task_group() as group:
            group.start_soon(_pump, websocket, watcher, group.cancel_scope)
            group.start_soon(_drain, websocket, group.cancel_scope)
        if watcher.close_code is not None:  # the server ended it: close properly after the bye
            with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
                await websocket.close(code=watcher.close_code)
    finally:
        session.broadcaster.unsubscribe(watcher)
        links.detach(access, watcher)
        manager.stream_clients -= 1
