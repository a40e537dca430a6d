"""Session ids and watch tokens: a public routing key followed by a secret.

    session id   = route (8 characters) + secret (32 characters: 192 random bits)
    watch token  = the session's route   + its own secret (32 characters: 192 random bits)

The proxy in front of several replicas (scripts/scaleout/nginx.conf.template) hashes on the
route alone, so a session's id and every watch token of it reach the same replica -- the one
holding the session's lease -- and move together when that replica dies. The route is not a
credential: a token shows it and keeps the id's secret to itself. It is also all that logs show
of an id (`store.short`), so they carry none of the secret.

Ids made before this format (32 characters, all secret) stay valid; the proxy hashes on the
whole of them, and their watch tokens keep the old form too (a token cannot share a key with
such an id without containing it). Both forms use the URL-safe base64 alphabet only.
"""

from __future__ import annotations

import re
import secrets

ROUTE_CHARS = 8
SECRET_BYTES = 24  # 192 bits; token_urlsafe writes them as 32 characters
SECRET_CHARS = 32
ROUTE = re.compile(r"^[A-Za-z0-9_-]{8}$")
# 40 characters: route + secret; 32 characters: an id from before routes (all of it secret)
SESSION_ID = re.compile(r"^(?:[A-Za-z0-9_-]{8})?[A-Za-z0-9_-]{32}$")
LEGACY_CHARS = 32


def new_route() -> str:
    return secrets.token_urlsafe(6)  # 48 bits, 8 characters: spread, not secrecy


def new_session_id(route: str | None = None) -> str:
    """A fresh id on `route` (the proxy's choice, see `valid_route`) or on a random one."""
    if route is None or not valid_route(route):
        route = new_route()
    return route + secrets.token_urlsafe(SECRET_BYTES)


def new_token(session_id: str) -> str:
    """A watch token for the session: its route and a secret of its own, never the id's."""
    route = route_of(session_id)
    return (route or "") + secrets.token_urlsafe(SECRET_BYTES)


def route_of(session_id: str) -> str | None:
    """The routing key of a routed id (or token); None for an id of the old, unrouted form."""
    if len(session_id) == ROUTE_CHARS + SECRET_CHARS and SESSION_ID.match(session_id):
        return session_id[:ROUTE_CHARS]
    return None


def valid_id(session_id: str) -> bool:
    return bool(SESSION_ID.match(session_id))


def valid_route(route: str) -> bool:
    return bool(ROUTE.match(route))
