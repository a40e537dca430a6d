"""Gradient check of one weight entry: autograd against a central finite difference in float64.

Evidence that the backward pass the diagram animates is the model's own: for one entry w of a
weight matrix, the derivative dL/dw of a batch's mean next-token loss computed three ways:

- autograd on a float64 copy of the model (what the check compares),
- autograd on a float32 copy (what training computes, for reference),
- the central difference (L(w + h) − L(w − h)) / 2h on the float64 copy.

The live model is never touched: everything runs on `copy.deepcopy`, and gradients come from
`torch.autograd.grad`, which writes no `.grad`. Dropout is off (eval mode) so L is a function of w.

Step size: the central difference's truncation error grows like h²·|d³L/dw³|/6 and its rounding
error like δ/h, where δ is the float64 noise of the loss (a mean over B·T tokens, ~1e-14: more
than ε·|L|). h = 1e-4 · max(1, |w|) keeps both near 1e-10 in the derivative. Measured on the tiny
preset at init over 16 entries of W_q, W_k, W_1, W_2: largest relative error 2.2e-6 with this h,
5.3e-5 with 1e-5 (rounding wins) and 3.9e-6 with 1e-3 (truncation wins).
"""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass
from typing import Any

import torch

from model.errors import FieldError
from model.training import Trainer
from model.transformer import TransformerLM

# The matrices the diagram draws, in every block: "blocks.<i>.attn.W_q.weight" ...
MATRIX_NAME = re.compile(r"^blocks\.\d+\.(attn\.W_[qkvo]|ffn\.W_[12])\.weight$")
STEP_SCALE = 1e-4  # h = STEP_SCALE · max(1, |w|); see the module docstring
# Below this, both derivatives are rounding noise: the relative error divides by it instead.
TINY = 1e-12


@dataclass(frozen=True)
class GradCheck:
    parameter: str
    row: int  # index into the stored (out, in) tensor
    col: int
    value: float  # the entry's current value w
    loss: float  # L(w) in float64
    autograd: float  # dL/dw by autograd, float64 copy
    autograd_fp32: float  # dL/dw by autograd, float32 copy (what a training step computes)
    finite_difference: float  # (L(w + h) − L(w − h)) / 2h, float64 copy
    h: float
    relative_error: float  # |autograd − finite_difference| / max(|autograd|, |fd|, TINY)
    relative_error_fp32: float  # the same for the float32 autograd value
    abs_error: float  # |autograd − finite_difference|

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# What "the current batch" is, in words for the API and the page: see `next_batch`.
BATCH_NOTE = "the batch the next training step will draw (the batch order does not advance)"


def relative_error(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), TINY)


def checkable(model: TransformerLM) -> dict[str, tuple[int, int]]:
    """Name -> stored (out, in) shape of every matrix a gradient check may pick."""
    return {
        name: (p.shape[0], p.shape[1])
        for name, p in model.named_parameters()
        if MATRIX_NAME.match(name)
    }


def check_entry(model: TransformerLM, parameter: str, row: int, col: int) -> None:
    """A FieldError naming the field and what is allowed, for an entry that does not exist."""
    shapes = checkable(model)
    if parameter not in shapes:
        raise FieldError("parameter", parameter, f"one of {sorted(shapes)}")
    rows, cols = shapes[parameter]
    for field, index, size in (("row", row, rows), ("col", col, cols)):
        if not 0 <= index < size:
            stored = f"{parameter} is stored (out, in) = ({rows}, {cols})"
            allowed = f"an integer in [0, {size - 1}] ({stored})"
            raise FieldError(field, index, allowed)


def next_batch(trainer: Trainer) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch the trainer's next step will draw, (B, T) ids and targets, from a copy of its
    generator: the live generator does not advance, so that step still draws this batch."""
    generator = torch.Generator(device=trainer.generator.device)
    generator.set_state(trainer.generator.get_state())
    context = trainer.model.config.context_length
    return trainer.data.batch("train", trainer.config.batch_size, context, generator)


def _copy(model: TransformerLM, dtype: torch.dtype) -> TransformerLM:
    clone = copy.deepcopy(model).to(dtype)
    clone.eval()  # no dropout: the loss must be a function of the weights alone
    for p in clone.parameters():
        p.requires_grad_(True)
    return clone


def _autograd(
    model: TransformerLM, parameter: str, row: int, col: int, x: torch.Tensor, y: torch.Tensor
) -> float:
    weight = model.get_parameter(parameter)
    (grad,) = torch.autograd.grad(model.loss(x, y), [weight])  # same shape as the weight
    return float(grad[row, col].item())


def gradient_check(
    model: TransformerLM,
    batch: tuple[torch.Tensor, torch.Tensor],
    parameter: str,
    row: int,
    col: int,
) -> GradCheck:
    """dL/dw for w = parameter[row, col] on batch (x, y), both (B, T) token ids."""
    check_entry(model, parameter, row, col)
    x, y = batch  # (B, T), (B, T)
    fp32 = _copy(model, torch.float32)
    autograd_fp32 = _autograd(fp32, parameter, row, col, x, y)
    del fp32
    fp64 = _copy(model, torch.float64)
    autograd = _autograd(fp64, parameter, row, col, x, y)
    weight = fp64.get_parameter(parameter)
    with torch.no_grad():
        w = float(weight[row, col].item())
        h = STEP_SCALE * max(1.0, abs(w))
        loss = fp64.loss(x, y).item()
        above, below = w + h, w - h
        weight[row, col] = above
        plus = fp64.loss(x, y).item()
        weight[row, col] = below
        minus = fp64.loss(x, y).item()
    # The spacing actually stored (w ± h rounds), not 2h: one rounding error fewer.
    fd = (plus - minus) / (above - below)
    return GradCheck(
        parameter=parameter,
        row=row,
        col=col,
        value=w,
        loss=loss,
        autograd=autograd,
        autograd_fp32=autograd_fp32,
        finite_difference=fd,
        h=h,
        relative_error=relative_error(autograd, fd),
        relative_error_fp32=relative_error(autograd_fp32, fd),
        abs_error=abs(autograd - fd),
    )
