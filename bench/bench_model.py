"""Instrumentation cost of the trainer and the tracer, against plain PyTorch in the same run.

    python3 bench/bench_model.py [--steps 300] [--seed-steps 12]

Prints, for the tiny and seed presets: a plain AdamW loop of the same model on the same windows,
the attnflow Trainer with per-parameter records, and their ratio (target <= 1.05); then the
median traced and untraced forward of a 16-token sentence at tiny (target traced < 5 ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import ModelConfig
from model.data import TokenStream, load_corpus
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

    def __init__(self, config: ModelConfig, data: TokenStream, train: TrainConfig) -> None:
        self.model = TransformerLM(config)
        self.data, self.train, self.context = data, train, config.context_length
        self.opt = torch.optim.AdamW(
            self.model.parameters(),
            lr=train.lr,
            betas=(train.beta1, train.beta2),
            eps=train.eps,
            weight_decay=train.weight_decay,
        )
        self.gen = torch.Generator().manual_seed(train.data_seed)

    def train_step(self) -> None:
        x, y = self.data.batch("train", self.train.batch_size, self.context, self.gen)
        loss = self.model.loss(x, y)
        loss.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


def compare_training(preset: str, steps: int) -> None:
    """Plain loop and Trainer (records on / off) stepped in turn: drift hits all three alike."""
    config, data, train = setup(preset)
    loops = {
        "plain": PlainLoop(config, data, train),
        "records off": Trainer(TransformerLM(config), data, replace(train, instrument=False)),
        "records on": Trainer(TransformerLM(config), data, train),
    }
    times: dict[str, list[float]] = {name: [] for name in loops}
    for step in range(steps + 2):
        for name, loop in loops.items():
            start = time.perf_counter()
            loop.train_step()
            if step >= 2:  # the first steps warm up allocators and thread pools
                times[name].append(time.perf_counter() - start)
    ms = {name: statistics.median(t) * 1000 for name, t in times.items()}
    print(
        f"{preset:5s} step (median of {steps}): plain {ms['plain']:8.2f} ms | trainer, records "
        f"off {ms['records off']:8.2f} ms | records on {ms['records on']:8.2f} ms | ratio "
        f"on/plain {ms['records on'] / ms['plain']:5.3f} (off/plain "
        f"{ms['records off'] / ms['plain']:5.3f})"
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
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    compare_training("tiny", args.steps)
    compare_training("seed", args.seed_steps)
    compare_forward()


if __name__ == "__main__":
    main()
