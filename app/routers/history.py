"""What happened so far: loss curves, per-parameter norms, snapshots, metrics tables."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from app.deps import SettingsDep, ViewDep
from app.errors import not_found
from app.responses import JsonBytes, OrjsonResponse, dumps
from app.routers import errors
from app.routers.forward import DigitsQuery, MaxDimQuery, StagesQuery, checked_options
from app.schemas import (
    Dynamics,
    ForwardRequest,
    ForwardResult,
    History,
    Snapshot,
    SnapshotList,
    Weights,
)
from app.services.dynamics import dynamics_payload
from app.services.history import SnapshotData
from app.services.session import Session
from app.services.snapshots import past_forward, past_weights

router = APIRouter(prefix="/api/sessions", tags=["history"])


@router.get("/{session_id}/history", response_model=History, responses=errors(404))
async def history(session: ViewDep) -> JsonBytes:
    """Train and held-out loss per step, gradient norms and update ratios, snapshot steps."""
    return JsonBytes(await asyncio.to_thread(session.history))


StepPath = Annotated[int, Path(ge=0, le=2**53)]


def stored(session: Session, step: int) -> SnapshotData:
    data = session.snapshots.get(step)
    if data is None:
        raise not_found(f"snapshot at step {step} (stored: {session.snapshots.steps()})")
    return data


@router.get("/{session_id}/dynamics", response_model=Dynamics, responses=errors(404))
async def dynamics(session: ViewDep) -> JsonBytes:
    """Per-head attention entropy and dead FFN units of every block on the probe sentence at
    every stored snapshot, and each weight matrix's update ratio over the logged steps."""

    def job() -> bytes:
        snaps, _ = session.snapshots.items()
        n_blocks = session.model.config.n_blocks
        return dumps(dynamics_payload(snaps, session.log, list(session.shapes), n_blocks))

    return JsonBytes(await asyncio.to_thread(job))


@router.get("/{session_id}/snapshots", response_model=SnapshotList, responses=errors(404))
async def snapshot_steps(session: ViewDep) -> SnapshotList:
    """The stored steps only (the page's scrubber polls this while training; /history is big)."""
    return SnapshotList(steps=session.snapshots.steps(), step=session.step)


@router.get("/{session_id}/snapshots/{step}", response_model=Snapshot, responses=errors(404, 422))
async def snapshot(session: ViewDep, step: StepPath) -> OrjsonResponse:
    """The model at a stored step: the probe sentence's attention, FFN units and predictions,
    the training step that led there, and 32x32 weight heatmaps."""
    return OrjsonResponse(stored(session, step).to_dict())


@router.post(
    "/{session_id}/snapshots/{step}/forward",
    response_model=ForwardResult,
    responses=errors(404, 413, 422),
)
async def snapshot_forward(
    session: ViewDep,
    settings: SettingsDep,
    body: ForwardRequest,
    step: StepPath,
    stages: StagesQuery = None,
    max_dim: MaxDimQuery = None,
    digits: DigitsQuery = 4,
) -> JsonBytes:
    """`/forward` on the model as it was at a stored step (404 if its full weights are gone)."""
    options = checked_options(session, settings, body, stages, max_dim, False, digits)
    data = stored(session, step)

    def job() -> bytes:
        payload = past_forward(
            session,
            session.model,
            session.tokenizer,
            data,
            session.init_state,
            body.text,
            options,
        )
        # A stored step is replayed without autocast, so its trace is fp32 whatever the session
        # trains in; the label says so.
        return dumps({**payload, "precision": "fp32"})

    return JsonBytes(await session.worker.call(job))


@router.get(
    "/{session_id}/snapshots/{step}/weights", response_model=Weights, responses=errors(404, 422)
)
async def snapshot_weights(
    session: ViewDep,
    step: StepPath,
    max_size: Annotated[int, Query(ge=0, le=4096)] = 64,
    names: Annotated[str | None, Query(max_length=2000)] = None,
    digits: Annotated[int, Query(ge=0, le=9)] = 4,
) -> JsonBytes:
    """`/weights` (statistics, histograms, values) of the model as it was at a stored step."""
    data = stored(session, step)
    patterns = [p.strip() for p in names.split(",") if p.strip()] if names else None

    def job() -> bytes:
        return dumps(
            past_weights(
                session,
                session.model,
                data,
                session.init_state,
                max_size or None,
                patterns,
                digits,
            )
        )

    return JsonBytes(await session.worker.call(job))


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
async def metrics_csv(session: ViewDep) -> Response:
    """The training records as CSV (pandas.read_csv), one row per step."""
    text = await asyncio.to_thread(lambda: _csv(*session.log.rows()))
    disposition = f'attachment; filename="attnflow-{session.id[:8]}-metrics.csv"'
    return Response(text, media_type="text/csv", headers={"Content-Disposition": disposition})


@router.get("/{session_id}/metrics.json", responses=errors(404))
async def metrics_json(session: ViewDep) -> JsonBytes:
    """The same table as JSON: {"columns": [...], "rows": [[...], ...]}."""

    def table() -> bytes:
        header, rows = session.log.rows()
        return dumps({"columns": header, "rows": rows})

    return JsonBytes(await asyncio.to_thread(table))
