"""Read-only watch links: a second random token that opens a session for watching only.

The session id is the owner's one credential: whoever holds it may train, reset or delete. A
watch link carries a separate token (app.services.ids: the session's public route + a secret of
its own, so a proxy routes it like the id) that maps to the session; the read
routes accept it in place of the id and the routes that change the session refuse it
(`ReadOnly`, a 403 in app.errors). Nothing a watcher receives names the session id: its
SessionInfo and stream hello carry the token instead (`Access.public_id`).

With persistence on, each link is one small file, data_dir/watch/<token>.json, so a link keeps
working after its session is evicted or the server restarts; revoking removes the file and ends
every stream opened with that token (a `bye` saying so, then close code 4403).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.responses import dumps
from app.services.errors import Busy, Forbidden, ServiceError, Unavailable, gone
from app.services.events import Bye
from app.services.ids import new_token
from app.services.session import Session
from app.services.store import short
from app.services.stream import Watcher

log = logging.getLogger("attnflow.watch")
MAX_LINKS_PER_SESSION = 16  # a class needs one; a few more for a second class, a colleague
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")  # 40 (route + secret, app.services.ids); 32 old
REVOKED = "this watch link was revoked by the session's owner"
REVOKED_CODE = 4403  # WebSocket close code after the bye: forbidden from now on


class ReadOnly(Forbidden):
    """A watch token was used to change a session (train, run, pause, reset, load, delete...)."""

    def __init__(self) -> None:
        super().__init__(
            "this is a read-only watch link: it can show the session but not change it "
            "(train, run, pause, reset, settings, import, delete and compare need the owner's "
            "session link)"
        )


@dataclass(frozen=True)
class Link:
    token: str
    session_id: str
    created: float  # wall-clock seconds

    def public(self) -> dict[str, Any]:
        """What the owner's page shows: the token and where it opens (never the session id)."""
        return {"token": self.token, "path": f"/watch/{self.token}", "created": self.created}


@dataclass(frozen=True)
class Access:
    """A session as one request may see it: as its owner (token None) or through a watch link."""

    session: Session
    token: str | None = None

    @property
    def owner(self) -> bool:
        return self.token is None

    @property
    def public_id(self) -> str:
        """The id this client knows the session by: the session id or its watch token."""
        return self.session.id if self.token is None else self.token

    def info(self) -> dict[str, Any]:
        info = self.session.info()
        info["id"] = self.public_id
        return info


class WatchLinks:
    """Every watch link of this process, and the streams opened with each (to end on revoke)."""

    def __init__(self, root: Path | None, shared: bool = False) -> None:
        self.root = root  # None: links live in memory only (persistence off)
        self.shared = shared  # replicas share the data dir: another one may have made a link
        self._links: dict[str, Link] = {}
        self._streams: dict[str, set[Watcher]] = {}

    def open(self) -> None:
        """Read the saved links (blocking: call it off the event loop)."""
        if self.root is None:
            return
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            log.error("watch links will not be saved (%s): %s", self.root, exc)
            self.root = None
            return
        for path in self.root.glob("*.json"):
            link = self._read(path.stem)
            if link is not None:
                self._links[link.token] = link
        log.info("%d watch links in %s", len(self._links), self.root)

    def _path(self, token: str) -> Path:
        assert self.root is not None
        assert TOKEN.match(token), "only well-formed tokens name files"
        return self.root / f"{token}.json"

    def _read(self, token: str) -> Link | None:
        if self.root is None or not TOKEN.match(token):
            return None
        try:
            data = json.loads(self._path(token).read_text("utf-8"))
            return Link(token, str(data["session"]), float(data["created"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write(self, link: Link) -> None:
        if self.root is None:
            return
        path = self._path(link.token)
        temporary = path.with_suffix(".tmp")
        body = {"session": link.session_id, "created": link.created}
        # the file holds the session id: only this server's user may read it
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(dumps(body))
        os.replace(temporary, path)

    def _remove(self, token: str) -> None:
        if self.root is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path(token).unlink()

    # -- links ---------------------------------------------------------------------------------

    def session_of(self, token: str) -> str | None:
        """The session a watch token opens, or None when it is not a (live) watch token. Another
        replica sharing the data dir may have made it: a miss in memory looks on disk."""
        link = self._links.get(token)
        if link is None and self.shared:
            link = self._read(token)
            if link is not None:
                self._links[token] = link
        return None if link is None else link.session_id

    def links_of(self, session_id: str) -> list[Link]:
        links = [link for link in self._links.values() if link.session_id == session_id]
        return sorted(links, key=lambda link: link.created)

    def create(self, session_id: str) -> Link:
        if len(self.links_of(session_id)) >= MAX_LINKS_PER_SESSION:
            raise Busy(
                f"this session already has {MAX_LINKS_PER_SESSION} watch links, the most it "
                "may have; revoke one first",
            )
        link = Link(new_token(session_id), session_id, round(time.time(), 3))
        try:
            self._write(link)
        except OSError as exc:
            raise Unavailable(f"the watch link cannot be saved: {exc}", retry_after=30) from None
        self._links[link.token] = link
        log.info("session %s: watch link %s created", short(session_id), short(link.token))
        return link

    def revoke(self, session_id: str, token: str) -> None:
        """Remove the link and end its streams; 404 for a token that is not this session's."""
        if self.session_of(token) != session_id:
            raise gone(f"watch link {token[:64]!r} of this session")
        self._drop(token)
        log.info("session %s: watch link %s revoked", short(session_id), short(token))

    def forget(self, session_id: str) -> None:
        """The session was deleted: its links go with it."""
        for link in self.links_of(session_id):
            self._drop(link.token)

    def _drop(self, token: str) -> None:
        self._links.pop(token, None)
        self._remove(token)
        bye = dumps(Bye(reason=REVOKED))
        for watcher in self._streams.pop(token, set()):
            watcher.put("bye", bye)
            watcher.close(REVOKED_CODE)

    # -- streams -------------------------------------------------------------------------------

    def attach(self, access: Access, watcher: Watcher) -> None:
        """Remember a stream opened with a watch token, so that revoking the token ends it."""
        if access.token is not None:
            self._streams.setdefault(access.token, set()).add(watcher)

    def detach(self, access: Access, watcher: Watcher) -> None:
        if access.token is None:
            return
        watchers = self._streams.get(access.token)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._streams[access.token]

    def watchers(self, token: str) -> int:
        return len(self._streams.get(token, ()))


def hide_id(error: ServiceError, session_id: str, token: str) -> ServiceError:
    """The same refusal with the session id (whole or shortened, as logs and messages show it)
    replaced by the token, for a client that came with the token."""
    message = error.message.replace(session_id, token).replace(short(session_id), short(token))
    return type(error)(message, error.field, error.value, error.retry_after)
