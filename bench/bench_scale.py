"""Scale-out benchmark: 8 background sessions through nginx + 2 replicas vs nginx + 1 replica.

    python bench/bench_scale.py [--sessions 8] [--pairs 6] [--seconds 4]

Both layouts (scripts/scaleout/cluster.py on 127.0.0.1, each with a fresh shared data dir) are
started, and --sessions sessions are created in each through its proxy (creation lands on any
replica, as in use). Then measurement windows alternate between the layouts, --pairs times (the
order flips each pair): the layout's runs are started, warmed up for 1 s, measured for --seconds
and paused, while the other layout is idle. Per window:
- aggregate training steps/s: the sum of every session's step, read through the proxy;
- CPU the replicas used (from /proc/<pid>/stat), in cores: on a machine others use too, the
  second replica helps only as far as there is a free core to run it on;
- /healthz latency through the proxy, probed every 50 ms.
Printed: each pair, then the median of the pairs' ratios (target 2 replicas / 1 >= 1.3) and the
/healthz p50/p95 of each layout over all its windows. Bounded: runs of at most RUN_STEPS steps,
--pairs x 2 windows, every process stopped at the end. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.scaleout.cluster import Cluster  # noqa: E402

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
RUN_STEPS = 20_000  # longer than any window: the runs are paused, not finished
WARM_UP_S = 1.0  # runs reach full speed (thread choice, first saves) before a window opens
PROBE_EVERY_S = 0.05
TICK = os.sysconf("SC_CLK_TCK")
ENV = {
    "ATTNFLOW_MAX_RUNNING": "16",  # one replica must run all 8 (the default is 4)
    "ATTNFLOW_MAX_SESSIONS": "16",
    "ATTNFLOW_CLIENT_STEPS": "10000000",  # the bench is one client starting many runs
}


@dataclass
class Window:
    steps_per_s: float
    cores: float  # CPU seconds the replicas used per second of the window
    healthz_ms: list[float]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICK


def probe(url: str, stop: threading.Event, latencies: list[float]) -> None:
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            started = time.perf_counter()
            http.get(f"{url}/healthz").raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            stop.wait(PROBE_EVERY_S)


class Layout:
    """nginx + `replicas` replicas holding idle sessions; `window()` measures them running."""

    def __init__(self, replicas: int, sessions: int) -> None:
        self.replicas = replicas
        self.sessions = sessions
        self.cluster = Cluster(replicas=replicas, env=ENV)
        self.http = httpx.Client(base_url=self.cluster.url, timeout=30)
        self.ids: list[str] = []
        self.windows: list[Window] = []

    def __enter__(self) -> Layout:
        self.cluster.start()
        self.ids = [
            self.http.post("/api/sessions", json={}).json()["id"] for _ in range(self.sessions)
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.cluster.cleanup()

    def split(self) -> list[int]:
        """Sessions in each replica's memory, from its /metrics gauge."""
        counts = []
        for index in range(self.replicas):
            text = httpx.get(f"{self.cluster.replica_url(index)}/metrics", timeout=10).text
            line = next(x for x in text.splitlines() if x.startswith("attnflow_sessions "))
            counts.append(int(float(line.split()[1])))
        return counts

    def steps(self) -> int:
        return sum(self.http.get(f"/api/sessions/{sid}").json()["step"] for sid in self.ids)

    def window(self, seconds: float) -> Window:
        for sid in self.ids:
            self.http.post(f"/api/sessions/{sid}/run", json={"steps": RUN_STEPS}).raise_for_status()
        time.sleep(WARM_UP_S)
        pids = [proc.pid for proc in self.cluster.procs if proc is not None]
        latencies: list[float] = []
        stop = threading.Event()
        prober = threading.Thread(target=probe, args=(self.cluster.url, stop, latencies))
        prober.start()
        started, cpu, before = time.perf_counter(), cpu_seconds(pids), self.steps()
        time.sleep(seconds)
        after, used, ended = self.steps(), cpu_seconds(pids), time.perf_counter()
        stop.set()
        prober.join()
        for sid in self.ids:
            self.http.post(f"/api/sessions/{sid}/pause").raise_for_status()
        window = Window(
            (after - before) / (ended - started), (used - cpu) / (ended - started), latencies
        )
        self.windows.append(window)
        return window


def quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured window")
    args = parser.parse_args()
    print(
        f"{CORES} cores, load average {os.getloadavg()[0]:.1f} at start; {args.sessions} tiny "
        f"sessions per layout, {args.pairs} pairs of {args.seconds:.0f} s windows"
    )
    ratios = []
    with Layout(1, args.sessions) as one, Layout(2, args.sessions) as two:
        print(f"sessions per replica: 1 replica {one.split()}, 2 replicas {two.split()}")
        for pair in range(args.pairs):
            order = (one, two) if pair % 2 == 0 else (two, one)
            for layout in order:
                layout.window(args.seconds)
            a, b = one.windows[-1], two.windows[-1]
            ratios.append(b.steps_per_s / a.steps_per_s)
            print(
                f"pair {pair + 1}: 1 replica {a.steps_per_s:6.1f} steps/s on {a.cores:.2f} cores, "
                f"2 replicas {b.steps_per_s:6.1f} steps/s on {b.cores:.2f} cores: {ratios[-1]:.2f}x"
            )
    for layout in (one, two):
        steps = statistics.median(w.steps_per_s for w in layout.windows)
        cores = statistics.median(w.cores for w in layout.windows)
        probes = [ms for w in layout.windows for ms in w.healthz_ms]
        print(
            f"{layout.replicas} replica(s): median {steps:.1f} steps/s on {cores:.2f} cores "
            f"({steps / cores:.0f} steps per CPU-second); /healthz p50 {quantile(probes, 50):.1f} "
            f"ms, p95 {quantile(probes, 95):.1f} ms ({len(probes)} probes)"
        )
    print(
        f"2 replicas / 1 replica: median {statistics.median(ratios):.2f}x over {len(ratios)} pairs "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}; target >= 1.3)"
    )
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other work on this machine)")


if __name__ == "__main__":
    main()
