"""Scale-out benchmark: 8 background sessions through nginx + 2 replicas vs nginx + 1 replica.

    python bench/bench_scale.py [--sessions 8] [--seconds 8] [--repeats 2]

For each layout (scripts/scaleout/cluster.py on 127.0.0.1, a fresh shared data dir each time):
create the sessions through the proxy (creation lands on any replica, as in use), start a
background run on each, let them warm up, then for --seconds measure
- aggregate training steps/s: the sum of every session's step (read through the proxy) over the
  window; target 2 replicas / 1 replica >= 1.3;
- /healthz latency through the proxy, probed every 50 ms during the window (p50, p95).
Layouts alternate (1, 2, 1, 2, ...) so drifting machine load hits both; medians are printed.
Everything is bounded: --sessions runs of at most RUN_STEPS steps, --seconds per window, and
every process is stopped at the end. Prints figures; asserts nothing.
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
RUN_STEPS = 20_000  # longer than any window (paused, not finished); 8 fit the client step budget
WARM_UP_S = 3.0  # thread tuning and the first saves happen here, not in the window
PROBE_EVERY_S = 0.05
ENV = {
    "ATTNFLOW_MAX_RUNNING": "16",  # one replica must run all 8 (the default is 4)
    "ATTNFLOW_MAX_SESSIONS": "16",
}


@dataclass
class Result:
    replicas: int
    steps_per_s: float
    healthz_ms: list[float]
    split: list[int]  # sessions held by each replica

    def p(self, q: int) -> float:
        return statistics.quantiles(self.healthz_ms, n=100)[q - 1]


def replica_sessions(cluster: Cluster) -> list[int]:
    """Sessions in each replica's memory, from its /metrics gauge."""
    counts = []
    for index in range(len(cluster.ports)):
        text = httpx.get(f"{cluster.replica_url(index)}/metrics", timeout=10).text
        line = next(x for x in text.splitlines() if x.startswith("attnflow_sessions "))
        counts.append(int(float(line.split()[1])))
    return counts


def probe(url: str, stop: threading.Event, latencies: list[float]) -> None:
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            started = time.perf_counter()
            http.get(f"{url}/healthz").raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            stop.wait(PROBE_EVERY_S)


def total_steps(http: httpx.Client, ids: list[str]) -> int:
    return sum(http.get(f"/api/sessions/{sid}").json()["step"] for sid in ids)


def measure(replicas: int, sessions: int, seconds: float) -> Result:
    cluster = Cluster(replicas=replicas, env=ENV)
    try:
        cluster.start()
        with httpx.Client(base_url=cluster.url, timeout=30) as http:
            ids = [http.post("/api/sessions", json={}).json()["id"] for _ in range(sessions)]
            for sid in ids:
                http.post(f"/api/sessions/{sid}/run", json={"steps": RUN_STEPS}).raise_for_status()
            time.sleep(WARM_UP_S)
            latencies: list[float] = []
            stop = threading.Event()
            prober = threading.Thread(target=probe, args=(cluster.url, stop, latencies))
            prober.start()
            started, before = time.perf_counter(), total_steps(http, ids)
            time.sleep(seconds)
            after, ended = total_steps(http, ids), time.perf_counter()
            stop.set()
            prober.join()
            split = replica_sessions(cluster)
            for sid in ids:
                http.post(f"/api/sessions/{sid}/pause")
        return Result(replicas, (after - before) / (ended - started), latencies, split)
    finally:
        cluster.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per run")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"{CORES} cores, load average {load:.1f} at start; {args.sessions} tiny sessions")
    results: dict[int, list[Result]] = {1: [], 2: []}
    for repeat in range(args.repeats):
        for replicas in (1, 2):
            result = measure(replicas, args.sessions, args.seconds)
            results[replicas].append(result)
            print(
                f"run {repeat + 1}, {replicas} replica(s): {result.steps_per_s:7.1f} steps/s, "
                f"/healthz p50 {result.p(50):5.1f} ms p95 {result.p(95):6.1f} ms "
                f"({len(result.healthz_ms)} probes), sessions per replica {result.split}"
            )
    pairs = zip(results[1], results[2], strict=True)
    ratios = [two.steps_per_s / one.steps_per_s for one, two in pairs]
    one = statistics.median(r.steps_per_s for r in results[1])
    two = statistics.median(r.steps_per_s for r in results[2])
    print(f"median steps/s: 1 replica {one:.1f}, 2 replicas {two:.1f}")
    print(
        f"2 replicas / 1 replica: {two / one:.2f}x (per run: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}; target >= 1.3)"
    )
    for replicas, runs in results.items():
        p95 = statistics.median(r.p(95) for r in runs)
        print(f"/healthz p95 under load, {replicas} replica(s): {p95:.1f} ms (median of runs)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other work on this machine)")


if __name__ == "__main__":
    main()
