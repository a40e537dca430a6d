"""Pure ASGI middleware (no BaseHTTPMiddleware): request-body limits, the Host and Origin
checks (SiteGuardMiddleware) and the access log.

Body limits: a Content-Length over the limit is answered at once with 413, without reading a
byte; a body without one (chunked) is counted as it streams in and refused as soon as it passes
the limit. Checkpoint uploads get their own, larger limit.

Access log: one line per request (per WebSocket, when it ends) on `attnflow.access` with a
request id (the client's X-Request-ID when it is sane, else a new one; echoed in the response),
the method, the route *template* (never the raw path: it holds the session id), the status, the
duration and the first 8 characters of the session id. Never bodies, query strings or headers.
The same pass feeds the request counter and latency histogram of /metrics.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_response
from app.metrics import Metrics
from app.services.store import short

access_log = logging.getLogger("attnflow.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:=+/-]{1,128}$")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"
# Probes hit these every few seconds: logged at DEBUG unless they fail.
QUIET_ROUTES = frozenset({"/healthz", "/metrics"})


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


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(host: str) -> str:
    """The name part of a Host header: `[::1]:8000` -> `::1`, `Example.org:80` -> `example.org`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class SiteGuardMiddleware:
    """Refuse what other websites can make a visitor's browser send (as Jupyter Server does).

    - DNS rebinding: the Host header must name this server: a name in ATTNFLOW_ALLOWED_HOSTS
      (the loopback names by default) or an IP literal (a rebinding attack needs a DNS name);
      anything else gets 421 on HTTP and a refused handshake on the WebSocket.
    - Cross-site requests: a state-changing method (not GET/HEAD/OPTIONS) with an Origin that is
      neither this server's (same scheme-less host:port as Host) nor in ATTNFLOW_ALLOWED_ORIGINS,
      or without an Origin but with `Sec-Fetch-Site: cross-site`, gets 403. Scripts (curl,
      httpx) send neither header and pass. The WebSocket checks its Origin in its router.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: list[str], allowed_origins: list[str]) -> None:
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.hosts = frozenset(allowed_hosts)
        self.origins = frozenset(o.lower() for o in allowed_origins)

    def host_allowed(self, host: str | None) -> bool:
        if self.any_host:
            return True
        name = host_name(host or "")
        return bool(name) and (name in self.hosts or is_ip_literal(name))

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if origin in self.origins:
            return True
        netloc = urlsplit(origin).netloc if "://" in origin else ""
        return bool(netloc) and host is not None and netloc == host.strip().lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host")
        if not self.host_allowed(host):
            message = (
                f"this server does not answer to the host {host_name(host or '')!r:.80}; "
                "add it to ATTNFLOW_ALLOWED_HOSTS if it is yours"
            )
            await self._refuse(scope, receive, send, 421, message, "host")
            return
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            cross = headers.get("sec-fetch-site") == "cross-site"
            if (origin is not None and not self.origin_allowed(origin, host)) or (
                origin is None and cross
            ):
                message = (
                    f"cross-site request refused: origin {origin or '(none)'!r:.80} may not "
                    "change this server's state (ATTNFLOW_ALLOWED_ORIGINS lists the ones that may)"
                )
                await self._refuse(scope, receive, send, 403, message, "origin")
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, message: str, field: str
    ) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        response = error_response(
            status, message, [{"field": field, "value": None, "message": message}]
        )
        await response(scope, receive, send)


class Templates:
    """Path templates to name a request the router never saw (a 413 answered before routing):
    the API's paths from its OpenAPI document, compiled on first use."""

    def __init__(self, source: Callable[[], Iterable[str]]) -> None:
        self.source = source
        self._compiled: list[tuple[str, re.Pattern[str]]] | None = None

    def match(self, path: str) -> tuple[str, dict[str, Any]] | None:
        if self._compiled is None:
            self._compiled = [(t, compile_path(t)[0]) for t in self.source()]
        for template, pattern in self._compiled:
            found = pattern.match(path)
            if found:
                return template, found.groupdict()
        return None


def route_template(scope: Scope, templates: Templates) -> tuple[str, str | None]:
    """(route template, session id) of a request: from the router's match when it ran, else
    from the API's path templates."""
    route = scope.get("route")
    params = scope.get("path_params") or {}
    if route is not None:
        path = str(getattr(route, "path", UNMATCHED))
        if isinstance(route, Mount):
            path = f"{path}/{{path}}"
    else:
        found = templates.match(scope.get("path", ""))
        if found is None:
            return UNMATCHED, None
        path, params = found
    session = params.get("session_id")
    return path, session if isinstance(session, str) else None


class AccessLogMiddleware:
    def __init__(
        self, app: ASGIApp, metrics: Metrics, templates: Callable[[], Iterable[str]]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = Templates(templates)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = Headers(scope=scope).get("x-request-id")
        request_id = incoming if incoming and REQUEST_ID.match(incoming) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        status: int | None = None

        async def send_logged(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and status is None:
                status = 403  # refused before the handshake completed
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        except Exception:
            if kind != "http" or status is not None:
                raise  # a response is under way (or a WebSocket): nothing more can be sent
            # The last resort: a bug still gets the documented JSON body and the request id,
            # and the connection stays usable (uvicorn drops it when the app raises).
            access_log.exception("unhandled error on %s (request_id=%s)", kind, request_id)
            response = error_response(500, f"internal error; quote request id {request_id}")
            await response(scope, receive, send_logged)
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int | None, seconds: float) -> None:
        route, session = route_template(scope, self.templates)
        websocket = scope["type"] == "websocket"
        method = "WS" if websocket else scope.get("method", "OTHER")
        method = method if websocket or method in METHODS else "OTHER"
        code = status if status is not None else 500
        if not websocket:
            self.metrics.requests.inc(method=method, route=route, status=str(code))
            self.metrics.latency.observe(seconds, method=method, route=route)
        ms = seconds * 1000
        level = logging.DEBUG if route in QUIET_ROUTES and code < 400 else logging.INFO
        if not access_log.isEnabledFor(level):
            return
        fields = {
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": code,
            "duration_ms": round(ms, 2),
            "session": short(session) if session else None,
        }
        suffix = f" session={fields['session']}" if session else ""
        access_log.log(
            level,
            "%s %s %d %.1f ms request_id=%s%s",
            method,
            route,
            code,
            ms,
            request_id,
            suffix,
            extra=fields,
        )
