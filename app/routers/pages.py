"""The browser page and its offline copy of plotly.js.

plotly.min.js is 4.8 MB; it is gzip-compressed once per process (0.2 s, to 1.5 MB) and served
from memory with a strong ETag, `Vary: Accept-Encoding` and a year of caching, so a page load
moves 1.5 MB once and then nothing (304 on revalidation).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

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


@dataclass(frozen=True)
class Asset:
    raw: bytes
    gzipped: bytes
    etag: str  # of the raw bytes; the gzip variant's is etag + "-gzip"


@lru_cache(maxsize=2)
def _asset(path: str, mtime_ns: int) -> Asset:
    raw = Path(path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:20]
    return Asset(raw, gzip.compress(raw, compresslevel=9, mtime=0), digest)


def plotly_asset() -> Asset | None:
    """plotly.min.js and its gzip form, made once per process (blocks: call off the loop)."""
    path = plotly_path()
    return None if path is None else _asset(str(path), path.stat().st_mtime_ns)


def accepts_gzip(header: str | None) -> bool:
    for part in (header or "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            quality = params.strip().lower()
            return not quality.startswith("q=") or quality[2:].strip() not in ("0", "0.0", "0.00")
    return False


def _etag_matches(header: str | None, etags: tuple[str, ...]) -> bool:
    if not header:
        return False
    offered = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in offered or any(f'"{tag}"' in offered for tag in etags)


@router.get("/static/vendor/plotly.min.js")
async def plotly_js(request: Request) -> Response:
    """plotly.min.js from the installed plotly package, so the page works offline; gzip when
    the browser accepts it (all do)."""
    asset = await run_in_threadpool(plotly_asset)
    if asset is None:
        raise ApiError(404, "plotly is not installed on this server")
    compressed = accepts_gzip(request.headers.get("accept-encoding"))
    etag = f"{asset.etag}-gzip" if compressed else asset.etag
    headers = {"Cache-Control": LONG_CACHE, "ETag": f'"{etag}"', "Vary": "Accept-Encoding"}
    if _etag_matches(request.headers.get("if-none-match"), (asset.etag, f"{asset.etag}-gzip")):
        return Response(status_code=304, headers=headers)
    if compressed:
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type="text/javascript", headers=headers)
    return Response(asset.raw, media_type="text/javascript", headers=headers)


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
