"""Which precision a model trains in: fp32, or bf16 autocast over fp32 master weights.

`auto` picks bf16 where it is both supported fast and worth it. Supported fast: a CPU with AMX
or AVX-512-BF16, a CUDA device with bf16. Worth it: on small shapes the casts autocast adds cost
more than the faster matmuls save. Measured on 2 cores of a Xeon with AMX (fwd + bwd + fused
AdamW, bf16 vs fp32): d_model 64 (tiny) 2.1x slower, 128 (small) level, 256 1.5x faster,
512 2.2x faster, 768 (seed) 2x faster. Hence the d_model threshold.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from model.errors import FieldError

PRECISIONS = ("fp32", "bf16")
REQUESTS = ("auto", *PRECISIONS)
AUTO_BF16_MIN_D_MODEL = 256


def fast_bf16(device: torch.device) -> bool:
    """Whether the device runs bfloat16 matmuls in hardware."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    return False


def resolve_precision(requested: str, device: torch.device, d_model: int) -> str:
    """The precision to train in (fp32 or bf16) for a request of auto, fp32 or bf16."""
    if requested not in REQUESTS:
        raise FieldError("precision", requested, f"one of {list(REQUESTS)}")
    if requested != "auto":
        return requested
    return "bf16" if fast_bf16(device) and d_model >= AUTO_BF16_MIN_D_MODEL else "fp32"


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """bfloat16 autocast for "bf16", nothing for "fp32". Under it the projections, attention
    and FFN run in bf16, while the residual stream (fp32 + bf16 adds promote), layer norms and
    the cross-entropy stay fp32; the parameters themselves are never cast."""
    if precision == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
