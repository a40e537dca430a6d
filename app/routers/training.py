"""Training: N steps now (/train), or in the background until paused (/run, /pause)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from app.deps import ManagerDep, SessionDep, SettingsDep, client_of
from app.responses import OrjsonResponse
from app.routers import check_steps, errors
from app.schemas import RunRequest, SessionInfo, TrainRequest, TrainResult

router = APIRouter(prefix="/api/sessions", tags=["training"])


@router.post(
    "/{session_id}/train", response_model=TrainResult, responses=errors(404, 409, 413, 422, 429)
)
async def train(
    request: Request,
    session: SessionDep,
    manager: ManagerDep,
    settings: SettingsDep,
    body: TrainRequest,
) -> OrjsonResponse:
    """Run `steps` training steps and return one record per step (and held-out evals)."""
    steps = check_steps(body.steps, settings.max_steps_per_call, "call")
    return OrjsonResponse(await manager.fair.train(session, client_of(request), steps, body.lr))


@router.post(
    "/{session_id}/run",
    status_code=202,
    response_model=SessionInfo,
    responses=errors(404, 409, 413, 422, 429, 503),
)
async def run(
    request: Request,
    session: SessionDep,
    manager: ManagerDep,
    settings: SettingsDep,
    body: Annotated[RunRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Start background training; steps, evals and attention arrive on the stream."""
    body = body or RunRequest()
    steps = check_steps(body.steps or settings.max_run_steps, settings.max_run_steps, "run")
    manager.fair.start_run(session, client_of(request), steps, body.lr)
    return session.info()


@router.post("/{session_id}/pause", response_model=SessionInfo, responses=errors(404))
async def pause(session: SessionDep) -> dict[str, Any]:
    """Stop the background run after the step in progress (no-op when not running)."""
    await session.pause()
    return session.info()
