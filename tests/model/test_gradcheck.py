"""The gradient check against independent computations, on the tiny preset's shapes."""

from __future__ import annotations

import copy
import hashlib

import pytest
import torch

from model.config import ModelConfig
from model.data import TokenStream, load_corpus
from model.errors import FieldError
from model.gradcheck import check_entry, gradient_check, next_batch
from model.presets import get_preset
from model.tokenizer import Tokenizer
from model.training import TrainConfig, Trainer
from model.transformer import TransformerLM

ENTRIES = [
    ("blocks.0.attn.W_q.weight", 0, 0),
    ("blocks.0.attn.W_q.weight", 17, 42),
    ("blocks.0.ffn.W_1.weight", 3, 5),
    ("blocks.0.ffn.W_1.weight", 255, 63),  # W_1 is stored (d_ff, d_model)
    ("blocks.0.ffn.W_2.weight", 63, 255),
    ("blocks.0.ffn.W_2.weight", 10, 20),
]


@pytest.fixture(scope="module")
def trainer() -> Trainer:
    """The tiny preset on catmat, trained 30 steps so attention's gradients are not only noise."""
    text = load_corpus("catmat")
    tokenizer = Tokenizer.build(text)
    preset = get_preset("tiny")
    config = ModelConfig(vocab_size=tokenizer.vocab_size, **preset.model)
    train = TrainConfig(batch_size=preset.batch_size, lr=preset.lr, eval_every=0)
    trainer = Trainer(TransformerLM(config), TokenStream.from_text(text, tokenizer), train)
    trainer.run(30)
    return trainer


def _fingerprint(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, p in model.named_parameters():
        digest.update(name.encode())
        digest.update(p.detach().cpu().numpy().tobytes())
        if p.grad is not None:
            digest.update(p.grad.cpu().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize(("parameter", "row", "col"), ENTRIES)
def test_autograd_agrees_with_the_finite_difference_to_1e4(trainer, parameter, row, col):
    result = gradient_check(trainer.model, next_batch(trainer), parameter, row, col)
    assert result.relative_error < 1e-4, result
    assert result.relative_error_fp32 < 1e-2, result  # float32 rounding, still the same number
    assert result.h == pytest.approx(1e-4 * max(1.0, abs(result.value)))


@pytest.mark.parametrize(("parameter", "row", "col"), ENTRIES[::2])
def test_autograd_agrees_with_an_independent_perturbation_of_the_entry(
    trainer, parameter, row, col
):
    """A hand-perturbed float64 loss with another step size, on a copy made here."""
    x, y = next_batch(trainer)
    model = copy.deepcopy(trainer.model).double().eval()
    weight = model.get_parameter(parameter)
    h = 1e-3
    losses = []
    with torch.no_grad():
        w = weight[row, col].item()
        for shifted in (w + 2 * h, w + h, w - h, w - 2 * h):
            weight[row, col] = shifted
            losses.append(model.loss(x, y).item())
    # Five-point stencil: error O(h⁴), so a different method than the module's central difference.
    five_point = (-losses[0] + 8 * losses[1] - 8 * losses[2] + losses[3]) / (12 * h)
    result = gradient_check(trainer.model, (x, y), parameter, row, col)
    assert result.autograd == pytest.approx(five_point, rel=1e-4, abs=1e-10)


def test_torch_gradcheck_confirms_the_derivative_for_one_entry(trainer):
    x, y = next_batch(trainer)
    model = copy.deepcopy(trainer.model).double().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    base = model.blocks[0].attn.W_q.weight.detach().clone()  # (out, in)
    mask = torch.zeros_like(base)
    mask[5, 9] = 1.0

    def loss_of(entry: torch.Tensor) -> torch.Tensor:
        weight = base * (1 - mask) + mask * entry  # (out, in): the entry as an input of the graph
        return _loss_with(model, weight, x, y)

    entry = base[5, 9].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(loss_of, (entry,), eps=1e-4, atol=1e-8, rtol=1e-4)
    result = gradient_check(trainer.model, (x, y), "blocks.0.attn.W_q.weight", 5, 9)
    (grad,) = torch.autograd.grad(loss_of(entry), [entry])
    assert result.autograd == pytest.approx(grad.item(), rel=1e-9)


def _loss_with(
    model: TransformerLM, weight: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    params = {"blocks.0.attn.W_q.weight": weight}
    logits = torch.func.functional_call(model, params, (x,), strict=False)  # (B, T, V)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())


def test_float32_autograd_is_the_gradient_a_training_step_computes(trainer):
    x, y = next_batch(trainer)
    model = copy.deepcopy(trainer.model).eval()
    model.zero_grad(set_to_none=True)
    model.loss(x, y).backward()
    expected = model.blocks[0].ffn.W_1.weight.grad[7, 11].item()
    result = gradient_check(trainer.model, (x, y), "blocks.0.ffn.W_1.weight", 7, 11)
    assert result.autograd_fp32 == pytest.approx(expected, rel=1e-5, abs=1e-12)


def test_the_check_leaves_the_model_and_the_batch_order_as_they_were(trainer):
    before = _fingerprint(trainer.model)
    state = trainer.generator.get_state().clone()
    mode = trainer.model.training
    batch = next_batch(trainer)
    result = gradient_check(trainer.model, batch, "blocks.0.attn.W_q.weight", 1, 2)
    assert _fingerprint(trainer.model) == before
    assert torch.equal(trainer.generator.get_state(), state)
    assert trainer.model.training == mode
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    # "The next step's batch" is what the next step trains on: its loss is the checked L(w).
    record = trainer.train_step()
    assert record.loss == pytest.approx(result.loss, rel=1e-5)


@pytest.mark.parametrize(
    ("parameter", "row", "col", "field"),
    [
        ("blocks.0.attn.W_z.weight", 0, 0, "parameter"),
        ("blocks.0.attn.W_q.bias", 0, 0, "parameter"),
        ("blocks.3.attn.W_q.weight", 0, 0, "parameter"),
        ("blocks.0.attn.W_q.weight", 64, 0, "row"),
        ("blocks.0.ffn.W_1.weight", 0, 64, "col"),
        ("blocks.0.ffn.W_2.weight", -1, 0, "row"),
    ],
)
def test_an_entry_that_does_not_exist_is_refused_saying_what_is_allowed(
    trainer, parameter, row, col, field
):
    with pytest.raises(FieldError, match=rf"^{field} must be .*; .* is not$") as refused:
        check_entry(trainer.model, parameter, row, col)
    assert refused.value.field == field
