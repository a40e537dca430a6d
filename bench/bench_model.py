"""Cost of the trainer's records, of precision and of tracing, against plain PyTorch in one run.

    python3 bench/bench_model.py [--steps 300] [--seed-steps 12] [--cuda-steps 30]

Prints, every figure as a ratio to a baseline stepped in turn with it (so load from elsewhere
hits both alike; on a shared machine the absolute figures are noisy, the ratios less so):
1. tiny and seed presets: a plain AdamW loop of the same model on the same windows (torch's
   default AdamW, and its fused kernel), the Trainer with records off and on. Target: records on
   / plain <= 1.05 at both.
2. seed shapes: plain fp32 loop, the same under bf16 autocast, and the Trainer in the precision
   `auto` picks here. Target: Trainer (auto) >= 1.7x faster than the plain fp32 loop.
3. matmul peak of this CPU in fp32 and bf16 (GFLOP/s).
4. seed preset steps/s on CUDA in fp32 and bf16 next to the CPU figures (where there is a GPU).
5. the median traced and untraced forward of a 16-token sentence at tiny (target traced < 5 ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.services.builder import make_stream  # the app's way of putting batches on a GPU
from model.config import ModelConfig
from model.data import TokenStream, load_corpus
from model.precision import resolve_precision
from model.presets import get_preset
from model.tokenizer import Tokenizer
from model.tracing import trace
from model.training import TrainConfig, Trainer
from model.transformer import TransformerLM


def setup(preset_name: str) -> tuple[ModelConfig, TokenStream, TrainConfig]:
    preset = get_preset(preset_name)
    text = load_corpus("catmat")
    tokenizer = Tokenizer.build(text)
    data = TokenStream.from_text(text, tokenizer)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, **preset.model)
    train = TrainConfig(batch_size=preset.batch_size, lr=preset.lr, eval_every=0)
    return config, data, train


class PlainLoop:
    """The loop anyone would write: sample, loss, zero_grad, backward, AdamW step."""

    def __init__(
        self,
        config: ModelConfig,
        data: TokenStream,
        train: TrainConfig,
        fused: bool = False,
        bf16: bool = False,
        device: str = "cpu",
    ) -> None:
        self.model = TransformerLM(config).to(device)
        self.data, self.train, self.context = data, train, config.context_length
        self.opt = torch.optim.AdamW(
            self.model.parameters(),
            lr=train.lr,
            betas=(train.beta1, train.beta2),
            eps=train.eps,
            weight_decay=train.weight_decay,
            fused=fused or None,
        )
        self.gen = torch.Generator().manual_seed(train.data_seed)
        self.bf16, self.device = bf16, torch.device(device)

    def train_step(self) -> None:
        x, y = self.data.batch("train", self.train.batch_size, self.context, self.gen)
        x, y = x.to(self.device), y.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.model.loss(x, y)
        loss.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


def interleaved(loops: dict[str, Any], steps: int, warmup: int = 2) -> dict[str, float]:
    """Median ms per step of each loop, stepped in turn so drift hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in loops}
    for step in range(steps + warmup):
        for name, loop in loops.items():
            start = time.perf_counter()
            loop.train_step()
            if step >= warmup:  # the first steps warm up allocators and thread pools
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def compare_training(preset: str, steps: int) -> None:
    """Plain loops and the fp32 Trainer (records on / off) stepped in turn."""
    config, data, train = setup(preset)
    ms = interleaved(
        {
            "plain": PlainLoop(config, data, train),
            "plain fused": PlainLoop(config, data, train, fused=True),
            "records off": Trainer(TransformerLM(config), data, replace(train, instrument=False)),
            "records on": Trainer(TransformerLM(config), data, train),
        },
        steps,
    )
    print(
        f"   {preset:5s} (median of {steps}): plain {ms['plain']:7.2f} ms | plain, fused AdamW "
        f"{ms['plain fused']:7.2f} | Trainer records off {ms['records off']:7.2f} | records on "
        f"{ms['records on']:7.2f}\n"
        f"         records on / plain {ms['records on'] / ms['plain']:5.3f} (target <= 1.05) | "
        f"records on / plain with fused AdamW {ms['records on'] / ms['plain fused']:5.3f} "
        f"(the records' own cost) | off / plain {ms['records off'] / ms['plain']:5.3f}"
    )


def compare_precision(steps: int) -> dict[str, float]:
    """Seed shapes: plain fp32, plain bf16 autocast, and the Trainer in auto's choice."""
    config, data, train = setup("seed")
    auto = resolve_precision("auto", torch.device("cpu"), config.d_model)
    ms = interleaved(
        {
            "plain fp32": PlainLoop(config, data, train),
            "plain bf16": PlainLoop(config, data, train, bf16=True),
            "trainer fp32": Trainer(TransformerLM(config), data, train),
            "trainer auto": Trainer(TransformerLM(config), data, replace(train, precision=auto)),
        },
        steps,
    )
    fp32 = ms["plain fp32"]
    print(
        f"   seed shapes (median of {steps}): plain fp32 {fp32:7.1f} ms | plain bf16 autocast "
        f"{ms['plain bf16']:7.1f} ms ({fp32 / ms['plain bf16']:.2f}x faster) | Trainer fp32 "
        f"{ms['trainer fp32']:7.1f} ms | Trainer auto ({auto}) {ms['trainer auto']:7.1f} ms\n"
        f"         Trainer auto vs plain fp32: {fp32 / ms['trainer auto']:.2f}x faster "
        "(target >= 1.7x)"
    )
    return {"fp32": 1000 / ms["trainer fp32"], auto: 1000 / ms["trainer auto"]}


def matmul_peak(n: int = 2048, repeats: int = 5) -> None:
    figures = []
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b  # warm-up: AMX tile configuration, thread team
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        figures.append(2 * n**3 / statistics.median(times) / 1e9)
    print(
        f"   {n}x{n} matmul: fp32 {figures[0]:6.0f} GFLOP/s | bf16 {figures[1]:6.0f} GFLOP/s "
        f"({figures[1] / figures[0]:.1f}x)"
    )


def cuda_figures(steps: int, cpu_steps_per_s: dict[str, float]) -> None:
    cpu = ", ".join(f"{p} {v:.2f}" for p, v in cpu_steps_per_s.items())
    if not torch.cuda.is_available():
        print(f"   no CUDA device here (torch.cuda.is_available() is False); CPU: {cpu} steps/s")
        return
    config, data, train = setup("seed")
    text = load_corpus("catmat")
    on_gpu = make_stream(text, Tokenizer.build(text), torch.device("cuda"))  # the same windows
    loops: dict[str, Any] = {"plain fp32": PlainLoop(config, data, train, device="cuda")}
    for precision in ("fp32", "bf16"):
        model = TransformerLM(config).to("cuda")
        loops[precision] = Trainer(model, on_gpu, replace(train, precision=precision))
    ms = interleaved(loops, steps, warmup=5)
    print(
        f"   seed preset on {torch.cuda.get_device_name()}: Trainer fp32 {1000 / ms['fp32']:.1f} "
        f"steps/s | bf16 {1000 / ms['bf16']:.1f} steps/s | plain fp32 loop "
        f"{1000 / ms['plain fp32']:.1f} steps/s (records on / plain "
        f"{ms['fp32'] / ms['plain fp32']:.3f}); CPU: {cpu} steps/s"
    )


def compare_forward(repeats: int = 300) -> None:
    config, _, _ = setup("tiny")
    model = TransformerLM(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, 16))
    untraced, traced = [], []
    with torch.no_grad():
        for _ in range(20):
            model(ids)
        for _ in range(repeats):
            start = time.perf_counter()
            model(ids)
            untraced.append(time.perf_counter() - start)
            start = time.perf_counter()
            with trace(model) as tr:
                model(ids)
            traced.append(time.perf_counter() - start)
    u, t = statistics.median(untraced) * 1000, statistics.median(traced) * 1000
    print(
        f"tiny forward, 16 tokens: untraced {u:.3f} ms | traced ({len(tr.names())} tensors) "
        f"{t:.3f} ms | ratio {t / u:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed-steps", type=int, default=12)
    parser.add_argument("--cuda-steps", type=int, default=30)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians, measured in one "
        "run (on a shared machine: measured under load)"
    )
    print("1. per-step records vs a plain loop (fp32)")
    compare_training("tiny", args.steps)
    compare_training("seed", args.seed_steps)
    print("2. precision at the seed shapes")
    cpu = compare_precision(args.seed_steps)
    print("3. matmul peak")
    matmul_peak()
    print("4. CUDA")
    cuda_figures(args.cuda_steps, cpu)
    print("5. tracing")
    compare_forward()


if __name__ == "__main__":
    main()
