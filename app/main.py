"""The FastAPI app: settings in, routers and static files mounted, sessions made in the lifespan.

Shutdown: `app.server.Server` (what `attnflow serve` runs) drains the sessions on SIGTERM before
uvicorn closes connections (streams get their bye); the lifespan's `manager.shutdown()` does the
same for any other server, then closes every session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from app import docs_ui, errors, openapi
from app.logs import configure
from app.metrics import Metrics
from app.middleware import AccessLogMiddleware, BodyLimitMiddleware, SiteGuardMiddleware
from app.routers import (
    catalog,
    checkpoint,
    compare,
    events,
    forward,
    gradcheck,
    health,
    history,
    names,
    pages,
    sessions,
    stream,
    training,
    watch,
    weights,
)
from app.services.manager import SessionManager
from app.services.watch import WatchLinks
from app.settings import Settings, get_settings

ROUTERS = (
    health,
    catalog,
    names,
    sessions,
    checkpoint,
    forward,
    training,
    history,
    weights,
    gradcheck,
    compare,
    stream,
    watch,
    events,
    pages,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure(settings.log_json)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.manager = SessionManager(settings, metrics)
        await app.state.manager.start()
        links = settings.data_dir / "watch" if settings.persist else None
        app.state.watch = WatchLinks(links, settings.shared_data_dir)
        await asyncio.to_thread(app.state.watch.open)
        warm = asyncio.create_task(asyncio.to_thread(pages.plotly_asset))  # gzip it once, early
        yield
        await app.state.manager.shutdown()
        await warm

    app = FastAPI(
        title="attnflow",
        version="0.1.0",
        lifespan=lifespan,
        description="Watch a transformer block learn: sessions, training, traces.",
        docs_url=None,  # /docs and /redoc come from docs_ui, with installed assets, not a CDN
        redoc_url=None,
    )
    app.dependency_overrides[get_settings] = lambda: settings
    app.state.metrics = metrics
    _session_gauges(app, metrics)
    errors.install(app)
    openapi.install(app, settings)
    docs_ui.install(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    # Outside CORS, so a foreign origin is refused before anything runs (and still logged).
    app.add_middleware(
        SiteGuardMiddleware,
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.allowed_origins,
    )
    # Outermost, so it times and counts everything, 413s and CORS preflights included.
    app.add_middleware(
        AccessLogMiddleware, metrics=metrics, templates=lambda: list(app.openapi()["paths"])
    )
    for module in ROUTERS:  # before the /static mount: pages serves /static/vendor/plotly.min.js
        app.include_router(module.router)
    app.include_router(watch.page_router)
    if settings.static_dir.is_dir():
        app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")
    return app


def _session_gauges(app: FastAPI, metrics: Metrics) -> None:
    """Gauges read from the running manager at scrape time (0 before start-up)."""

    def reading(read: Callable[[SessionManager], float]) -> Callable[[], float]:
        def value() -> float:
            manager = getattr(app.state, "manager", None)
            return read(manager) if manager is not None else 0.0

        return value

    gauges: list[tuple[str, str, Callable[[SessionManager], float]]] = [
        ("attnflow_sessions", "sessions in memory", lambda m: len(m.sessions)),
        ("attnflow_sessions_running", "sessions training in the background", lambda m: m.running),
        (
            "attnflow_session_steps",
            "sum of the steps of the sessions in memory",
            lambda m: sum(s.step for s in list(m.sessions.values())),
        ),
        ("attnflow_stream_clients", "WebSocket streams open", lambda m: m.stream_clients),
        (
            "attnflow_sessions_saved",
            "sessions saved in the data directory",
            lambda m: len(m.store) if m.store is not None else 0,
        ),
    ]
    for name, text, read in gauges:
        metrics.add_gauge(name, text, reading(read))
