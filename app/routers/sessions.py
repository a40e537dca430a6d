"""Sessions: create, read, delete, reset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from app.deps import AccessDep, ManagerDep, OwnedId, RouteDep, SessionDep, WatchDep
from app.routers import SESSION_ERRORS, errors
from app.schemas import SessionCreate, SessionInfo
from app.services.specs import CreateSpec

router = APIRouter(prefix="/api/sessions", tags=["sessions"])


@router.post("", status_code=201, response_model=SessionInfo, responses=errors(413, 422, 503))
async def create_session(
    manager: ManagerDep, route: RouteDep, request: Annotated[SessionCreate | None, Body()] = None
) -> dict[str, Any]:
    """Create a session: a fresh model, its tokenizer and corpus, and an optimiser."""
    session = await manager.create(spec_of(request or SessionCreate()), route)
    return session.info()


def spec_of(request: SessionCreate) -> CreateSpec:
    """The request body as the plain spec the services take."""
    return CreateSpec(
        **request.model_dump(exclude={"config", "optimizer"}),
        config=request.config.model_dump(exclude_none=True),
        optimizer=request.optimizer.model_dump(exclude_none=True),
    )


@router.get("/{session_id}", response_model=SessionInfo, responses=SESSION_ERRORS)
async def get_session(access: AccessDep) -> dict[str, Any]:
    """The session's config, step and state (by a watch token: `id` is that token)."""
    return access.info()


@router.delete("/{session_id}", status_code=204, response_class=Response, responses=SESSION_ERRORS)
async def delete_session(session_id: OwnedId, manager: ManagerDep, links: WatchDep) -> Response:
    """Delete the session, from memory and from the data directory; its watchers get a `bye`
    message."""
    await manager.delete(session_id)
    links.forget(session_id)
    return Response(status_code=204)


@router.post("/{session_id}/reset", response_model=SessionInfo, responses=errors(404, 409, 422))
async def reset_session(session: SessionDep) -> dict[str, Any]:
    """Fresh weights from the same config and seed; history and snapshots cleared."""
    await session.reset()
    return session.info()
