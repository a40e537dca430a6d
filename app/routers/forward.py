"""A forward pass on your text, with every intermediate the diagram shows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import SettingsDep, ViewDep
from app.responses import JsonBytes
from app.routers import BODY_ERRORS
from app.schemas import ForwardRequest, ForwardResult
from app.services.budget import forward_estimate, refuse_over
from app.services.forward import ForwardOptions
from app.services.session import Session
from app.settings import Settings
from model.errors import FieldError

router = APIRouter(prefix="/api/sessions", tags=["forward"])

StagesQuery = Annotated[
    str | None,
    Query(
        max_length=2000,
        description="comma-separated globs of stage names, e.g. "
        "`*.attn.hook_weights,hook_logits` (default: every stage)",
    ),
]
MaxDimQuery = Annotated[
    int | None,
    Query(
        ge=1,
        le=4096,
        description="mean-pool every axis longer than this (default: none, "
        "unless the trace exceeds the server's max_trace_floats)",
    ),
]
FullQuery = Annotated[bool, Query(description="send the whole trace however big it is")]
DigitsQuery = Annotated[int, Query(ge=0, le=9, description="significant digits (0: full float32)")]


def checked_options(
    session: Session,
    settings: Settings,
    body: ForwardRequest,
    stages: str | None,
    max_dim: int | None,
    full: bool,
    digits: int,
) -> ForwardOptions:
    """A forward request's options, after its text length and its trace's memory estimate
    passed the server's limits (the live model and a stored step share these checks)."""
    if len(body.text) > settings.max_text_chars:
        limit = settings.max_text_chars
        message = f"text must be at most {limit:,} characters; it has {len(body.text):,}"
        raise FieldError("text", body.text, f"at most {limit:,} characters", message)
    # tokens <= characters for both tokenizers: the estimate is an upper bound
    trace = forward_estimate(
        session.model.config, len(body.text), full, digits, settings.max_trace_floats, max_dim
    )
    hint = "send shorter text, or drop full=true / lower max_dim"
    refuse_over(trace, settings.max_session_bytes, "this trace", "text", hint)
    patterns = tuple(p.strip() for p in stages.split(",") if p.strip()) if stages else None
    return ForwardOptions(
        top_k=body.top_k,
        stages=patterns,
        max_dim=max_dim,
        full=full,
        digits=digits,
        max_floats=settings.max_trace_floats,
    )


@router.post("/{session_id}/forward", response_model=ForwardResult, responses=BODY_ERRORS)
async def forward(
    session: ViewDep,
    settings: SettingsDep,
    body: ForwardRequest,
    stages: StagesQuery = None,
    max_dim: MaxDimQuery = None,
    full: FullQuery = False,
    digits: DigitsQuery = 4,
) -> JsonBytes:
    """Tokens, every stage's values, attention [heads][T][T] and top-k next-token predictions.

    Text longer than the context keeps its last context_length tokens and says so (`truncated`).
    """
    options = checked_options(session, settings, body, stages, max_dim, full, digits)
    return JsonBytes(await session.forward(body.text, options))
