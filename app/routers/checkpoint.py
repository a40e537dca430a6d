"""Checkpoints: download as safetensors, upload into a session or as a new one. Never pickle."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.deps import ManagerDep, RouteDep, SessionDep, SettingsDep
from app.errors import ApiError
from app.middleware import too_large_message
from app.routers import errors
from app.schemas import SessionInfo
from app.services.manager import SessionManager
from app.settings import Settings

router = APIRouter(prefix="/api/sessions", tags=["checkpoints"])

SAFETENSORS = "application/octet-stream"
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "a safetensors file made by GET .../checkpoint or `attnflow train`",
        "content": {SAFETENSORS: {"schema": {"type": "string", "format": "binary"}}},
    }
}


WRITE_CHUNK = 1024 * 1024  # bytes gathered before each write to the spool file
UPLOAD_RETRY_S = 5


@asynccontextmanager
async def spooled_upload(
    request: Request, manager: SessionManager, settings: Settings
) -> AsyncIterator[Path]:
    """The raw body, streamed into a temporary file (never held in memory: parsing reads the
    header through an mmap and the tensors one by one), counted as it comes and refused past
    the limit. At most `max_uploads` at once: more get 503 at once, before any byte is read."""
    if manager.uploads.locked():
        raise ApiError(
            503,
            f"{settings.max_uploads} checkpoint uploads are in progress (ATTNFLOW_MAX_UPLOADS); "
            f"try again in {UPLOAD_RETRY_S} s",
            headers={"Retry-After": str(UPLOAD_RETRY_S)},
        )
    limit = settings.max_upload_bytes
    async with manager.uploads:
        with tempfile.TemporaryDirectory(prefix="attnflow-upload-") as directory:
            path = Path(directory) / "upload.safetensors"
            size = 0
            with open(path, "wb") as handle:
                pending: list[bytes] = []
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(
                            413, too_large_message(f"over {size:,}", limit), "body", f"{size} bytes"
                        )
                    pending.append(chunk)
                    if sum(map(len, pending)) >= WRITE_CHUNK:
                        await asyncio.to_thread(handle.write, b"".join(pending))
                        pending = []
                await asyncio.to_thread(handle.write, b"".join(pending))
            if not size:
                raise ApiError(
                    422,
                    "the body is empty; send the bytes of a .safetensors checkpoint",
                    "body",
                    "",
                )
            yield path


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
    async with spooled_upload(request, manager, settings) as path:
        parts = await asyncio.to_thread(manager.parse_checkpoint, path, session.parts.text)
    await session.load(parts)
    manager.account(session)
    return session.info()


@router.post(
    "/import",
    status_code=201,
    response_model=SessionInfo,
    responses=errors(413, 422, 503),
    openapi_extra=UPLOAD_BODY,
)
async def import_checkpoint(
    request: Request, manager: ManagerDep, settings: SettingsDep, route: RouteDep
) -> dict[str, Any]:
    """A new session from a checkpoint file (the raw body)."""
    async with spooled_upload(request, manager, settings) as path:
        session = await manager.import_checkpoint(path, route)
    return session.info()
