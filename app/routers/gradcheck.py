"""Gradient check: one weight entry's autograd gradient against a float64 finite difference."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import SettingsDep, ViewDep
from app.routers import BODY_ERRORS
from app.schemas.gradcheck import GradCheckOut, GradCheckRequest
from app.services.gradcheck import check_gradient

router = APIRouter(prefix="/api/sessions", tags=["gradcheck"])


@router.post("/{session_id}/gradcheck", response_model=GradCheckOut, responses=BODY_ERRORS)
async def gradcheck(
    session: ViewDep, body: GradCheckRequest, settings: SettingsDep
) -> GradCheckOut:
    """Autograd vs a float64 central difference for one entry, on a copy of the weights."""
    limit = settings.max_session_bytes
    result = await check_gradient(session, body.parameter, body.row, body.col, limit)
    return GradCheckOut(**result)
