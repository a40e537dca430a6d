"""Dependencies as Annotated aliases, so route signatures read `session: SessionDep`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path
from starlette.requests import HTTPConnection

from app.services.errors import ServiceError
from app.services.ids import valid_route
from app.services.manager import SessionManager
from app.services.session import Session
from app.services.watch import Access, ReadOnly, WatchLinks, hide_id
from app.settings import Settings, get_settings


def get_manager(connection: HTTPConnection) -> SessionManager:
    manager: SessionManager = connection.app.state.manager
    return manager


SettingsDep = Annotated[Settings, Depends(get_settings)]
ManagerDep = Annotated[SessionManager, Depends(get_manager)]
SessionId = Annotated[str, Path(description="the id returned by POST /api/sessions")]


def get_watch(connection: HTTPConnection) -> WatchLinks:
    links: WatchLinks = connection.app.state.watch
    return links


WatchDep = Annotated[WatchLinks, Depends(get_watch)]


def owned_id(session_id: SessionId, links: WatchDep) -> str:
    """The path's id when it is a session id; a watch token here is a 403 (read-only)."""
    if links.session_of(session_id) is not None:
        raise ReadOnly()
    return session_id


OwnedId = Annotated[str, Depends(owned_id)]


async def get_session(session_id: OwnedId, manager: ManagerDep) -> Session:
    """The session in memory, or loaded back from the data directory (evicted, restarted), for
    its owner: routes that change a session take this one."""
    return await manager.get(session_id)


SessionDep = Annotated[Session, Depends(get_session)]


async def get_access(session_id: SessionId, manager: ManagerDep, links: WatchDep) -> Access:
    """The session by its id (owner) or by a watch token (watcher): routes that only read."""
    target = links.session_of(session_id)
    if target is None:
        return Access(await manager.get(session_id))
    try:
        return Access(await manager.get(target), token=session_id)
    except ServiceError as exc:  # its words name the session: say the token instead
        raise hide_id(exc, target, session_id) from None


AccessDep = Annotated[Access, Depends(get_access)]


async def get_viewed(access: AccessDep) -> Session:
    return access.session


# A session to read from, by its id or a watch token (what it returns must not name the id).
ViewDep = Annotated[Session, Depends(get_viewed)]


def route_hint(
    x_attnflow_route: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str | None:
    """The routing key the proxy hashed a creation or import on (nginx sets X-Attnflow-Route,
    scripts/scaleout/nginx.conf.template): the new id starts with it, so later requests for the
    session hash to the replica that made it. Not a credential; a malformed one is ignored (a
    random route is drawn) and without a proxy there is none."""
    return x_attnflow_route if x_attnflow_route and valid_route(x_attnflow_route) else None


RouteDep = Annotated[str | None, Depends(route_hint)]


def client_of(connection: HTTPConnection) -> str:
    """Who is asking, for the per-client step budget: the peer address (uvicorn puts the
    forwarded one there behind a trusted proxy)."""
    return connection.client.host if connection.client is not None else "unknown"
