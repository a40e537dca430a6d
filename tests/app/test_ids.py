"""Session ids and watch tokens share a public route and nothing of their secrets; ids of the old
form (all secret) keep working, on disk and through their links."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from app.main import create_app
from app.services import ids

from .conftest import TestClient, create_session, make_settings

S = "/api/sessions"


def secret_bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_new_id_is_a_route_and_192_secret_bits():
    made = [ids.new_session_id() for _ in range(200)]
    assert len(set(made)) == 200
    for sid in made:
        assert len(sid) == 40
        assert ids.valid_id(sid)
        assert ids.route_of(sid) == sid[:8]
        assert len(secret_bytes(sid[8:])) == 24  # 192 bits, at least the 128 asked for
    assert len({sid[:8] for sid in made}) == 200  # the routes spread too


def test_a_token_shares_the_ids_route_and_none_of_its_secret():
    sid = ids.new_session_id()
    tokens = [ids.new_token(sid) for _ in range(50)]
    for token in tokens:
        assert ids.route_of(token) == ids.route_of(sid)
        assert len(secret_bytes(token[8:])) == 24
        assert sid[8:] not in token
        assert token[8:] != sid[8:]
    assert len(set(tokens)) == 50


def test_a_proxys_route_heads_the_id_and_a_malformed_one_is_replaced():
    assert ids.new_session_id("0a1b2c3d").startswith("0a1b2c3d")
    for bad in ["", "short", "0a1b2c3d9", "../../x/", "a b c de", "0a1b2c3\u00e9"]:
        sid = ids.new_session_id(bad)
        assert ids.valid_id(sid)
        assert not sid.startswith(bad) or bad == ""


def test_an_id_of_the_old_form_is_valid_unrouted_and_gets_an_old_form_token():
    old = secrets.token_urlsafe(24)
    assert len(old) == 32
    assert ids.valid_id(old)
    assert ids.route_of(old) is None
    token = ids.new_token(old)
    assert len(token) == 32
    assert ids.route_of(token) is None
    assert old not in token
    for bad in ["", "x" * 31, "x" * 33, "x" * 39, "x" * 41, "x" * 39 + "/", "x" * 39 + "."]:
        assert not ids.valid_id(bad), bad


def test_creation_and_import_take_the_proxys_route(client: TestClient):
    sid = client.post(S, json={}, headers={"X-Attnflow-Route": "Ab3_-x9Z"}).json()["id"]
    assert sid.startswith("Ab3_-x9Z")
    assert client.post(f"{S}/{sid}/train", json={"steps": 2}).status_code == 200
    checkpoint = client.get(f"{S}/{sid}/checkpoint").content
    imported = client.post(
        f"{S}/import", content=checkpoint, headers={"X-Attnflow-Route": "fe01ab23"}
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["id"].startswith("fe01ab23")
    # a malformed hint is not an error: the id gets a random route
    odd = client.post(S, json={}, headers={"X-Attnflow-Route": "../../etc"})
    assert odd.status_code == 201
    assert ids.valid_id(odd.json()["id"])


def test_a_watch_link_carries_the_sessions_route_and_works_in_its_place(client: TestClient):
    sid = create_session(client)["id"]
    token = client.post(f"{S}/{sid}/watch").json()["token"]
    assert token[:8] == sid[:8]
    assert sid[8:] not in token
    info = client.get(f"{S}/{token}")
    assert info.status_code == 200
    assert info.json()["id"] == token
    assert sid[8:] not in info.text
    assert client.post(f"{S}/{token}/train", json={"steps": 1}).status_code == 403


def test_a_saved_session_with_an_old_id_loads_and_gets_a_working_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    with monkeypatch.context() as patch:  # a session made before routed ids
        patch.setattr(
            "app.services.manager.new_session_id", lambda route=None: secrets.token_urlsafe(24)
        )
        with TestClient(create_app(make_settings(data_dir=tmp_path))) as client:
            old = create_session(client)["id"]
            assert client.post(f"{S}/{old}/train", json={"steps": 3}).status_code == 200
    assert len(old) == 32
    with TestClient(create_app(make_settings(data_dir=tmp_path))) as client:  # a restart
        assert client.get(f"{S}/{old}").json()["step"] == 3
        token = client.post(f"{S}/{old}/watch").json()["token"]
        assert len(token) == 32
        assert old not in token
        assert client.get(f"{S}/{token}").json()["step"] == 3
        assert client.get(f"/watch/{token}").status_code == 200
        assert client.post(f"{S}/{token}/reset").status_code == 403
        fresh = create_session(client)["id"]
        assert len(fresh) == 40  # new sessions beside it take the new form
