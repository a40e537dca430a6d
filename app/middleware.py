"""Request-body limits, enforced before a body is buffered (pure ASGI, no BaseHTTPMiddleware).

A Content-Length over the limit is answered at once with 413, without reading a byte; a body
without one (chunked) is counted as it streams in and refused as soon as it passes the limit.
Checkpoint uploads get their own, larger limit.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_response


def is_upload(method: str, path: str) -> bool:
    return (method == "POST" and path == "/api/sessions/import") or (
        method == "PUT" and path.startswith("/api/sessions/") and path.endswith("/checkpoint")
    )


def too_large_message(size: int | str, limit: int) -> str:
    return f"the request body is {size} bytes, over the limit of {limit:,} bytes"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = is_upload(scope["method"], scope["path"])
        limit = self.max_upload_bytes if upload else self.max_body_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(
                413,
                too_large_message(f"{int(declared):,}", limit),
                [
                    {
                        "field": "body",
                        "value": f"<{int(declared):,} bytes>",
                        "message": f"at most {limit:,} bytes",
                    }
                ],
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises HTTPExceptions met while reading the body, so this ends
                    # in the app's own 413 handler with the common error shape.
                    raise HTTPException(413, too_large_message(f"over {received:,}", limit))
            return message

        await self.app(scope, counting_receive, send)
