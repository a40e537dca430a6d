"""What a service refuses, in domain terms; app/errors.py alone turns these into HTTP statuses.

A value that cannot work is a `model.errors.FieldError` (it names the field, the value and what
is allowed). The rest say why the service cannot do it now; `retry_after` (seconds) is set where
waiting helps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model.errors import FieldError, shown

__all__ = [
    "Busy",
    "FieldError",
    "Forbidden",
    "NotFound",
    "OverLimit",
    "RateLimited",
    "ServiceError",
    "Unavailable",
]


class ServiceError(Exception):
    """A request a service refuses. `field`/`value` name the part of the request at fault."""

    def __init__(
        self,
        message: str,
        field: str | None = None,
        value: object = None,
        retry_after: int | None = None,
    ) -> None:
        self.message = message
        self.field = field
        self.value = value
        self.retry_after = retry_after
        super().__init__(message)


class Forbidden(ServiceError):
    """The caller may read this session but not change it (a read-only watch link)."""


class NotFound(ServiceError):
    """No such session, snapshot or result (unknown, deleted, expired, or gone meanwhile)."""


class Busy(ServiceError):
    """The session is doing something that conflicts (a background run, a comparison)."""


class OverLimit(ServiceError):
    """The request would need more memory than this server allows one request or session."""


class RateLimited(ServiceError):
    """This client used its share (training steps per window); retry later."""


class Unavailable(ServiceError):
    """The server cannot take it now (shutting down, every slot busy, held by another replica)."""


def gone(what: str) -> NotFound:
    return NotFound(f"{what} does not exist (it may have expired or been deleted)")


def shutting_down() -> Unavailable:
    return Unavailable("the server is shutting down", retry_after=10)


# pydantic's "Input should be greater than 0" -> "lr must be greater than 0; 0 is not".
_SHOULD = ("Input should be ", "Value should be ", "String should have ", "List should have ")


def validation_sentence(name: str, error: Mapping[str, Any]) -> str:
    """One pydantic error as a sentence naming the field `name`, its value and what is allowed."""
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    kind = error.get("type")
    if kind == "missing":
        return f"{name} is required"
    if kind == "extra_forbidden":
        return f"{name} is not a setting here (extra inputs are not permitted)"
    for prefix in _SHOULD:
        if message.startswith(prefix):
            verb = "must be " if prefix.endswith("be ") else "must have "
            return f"{name} {verb}{message[len(prefix) :]}; {shown(error.get('input'))} is not"
    return message if name in message else f"{name}: {message}"
