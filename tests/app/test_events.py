"""The stream contract: one definition per message type, published, and what is sent obeys it."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from app.services.events import DROPPABLE, MESSAGES, Message, Run, Step
from app.services.stream import DROPPABLE as WATCHER_DROPPABLE


def conforms(message: dict) -> Message:
    """`message` as its declared type (`skipped` is the watcher's, not the type's)."""
    kind = next(m for m in MESSAGES if m.type == message["type"])
    fields = {k: v for k, v in message.items() if k != "skipped"}
    return TypeAdapter(kind).validate_python(fields, strict=False)


def test_the_schema_route_lists_every_message_type_with_its_droppable_flag(client):
    body = client.get("/api/stream/schema").json()
    listed = {m["type"]: m["droppable"] for m in body["messages"]}
    assert listed == {m.type: m.droppable for m in MESSAGES}
    assert {t for t, droppable in listed.items() if droppable} == {"step", "attention", "compare"}
    step = next(m for m in body["messages"] if m["type"] == "step")
    assert "record" in step["schema"]["required"]
    assert "skipped" in step["schema"]["properties"]


def test_the_watcher_drops_exactly_the_types_the_contract_marks_droppable():
    assert WATCHER_DROPPABLE is DROPPABLE


def test_every_message_of_a_run_conforms_to_its_declared_type(client, session):
    sid = session["id"]
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        messages = [ws.receive_json()]
        client.post(f"/api/sessions/{sid}/run", json={"steps": 6})
        while not (messages[-1]["type"] == "run" and messages[-1]["state"] == "finished"):
            messages.append(ws.receive_json())
    assert {m["type"] for m in messages} >= {"hello", "run", "step", "attention"}
    for message in messages:
        conforms(message)
    attention = next(m for m in messages if m["type"] == "attention")
    snapshot = client.get(f"/api/sessions/{sid}/snapshots/0").json()
    assert attention["tokens"] == snapshot["probe"]["tokens"]  # one token shape everywhere


def test_a_message_that_drifts_from_its_type_is_refused():
    with pytest.raises(ValidationError):
        conforms({"type": "run", "state": "exploded", "step": 1, "message": "?"})
    with pytest.raises(ValidationError):
        conforms({"type": "step", "phases": []})  # no record
    assert isinstance(conforms({"type": "run", "state": "paused", "step": 1, "message": ""}), Run)
    assert Step.droppable
    assert not Run.droppable
