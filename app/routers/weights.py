"""The model's weights: statistics, histograms, change since init, heatmap values."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import ViewDep
from app.responses import JsonBytes
from app.routers import SESSION_ERRORS
from app.schemas import Weights

router = APIRouter(prefix="/api/sessions", tags=["weights"])


@router.get("/{session_id}/weights", response_model=Weights, responses=SESSION_ERRORS)
async def weights(
    session: ViewDep,
    max_size: Annotated[
        int, Query(ge=0, le=4096, description="mean-pool each axis to at most this (0: full)")
    ] = 64,
    values: Annotated[bool, Query(description="include the (downsampled) values")] = True,
    names: Annotated[
        str | None, Query(max_length=2000, description="comma-separated globs of weight names")
    ] = None,
    digits: Annotated[
        int, Query(ge=0, le=9, description="significant digits (0: full float32)")
    ] = 4,
) -> JsonBytes:
    """Every weight matrix by name; 1-D parameters come as one row."""
    patterns = [p.strip() for p in names.split(",") if p.strip()] if names else None
    return JsonBytes(await session.weights(max_size or None, values, patterns, digits))
