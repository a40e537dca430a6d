"""Every handler's payload against its declared response model.

Handlers return pre-encoded bytes (orjson), so FastAPI never checks what they send against the
`response_model` the OpenAPI schema shows. This walks every route of every router, calls it on a
real small session, and validates the JSON strictly with the route's model: a missing field, a
wrong type or a key the model does not declare fails (`drift`).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from app.main import ROUTERS
from app.schemas import Snapshot

METHODS = {"GET", "POST", "PUT"}
ROUTES = sorted(
    (method, route.path, route.response_model)
    for module in ROUTERS
    for route in module.router.routes
    if isinstance(route, APIRoute) and route.response_model is not None
    for method in route.methods & METHODS
)

# How to call each route on the test session: a JSON body, or "checkpoint" for its own bytes.
# A route with a response model must be here, so a new one cannot go unchecked.
SID = "/api/sessions/{session_id}"
CALLS: dict[tuple[str, str], Any] = {
    ("GET", "/healthz"): None,
    ("GET", "/api/presets"): None,
    ("GET", "/api/corpora"): None,
    ("GET", "/api/stream/schema"): None,
    ("GET", "/api/names"): None,
    ("POST", "/api/sessions"): {"seed": 1},
    ("POST", "/api/sessions/import"): "checkpoint",
    ("GET", SID): None,
    ("PUT", f"{SID}/checkpoint"): "checkpoint",
    ("POST", f"{SID}/train"): {"steps": 3},
    ("POST", f"{SID}/run"): {"steps": 2},
    ("POST", f"{SID}/pause"): None,
    ("POST", f"{SID}/forward"): {"text": "the cat sat on the mat ."},
    ("GET", f"{SID}/history"): None,
    ("GET", f"{SID}/dynamics"): None,
    ("GET", f"{SID}/snapshots"): None,
    ("GET", f"{SID}/snapshots/{{step}}"): None,
    ("POST", f"{SID}/snapshots/{{step}}/forward"): {"text": "the dog sat"},
    ("GET", f"{SID}/snapshots/{{step}}/weights"): None,
    ("GET", f"{SID}/weights"): None,
    ("POST", f"{SID}/gradcheck"): {"parameter": "blocks.0.ffn.W_1.weight", "row": 1, "col": 2},
    ("POST", f"{SID}/watch"): None,
    ("GET", f"{SID}/watch"): None,
    ("POST", f"{SID}/compare"): {"steps": 2},
    ("GET", f"{SID}/compare"): None,
    ("POST", f"{SID}/reset"): None,
}


def undeclared(payload: Any, declared: Any, path: str = "") -> list[str]:
    """Keys in `payload` that the model's own dump of it does not have (recursively)."""
    if isinstance(payload, dict) and isinstance(declared, dict):
        extra = [f"{path}.{key}" for key in payload if key not in declared]
        for key in payload.keys() & declared.keys():
            extra += undeclared(payload[key], declared[key], f"{path}.{key}")
        return extra
    if isinstance(payload, list) and isinstance(declared, list):
        return [
            e
            for i, (p, d) in enumerate(zip(payload, declared, strict=True))
            for e in undeclared(p, d, f"{path}[{i}]")
        ]
    return []


def drift(model: Any, body: bytes) -> list[str]:
    """What is wrong with `body` under `model`: validation errors, then undeclared keys."""
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    try:
        value = adapter.validate_json(body, strict=True)
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    declared = adapter.dump_python(value, mode="json", by_alias=True)
    return [f"{key}: not in the model" for key in undeclared(json.loads(body), declared)]


def call(client, method: str, path: str, sid: str, step: int) -> Any:
    url = path.format(session_id=sid, step=step)
    body = CALLS[(method, path)]
    if body == "checkpoint":
        data = client.get(f"/api/sessions/{sid}/checkpoint").content
        return client.request(method, url, content=data)
    return client.request(method, url, json=body)


def test_every_route_with_a_response_model_has_a_call_here():
    missing = [(m, p) for m, p, _ in ROUTES if (m, p) not in CALLS]
    assert not missing, f"add a call for {missing} to CALLS"
    assert len(ROUTES) == len(CALLS)


def test_every_handler_sends_what_its_response_model_declares(client, session):
    sid = session["id"]
    client.post(f"/api/sessions/{sid}/train", json={"steps": 2})
    order = sorted(ROUTES, key=lambda r: (r[1].endswith(("/reset", "/compare")), r[0] == "GET"))
    problems = {}
    for method, path, model in order:
        if path.endswith("/compare") and method == "GET":
            deadline = time.monotonic() + 60
            while client.get(f"/api/sessions/{sid}").json()["comparing"]:
                assert time.monotonic() < deadline, "the comparison did not finish"
                time.sleep(0.05)
        step = client.get(f"/api/sessions/{sid}/snapshots").json()["steps"][-1]  # after a load too
        response = call(client, method, path, sid, step)
        assert response.status_code < 300, (method, path, response.text)
        wrong = drift(model, response.content)
        if wrong:
            problems[f"{method} {path}"] = wrong
    assert not problems, problems


def snapshot_payload() -> dict[str, Any]:
    return {
        "step": 2,
        "loss": 3.5,
        "heldout_loss": None,
        "record": None,
        "probe": {
            "tokens": [{"text": "the", "id": 3, "unknown": False}],
            "attention": [[[1.0]]],
            "ffn": None,
            "predictions": None,
            "blocks": [{"attention": [[[1.0]]], "ffn": None}],
        },
        "weights": {},
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p.update(step="2"), "step"),  # a number sent as text
        (lambda p: p.pop("loss"), "loss"),  # a field the model requires, gone
        (lambda p: p["probe"].update(tokens=["the"]), "probe.tokens"),  # the old token shape
        (lambda p: p["probe"].update(tokenz=[]), "probe.tokenz"),  # a key nobody declared
        (lambda p: p.update(blocks=[]), ".blocks"),  # in the wrong place
    ],
)
def test_drift_catches_a_payload_that_left_its_model(change, expected):
    good = snapshot_payload()
    assert drift(Snapshot, json.dumps(good).encode()) == []
    change(good)
    problems = drift(Snapshot, json.dumps(good).encode())
    assert problems
    assert any(expected in problem for problem in problems), problems
