"""Liveness and a few process figures; no model work, so these answer while sessions train."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse

from app.deps import ManagerDep
from app.schemas import Health

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: answers without touching any model."""
    return Health()


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(manager: ManagerDep) -> PlainTextResponse:
    """Prometheus text format: open sessions, running ones, steps trained."""
    sessions = list(manager.sessions.values())
    lines = [
        "# TYPE attnflow_sessions gauge",
        f"attnflow_sessions {len(sessions)}",
        "# TYPE attnflow_sessions_running gauge",
        f"attnflow_sessions_running {sum(s.running for s in sessions)}",
        "# TYPE attnflow_session_steps gauge",
        f"attnflow_session_steps {sum(s.step for s in sessions)}",
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
