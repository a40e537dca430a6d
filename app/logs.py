"""Logging set-up: plain lines for a terminal, one JSON object per line for a log collector.

Fields passed with `extra=` (the access log's request_id, method, route, status, duration_ms,
session) become keys of the JSON object. A session id is the only credential a session has, so
no log line carries a whole one: ours log the first 8 characters (`session` field), and a filter
on the handler shortens any `/api/sessions/<id>` path in other lines too (uvicorn's own WebSocket
lines carry the raw path). uvicorn's loggers go through the same handler; its access log is off,
replaced by `attnflow.access` (app.middleware.AccessLogMiddleware), which logs route templates.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "color_message", "taskName"}
)
SESSION_PATH = re.compile(r"(/api/sessions/[A-Za-z0-9_-]{8})[A-Za-z0-9_-]{9,}")


def redact(text: str) -> str:
    """`/api/sessions/<32-char id>/...` -> `/api/sessions/<first 8>…/...`."""
    return SESSION_PATH.sub(r"\1…", text)


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    items = record.__dict__.items()
    return {k: v for k, v in items if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it), like lastResort."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure(log_json: bool) -> None:
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if log_json else TextFormatter())
    handler.addFilter(RedactFilter())
    for name in ("attnflow", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    error = logging.getLogger("uvicorn.error")
    error.handlers[:] = []
    error.propagate = True
    access = logging.getLogger("uvicorn.access")  # raw paths; attnflow.access replaces it
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
