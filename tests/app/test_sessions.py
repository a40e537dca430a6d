"""Sessions: creation, reading, deletion, limits, eviction, and the error format."""

from __future__ import annotations

import time

import pytest

from model.config import ModelConfig
from model.presets import PRESETS


def assert_error(response, status: int, field: str | None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if field is not None:
        assert body["errors"][0]["field"] == field
    return body


def test_healthz_answers_ok(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_presets_list_every_preset_with_its_size(client):
    body = client.get("/api/presets").json()
    assert {p["name"] for p in body["presets"]} == set(PRESETS)
    assert body["default"] == "tiny"
    for preset in body["presets"]:
        assert preset["parameters"] == ModelConfig(**preset["config"]).parameter_count()


def test_corpora_list_builtins_and_user_text_limits(client):
    body = client.get("/api/corpora").json()
    assert {"catmat", "recall"} <= {c["name"] for c in body["corpora"]}
    assert body["max_user_text_chars"] > 0
    assert body["default"] == "catmat"


def test_create_session_with_empty_body_gives_tiny_preset_on_catmat(new_session):
    info = new_session()
    assert info["preset"] == "tiny"
    assert info["corpus"] == "catmat"
    assert info["step"] == 0
    assert info["vocab_size"] == info["config"]["vocab_size"]
    assert info["parameters"] == ModelConfig(**info["config"]).parameter_count()
    assert info["shapes"]["tok_emb.weight"] == [info["vocab_size"], 64]
    assert info["batch_shape"] == [16, 32, 64]
    assert info["running"] is False
    assert info["comparing"] is False
    assert 0 < info["bigram_bound"] < 10


def test_create_session_without_a_body_works_too(client):
    assert client.post("/api/sessions").status_code == 201


def test_session_ids_are_long_random_and_distinct(new_session):
    ids = {new_session()["id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(len(i) >= 32 for i in ids)  # token_urlsafe(24): 192 bits


def test_create_session_applies_config_overrides_seed_and_optimizer(new_session):
    info = new_session(
        seed=7,
        config={"d_model": 32, "n_heads": 2, "norm": "post"},
        optimizer={"lr": 0.01, "batch_size": 4},
        tokenizer="char",
    )
    assert info["config"]["d_model"] == 32
    assert info["config"]["norm"] == "post"
    assert info["config"]["seed"] == 7
    assert info["seed"] == 7
    assert info["optimizer"]["lr"] == 0.01
    assert info["batch_shape"] == [4, 32, 32]
    assert info["tokenizer"] == "char"
    assert info["vocab_size"] < 40


def test_create_session_on_user_text_reads_custom(new_session):
    text = "the quick brown fox jumps over the lazy dog . " * 20
    info = new_session(text=text, config={"context_length": 8})
    assert info["corpus"] == "custom"


def test_get_session_returns_its_info(client, session):
    assert client.get(f"/api/sessions/{session['id']}").json()["id"] == session["id"]


def test_unknown_session_is_a_clear_404(client):
    body = assert_error(client.get("/api/sessions/not-a-session"), 404, None)
    assert "does not exist" in body["detail"]


def test_deleted_session_is_gone(client, session):
    assert client.delete(f"/api/sessions/{session['id']}").status_code == 204
    assert_error(client.get(f"/api/sessions/{session['id']}"), 404, None)
    assert_error(client.post(f"/api/sessions/{session['id']}/train", json={"steps": 1}), 404, None)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"config": {"d_model": 30}}, "config.d_model", "multiple of n_heads"),
        ({"preset": "huge"}, "preset", "tiny"),
        ({"corpus": "nope"}, "corpus", "catmat"),
        ({"optimizer": {"lr": 0}}, "optimizer.lr", "greater than 0"),
        ({"optimizer": {"lr": -1}}, "optimizer.lr", "greater than 0"),
        ({"seed": -1}, "seed", "greater than or equal"),
        ({"config": {"n_blocks": 9}}, "config.n_blocks", "less than or equal"),
        ({"config": {"colour": "red"}}, "config.colour", "not permitted"),
        ({"text": "too short"}, "text", "at least"),
        ({"config": {"context_length": 4000}}, "config.context_length", "less than"),
    ],
)
def test_create_session_rejects_bad_values_naming_field_value_and_allowed(
    client, body, field, words
):
    error = assert_error(client.post("/api/sessions", json=body), 422, field)
    assert words in error["errors"][0]["message"]
    assert field in error["detail"]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_json_nan_and_infinity_literals_are_refused(client, literal):
    body = b'{"optimizer": {"lr": ' + literal + b"}}"
    response = client.post(
        "/api/sessions", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "optimizer.lr")


def test_malformed_json_is_a_422_naming_the_body(client):
    response = client.post(
        "/api/sessions", content=b'{"preset": ', headers={"content-type": "application/json"}
    )
    body = assert_error(response, 422, "body")
    assert "JSON" in body["errors"][0]["message"]


def test_model_over_the_parameter_limit_is_refused_with_figure_and_limit(make_client):
    client = make_client(max_parameters=100_000)
    body = assert_error(client.post("/api/sessions", json={"preset": "small"}), 422, "config")
    count = body["errors"][0]["value"]
    assert count > 100_000
    assert f"{count:,}" in body["detail"]
    assert "100,000" in body["detail"]


def test_default_parameter_limit_allows_the_seed_preset(settings):
    config = ModelConfig(vocab_size=100, **PRESETS["seed"].model)
    assert config.parameter_count() < settings.max_parameters


def test_body_over_the_limit_is_refused_from_its_content_length(make_client):
    client = make_client(max_body_bytes=2048)
    response = client.post(
        "/api/sessions", content=b" " * 5000, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "body")


@pytest.mark.anyio
async def test_chunked_body_over_the_limit_is_refused_while_streaming(make_app):
    app = make_app(max_body_bytes=2048)
    pulled, sent = [], []

    async def receive():
        pulled.append(1)
        return {"type": "http.request", "body": b" " * 1000, "more_body": len(pulled) < 100}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/sessions",
        "raw_path": b"/api/sessions",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "root_path": "",
        "scheme": "http",
        "server": ("test", 80),
        "http_version": "1.1",
        "client": ("test", 1),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert len(pulled) == 3  # refused at the first chunk past 2048 bytes, not after 100
    assert b"2,048" in sent[1]["body"]


def test_least_recently_used_idle_session_is_evicted_past_the_limit(make_client):
    client = make_client(max_sessions=2, persist=False)
    first, second = client.post("/api/sessions").json(), client.post("/api/sessions").json()
    client.get(f"/api/sessions/{first['id']}")  # first is now the most recent
    client.post("/api/sessions").json()
    assert client.get(f"/api/sessions/{second['id']}").status_code == 404
    assert client.get(f"/api/sessions/{first['id']}").status_code == 200


def test_an_evicted_session_is_saved_and_comes_back_when_used(make_client):
    client = make_client(max_sessions=2)
    first, second = client.post("/api/sessions").json(), client.post("/api/sessions").json()
    client.post(f"/api/sessions/{second['id']}/train", json={"steps": 3})
    client.get(f"/api/sessions/{first['id']}")  # second is now the least recently used
    client.post("/api/sessions")
    manager = client.app.state.manager
    assert second["id"] not in manager.sessions  # out of memory ...
    info = client.get(f"/api/sessions/{second['id']}")  # ... but on disk, and back under its id
    assert info.status_code == 200
    assert info.json()["step"] == 3
    assert len(manager.sessions) == 2
    history = client.get(f"/api/sessions/{second['id']}/history").json()
    assert history["train"]["steps"] == [1, 2, 3]


def test_creating_a_session_when_all_slots_are_busy_is_503_with_retry_after(make_client):
    client = make_client(max_sessions=1)
    info = client.post("/api/sessions").json()
    assert client.post(f"/api/sessions/{info['id']}/run", json={"steps": 5000}).status_code == 202
    try:
        response = client.post("/api/sessions", json={})
        assert_error(response, 503, None)
        assert int(response.headers["retry-after"]) > 0
    finally:
        client.post(f"/api/sessions/{info['id']}/pause")


def test_idle_session_expires_after_the_ttl(make_client):
    client = make_client(session_ttl_s=0.2, persist=False)
    info = client.post("/api/sessions").json()
    time.sleep(0.3)
    assert client.get(f"/api/sessions/{info['id']}").status_code == 404


def test_an_expired_session_leaves_memory_but_not_the_disk(make_client):
    client = make_client(session_ttl_s=0.2)
    info = client.post("/api/sessions").json()
    time.sleep(0.3)
    client.post("/api/sessions")  # creation passes the reaper's check at once
    assert info["id"] not in client.app.state.manager.sessions
    assert client.get(f"/api/sessions/{info['id']}").status_code == 200


def test_reset_gives_fresh_weights_and_clears_history(client, session):
    sid = session["id"]
    before = client.get(f"/api/sessions/{sid}/weights?names=tok_emb.weight&max_size=0").json()
    client.post(f"/api/sessions/{sid}/train", json={"steps": 3})
    info = client.post(f"/api/sessions/{sid}/reset").json()
    assert info["step"] == 0
    after = client.get(f"/api/sessions/{sid}/weights?names=tok_emb.weight&max_size=0").json()
    assert after["weights"][0]["values"] == before["weights"][0]["values"]
    assert client.get(f"/api/sessions/{sid}/history").json()["train"]["steps"] == []


def test_metrics_endpoint_counts_sessions(client, session):
    text = client.get("/metrics").text
    assert "attnflow_sessions 1" in text


def test_an_integer_beyond_64_bits_is_a_422_not_a_crash(client):
    response = client.post("/api/sessions", json={"seed": 2**64})
    assert_error(response, 422, "seed")
    assert response.json()["errors"][0]["value"] == str(2**64)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "", None),
        ("DELETE", "", None),
        ("POST", "/reset", None),
        ("POST", "/forward", {"text": "the cat"}),
        ("POST", "/train", {"steps": 1}),
        ("POST", "/run", {}),
        ("POST", "/pause", None),
        ("GET", "/history", None),
        ("GET", "/snapshots/0", None),
        ("GET", "/weights", None),
        ("GET", "/checkpoint", None),
        ("PUT", "/checkpoint", None),
        ("POST", "/compare", {}),
        ("GET", "/compare", None),
        ("GET", "/metrics.csv", None),
        ("GET", "/metrics.json", None),
    ],
)
def test_every_session_route_answers_404_for_an_unknown_session(client, method, path, body):
    response = client.request(method, f"/api/sessions/unknown{path}", json=body)
    body = assert_error(response, 404, None)
    assert "unknown" in body["detail"]
