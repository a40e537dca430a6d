"""/docs and /redoc reference only this server: their assets come from the installed package."""

from __future__ import annotations

import re

import pytest

from app.docs_ui import assets_dir

OUTSIDE = re.compile(r"""(?:src|href|url)\s*[=:]\s*["']?(?:https?:)?//""", re.I)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_from_elsewhere(client, path):
    page = client.get(path)
    assert page.status_code == 200
    assert not OUTSIDE.search(page.text), page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r"""(?:src|href)=["'](/docs-assets/[^"']+)""", page.text)
    assert assets, page.text
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        # The very bytes of the installed package's file, not a page of ours.
        assert served.content == (assets_dir() / asset.rsplit("/", 1)[1]).read_bytes()


def test_openapi_schema_does_not_list_the_docs_pages(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(p.startswith(("/docs", "/redoc")) for p in paths), sorted(paths)
