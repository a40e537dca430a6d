"""The gradient check: one weight entry, autograd against a finite difference."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.schemas.common import RequestModel
from model.gradcheck import BATCH_NOTE


class GradCheckRequest(RequestModel):
    """An entry of one of the diagram's matrices, indexed as PyTorch stores it: (out, in)."""

    parameter: str = Field(
        min_length=1,
        max_length=100,
        examples=["blocks.0.attn.W_q.weight"],
        description="blocks.<i>.attn.W_q|W_k|W_v|W_o.weight or blocks.<i>.ffn.W_1|W_2.weight",
    )
    row: int = Field(ge=0, le=65_535, examples=[3], description="output index (< out)")
    col: int = Field(ge=0, le=65_535, examples=[5], description="input index (< in)")


class GradCheckOut(BaseModel):
    step: int = Field(description="the session's step: the weights checked")
    parameter: str
    row: int
    col: int
    value: float = Field(description="the entry's current value w")
    loss: float = Field(description="L(w): mean next-token loss of the batch, float64")
    autograd: float = Field(description="dL/dw by autograd on a float64 copy")
    autograd_fp32: float = Field(description="dL/dw by autograd on a float32 copy (as training)")
    finite_difference: float = Field(description="(L(w+h) − L(w−h)) / 2h on the float64 copy")
    h: float = Field(description="1e-4 · max(1, |w|)")
    relative_error: float = Field(description="|autograd − fd| / max(|autograd|, |fd|, 1e-12)")
    relative_error_fp32: float
    abs_error: float = Field(description="|autograd − fd|")
    batch: str = Field(examples=[BATCH_NOTE])
    batch_shape: list[int] = Field(description="[B, T]")
