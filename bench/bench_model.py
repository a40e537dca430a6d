"""Instrumentation cost of the trainer and the tracer, against plain PyTorch in the same run.

    python3 bench/bench_model.py [--steps 60] [--seed-steps 6]

Prints, for the tiny and seed presets: a plain AdamW loop of the same model on the same windows,
the attnflow Trainer with per-parameter records, and their ratio (target <= 1.05); then the
median traced and untraced forward of a 16-token sentence at tiny (target traced < 5 ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
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


def time_plain(config: ModelConfig, data: TokenStream, train: TrainConfig, steps: int) -> float:
    """The loop anyone would write: sample, loss, zero_grad, backward, AdamW step."""
    model = TransformerLM(config)
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=train.lr,
        betas=(train.beta1, train.beta2),
        weight_decay=train.weight_decay,
    )
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        x, y = data.batch("train", train.batch_size, config.context_length, gen)
        loss = model.loss(x, y)
        loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def time_trainer(
    config: ModelConfig, data: TokenStream, train: TrainConfig, steps: int, instrument: bool
) -> float:
    trainer = Trainer(
        TransformerLM(config), data, TrainConfig(**{**train.to_dict(), "instrument": instrument})
    )
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.train_step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def compare_training(preset: str, steps: int, rounds: int) -> None:
    config, data, train = setup(preset)
    plain, instrumented, bare = [], [], []
    for _ in range(rounds):  # interleaved so drift on a noisy machine hits both alike
        plain.append(time_plain(config, data, train, steps))
        instrumented.append(time_trainer(config, data, train, steps, instrument=True))
        bare.append(time_trainer(config, data, train, steps, instrument=False))
    p, i, b = (statistics.median(v) * 1000 for v in (plain, instrumented, bare))
    print(
        f"{preset:5s} step: plain {p:8.2f} ms | trainer, records off {b:8.2f} ms "
        f"| trainer, records on {i:8.2f} ms | ratio on/plain {i / p:5.3f}"
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
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed-steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    compare_training("tiny", args.steps, args.rounds)
    compare_training("seed", args.seed_steps, args.rounds)
    compare_forward()


if __name__ == "__main__":
    main()
