"""bf16 autocast trains as well as fp32: same data, same seed, 300 steps, held-out loss."""

from __future__ import annotations

import pytest
import torch

from model.config import ModelConfig
from model.data import TokenStream, load_corpus
from model.precision import AUTO_BF16_MIN_D_MODEL, autocast, resolve_precision
from model.presets import get_preset
from model.tokenizer import Tokenizer
from model.training import TrainConfig, Trainer
from model.transformer import TransformerLM

# Measured (catmat, seed 0, 300 steps): tiny fp32 1.025 / bf16 1.032 nats, small 0.999 / 0.994.
TOLERANCE_NATS = 0.03


@pytest.fixture(scope="module")
def catmat() -> tuple[Tokenizer, TokenStream]:
    text = load_corpus("catmat")
    tokenizer = Tokenizer.build(text)
    return tokenizer, TokenStream.from_text(text, tokenizer)


def _heldout_after(catmat, preset_name: str, precision: str, steps: int = 300) -> float:
    tokenizer, data = catmat
    preset = get_preset(preset_name)
    model = TransformerLM(ModelConfig(vocab_size=tokenizer.vocab_size, **preset.model))
    config = TrainConfig(
        batch_size=preset.batch_size, lr=preset.lr, eval_every=0, precision=precision
    )
    trainer = Trainer(model, data, config)
    start = trainer.heldout_loss()
    trainer.run(steps)
    end = trainer.heldout_loss()
    assert start - end > 2.0, (preset_name, precision, start, end)  # it learned at all
    return end


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core machine two threads stall on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_bf16_ends_within_tolerance_of_fp32_heldout_loss(catmat, preset, one_thread):
    fp32 = _heldout_after(catmat, preset, "fp32")
    bf16 = _heldout_after(catmat, preset, "bf16")
    assert abs(bf16 - fp32) < TOLERANCE_NATS, (fp32, bf16)


def test_autocast_runs_matmuls_in_bf16_and_leaves_fp32_alone():
    x = torch.randn(4, 8)
    w = torch.randn(8, 8)
    with autocast("bf16", torch.device("cpu")):
        assert (x @ w).dtype == torch.bfloat16
    with autocast("fp32", torch.device("cpu")):
        assert (x @ w).dtype == torch.float32


def test_explicit_precisions_are_kept_and_unknown_ones_refused():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu, 4096) == "fp32"
    assert resolve_precision("bf16", cpu, 8) == "bf16"
    assert resolve_precision("auto", cpu, AUTO_BF16_MIN_D_MODEL - 1) == "fp32"
    assert resolve_precision("auto", torch.device("meta"), 4096) == "fp32"  # no fast bf16
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", cpu, 64)
