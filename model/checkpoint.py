"""Checkpoints as safetensors (never pickle), with the config and vocabulary in the metadata.

A file is checked before anything is allocated: its header must parse, name exactly the model's
parameters (and optionally the optimiser's moments) with the shapes and dtype the stored config
implies, and its byte ranges must tile the data section. Only then are the tensors read.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from model.config import ConfigError, ModelConfig
from model.tokenizer import Tokenizer
from model.transformer import TransformerLM

FORMAT = "attnflow-checkpoint"
VERSION = "1"
MAX_HEADER_BYTES = 4 * 1024 * 1024
OPTIM_MOMENTS = ("exp_avg", "exp_avg_sq")
DTYPE_SIZES = {"F32": 4}


class CheckpointError(ValueError):
    """A file that is not a valid attnflow checkpoint; the message says what is wrong."""


@dataclass
class Checkpoint:
    model: TransformerLM
    tokenizer: Tokenizer
    step: int
    # e.g. the optimiser settings and corpus name
    extra: dict[str, Any] = field(default_factory=dict)
    optimizer_state: dict[str, torch.Tensor] = field(default_factory=dict)


def parameter_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter's name and shape, from a model on the meta device (no memory used)."""
    with torch.device("meta"):
        model = TransformerLM(config)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def to_bytes(
    model: TransformerLM,
    tokenizer: Tokenizer,
    step: int,
    extra: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> bytes:
    tensors = {name: t.detach().contiguous().cpu() for name, t in model.state_dict().items()}
    if optimizer is not None:
        tensors.update(_optimizer_tensors(model, optimizer))
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "config": json.dumps(model.config.to_dict()),
        "tokenizer": json.dumps(tokenizer.to_dict()),
        "step": str(step),
        "extra": json.dumps(extra or {}),
    }
    return save_safetensors(tensors, metadata=metadata)


def _optimizer_tensors(
    model: TransformerLM, optimizer: torch.optim.Optimizer
) -> dict[str, torch.Tensor]:
    out = {}
    for name, param in model.named_parameters():
        state = optimizer.state.get(param, {})
        for moment in OPTIM_MOMENTS:
            if moment in state:
                out[f"optim.{moment}.{name}"] = state[moment].detach().contiguous().cpu()
        if "step" in state:
            out[f"optim.step.{name}"] = torch.as_tensor(state["step"], dtype=torch.float32).reshape(
                1
            )
    return out


def read_header(data: bytes) -> tuple[dict[str, Any], dict[str, str], int]:
    """(tensor entries, metadata, data start) of a safetensors file; reads no tensor."""
    if len(data) < 8:
        raise CheckpointError("not a safetensors file: shorter than its 8-byte header length")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > MAX_HEADER_BYTES or 8 + header_len > len(data):
        raise CheckpointError(
            "not a safetensors file: the first 8 bytes do not give a header length that fits "
            f"the file ({header_len} bytes claimed, file is {len(data)} bytes)"
        )
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"not a safetensors file: header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError("not a safetensors file: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    return header, metadata, 8 + header_len


def _parse_metadata(metadata: dict[str, str]) -> tuple[ModelConfig, Tokenizer, int, dict[str, Any]]:
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"metadata 'format' must be {FORMAT!r}: not an attnflow checkpoint")
    if metadata.get("version") != VERSION:
        raise CheckpointError(f"checkpoint version {metadata.get('version')!r} is not {VERSION!r}")
    try:
        config_dict = json.loads(metadata["config"])
        tokenizer = Tokenizer.from_dict(json.loads(metadata["tokenizer"]))
        step = int(metadata["step"])
        extra = json.loads(metadata.get("extra", "{}"))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint metadata is incomplete or malformed: {exc}") from None
    try:
        config = ModelConfig.from_dict(config_dict)
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"checkpoint config is invalid: {exc}") from None
    if config.vocab_size != tokenizer.vocab_size:
        raise CheckpointError(
            f"config vocab_size={config.vocab_size} but the stored vocabulary has "
            f"{tokenizer.vocab_size} tokens"
        )
    if step < 0:
        raise CheckpointError(f"step={step} must be >= 0")
    return config, tokenizer, step, extra


def _expected_entries(
    config: ModelConfig,
) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    required = parameter_shapes(config)
    optional = {}
    for name, shape in required.items():
        for moment in OPTIM_MOMENTS:
            optional[f"optim.{moment}.{name}"] = shape
        optional[f"optim.step.{name}"] = (1,)
    return required, optional


def _check_entries(entries: dict[str, Any], config: ModelConfig, data_len: int) -> None:
    required, optional = _expected_entries(config)
    missing = sorted(set(required) - set(entries))
    unexpected = sorted(set(entries) - set(required) - set(optional))
    if missing:
        raise CheckpointError(f"checkpoint lacks parameters {missing[:5]} that the config needs")
    if unexpected:
        raise CheckpointError(f"checkpoint has unexpected tensors {unexpected[:5]}")
    spans = []
    for name, entry in entries.items():
        expected_shape = required.get(name) or optional[name]
        if not isinstance(entry, dict) or entry.get("dtype") not in DTYPE_SIZES:
            raise CheckpointError(
                f"tensor {name!r} must be float32 (F32), found {entry.get('dtype')!r}"
            )
        shape = tuple(entry.get("shape", ()))
        if shape != expected_shape:
            raise CheckpointError(
                f"tensor {name!r} has shape {list(shape)}, expected {list(expected_shape)}"
            )
        start, end = entry.get("data_offsets", (None, None))
        n_bytes = DTYPE_SIZES[entry["dtype"]] * _numel(shape)
        if not (isinstance(start, int) and isinstance(end, int) and end - start == n_bytes):
            raise CheckpointError(
                f"tensor {name!r} has byte range {[start, end]} for {n_bytes} bytes"
            )
        spans.append((start, end))
    position = 0
    for start, end in sorted(spans):
        if start != position:
            raise CheckpointError("tensor byte ranges overlap or leave gaps: file is corrupt")
        position = end
    if position != data_len:
        raise CheckpointError(f"data section is {data_len} bytes, tensors cover {position}")


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for dim in shape:
        n *= dim
    return n


def inspect(data: bytes) -> tuple[ModelConfig, Tokenizer, int, dict[str, Any]]:
    """Validate a checkpoint's header and metadata only: (config, tokenizer, step, extra)."""
    entries, metadata, data_start = read_header(data)
    config, tokenizer, step, extra = _parse_metadata(metadata)
    _check_entries(entries, config, len(data) - data_start)
    return config, tokenizer, step, extra


def from_bytes(data: bytes, max_parameters: int | None = None) -> Checkpoint:
    config, tokenizer, step, extra = inspect(data)
    if max_parameters is not None and config.parameter_count() > max_parameters:
        raise CheckpointError(
            f"checkpoint model has {config.parameter_count():,} parameters, above the limit "
            f"of {max_parameters:,}"
        )
    tensors = load_safetensors(data)
    model = TransformerLM(config)
    weights = {k: v for k, v in tensors.items() if not k.startswith("optim.")}
    model.load_state_dict(weights, strict=True)
    optimizer_state = {k: v for k, v in tensors.items() if k.startswith("optim.")}
    return Checkpoint(model, tokenizer, step, extra, optimizer_state)


def restore_optimizer(
    model: TransformerLM, optimizer: torch.optim.Optimizer, state: dict[str, torch.Tensor]
) -> None:
    """Put saved AdamW moments back so a resumed run continues exactly where it stopped."""
    for name, param in model.named_parameters():
        moments = {m: state.get(f"optim.{m}.{name}") for m in OPTIM_MOMENTS}
        step = state.get(f"optim.step.{name}")
        if step is None or any(v is None for v in moments.values()):
            continue
        optimizer.state[param] = {
            "step": step.reshape(()).clone(),
            **{m: v.clone() for m, v in moments.items() if v is not None},
        }
