"""The browser page and its offline copy of plotly.js."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import FileResponse, HTMLResponse, Response

from app.deps import SettingsDep
from app.errors import ApiError
from model.data import BUILTIN_CORPORA
from model.presets import DEFAULT_PRESET, PRESETS

router = APIRouter(tags=["pages"], include_in_schema=False)
# plotly.min.js is versioned with the installed package: a year of caching is safe.
LONG_CACHE = "public, max-age=31536000, immutable"
FALLBACK = """<!doctype html><meta charset="utf-8"><title>attnflow</title>
<p>attnflow's API is running. The page (templates/index.html) is not installed here;
see <a href="/docs">/docs</a> for the API.</p>"""


@lru_cache
def _templates(directory: str) -> Jinja2Templates:
    return Jinja2Templates(directory=directory)


def plotly_path() -> Path | None:
    try:
        path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


@router.get("/static/vendor/plotly.min.js")
async def plotly_js() -> FileResponse:
    """plotly.min.js from the installed plotly package, so the page works offline."""
    path = plotly_path()
    if path is None:
        raise ApiError(404, "plotly is not installed on this server")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": LONG_CACHE})


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, settings: SettingsDep) -> Response:
    """The page, from templates/index.html when the frontend is installed."""
    if not (settings.templates_dir / "index.html").is_file():
        return HTMLResponse(FALLBACK)
    context = {
        "presets": sorted(PRESETS),
        "default_preset": DEFAULT_PRESET,
        "corpora": sorted(BUILTIN_CORPORA),
        "api_base": "/api",
        "plotly_url": "/static/vendor/plotly.min.js",
    }
    return _templates(str(settings.templates_dir)).TemplateResponse(request, "index.html", context)
