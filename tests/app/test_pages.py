"""The page routes: plotly.js offline, the index template, static files."""

from __future__ import annotations

import pytest

from app.routers.pages import plotly_path


@pytest.mark.skipif(plotly_path() is None, reason="plotly is not installed")
def test_plotly_is_served_offline_with_long_cache_headers(client):
    response = client.get("/static/vendor/plotly.min.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert "max-age=31536000" in response.headers["cache-control"]
    assert len(response.content) > 1_000_000


@pytest.mark.skipif(plotly_path() is None, reason="plotly is not installed")
def test_plotly_goes_gzip_compressed_with_an_etag(client):
    url = "/static/vendor/plotly.min.js"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    raw = plain.content
    zipped = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == raw  # httpx unzips
    assert zipped.num_bytes_downloaded < len(raw) / 3  # 1.5 MB on the wire instead of 4.8 MB
    assert zipped.headers["etag"] != plain.headers["etag"]
    for response in (plain, zipped):
        again = client.get(url, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
    refused = client.get(url, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_index_without_a_template_points_to_the_docs(make_client, tmp_path):
    client = make_client(templates_dir=tmp_path, static_dir=tmp_path / "none")
    response = client.get("/")
    assert response.status_code == 200
    assert "/docs" in response.text


def test_index_renders_the_template_when_present(make_client, tmp_path):
    (tmp_path / "index.html").write_text("<h1>attnflow {{ default_preset }} {{ api_base }}</h1>")
    client = make_client(templates_dir=tmp_path)
    assert client.get("/").text == "<h1>attnflow tiny /api</h1>"


def test_static_files_are_mounted(make_client, tmp_path):
    (tmp_path / "app.js").write_text("console.log(1)")
    client = make_client(static_dir=tmp_path)
    assert client.get("/static/app.js").text == "console.log(1)"
    assert client.get("/static/vendor/plotly.min.js").status_code in (200, 404)


def test_openapi_documents_this_instances_limits(make_client):
    client = make_client(max_steps_per_call=77, max_text_chars=123)
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["TrainRequest"]["properties"]["steps"]["maximum"] == 77
    assert schemas["ForwardRequest"]["properties"]["text"]["maxLength"] == 123
    assert schemas["ConfigOverrides"]["properties"]["d_model"]["anyOf"][0]["maximum"] == 4096
