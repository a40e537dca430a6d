"""Watch links: the owner creates, lists and revokes them; `/watch/{token}` opens the page on
the session, read-only (app.services.watch)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse

from app.deps import SessionDep, SettingsDep, WatchDep
from app.routers import errors, pages
from app.services.watch import TOKEN, Link

router = APIRouter(prefix="/api/sessions", tags=["watch"])
page_router = APIRouter(tags=["pages"], include_in_schema=False)

WatchToken = Annotated[str, Path(description="a token from POST .../watch")]
GONE_PAGE = """<!doctype html><meta charset="utf-8"><title>attnflow · watch link</title>
<p>This watch link does not exist: it was revoked by the session's owner, or the session was
deleted. Ask for a new link, or <a href="/">start a session of your own</a>.</p>"""


class WatchLink(BaseModel):
    """A read-only link to a session: open `path` on this server to watch it live."""

    token: str = Field(description="use it in place of the session id on the read routes")
    path: str = Field(description="the page that watches the session: /watch/{token}")
    created: float = Field(description="seconds since the epoch")


class WatchLinkList(BaseModel):
    links: list[WatchLink]


def _out(link: Link) -> WatchLink:
    return WatchLink(**link.public())


@router.post(
    "/{session_id}/watch", status_code=201, response_model=WatchLink, responses=errors(404, 409)
)
async def create_link(session: SessionDep, links: WatchDep) -> WatchLink:
    """A new read-only watch link (the session's owner only; a watch token gets a 403)."""
    return _out(links.create(session.id))


@router.get("/{session_id}/watch", response_model=WatchLinkList, responses=errors(404))
async def list_links(session: SessionDep, links: WatchDep) -> WatchLinkList:
    """The session's watch links, oldest first."""
    return WatchLinkList(links=[_out(link) for link in links.links_of(session.id)])


@router.delete(
    "/{session_id}/watch/{token}",
    status_code=204,
    response_class=Response,
    responses=errors(404),
)
async def revoke_link(session: SessionDep, links: WatchDep, token: WatchToken) -> Response:
    """Revoke a watch link: it stops working at once and its open streams end with a `bye`."""
    links.revoke(session.id, token)
    return Response(status_code=204)


@page_router.get("/watch/{token}", response_class=HTMLResponse)
async def watch_page(
    request: Request, settings: SettingsDep, links: WatchDep, token: WatchToken
) -> Response:
    """The page, read-only on the session the token opens (the page reads the token from its
    own path, so the HTML is the same as `/`'s and names no session)."""
    if not TOKEN.match(token) or links.session_of(token) is None:
        return HTMLResponse(GONE_PAGE, status_code=404)
    return await pages.index(request, settings)
