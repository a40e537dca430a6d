"""The safetensors header of a checkpoint, read and checked against the format's grammar before
anything else is looked at (no tensor is read here)."""

from __future__ import annotations

import json
import struct
from typing import Any, Protocol

MAX_HEADER_BYTES = 4 * 1024 * 1024
ENTRY_KEYS = frozenset({"dtype", "shape", "data_offsets"})
MAX_DIMS = 8


class CheckpointError(ValueError):
    """A file that is not a valid attnflow checkpoint; the message says what is wrong and
    `field` names the part of the file (e.g. `tensors.lm_head.weight.shape`, `config.d_model`)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Buffer(Protocol):
    """bytes, or an mmap of an uploaded file: only its length and slices are read."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: slice, /) -> bytes: ...


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_entry(name: str, entry: object) -> None:
    """One tensor entry of the safetensors grammar: {dtype: str, shape: [n >= 0, ...],
    data_offsets: [start, end]}, nothing else; any other JSON value is a CheckpointError."""
    where = f"tensors.{name}"
    if not isinstance(entry, dict):
        raise CheckpointError(
            f"tensor {name!r} must be an object with dtype, shape and data_offsets, found "
            f"{type(entry).__name__}",
            where,
        )
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown or not isinstance(entry.get("dtype"), str):
        raise CheckpointError(
            f"tensor {name!r} must have exactly the keys {sorted(ENTRY_KEYS)} with a string "
            f"dtype (found keys {sorted(entry)[:5]})",
            where,
        )
    shape = entry.get("shape")
    if not (isinstance(shape, list) and len(shape) <= MAX_DIMS and all(map(_is_count, shape))):
        raise CheckpointError(
            f"tensor {name!r} has shape {shape!r:.80}: a list of at most {MAX_DIMS} integers >= 0",
            f"{where}.shape",
        )
    offsets = entry.get("data_offsets")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(map(_is_count, offsets))
        and offsets[0] <= offsets[1]
    ):
        raise CheckpointError(
            f"tensor {name!r} has data_offsets {offsets!r:.80}: [start, end] with "
            "0 <= start <= end",
            f"{where}.data_offsets",
        )


def _check_metadata(metadata: object) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise CheckpointError(
            f"__metadata__ must be an object of strings, found {type(metadata).__name__}",
            "__metadata__",
        )
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise CheckpointError(
                f"__metadata__ value {key!r:.80} must be a string, found {type(value).__name__}",
                f"__metadata__.{key}",
            )
    return metadata


def read_header(data: Buffer) -> tuple[dict[str, Any], dict[str, str], int]:
    """(tensor entries, metadata, data start) of a safetensors file; reads no tensor. Every part
    of the header grammar is checked here, so later code meets only well-typed entries."""
    if len(data) < 8:
        raise CheckpointError("not a safetensors file: shorter than its 8-byte header length")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > MAX_HEADER_BYTES or 8 + header_len > len(data):
        raise CheckpointError(
            "not a safetensors file: the first 8 bytes do not give a header length that fits "
            f"the file ({header_len} bytes claimed, file is {len(data)} bytes)"
        )
    header = parse_json(data[8 : 8 + header_len], "header")
    if not isinstance(header, dict):
        raise CheckpointError("not a safetensors file: header is not a JSON object")
    metadata = _check_metadata(header.pop("__metadata__", None))
    for name, entry in header.items():
        _check_entry(name, entry)
    return header, metadata, 8 + header_len


def parse_json(text: bytes | str, what: str) -> Any:
    """JSON from a checkpoint, or a CheckpointError (deep nesting included)."""
    try:
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(
            f"checkpoint {what} is malformed: not JSON ({str(exc)[:120]})", what
        ) from None
