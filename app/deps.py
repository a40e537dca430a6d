"""Dependencies as Annotated aliases, so route signatures read `session: SessionDep`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from starlette.requests import HTTPConnection

from app.services.manager import SessionManager
from app.services.session import Session
from app.settings import Settings, get_settings


def get_manager(connection: HTTPConnection) -> SessionManager:
    manager: SessionManager = connection.app.state.manager
    return manager


SettingsDep = Annotated[Settings, Depends(get_settings)]
ManagerDep = Annotated[SessionManager, Depends(get_manager)]
SessionId = Annotated[str, Path(description="the id returned by POST /api/sessions")]


async def get_session(session_id: SessionId, manager: ManagerDep) -> Session:
    """The session in memory, or loaded back from the data directory (evicted, restarted)."""
    return await manager.get(session_id)


SessionDep = Annotated[Session, Depends(get_session)]


def client_of(connection: HTTPConnection) -> str:
    """Who is asking, for the per-client step budget: the peer address (uvicorn puts the
    forwarded one there behind a trusted proxy)."""
    return connection.client.host if connection.client is not None else "unknown"
