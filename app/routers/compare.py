"""The ablation: attention+FFN vs FFN only vs attention only, same data, seed and steps."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from app.deps import ManagerDep, SessionDep, SettingsDep, ViewDep, client_of
from app.errors import ApiError
from app.responses import OrjsonResponse
from app.routers import check_steps, errors
from app.schemas import AblationOut, CompareRequest, CompareStarted

router = APIRouter(prefix="/api/sessions", tags=["compare"])
DEFAULT_STEPS = 200


@router.post(
    "/{session_id}/compare",
    status_code=202,
    response_model=CompareStarted,
    responses=errors(404, 409, 413, 422, 429, 503),
)
async def start_compare(
    request: Request,
    session: SessionDep,
    manager: ManagerDep,
    settings: SettingsDep,
    body: Annotated[CompareRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Train the three variants in the background; progress on the stream, result in history."""
    requested = body.steps if body is not None else None
    default = min(DEFAULT_STEPS, settings.max_steps_per_call)
    steps = check_steps(requested or default, settings.max_steps_per_call, "call")
    corpus = body.corpus if body is not None else None
    manager.fair.start_compare(session, client_of(request), steps, corpus)
    return {"started": True, "steps": steps, "corpus": corpus or session.spec.corpus}


@router.get("/{session_id}/compare", response_model=AblationOut, responses=errors(404))
async def get_compare(session: ViewDep) -> OrjsonResponse:
    """The last comparison's curves (404 until one has finished)."""
    if session.comparison is None:
        state = "is still running" if session.comparing else "has not been run yet"
        raise ApiError(404, f"no comparison result: the comparison {state}")
    return OrjsonResponse(session.comparison)
