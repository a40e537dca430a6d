"""One error shape for every 4xx: {"detail": sentence, "errors": [{field, value, message}]}.

The page shows `message` next to the input named by `field`, so every handler here names the
field, the value it got and what is allowed; nothing a user can send should end in a 500.
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
from model.checkpoint import CheckpointError
from model.config import ConfigError

log = logging.getLogger("attnflow.errors")

# "lr=inf is not allowed: a finite number > 0" -- the convention of model/ error messages.
_FIELD_MESSAGE = re.compile(
    r"^(?P<field>[A-Za-z_][\w.]*)=(?P<value>.*?) is not allowed: (?P<why>.*)$"
)
_MAX_VALUE_CHARS = 120


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
        if self.field is None:
            return self.message
        return f"{self.field}={describe(self.value)} is not allowed: {self.message}"


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


def describe(value: Any) -> str:
    if isinstance(value, str):  # repr escapes what is not printable (lone surrogates too)
        return repr(value if len(value) <= _MAX_VALUE_CHARS else safe_value(value))
    shown = safe_value(value)
    return shown if isinstance(shown, str) and not isinstance(value, str) else repr(shown)


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
    value = None if error.get("type") == "missing" else error.get("input")
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "missing":
        message = "this field is required"
    return _item(_field_of(error.get("loc", ())), value, message)


async def validation_handler(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, RequestValidationError)
    items = [_validation_item(e) for e in exc.errors()]
    first = items[0] if items else _item("body", None, "invalid request")
    detail = f"{first['field']}={describe(first['value'])} is not allowed: {first['message']}"
    if first["value"] is None:
        detail = f"{first['field']}: {first['message']}"
    return error_response(422, detail, items)


async def api_error_handler(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, ApiError)
    items = [_item(exc.field, exc.value, exc.message)] if exc.field is not None else []
    return error_response(exc.status_code, exc.detail, items, headers=exc.headers or None)


async def config_error_handler(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, ConfigError)
    field = f"config.{exc.field}"
    return error_response(
        422,
        f"{field}={exc.value!r} is not allowed: {exc.allowed}",
        [_item(field, exc.value, exc.allowed)],
    )


async def checkpoint_error_handler(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, CheckpointError)
    field = f"checkpoint.{exc.field}" if exc.field else "checkpoint"
    return error_response(422, f"checkpoint refused: {exc}", [_item(field, None, str(exc))])


async def read_only_handler(request: Request, exc: Exception) -> OrjsonResponse:
    """A watch token on a route that changes the session (app.services.watch)."""
    return error_response(403, str(exc), [_item(None, None, str(exc))])


async def value_error_handler(request: Request, exc: Exception) -> OrjsonResponse:
    """ValueErrors from model code carry 'field=value is not allowed: why' or a plain sentence."""
    message = str(exc)
    log.info("value error on %s %s: %s", request.method, request.url.path, message)
    match = _FIELD_MESSAGE.match(message)
    if match:
        return error_response(422, message, [_item(match["field"], match["value"], match["why"])])
    return error_response(422, message, [_item(None, None, message)])


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
    """Register the handlers; the more specific exception classes win over ValueError."""
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(ConfigError, config_error_handler)
    app.add_exception_handler(CheckpointError, checkpoint_error_handler)
    app.add_exception_handler(ValueError, value_error_handler)
    from app.services.watch import ReadOnly  # here: that module raises this one's ApiError

    app.add_exception_handler(ReadOnly, read_only_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
