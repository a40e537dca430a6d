"""What happened so far: loss curves, per-parameter norms, snapshots, metrics tables."""

from __future__ import annotations

import asyncio
import csv
import io

from fastapi import APIRouter, Path
from starlette.responses import Response

from app.deps import SessionDep
from app.errors import not_found
from app.responses import JsonBytes, OrjsonResponse, dumps
from app.routers import errors
from app.schemas import History, Snapshot

router = APIRouter(prefix="/api/sessions", tags=["history"])


@router.get("/{session_id}/history", response_model=History, responses=errors(404))
async def history(session: SessionDep) -> JsonBytes:
    """Train and held-out loss per step, gradient norms and update ratios, snapshot steps."""
    return JsonBytes(await asyncio.to_thread(session.history))


@router.get("/{session_id}/snapshots/{step}", response_model=Snapshot, responses=errors(404, 422))
async def snapshot(session: SessionDep, step: int = Path(ge=0, le=2**53)) -> OrjsonResponse:
    """Weights (32x32 heatmaps) and the probe sentence's attention at a stored step."""
    data = session.snapshots.get(step)
    if data is None:
        raise not_found(f"snapshot at step {step} (stored: {session.snapshots.steps()})")
    return OrjsonResponse(data.to_dict())


def _csv(header: list[str], rows: list[list[float | int | None]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None or v != v else v for v in row] for row in rows)
    return out.getvalue()


@router.get(
    "/{session_id}/metrics.csv",
    response_class=Response,
    responses={
        **errors(404),
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "one row per step",
        },
    },
)
async def metrics_csv(session: SessionDep) -> Response:
    """The training records as CSV (pandas.read_csv), one row per step."""
    text = await asyncio.to_thread(lambda: _csv(*session.log.rows()))
    disposition = f'attachment; filename="attnflow-{session.id[:8]}-metrics.csv"'
    return Response(text, media_type="text/csv", headers={"Content-Disposition": disposition})


@router.get("/{session_id}/metrics.json", responses=errors(404))
async def metrics_json(session: SessionDep) -> JsonBytes:
    """The same table as JSON: {"columns": [...], "rows": [[...], ...]}."""

    def table() -> bytes:
        header, rows = session.log.rows()
        return dumps({"columns": header, "rows": rows})

    return JsonBytes(await asyncio.to_thread(table))
