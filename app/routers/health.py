"""Liveness and the process's figures; no model work, so these answer while sessions train."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse

from app.metrics import CONTENT_TYPE, Metrics
from app.schemas import Health

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: answers without touching any model."""
    return Health()


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format: requests by route and status, request latency, sessions in
    memory, running and saved, training steps (total and per second), stream clients, saves."""
    registry: Metrics = request.app.state.metrics
    return PlainTextResponse(registry.render(), media_type=CONTENT_TYPE)
