"""One forward pass on user text, traced, as a JSON-ready dict of numpy arrays.

Capturing every hook point is nearly free; what costs is sending it. So the caller chooses stages
(globs) and a per-axis size (`max_dim`), and a trace above `max_floats` is downsampled unless the
caller asks for `full` -- always said in the response (`downsampled`, `auto_downsampled`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np
import torch

from app.services.errors import FieldError
from app.services.events import token
from app.services.tensors import downsample, round_significant, to_numpy
from model.names import block_name
from model.tokenizer import Tokenizer
from model.tracing import trace
from model.transformer import TransformerLM

AUTO_MAX_DIMS = (64, 32, 16, 8)
# hook_pos_emb is (T, C): the position table is shared by the batch, so it has no batch axis.
NO_BATCH_AXIS = frozenset({"hook_pos_emb"})


@dataclass(frozen=True)
class ForwardOptions:
    top_k: int = 5
    stages: tuple[str, ...] | None = None  # globs; None = every stage
    max_dim: int | None = None
    full: bool = False
    digits: int = 4
    max_floats: int = 262_144


def encode_text(
    tokenizer: Tokenizer, text: str, context_length: int
) -> tuple[list[tuple[str, int, bool]], int]:
    """Tokens to run (the last context_length of them) and how many the text had."""
    tokens = tokenizer.tokens(text)
    if not tokens:
        message = "the text has no tokens after normalisation; write at least one word"
        raise FieldError("text", text, "a text with at least one token", message)
    return tokens[-context_length:], len(tokens)


def run_traced(
    model: TransformerLM, ids: list[int]
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Every hook point's tensor for one sequence, in eval mode (no dropout)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), trace(model) as tr:
            logits = model(torch.tensor([ids], dtype=torch.long, device=device))  # (1, T, V)
    finally:
        model.train(was_training)
    return tr.tensors, logits[0]


def _unbatched(name: str, tensor: torch.Tensor) -> np.ndarray:
    values = to_numpy(tensor)
    return values if name in NO_BATCH_AXIS else values[0]


def _select(names: list[str], patterns: tuple[str, ...] | None) -> list[str]:
    if patterns is None:
        return names
    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if not chosen:
        asked = ",".join(patterns)
        allowed = f"a stage name or glob matching one of {names}"
        raise FieldError("stages", asked, allowed, f"stages {asked!r} matches no stage; {allowed}")
    return chosen


def _pooled_size(shape: tuple[int, ...], max_dim: int | None) -> int:
    return prod(min(n, max_dim) if max_dim else n for n in shape)


def choose_max_dim(
    shapes: list[tuple[int, ...]], options: ForwardOptions
) -> tuple[int | None, bool]:
    """(max_dim to apply, whether it was chosen automatically because the trace is too big)."""
    if options.max_dim or options.full:
        return options.max_dim, False
    if sum(prod(s) for s in shapes) <= options.max_floats:
        return None, False
    for max_dim in AUTO_MAX_DIMS:
        if sum(_pooled_size(s, max_dim) for s in shapes) <= options.max_floats:
            return max_dim, True
    return AUTO_MAX_DIMS[-1], True


def _tensor_entry(values: np.ndarray, max_dim: int | None, digits: int) -> dict[str, Any]:
    original = list(values.shape)
    pooled, changed = downsample(values, max_dim)
    return {
        "shape": list(pooled.shape),
        "values": round_significant(pooled, digits),
        "downsampled": changed,
        "original_shape": original,
    }


def _predictions(logits: torch.Tensor, tokenizer: Tokenizer, k: int) -> list[list[dict[str, Any]]]:
    probs = torch.softmax(logits.float(), dim=-1)  # (T, V)
    top = torch.topk(probs, min(k, probs.shape[-1]), dim=-1)
    table = zip(top.values.tolist(), top.indices.tolist(), strict=True)
    vocab = tokenizer.vocab
    return [
        [{"token": vocab[i], "id": i, "prob": round(p, 5)} for p, i in zip(ps, ids, strict=True)]
        for ps, ids in table
    ]


def forward_payload(
    model: TransformerLM, tokenizer: Tokenizer, text: str, step: int, options: ForwardOptions
) -> dict[str, Any]:
    tokens, n_in = encode_text(tokenizer, text, model.config.context_length)
    tensors, logits = run_traced(model, [token_id for _, token_id, _ in tokens])
    names = _select(list(tensors), options.stages)
    arrays = {name: _unbatched(name, tensors[name]) for name in names}
    # Block 0's maps at the top level; every block's are among `stages`.
    attention = tensors.get(f"{block_name(0)}.attn.hook_weights")
    scores = tensors.get(f"{block_name(0)}.attn.hook_scores")
    extra = [a for a in (attention, scores) if a is not None]
    shapes = [a.shape for a in arrays.values()] + [tuple(a.shape[1:]) for a in extra]
    max_dim, auto = choose_max_dim(shapes, options)
    stages = [{"name": n, **_tensor_entry(v, max_dim, options.digits)} for n, v in arrays.items()]
    attn = (
        _tensor_entry(to_numpy(attention[0]), max_dim, options.digits)
        if attention is not None
        else None
    )
    score = (
        _tensor_entry(to_numpy(scores[0]), max_dim, options.digits) if scores is not None else None
    )
    truncated = n_in > len(tokens)
    return {
        "step": step,
        "tokens": [token(s, i, u) for s, i, u in tokens],
        "n_tokens_in": n_in,
        "truncated": truncated,
        "notice": (
            f"the text has {n_in} tokens; only the last {len(tokens)} (context_length) were run"
            if truncated
            else None
        ),
        "stages": stages,
        "attention": attn["values"] if attn else None,
        "scores": score["values"] if score else None,
        "attention_shape": attn["original_shape"] if attn else None,
        "predictions": _predictions(logits, tokenizer, options.top_k),
        "auto_downsampled": auto,
        "digits": options.digits,
    }


def probe_attention(model: TransformerLM, ids: list[int]) -> np.ndarray | None:
    """Block 0's attention weights [H][T][T] on the probe sentence (None without attention):
    the stream's `attention` message."""
    hook = f"{block_name(0)}.attn.hook_weights"
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), trace(model, [hook]) as tr:
            model(torch.tensor([ids], dtype=torch.long, device=device))
    finally:
        model.train(was_training)
    weights = tr.tensors.get(hook)
    return None if weights is None else round_significant(to_numpy(weights[0]), 4)
