"""The app's Prometheus figures, kept in a `CollectorRegistry` of their own.

prometheus_client does the counting and the text exposition; each app gets its own registry
(`app.state.metrics`), so the several apps a test run creates never mix their figures the way the
library's process-global default registry would. The thin `Counter` and `Histogram` below take
labels as keyword arguments (`inc(method=..., route=...)`), which is how the middleware and the
services call them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest

# The `_created` series prometheus_client adds to every counter and histogram are not ours: the
# figures /metrics has always published carry no creation time. (A process-wide switch, but one
# that only drops those series.)
prometheus_client.disable_created_metrics()

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SAVE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Counter:
    """A counter with optional labels, in `registry` (a registry of its own when None)."""

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.registry = registry if registry is not None else CollectorRegistry()
        self.label_names = tuple(labels)
        self._metric = prometheus_client.Counter(
            name, help_text, self.label_names, registry=self.registry
        )

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        (self._metric.labels(**labels) if self.label_names else self._metric).inc(amount)

    def value(self, **labels: str) -> float:
        return self.registry.get_sample_value(self.name, labels) or 0.0

    def samples(self) -> Iterable[str]:
        """This counter's sample lines in the text format (no HELP/TYPE lines)."""
        text = generate_latest(self._metric).decode()
        return [line for line in text.splitlines() if line and not line.startswith("#")]


class Histogram:
    """A histogram with optional labels, in `registry`."""

    def __init__(
        self,
        name: str,
        help_text: str,
        buckets: Sequence[float],
        labels: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.registry = registry if registry is not None else CollectorRegistry()
        self.label_names = tuple(labels)
        self._metric = prometheus_client.Histogram(
            name, help_text, self.label_names, registry=self.registry, buckets=tuple(buckets)
        )

    def observe(self, value: float, **labels: str) -> None:
        (self._metric.labels(**labels) if self.label_names else self._metric).observe(value)

    def count(self, **labels: str) -> int:
        return int(self.registry.get_sample_value(f"{self.name}_count", labels) or 0)


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


class Metrics:
    """The app's figures. Gauges about sessions read the manager at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "attnflow_http_requests_total",
            "HTTP requests by method, route template and status",
            ("method", "route", "status"),
            registry=reg,
        )
        self.latency = Histogram(
            "attnflow_http_request_duration_seconds",
            "HTTP request duration until the last body byte, by method and route template",
            LATENCY_BUCKETS,
            ("method", "route"),
            registry=reg,
        )
        self.steps = Counter(
            "attnflow_training_steps_total",
            "training steps taken by this process's sessions",
            registry=reg,
        )
        self.step_rate = RateWindow(10.0)
        self.add_gauge(
            "attnflow_training_steps_per_second",
            "training steps per second over the last 10 s (over the time since the first "
            "step when that is shorter)",
            self.step_rate.rate,
        )
        self.saves = Counter(
            "attnflow_persist_saves_total", "sessions saved to the data directory", registry=reg
        )
        self.save_failures = Counter(
            "attnflow_persist_failures_total",
            "session saves that failed (disk full, I/O error)",
            registry=reg,
        )
        self.save_seconds = Histogram(
            "attnflow_persist_save_duration_seconds",
            "time of one session save: capture on its worker thread plus the writes",
            SAVE_BUCKETS,
            registry=reg,
        )
        self.loads = Counter(
            "attnflow_persist_loads_total",
            "saved sessions loaded back (start-up or on access)",
            registry=reg,
        )
        self.load_failures = Counter(
            "attnflow_persist_load_failures_total",
            "saved sessions that could not be loaded",
            registry=reg,
        )
        self.started = time.time()
        self.add_gauge(
            "attnflow_start_time_seconds", "process start, unix time", lambda: self.started
        )

    def add_gauge(self, name: str, help_text: str, source: Callable[[], float]) -> None:
        """A gauge read from `source` at every scrape."""
        gauge = prometheus_client.Gauge(name, help_text, registry=self.registry)
        gauge.set_function(lambda: float(source()))

    def count_steps(self, n: int) -> None:
        if n:
            self.steps.inc(n)
            self.step_rate.add(n)

    def render(self) -> str:
        return generate_latest(self.registry).decode()
