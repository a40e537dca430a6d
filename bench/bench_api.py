"""Benchmark the API against plain PyTorch on this machine. Prints figures; asserts nothing.

    python bench/bench_api.py [--steps 200] [--repeats 3] [--seed-steps 8] [--skip-seed]

1. 200 training steps through the API (one call of 200, and 20 calls of 10; held-out evals every
   25 steps, per-parameter records, the server's own thread choice) vs
   - an independently written plain loop of the same shapes (bench/plain_lm.py: fused QKV,
     scaled_dot_product_attention, default AdamW, torch's default threads): target API 1 call
     / it <= 1.10;
   - the project's model in a plain loop (same batches, default AdamW, no records), with 1
     thread and with torch's default threads: target API 20 calls of 10 / the faster <= 1.10;
   - the model's own Trainer without the app.
1b. the seed preset through the API (precision auto) vs a plain fp32 loop and a plain bf16
   autocast loop of the same model. Target: API >= 1.7x faster than the plain fp32 loop.
2. forward+trace request latency over real HTTP to uvicorn on 127.0.0.1 (target: median < 15 ms).
3. stream messages per second that reach a WebSocket client while a background run trains.
4. JSON size of a full forward trace at the tiny and seed presets.

The server runs in its own process (as in production), so the client does not share its GIL.
Machines are noisy: every figure is a median over --repeats interleaved runs, and on a shared
machine they are measured under load.
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

from app.services.builder import build  # noqa: E402
from app.services.specs import CreateSpec  # noqa: E402
from bench.plain_lm import PlainTraining  # noqa: E402
from model.presets import get_preset  # noqa: E402
from model.training import TrainConfig, Trainer  # noqa: E402
from tests.live_server import serve  # noqa: E402

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

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


def independent_loop(steps: int, preset: str = "tiny") -> float:
    """bench/plain_lm.py on the same corpus and shapes, torch's default thread count."""
    torch.set_num_threads(CORES)
    parts = build(CreateSpec(preset=preset), 10**9, torch.device("cpu"))
    spec = get_preset(preset)
    ids = torch.cat([parts.data.train, parts.data.heldout])
    loop = PlainTraining(ids, spec.model, spec.batch_size, spec.lr)
    return timed(lambda: [loop.step() for _ in range(steps)])


def plain_loop(
    steps: int, threads: int, preset: str = "tiny", bf16: bool = False, warmup: int = 0
) -> float:
    """The same model and batches, trained by a bare loop: AdamW, no records, no callbacks."""
    torch.set_num_threads(threads)
    parts = build(CreateSpec(preset=preset, precision="fp32"), 10**9, torch.device("cpu"))
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

    def run(n: int) -> None:
        for _ in range(n):
            x, y = parts.data.batch("train", config.batch_size, T, generator)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model.loss(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()

    run(warmup)
    return timed(lambda: run(steps))


def trainer_loop(steps: int, threads: int, eval_every: int = 25) -> float:
    """The model's instrumented Trainer (per-parameter records, held-out evals), without the app."""
    torch.set_num_threads(threads)
    parts = build(CreateSpec(), 10**9, torch.device("cpu"))
    config = TrainConfig(**{**parts.spec.train.to_dict(), "eval_every": eval_every})
    trainer = Trainer(parts.model, parts.data, config)
    return timed(lambda: trainer.run(steps))


def api_training(
    http: httpx.Client,
    steps: int,
    calls: int,
    eval_every: int = 25,
    preset: str = "tiny",
    warmup: int = 0,
) -> float:
    body = {"preset": preset, "optimizer": {"eval_every": eval_every}}
    sid = http.post("/api/sessions", json=body).json()["id"]
    try:
        if warmup:
            http.post(f"/api/sessions/{sid}/train", json={"steps": warmup}).raise_for_status()

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


def interleave(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Every run once to warm up, then `repeats` rounds in turn, so load hits all alike."""
    for run in runs.values():
        run()
    figures: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            figures[name].append(run())
    return figures


def training_throughput(http: httpx.Client, steps: int, repeats: int) -> None:
    calls = steps // 10
    runs: dict[str, Callable[[], float]] = {
        "independent plain loop": lambda: independent_loop(steps),
        "project plain loop, 1 thread": lambda: plain_loop(steps, 1),
        f"project plain loop, {CORES} threads": lambda: plain_loop(steps, CORES),
        "Trainer (records + evals)": lambda: trainer_loop(steps, CORES),
        "API, 1 call": lambda: api_training(http, steps, 1),
        f"API, {calls} calls of 10": lambda: api_training(http, steps, calls),
    }
    figures = interleave(runs, repeats)
    median = {name: statistics.median(times) for name, times in figures.items()}
    print(f"\n1. training throughput, tiny, {steps} steps (median and best of {repeats})")
    for name, times in figures.items():
        print(f"   {name:<34} {steps / median[name]:6.1f} steps/s (best {steps / min(times):6.1f})")
    project = min(
        median["project plain loop, 1 thread"], median[f"project plain loop, {CORES} threads"]
    )
    one, many = median["API, 1 call"], median[f"API, {calls} calls of 10"]
    trainer = median["Trainer (records + evals)"]
    print(
        f"   API, 1 call / independent plain loop: {one / median['independent plain loop']:4.2f} "
        "(target <= 1.10)\n"
        f"   API, {calls} calls of 10 / project plain loop (the faster thread count): "
        f"{many / project:4.2f} (target <= 1.10)\n"
        f"   API, 1 call / project plain loop: {one / project:4.2f}; Trainer / project plain "
        f"loop: {trainer / project:4.2f}; API, 1 call / Trainer: {one / trainer:4.2f} (the "
        "app's own cost)"
    )


def seed_precision(http: httpx.Client, steps: int, repeats: int) -> None:
    runs: dict[str, Callable[[], float]] = {
        "plain fp32 loop": lambda: plain_loop(steps, CORES, "seed", warmup=2),
        "plain bf16 autocast loop": lambda: plain_loop(steps, CORES, "seed", bf16=True, warmup=2),
        "API, seed preset": lambda: api_training(http, steps, 1, 0, "seed", warmup=2),
    }
    precision = http.post("/api/sessions", json={"preset": "seed"}).json()
    http.delete(f"/api/sessions/{precision['id']}")
    figures = interleave(runs, repeats)
    median = {name: statistics.median(times) for name, times in figures.items()}
    fp32 = median["plain fp32 loop"]
    print(f"\n1b. seed preset, {steps} steps per run (median of {repeats})")
    for name in runs:
        print(
            f"   {name:<34} {median[name] / steps * 1000:7.1f} ms/step  "
            f"{fp32 / median[name]:4.2f}x the plain fp32 loop's speed"
        )
    print(f"   (the API session ran in {precision['precision']}; target >= 1.7x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed-steps", type=int, default=8)
    parser.add_argument(
        "--skip-seed", action="store_true", help="skip the seed preset (1b and trace size)"
    )
    args = parser.parse_args()
    steps, repeats = args.steps, args.repeats
    print(
        f"torch {torch.__version__}, {CORES} cores; medians of interleaved runs (on a shared "
        "machine: measured under load)"
    )

    with server() as url, httpx.Client(base_url=url, timeout=600) as http:
        training_throughput(http, steps, repeats)
        if not args.skip_seed:
            seed_precision(http, args.seed_steps, max(2, repeats - 1))

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
