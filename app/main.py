"""The FastAPI app: settings in, routers and static files mounted, sessions made in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from app import errors, openapi
from app.logs import configure
from app.middleware import BodyLimitMiddleware
from app.routers import (
    catalog,
    checkpoint,
    compare,
    forward,
    health,
    history,
    pages,
    sessions,
    stream,
    training,
    weights,
)
from app.services.manager import SessionManager
from app.settings import Settings, get_settings

ROUTERS = (
    health,
    catalog,
    sessions,
    checkpoint,
    forward,
    training,
    history,
    weights,
    compare,
    stream,
    pages,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure(settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.manager = SessionManager(settings)
        await app.state.manager.start()
        yield
        await app.state.manager.shutdown()

    app = FastAPI(
        title="attnflow",
        version="0.1.0",
        lifespan=lifespan,
        description="Watch a transformer block learn: sessions, training, traces.",
    )
    app.dependency_overrides[get_settings] = lambda: settings
    errors.install(app)
    openapi.install(app, settings)
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
    for module in ROUTERS:  # before the /static mount: pages serves /static/vendor/plotly.min.js
        app.include_router(module.router)
    if settings.static_dir.is_dir():
        app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")
    return app
