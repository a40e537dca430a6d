"""Benchmark the API against plain PyTorch on this machine. Prints figures; asserts nothing.

    python bench/bench_api.py [--steps 200] [--repeats 3] [--skip-seed]

1. 200 training steps through the API (one call of 200, and 20 calls of 10) vs the same steps in a
   plain PyTorch loop of the same model (same batches, plain AdamW, no records), and vs the
   model's own instrumented Trainer without the app. Target: API / plain <= 1.10 (tiny).
2. forward+trace request latency over real HTTP to uvicorn on 127.0.0.1 (target: median < 15 ms).
3. stream messages per second that reach a WebSocket client while a background run trains.
4. JSON size of a full forward trace at the tiny and seed presets.

The server runs in its own process (as in production), so the client does not share its GIL.
Machines are noisy: every figure is a median over --repeats interleaved runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import torch
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.schemas import SessionCreate  # noqa: E402
from app.services.builder import build  # noqa: E402
from model.training import TrainConfig, Trainer  # noqa: E402
from tests.live_server import serve  # noqa: E402

TEXT = "the cat sat on the mat ."


@contextlib.contextmanager
def server(**env: str) -> Iterator[str]:
    """uvicorn serving the app in a child process (persistence off); yields its base URL."""
    with serve({f"ATTNFLOW_{k.upper()}": v for k, v in env.items()}) as url:
        yield url


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def plain_loop(steps: int, threads: int) -> float:
    """The same model and batches, trained by a bare loop: AdamW, no records, no callbacks."""
    torch.set_num_threads(threads)
    parts = build(SessionCreate(), 10**9, torch.device("cpu"))
    model, config = parts.model, parts.spec.train
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        eps=config.eps,
        weight_decay=config.weight_decay,
    )
    generator = torch.Generator().manual_seed(config.data_seed)
    T = model.config.context_length

    def run() -> None:
        for _ in range(steps):
            x, y = parts.data.batch("train", config.batch_size, T, generator)
            loss = model.loss(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()

    return timed(run)


def trainer_loop(steps: int, threads: int, eval_every: int = 25) -> float:
    """The model's instrumented Trainer (per-parameter records, held-out evals), without the app."""
    torch.set_num_threads(threads)
    parts = build(SessionCreate(), 10**9, torch.device("cpu"))
    config = TrainConfig(**{**parts.spec.train.to_dict(), "eval_every": eval_every})
    trainer = Trainer(parts.model, parts.data, config)
    return timed(lambda: trainer.run(steps))


def api_training(http: httpx.Client, steps: int, calls: int, eval_every: int = 25) -> float:
    body = {"optimizer": {"eval_every": eval_every}}
    sid = http.post("/api/sessions", json=body).json()["id"]
    try:

        def run() -> None:
            for _ in range(calls):
                body = http.post(f"/api/sessions/{sid}/train", json={"steps": steps // calls})
                body.raise_for_status()

        return timed(run)
    finally:
        http.delete(f"/api/sessions/{sid}")


def forward_latency(http: httpx.Client, n: int, query: str = "") -> tuple[float, float, int]:
    sid = http.post("/api/sessions", json={}).json()["id"]
    times = []
    size = 0
    for _ in range(n):
        started = time.perf_counter()
        response = http.post(f"/api/sessions/{sid}/forward{query}", json={"text": TEXT})
        times.append((time.perf_counter() - started) * 1000)
        size = len(response.content)
    http.delete(f"/api/sessions/{sid}")
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], size


def stream_rate(url: str, http: httpx.Client, steps: int) -> dict[str, float]:
    sid = http.post("/api/sessions", json={}).json()["id"]
    delivered = skipped = 0
    with connect(url.replace("http", "ws", 1) + f"/api/sessions/{sid}/stream") as ws:
        ws.recv()
        started = time.perf_counter()
        http.post(f"/api/sessions/{sid}/run", json={"steps": steps})
        for frame in ws:
            message = json.loads(frame)
            if message["type"] == "step":
                delivered += 1
                skipped += message["skipped"]
            elif message["type"] == "run" and message["state"] != "started":
                break
        elapsed = time.perf_counter() - started
    http.delete(f"/api/sessions/{sid}")
    return {
        "messages_per_s": delivered / elapsed,
        "delivered": delivered,
        "skipped": skipped,
        "steps_per_s": steps / elapsed,
    }


def trace_sizes(http: httpx.Client, preset: str) -> dict[str, int]:
    info = http.post("/api/sessions", json={"preset": preset}).json()
    sid = info["id"]
    text = " ".join([TEXT] * 64)  # enough tokens to fill the context
    sizes = {}
    for label, query in (
        ("default", ""),
        ("full", "?full=true"),
        ("attention only", "?stages=*.attn.hook_weights"),
    ):
        started = time.perf_counter()
        response = http.post(f"/api/sessions/{sid}/forward{query}", json={"text": text})
        response.raise_for_status()
        body = response.json()
        sizes[label] = len(response.content)
        sizes[f"{label} ms"] = round((time.perf_counter() - started) * 1000)
        sizes[f"{label} tokens"] = len(body["tokens"])
        sizes[f"{label} downsampled"] = body["auto_downsampled"]
    http.delete(f"/api/sessions/{sid}")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-seed", action="store_true", help="skip the seed-preset trace size")
    args = parser.parse_args()
    steps, repeats = args.steps, args.repeats
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs; tiny preset, {steps} steps, "
        f"median of {repeats}"
    )

    with server() as url, httpx.Client(base_url=url, timeout=600) as http:
        runs: dict[str, Callable[[], float]] = {
            "plain loop": lambda: plain_loop(steps, 1),
            "Trainer (records + evals)": lambda: trainer_loop(steps, 1),
            "API, 1 call": lambda: api_training(http, steps, 1),
            f"API, {steps // 10} calls of 10": lambda: api_training(http, steps, steps // 10),
            "Trainer, no evals": lambda: trainer_loop(steps, 1, eval_every=0),
            "API, 1 call, no evals": lambda: api_training(http, steps, 1, eval_every=0),
        }
        for run in runs.values():  # warm up the server and this process
            run()
        figures: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(repeats):  # interleaved, so load from elsewhere hits every variant
            for name, run in runs.items():
                figures[name].append(run())
        print("\n1. training throughput, 1 intra-op thread (median and best of the repeats)")
        plain = figures["plain loop"]
        plain_median, plain_best = statistics.median(plain), min(plain)
        for name, times in figures.items():
            median, best = statistics.median(times), min(times)
            print(
                f"   {name:<28} {steps / median:6.1f} steps/s (best {steps / best:6.1f})  "
                f"ratio to plain {median / plain_median:4.2f} (best {best / plain_best:4.2f})"
            )
        for app_name, model_name in (
            ("API, 1 call", "Trainer (records + evals)"),
            ("API, 1 call, no evals", "Trainer, no evals"),
        ):
            ratio = statistics.median(figures[app_name]) / statistics.median(figures[model_name])
            print(f"   {app_name} / {model_name}: {ratio:4.2f} (the app's own cost)")
        few = max(steps // 4, 10)
        two_plain = plain_loop(few, os.cpu_count() or 1)
        with server(torch_threads="2") as url2, httpx.Client(base_url=url2, timeout=600) as http2:
            api_training(http2, 10, 1)
            two_api = api_training(http2, few, 1)
        print(
            f"   with {os.cpu_count()} intra-op threads ({few} steps): plain loop "
            f"{few / two_plain:6.1f} steps/s, API {few / two_api:6.1f} steps/s"
        )

        median, p95, size = forward_latency(http, 200)
        print(
            f"\n2. POST /forward (tiny, full trace, {size:,} bytes): median {median:.1f} ms, "
            f"p95 {p95:.1f} ms"
        )
        median, p95, size = forward_latency(http, 200, "?stages=*.attn.hook_weights")
        print(f"   attention stage only ({size:,} bytes): median {median:.1f} ms, p95 {p95:.1f} ms")

        rate = stream_rate(url, http, 300)
        print(
            f"\n3. stream while training 300 steps: {rate['messages_per_s']:.0f} step messages/s "
            f"reach the client ({rate['delivered']:.0f} delivered, {rate['skipped']:.0f} "
            f"skipped), training at {rate['steps_per_s']:.0f} steps/s"
        )

        print("\n4. JSON size of one forward trace (text filling the context)")
        for preset in ("tiny",) if args.skip_seed else ("tiny", "seed"):
            sizes = trace_sizes(http, preset)
            for label in ("default", "full", "attention only"):
                note = " (auto-downsampled)" if sizes[f"{label} downsampled"] else ""
                print(
                    f"   {preset:<5} {label:<15} {sizes[label] / 1e6:8.2f} MB in "
                    f"{sizes[label + ' ms']:5d} ms, {sizes[label + ' tokens']} tokens{note}"
                )


if __name__ == "__main__":
    main()
