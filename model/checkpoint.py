"""Checkpoints as safetensors (never pickle), with the config and vocabulary in the metadata.

A file is checked before anything is allocated: its header must parse, name exactly the model's
parameters (and optionally the optimiser's moments) with the shapes and dtype the stored config
implies, and its byte ranges must tile the data section. Only then are the tensors read.
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any, get_type_hints

import torch
from safetensors import safe_open
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from model.config import ConfigError, ModelConfig
from model.safetensors_header import Buffer, CheckpointError, parse_json, read_header
from model.tokenizer import Tokenizer
from model.transformer import TransformerLM

FORMAT = "attnflow-checkpoint"
VERSION = "1"
OPTIM_MOMENTS = ("exp_avg", "exp_avg_sq")
DTYPE_SIZES = {"F32": 4}
# Steps are JSON integers on the page too: beyond 2**53 JavaScript cannot count them exactly.
MAX_STEP = 2**53


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


def _check_config_types(values: object) -> dict[str, Any]:
    """The stored config's JSON types must be the dataclass's: `"no"` is not a bool, 1.0 not
    an int (ModelConfig itself only range-checks the numbers)."""
    if not isinstance(values, dict):
        raise CheckpointError("checkpoint config must be a JSON object", "config")
    hints = get_type_hints(ModelConfig)
    for item in dataclass_fields(ModelConfig):
        if item.name not in values:
            continue
        value, expected = values[item.name], hints[item.name]
        if expected is bool:
            ok = isinstance(value, bool)
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif expected is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:  # Literal[...] of strings
            ok = isinstance(value, str)
        if not ok:
            raise CheckpointError(
                f"config.{item.name}={value!r:.80} is not allowed: a JSON "
                f"{getattr(expected, '__name__', 'string')}",
                f"config.{item.name}",
            )
    return values


def _parse_metadata(metadata: dict[str, str]) -> tuple[ModelConfig, Tokenizer, int, dict[str, Any]]:
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"metadata 'format' must be {FORMAT!r}: not an attnflow checkpoint")
    if metadata.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint version {metadata.get('version')!r:.40} is not {VERSION!r}"
        )
    missing = [key for key in ("config", "tokenizer", "step") if key not in metadata]
    if missing:
        raise CheckpointError(f"checkpoint metadata lacks {missing}", "__metadata__")
    config_dict = _check_config_types(parse_json(metadata["config"], "config"))
    try:
        tokenizer = Tokenizer.from_dict(parse_json(metadata["tokenizer"], "tokenizer"))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint tokenizer is invalid: {exc}", "tokenizer") from None
    step_text = metadata["step"]
    if not (step_text.isascii() and step_text.isdigit() and len(step_text) <= 20):
        raise CheckpointError(f"step={step_text!r:.40} is not allowed: an integer >= 0", "step")
    step = int(step_text)
    if step > MAX_STEP:
        raise CheckpointError(f"step={step} is not allowed: at most {MAX_STEP} (2**53)", "step")
    extra = parse_json(metadata.get("extra", "{}"), "extra")
    if not isinstance(extra, dict):
        raise CheckpointError("checkpoint extra must be a JSON object", "extra")
    try:
        config = ModelConfig.from_dict(config_dict)
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"checkpoint config is invalid: {exc}", "config") from None
    if config.vocab_size != tokenizer.vocab_size:
        raise CheckpointError(
            f"config vocab_size={config.vocab_size} but the stored vocabulary has "
            f"{tokenizer.vocab_size} tokens",
            "config.vocab_size",
        )
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
    """Entries are well-typed (read_header); here they must be the config's tensors exactly."""
    required, optional = _expected_entries(config)
    missing = sorted(set(required) - set(entries))
    unexpected = sorted(set(entries) - set(required) - set(optional))
    if missing:
        raise CheckpointError(
            f"checkpoint lacks parameters {missing[:5]} that the config needs", "tensors"
        )
    if unexpected:
        raise CheckpointError(f"checkpoint has unexpected tensors {unexpected[:5]}", "tensors")
    spans = []
    for name, entry in entries.items():
        expected_shape = required.get(name) or optional[name]
        if entry["dtype"] not in DTYPE_SIZES:
            raise CheckpointError(
                f"tensor {name!r} must be float32 (F32), found {entry['dtype']!r:.40}",
                f"tensors.{name}.dtype",
            )
        shape = tuple(entry["shape"])
        if shape != expected_shape:
            raise CheckpointError(
                f"tensor {name!r} has shape {list(shape)}, expected {list(expected_shape)}",
                f"tensors.{name}.shape",
            )
        start, end = entry["data_offsets"]
        n_bytes = DTYPE_SIZES[entry["dtype"]] * _numel(shape)
        if end - start != n_bytes:
            raise CheckpointError(
                f"tensor {name!r} has byte range {[start, end]} for {n_bytes} bytes",
                f"tensors.{name}.data_offsets",
            )
        spans.append((start, end))
    position = 0
    for start, end in sorted(spans):
        if start != position:
            raise CheckpointError(
                "tensor byte ranges overlap or leave gaps: file is corrupt", "tensors"
            )
        position = end
    if position != data_len:
        raise CheckpointError(
            f"data section is {data_len} bytes, tensors cover {position}", "tensors"
        )


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for dim in shape:
        n *= dim
    return n


def inspect(data: Buffer) -> tuple[ModelConfig, Tokenizer, int, dict[str, Any]]:
    """Validate a checkpoint's header and metadata only: (config, tokenizer, step, extra)."""
    entries, metadata, data_start = read_header(data)
    config, tokenizer, step, extra = _parse_metadata(metadata)
    _check_entries(entries, config, len(data) - data_start)
    return config, tokenizer, step, extra


def _check_size(config: ModelConfig, max_parameters: int | None) -> None:
    if max_parameters is not None and config.parameter_count() > max_parameters:
        raise CheckpointError(
            f"checkpoint model has {config.parameter_count():,} parameters, above the limit "
            f"of {max_parameters:,}",
            "config",
        )


def check_values(name: str, tensor: torch.Tensor) -> None:
    """Finite weights and moments, and a second moment >= 0 (AdamW takes its square root):
    anything else wrecks the model on its first step."""
    if not bool(torch.isfinite(tensor).all()):
        raise CheckpointError(f"tensor {name!r} holds NaN or infinite values", f"tensors.{name}")
    if name.startswith(("optim.exp_avg_sq.", "optim.step.")) and bool((tensor < 0).any()):
        raise CheckpointError(f"tensor {name!r} holds negative values", f"tensors.{name}")


def _assemble(
    config: ModelConfig,
    tokenizer: Tokenizer,
    step: int,
    extra: dict[str, Any],
    read: Callable[[str], torch.Tensor],
    names: list[str],
) -> Checkpoint:
    """The model, filled one tensor at a time (never a second full copy of the weights)."""
    model = TransformerLM(config)
    params = model.state_dict()
    optimizer_state = {}
    with torch.no_grad():
        for name in names:
            tensor = read(name)
            check_values(name, tensor)
            if name.startswith("optim."):
                optimizer_state[name] = tensor
            else:
                params[name].copy_(tensor)
    return Checkpoint(model, tokenizer, step, extra, optimizer_state)


Header = tuple[ModelConfig, Tokenizer, int, dict[str, Any]]


def from_bytes(
    data: bytes, max_parameters: int | None = None, header: Header | None = None
) -> Checkpoint:
    """`header`: what `inspect(data)` returned, when the caller has checked it already."""
    config, tokenizer, step, extra = header or inspect(data)
    _check_size(config, max_parameters)
    tensors = load_safetensors(data)
    return _assemble(config, tokenizer, step, extra, tensors.__getitem__, list(tensors))


def inspect_file(path: str | os.PathLike[str]) -> Header:
    """`inspect` of a file on disk, read through an mmap (the file is never in memory)."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size < 8:
            inspect(b"")  # raises the "shorter than its header" error
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return inspect(view)


def from_file(
    path: str | os.PathLike[str], max_parameters: int | None = None, header: Header | None = None
) -> Checkpoint:
    """A checkpoint on disk (an upload spooled to a file): the header is read through an mmap,
    the tensors one by one, so memory holds the model and one tensor at most. `header`: what
    `inspect_file(path)` returned, when the caller has checked it already."""
    config, tokenizer, step, extra = header or inspect_file(path)
    _check_size(config, max_parameters)
    with safe_open(str(path), framework="pt") as stored:
        names = list(stored.keys())
        return _assemble(config, tokenizer, step, extra, stored.get_tensor, names)


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
