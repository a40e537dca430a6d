"""One router per resource; `errors()` documents the error responses a route can give."""

from __future__ import annotations

from typing import Any

from app.schemas import ErrorBody
from model.errors import FieldError

_DESCRIPTIONS = {
    404: "no such session (unknown id, deleted, expired or evicted)",
    409: "the session is busy in a conflicting way (e.g. a background run is going)",
    413: "the request body is over the limit",
    422: "a value is not allowed; `errors` names the field, the value and what is allowed",
    429: "this client used its training steps for the window; retry after Retry-After seconds",
    503: "every session (or run) slot is busy; retry after the Retry-After header's seconds",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}


def check_steps(steps: int, limit: int, per: str) -> int:
    """The step count of a request, or a 422 naming the limit (a setting, so not in the schema)."""
    if steps > limit:
        raise FieldError("steps", steps, f"at most {limit} per {per}")
    return steps


SESSION_ERRORS = errors(404, 422)
BODY_ERRORS = errors(404, 413, 422)
