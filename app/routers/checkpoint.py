"""Checkpoints: download as safetensors, upload into a session or as a new one. Never pickle."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.deps import ManagerDep, SessionDep, SettingsDep
from app.errors import ApiError
from app.middleware import too_large_message
from app.routers import errors
from app.schemas import SessionInfo

router = APIRouter(prefix="/api/sessions", tags=["checkpoints"])

SAFETENSORS = "application/octet-stream"
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "a safetensors file made by GET .../checkpoint or `attnflow train`",
        "content": {SAFETENSORS: {"schema": {"type": "string", "format": "binary"}}},
    }
}


async def read_upload(request: Request, limit: int) -> bytes:
    """The raw body, counted as it streams in and refused past `limit` (never fully buffered)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, too_large_message(f"over {size:,}", limit), "body", f"{size} bytes")
        chunks.append(chunk)
    if not size:
        raise ApiError(
            422, "the body is empty; send the bytes of a .safetensors checkpoint", "body", ""
        )
    return b"".join(chunks)


@router.get(
    "/{session_id}/checkpoint",
    response_class=Response,
    responses={
        **errors(404),
        200: {
            "content": {SAFETENSORS: {"schema": {"type": "string", "format": "binary"}}},
            "description": "safetensors weights, optimiser and config",
        },
    },
)
async def download(session: SessionDep) -> Response:
    """The weights, AdamW moments, config, vocabulary and step as one safetensors file."""
    data = await session.checkpoint()
    name = f"attnflow-{session.spec.preset}-step{session.step}.safetensors"
    return Response(
        data,
        media_type=SAFETENSORS,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.put(
    "/{session_id}/checkpoint",
    response_model=SessionInfo,
    responses=errors(404, 409, 413, 422),
    openapi_extra=UPLOAD_BODY,
)
async def upload(
    request: Request, session: SessionDep, manager: ManagerDep, settings: SettingsDep
) -> dict[str, Any]:
    """Replace the session's model with a checkpoint's; history starts again at its step."""
    data = await read_upload(request, settings.max_upload_bytes)
    parts = await asyncio.to_thread(manager.parse_checkpoint, data, session.parts.text)
    await session.load(parts)
    return session.info()


@router.post(
    "/import",
    status_code=201,
    response_model=SessionInfo,
    responses=errors(413, 422, 503),
    openapi_extra=UPLOAD_BODY,
)
async def import_checkpoint(
    request: Request, manager: ManagerDep, settings: SettingsDep
) -> dict[str, Any]:
    """A new session from a checkpoint file (the raw body)."""
    data = await read_upload(request, settings.max_upload_bytes)
    session = await manager.import_checkpoint(data)
    return session.info()
