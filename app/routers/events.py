"""The stream contract, published: every WebSocket message type with its JSON schema."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter

from app.schemas import StreamSchema
from app.services.events import stream_schema

router = APIRouter(prefix="/api/stream", tags=["stream"])


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return stream_schema()


@router.get("/schema", response_model=StreamSchema)
async def get_stream_schema() -> dict[str, Any]:
    """The messages of WS /api/sessions/{id}/stream: type, droppable, and JSON schema each."""
    return _schema()
