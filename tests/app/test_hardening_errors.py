"""Finding 1 of issue 10: no input ends in a 5xx, every error is the documented JSON body with a
request id, and the connection survives it.

The red-team cases are pinned one by one; hypothesis then fuzzes raw request bytes and the
safetensors header grammar (every JSON type in every slot of a real checkpoint's header).
"""

from __future__ import annotations

import http.client
import json
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import LiveServer, TestClient, create_app, make_settings

JSON = {"Content-Type": "application/json"}
SURROGATE_BODIES = [b'{"text":"\\ud800"}', b'{"\\ud800":1}', b'{"preset":"a\\udfffb"}']


def safetensors(header: Any, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def assert_error_body(response: Any, status: int | None = None) -> dict[str, Any]:
    assert response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers.get("x-request-id")
    body: dict[str, Any] = response.json()
    assert isinstance(body["detail"], str)
    assert isinstance(body["errors"], list)
    return body


@pytest.fixture(scope="module")
def fuzz_client():
    with TestClient(create_app(make_settings())) as client:
        sid = client.post("/api/sessions", json={}).json()["id"]
        checkpoint = client.get(f"/api/sessions/{sid}/checkpoint").content
        yield client, sid, checkpoint


@pytest.fixture(scope="module")
def server():
    with LiveServer(create_app(make_settings())) as live:
        yield live


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes) -> Any:
    conn.request(method, path, body=body, headers={**JSON, "Host": "127.0.0.1"})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


@pytest.mark.parametrize("body", SURROGATE_BODIES)
def test_a_lone_surrogate_gets_a_422_and_the_connection_stays_open(server, body):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        status, headers, _ = _request(conn, "POST", "/api/sessions", b"{}")
        assert status == 201
        sid = json.loads(_)["id"]
        for path in ("/api/sessions", f"/api/sessions/{sid}/forward", f"/api/sessions/{sid}/train"):
            status, headers, raw = _request(conn, "POST", path, body)
            assert status == 422, raw
            assert headers.get("x-request-id")
            assert headers.get("connection", "").lower() != "close"
            message = json.loads(raw)  # valid UTF-8 JSON: the surrogate is shown as an escape
            assert "ud800" in raw.decode() or "udfff" in raw.decode() or message["errors"]
        # the same connection still answers
        status, _, raw = _request(conn, "GET", f"/api/sessions/{sid}", b"")
        assert status == 200, raw
    finally:
        conn.close()


def test_a_surrogate_inside_accepted_text_is_refused_by_field(fuzz_client):
    client, sid, _ = fuzz_client
    response = client.post(
        f"/api/sessions/{sid}/forward", content=b'{"text":"the \\ud800 cat"}', headers=JSON
    )
    body = assert_error_body(response, 422)
    assert body["errors"][0]["field"] == "text"
    assert "surrogate" in body["errors"][0]["message"]


MALFORMED_HEADERS = [
    ({"__metadata__": []}, "__metadata__"),
    ({"__metadata__": "x"}, "__metadata__"),
    ({"__metadata__": {"format": 1}}, "__metadata__.format"),
    ({"a": []}, "tensors.a"),
    ({"a": None}, "tensors.a"),
    ({"a": {"dtype": "F32", "shape": 3, "data_offsets": [0, 4]}}, "tensors.a.shape"),
    ({"a": {"dtype": "F32", "shape": None, "data_offsets": [0, 4]}}, "tensors.a.shape"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": 4}}, "tensors.a.data_offsets"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 5]}}, "tensors.a.data_offsets"),
]


@pytest.mark.parametrize(("header", "field"), MALFORMED_HEADERS)
def test_malformed_safetensors_headers_get_a_field_level_422(fuzz_client, header, field):
    client, sid, _ = fuzz_client
    for method, path in (
        ("POST", "/api/sessions/import"),
        ("PUT", f"/api/sessions/{sid}/checkpoint"),
    ):
        response = client.request(method, path, content=safetensors(header, b"\0" * 4))
        body = assert_error_body(response, 422)
        assert body["errors"][0]["field"] == f"checkpoint.{field}", body
        assert "unpack" not in body["detail"]


def test_a_bug_still_answers_with_the_json_error_and_a_request_id():
    """The last resort: whatever escapes a handler is the documented body, not text/plain."""
    app = create_app(make_settings())

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-request-id"] in response.json()["detail"]
        assert client.get("/healthz").status_code == 200


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(body=st.binary(max_size=300), route=st.sampled_from(["", "/forward", "/train", "/run"]))
def test_raw_bytes_never_give_a_server_error(fuzz_client, body, route):
    client, sid, _ = fuzz_client
    path = f"/api/sessions/{sid}{route}" if route else "/api/sessions"
    response = client.post(path, content=body, headers=JSON)
    if response.status_code >= 400:
        assert_error_body(response)
    client.post(f"/api/sessions/{sid}/pause")


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _header_of(data: bytes) -> tuple[dict[str, Any], bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


@FUZZ
@given(data=st.data())
def test_any_json_in_any_header_slot_never_gives_a_server_error(fuzz_client, data):
    """Replace one slot of a real checkpoint's header (metadata value, a tensor entry, one of
    its fields, a key of the config or the train settings) by any JSON value."""
    client, _, checkpoint = fuzz_client
    header, tensors = _header_of(checkpoint)
    names = sorted(k for k in header if k != "__metadata__")
    value = data.draw(JSON_VALUES)
    slot = data.draw(st.sampled_from(["metadata", "entry", "field", "config", "extra", "root"]))
    meta = header["__metadata__"]
    if slot == "metadata":
        meta[data.draw(st.sampled_from(sorted(meta)))] = value
    elif slot == "entry":
        header[data.draw(st.sampled_from(names))] = value
    elif slot == "field":
        entry = header[data.draw(st.sampled_from(names))]
        entry[data.draw(st.sampled_from(["dtype", "shape", "data_offsets", "other"]))] = value
    elif slot in ("config", "extra"):
        inner = json.loads(meta[slot])
        target = (
            inner.get("train", inner) if slot == "extra" and data.draw(st.booleans()) else inner
        )
        target[data.draw(st.sampled_from([*sorted(target), "other"]))] = value
        meta[slot] = json.dumps(inner)
    else:
        header = value
    response = client.post("/api/sessions/import", content=safetensors(header, tensors))
    if response.status_code == 201:  # a harmless change (e.g. an unchanged value): fine
        client.delete(f"/api/sessions/{response.json()['id']}")
        return
    assert_error_body(response, 422)


@FUZZ
@given(prefix=st.binary(min_size=0, max_size=64), cut=st.integers(min_value=0, max_value=4000))
def test_truncated_and_garbled_files_never_give_a_server_error(fuzz_client, prefix, cut):
    client, _, checkpoint = fuzz_client
    body = prefix + checkpoint[cut:] if prefix else checkpoint[: cut + 1]
    response = client.post("/api/sessions/import", content=body)
    if response.status_code != 201:
        assert_error_body(response, 422)
