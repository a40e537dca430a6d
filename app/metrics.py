"""A tiny in-process Prometheus registry: counters, gauges and histograms with labels.

prometheus_client would do, but it is one more dependency for ~100 lines, and its default
process-global registry would mix the figures of the several apps a test run creates. Every
metric here belongs to one app (`app.state.metrics`) and is safe to update from any thread.
Output is the text exposition format 0.0.4.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SAVE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(value)


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> Labels:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {sorted(labels)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> Iterable[str]:
        raise NotImplementedError


class Counter(Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[Labels, float] = {} if labels else {(): 0.0}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted(self._values.items())
        for key, value in items:
            yield f"{self.name}{_labels(self.label_names, key)} {_number(value)}"


class Gauge(Metric):
    """A value that is set, or read from `source` at every scrape."""

    kind = "gauge"

    def __init__(
        self, name: str, help_text: str, source: Callable[[], float] | None = None
    ) -> None:
        super().__init__(name, help_text)
        self.source = source
        self._value = 0.0

    def set(self, value: float) -> None:
        self._value = value

    def value(self) -> float:
        return float(self.source()) if self.source is not None else self._value

    def samples(self) -> Iterable[str]:
        yield f"{self.name} {_number(self.value())}"


class Histogram(Metric):
    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        self._counts: dict[Labels, list[int]] = {}  # per bucket (not cumulative), then +Inf
        self._sums: dict[Labels, float] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        index = next((i for i, b in enumerate(self.buckets) if value <= b), len(self.buckets))
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            counts[index] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: str) -> int:
        with self._lock:
            return sum(self._counts.get(self._key(labels), ()))

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted((k, list(v), self._sums[k]) for k, v in self._counts.items())
        for key, counts, total in items:
            running = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                running += count
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}"
            yield f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}"
            yield f"{self.name}_count{_labels(self.label_names, key)} {running}"


class RateWindow:
    """Events per second over the last `window_s` seconds (steps/s for the gauge)."""

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self.clock = clock
        self._events: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self._events.append((self.clock(), n))
            self._trim()

    def _trim(self) -> None:
        horizon = self.clock() - self.window_s
        while self._events and self._events[0][0] < horizon:
            self._events.popleft()

    def rate(self) -> float:
        """Events in the window over the time they span (at least 1 s, at most the window), so
        the first seconds of a run are not diluted by the idle time before it."""
        with self._lock:
            self._trim()
            if not self._events:
                return 0.0
            span = min(self.window_s, max(1.0, self.clock() - self._events[0][0]))
            return sum(n for _, n in self._events) / span


class Registry:
    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def add(self, metric: Metric) -> Metric:
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.metrics:
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"


class Metrics:
    """The app's figures. Gauges about sessions read the manager at scrape time."""

    def __init__(self) -> None:
        self.registry = Registry()
        add = self.registry.add
        self.requests = Counter(
            "attnflow_http_requests_total",
            "HTTP requests by method, route template and status",
            ("method", "route", "status"),
        )
        self.latency = Histogram(
            "attnflow_http_request_duration_seconds",
            "HTTP request duration until the last body byte, by method and route template",
            LATENCY_BUCKETS,
            ("method", "route"),
        )
        self.steps = Counter(
            "attnflow_training_steps_total", "training steps taken by this process's sessions"
        )
        self.step_rate = RateWindow(10.0)
        self.saves = Counter("attnflow_persist_saves_total", "sessions saved to the data directory")
        self.save_failures = Counter(
            "attnflow_persist_failures_total", "session saves that failed (disk full, I/O error)"
        )
        self.save_seconds = Histogram(
            "attnflow_persist_save_duration_seconds",
            "time of one session save: capture on its worker thread plus the writes",
            SAVE_BUCKETS,
        )
        self.loads = Counter(
            "attnflow_persist_loads_total", "saved sessions loaded back (start-up or on access)"
        )
        self.load_failures = Counter(
            "attnflow_persist_load_failures_total", "saved sessions that could not be loaded"
        )
        for metric in (self.requests, self.latency, self.steps):
            add(metric)
        add(
            Gauge(
                "attnflow_training_steps_per_second",
                "training steps per second over the last 10 s (over the time since the first "
                "step when that is shorter)",
                self.step_rate.rate,
            )
        )
        for metric in (self.saves, self.save_failures, self.save_seconds):
            add(metric)
        add(self.loads)
        add(self.load_failures)
        self.started = time.time()
        add(Gauge("attnflow_start_time_seconds", "process start, unix time", lambda: self.started))

    def add_gauge(self, name: str, help_text: str, source: Callable[[], float]) -> None:
        self.registry.add(Gauge(name, help_text, source))

    def count_steps(self, n: int) -> None:
        if n:
            self.steps.inc(n)
            self.step_rate.add(n)

    def render(self) -> str:
        return self.registry.render()
