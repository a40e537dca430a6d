"""Access logs (request ids, route templates, no session ids or bodies) and /metrics."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import defaultdict

import pytest

from app.logs import RedactFilter, redact

from .conftest import create_session

SECRET_TEXT = "zebra quartz marmalade"  # in request bodies only: must never reach a log


def access_lines(err: str) -> list[dict]:
    entries = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [e for e in entries if e["logger"] == "attnflow.access"]


def test_every_request_has_one_json_access_line_without_ids_or_bodies(make_client, capsys):
    client = make_client(log_json=True)
    capsys.readouterr()
    sid = create_session(client, probe=SECRET_TEXT.split()[0])["id"]
    client.post(f"/api/sessions/{sid}/forward", json={"text": SECRET_TEXT})
    client.get(f"/api/sessions/{sid}/history", headers={"X-Request-ID": "trace-42.abc"})
    client.get(f"/api/sessions/{'x' * 32}")  # unknown: 404
    client.get("/no/such/page")
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        ws.receive_json()
    err = capsys.readouterr().err
    lines = access_lines(err)
    seen = [(e["method"], e["route"], e["status"]) for e in lines]
    assert seen == [
        ("POST", "/api/sessions", 201),
        ("POST", "/api/sessions/{session_id}/forward", 200),
        ("GET", "/api/sessions/{session_id}/history", 200),
        ("GET", "/api/sessions/{session_id}", 404),
        ("GET", "<unmatched>", 404),
        ("WS", "/api/sessions/{session_id}/stream", 101),
    ]
    for entry in lines:
        assert set(entry) >= {"request_id", "method", "route", "status", "duration_ms", "session"}
        assert entry["duration_ms"] >= 0
        assert re.fullmatch(r"[0-9a-f]{16}|trace-42\.abc", entry["request_id"])
    assert lines[1]["session"] == sid[:8]
    assert lines[2]["request_id"] == "trace-42.abc"
    assert sid not in err  # the id is the session's only credential
    assert SECRET_TEXT not in err
    assert "zebra" not in err


def test_a_body_refused_before_routing_still_gets_its_route(make_client, capsys):
    client = make_client(max_body_bytes=1024, log_json=True)
    sid = create_session(client)["id"]
    capsys.readouterr()
    response = client.post(
        f"/api/sessions/{sid}/forward",
        content=b"x" * 5000,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    (line,) = access_lines(capsys.readouterr().err)
    assert (line["route"], line["status"], line["session"]) == (
        "/api/sessions/{session_id}/forward",
        413,
        sid[:8],
    )
    assert line["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("sent", "honoured"),
    [("abc-123", True), ("a" * 129, False), ("two words", False), ("x\u00e9", False)],
)
def test_the_request_id_is_echoed_and_only_a_sane_one_is_kept(client, sent, honoured):
    response = client.get("/healthz", headers={"X-Request-ID": sent.encode("utf-8")})
    echoed = response.headers["x-request-id"]
    assert (echoed == sent) is honoured
    assert re.fullmatch(r"[A-Za-z0-9._:=+/-]{1,128}", echoed)


def test_other_loggers_lines_have_session_paths_shortened():
    sid = "AbCdEfGh" + "x" * 24
    path = f"/api/sessions/{sid}/stream"
    assert redact(f'127.0.0.1:5 - "WebSocket {path}" [accepted]') == (
        '127.0.0.1:5 - "WebSocket /api/sessions/AbCdEfGh…/stream" [accepted]'
    )
    assert redact("/api/sessions/import") == "/api/sessions/import"
    record = logging.LogRecord("uvicorn.error", 20, "", 0, '%s - "WebSocket %s"', ("a", path), None)
    RedactFilter().filter(record)
    assert sid not in record.getMessage()


# -- /metrics ----------------------------------------------------------------------------------

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


def parse_metrics(text: str) -> tuple[dict[str, str], dict[tuple[str, frozenset], float]]:
    """(TYPE per family, value per (name, labels)) of the Prometheus text format."""
    types: dict[str, str] = {}
    helps: set[str] = set()
    samples: dict[tuple[str, frozenset], float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line.startswith("# HELP "):
            helps.add(line.split(" ", 3)[2])
        elif line:
            match = SAMPLE.match(line)
            assert match, line
            name, labels, value = match.groups()
            pairs = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or ""))
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert family in types or name in types, f"{name} has no TYPE line"
            samples[(name, pairs)] = float(value)
    assert set(types) == helps
    return types, samples


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_metrics_count_requests_steps_sessions_and_streams(make_client):
    client = make_client(persist_every_s=0.2)
    sid = create_session(client)["id"]
    for _ in range(3):
        client.post(f"/api/sessions/{sid}/forward", json={"text": "the cat"})
    client.post(f"/api/sessions/{sid}/train", json={"steps": 7})
    client.get(f"/api/sessions/{'y' * 32}")
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        ws.receive_json()
        response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    types, samples = parse_metrics(response.text)
    forward = "/api/sessions/{session_id}/forward"
    assert types["attnflow_http_requests_total"] == "counter"
    assert types["attnflow_http_request_duration_seconds"] == "histogram"
    assert (
        value(samples, "attnflow_http_requests_total", method="POST", route=forward, status="200")
        == 3
    )
    assert (
        value(
            samples,
            "attnflow_http_requests_total",
            method="GET",
            route="/api/sessions/{session_id}",
            status="404",
        )
        == 1
    )
    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (name, labels), count in samples.items()
        if name == "attnflow_http_request_duration_seconds_bucket"
        and dict(labels)["route"] == forward
    )
    counts = [count for _, count in buckets]
    assert counts == sorted(counts)  # cumulative
    assert buckets[-1] == (math.inf, 3)
    assert (
        value(samples, "attnflow_http_request_duration_seconds_count", method="POST", route=forward)
        == 3
    )
    assert value(samples, "attnflow_training_steps_total") == 7
    assert value(samples, "attnflow_training_steps_per_second") > 0
    assert value(samples, "attnflow_sessions") == 1
    assert value(samples, "attnflow_sessions_running") == 0
    assert value(samples, "attnflow_session_steps") == 7
    assert value(samples, "attnflow_stream_clients") == 1
    # no raw path (with a session id) ever becomes a label
    assert sid not in response.text
    assert "y" * 32 not in response.text

    deadline = 50
    while value(parse_metrics(client.get("/metrics").text)[1], "attnflow_persist_saves_total") < 1:
        deadline -= 1
        assert deadline, "no save within 5 s"
        time.sleep(0.1)
    _, samples = parse_metrics(client.get("/metrics").text)
    assert value(samples, "attnflow_persist_failures_total") == 0
    assert value(samples, "attnflow_sessions_saved") == 1
    assert value(samples, "attnflow_persist_save_duration_seconds_count") >= 1
    assert value(samples, "attnflow_stream_clients") == 0


def test_a_running_session_shows_in_the_gauges(client, session):
    sid = session["id"]
    client.post(f"/api/sessions/{sid}/run", json={"steps": 5000})
    try:
        _, samples = parse_metrics(client.get("/metrics").text)
        assert value(samples, "attnflow_sessions_running") == 1
    finally:
        client.post(f"/api/sessions/{sid}/pause")
    _, samples = parse_metrics(client.get("/metrics").text)
    assert value(samples, "attnflow_sessions_running") == 0
    assert value(samples, "attnflow_training_steps_total") > 0


def test_metric_labels_are_escaped():
    from app.metrics import Counter

    counter = Counter("x_total", "help", ("route",))
    counter.inc(route='a"b\\c\nd')
    # prometheus_client writes every value as a float
    assert list(counter.samples()) == ['x_total{route="a\\"b\\\\c\\nd"} 1.0']


def test_the_steps_per_second_window_forgets_old_steps():
    from app.metrics import RateWindow

    now = [100.0]
    window = RateWindow(10.0, clock=lambda: now[0])
    assert window.rate() == 0.0
    window.add(50)
    assert window.rate() == 50.0  # over at least 1 s
    now[0] += 5
    window.add(30)
    assert window.rate() == 16.0  # 80 steps in the 5 s since the first
    now[0] += 4
    assert window.rate() == pytest.approx(80 / 9)
    now[0] += 2  # the first 50 are older than 10 s now
    assert window.rate() == 5.0  # 30 steps, 6 s ago


def test_per_label_counts_add_up(make_client):
    client = make_client()
    for path in ("/healthz", "/healthz", "/metrics"):
        client.get(path)
    _, samples = parse_metrics(client.get("/metrics").text)
    by_route: dict[str, float] = defaultdict(float)
    for (name, labels), count in samples.items():
        if name == "attnflow_http_requests_total":
            by_route[dict(labels)["route"]] += count
    assert by_route["/healthz"] == 2
    assert by_route["/metrics"] == 1
