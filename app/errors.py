"""One error shape for every 4xx: {"detail": sentence, "errors": [{field, value, message}]}.

The page shows `message` next to the input named by `field`, so every handler here names the
field, the value it got and what is allowed; nothing a user can send should end in a 500.

This is the one place where domain errors become HTTP statuses (`STATUS`): services and model/
raise `FieldError`, `CheckpointError` and the `ServiceError` kinds, never anything of HTTP.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.responses import OrjsonResponse
from app.services.errors import (
    Busy,
    Forbidden,
    NotFound,
    OverLimit,
    RateLimited,
    ServiceError,
    Unavailable,
    validation_sentence,
)
from model.checkpoint import CheckpointError
from model.errors import FieldError

log = logging.getLogger("attnflow.errors")
_MAX_VALUE_CHARS = 120

# Domain error -> HTTP status; the first class in an error's MRO that is here decides.
STATUS: dict[type[Exception], int] = {
    Forbidden: 403,
    NotFound: 404,
    Busy: 409,
    OverLimit: 413,
    FieldError: 422,
    CheckpointError: 422,
    RateLimited: 429,
    Unavailable: 503,
    ServiceError: 400,  # every service error is one of the kinds above; this is the fallback
    ValueError: 422,  # a value model code refused without naming a field
}


class ApiError(Exception):
    """A request the service refuses; rendered as the common error body."""

    def __init__(
        self,
        status_code: int,
        message: str,
        field: str | None = None,
        value: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.field = field
        self.value = value
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(message)

    @property
    def detail(self) -> str:
        return self.message if self.field is None else f"{self.field}: {self.message}"


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} does not exist (it may have expired or been deleted)")


def safe_value(value: Any) -> Any:
    """A JSON-safe, short stand-in for whatever the client sent."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # JSON numbers past 64 bits would not serialise
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        if len(value) <= _MAX_VALUE_CHARS:
            return scrub(value)
        return scrub(f"{value[:_MAX_VALUE_CHARS]}… ({len(value):,} characters)")
    if isinstance(value, bytes | bytearray):
        return f"<{len(value):,} bytes>"
    text = scrub(repr(value))
    return text if len(text) <= _MAX_VALUE_CHARS else f"{text[:_MAX_VALUE_CHARS]}…"


def error_body(detail: str, errors: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    return {"detail": detail, "errors": list(errors)}


def scrub(value: Any) -> Any:
    """`value` with every string made UTF-8-encodable: a lone UTF-16 surrogate (which Python's
    JSON parser lets through from `"\\ud800"`) becomes its escape text. Keys too."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, Mapping):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


class ErrorResponse(OrjsonResponse):
    """An error body that always renders: what the client sent is echoed in it, and orjson
    refuses strings that are not valid Unicode (a 500 from the error path itself, before)."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            return super().render(scrub(content))


def error_response(
    status_code: int, detail: str, errors: Sequence[Mapping[str, Any]] = (), headers: Any = None
) -> OrjsonResponse:
    return ErrorResponse(error_body(detail, errors), status_code=status_code, headers=headers)


def _item(field: str | None, value: Any, message: str) -> dict[str, Any]:
    return {"field": field, "value": safe_value(value), "message": message}


def _field_of(loc: Sequence[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def _validation_item(error: Mapping[str, Any]) -> dict[str, Any]:
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        position = error["loc"][-1] if len(error.get("loc", ())) > 1 else "?"
        return _item("body", None, f"the body is not valid JSON ({reason} at character {position})")
    field = _field_of(error.get("loc", ()))
    value = None if error.get("type") == "missing" else error.get("input")
    return _item(field, value, validation_sentence(field.rsplit(".", 1)[-1], error))


async def validation_handler(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    items = [_validation_item(e) for e in errors]
    if not items:
        return error_response(422, "invalid request", [_item("body", None, "invalid request")])
    first = errors[0]
    detail = items[0]["message"]
    if first.get("type") != "json_invalid":
        detail = validation_sentence(items[0]["field"], first)
    return error_response(422, detail, items)


async def api_error_handler(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, ApiError)
    items = [_item(exc.field, exc.value, exc.message)] if exc.field is not None else []
    return error_response(exc.status_code, exc.detail, items, headers=exc.headers or None)


def status_of(exc: Exception) -> int:
    return next(STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS)


def service_error_response(exc: ServiceError) -> OrjsonResponse:
    """A service's refusal as its HTTP answer (also what the stream sends as the reply to a
    WebSocket upgrade it refuses)."""
    items = [_item(exc.field, exc.value, exc.message)] if exc.field is not None else []
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return error_response(status_of(exc), exc.message, items, headers=headers)


async def domain_error_handler(request: Request, exc: Exception) -> OrjsonResponse:
    """Every domain error: its status from `STATUS`, its field, value and sentence as is."""
    status = status_of(exc)
    if isinstance(exc, FieldError):
        leaf = exc.field.rsplit(".", 1)[-1]
        items = [_item(exc.field, exc.value, exc.sentence(leaf))]
        return error_response(status, exc.sentence(exc.field), items)
    if isinstance(exc, CheckpointError):
        field = f"checkpoint.{exc.field}" if exc.field else "checkpoint"
        return error_response(status, f"checkpoint refused: {exc}", [_item(field, None, str(exc))])
    if isinstance(exc, ServiceError):
        return service_error_response(exc)
    message = str(exc)  # a plain ValueError: a sentence, without a field to point at
    log.info("value error on %s %s: %s", request.method, request.url.path, message)
    return error_response(status, message, [_item(None, None, message)])


# FastAPI's words when a JSON body cannot even be decoded (e.g. it is not UTF-8).
_UNPARSEABLE = "There was an error parsing the body"


def allowed_methods(request: Request) -> str:
    """The documented methods of the most specific path template matching this path.

    Starlette's 405 names only the first route that matched the path, but GET and DELETE of one
    resource are separate routes; the Allow header must list them all.
    """
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    matching = [
        template
        for template in paths
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), request.url.path)
    ]
    if not matching:
        return ""
    best = min(matching, key=lambda template: template.count("{"))
    return ", ".join(sorted(method.upper() for method in paths[best]))


async def http_error_handler(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSEABLE:
        message = "the body is not JSON text (UTF-8)"
        return error_response(422, f"body: {message}", [_item("body", None, message)])
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
    return error_response(exc.status_code, str(exc.detail), headers=headers or None)


def install(app: FastAPI) -> None:
    """Register the handlers; Starlette picks the most specific class in an error's MRO."""
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(ApiError, api_error_handler)
    for kind in STATUS:
        app.add_exception_handler(kind, domain_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
