"""Checkpoints into session parts, through the same limits as the API (issue 10, finding 4).

A checkpoint's header is validated before any tensor is read (model.checkpoint), then its
config and `extra` through the request schemas (ConfigOverrides, StoredExtra): a file cannot
carry what a request could not (a 3 MB text, a batch of 10^9, "no" for a boolean, a step
past 2**53), and the memory budget is checked on its config before the model exists. Errors
name the field (`checkpoint.extra.train.batch_size`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from app.schemas import IMPORT_MAX_STEP, ConfigOverrides, StoredExtra
from app.services.builder import Parts, from_checkpoint
from app.services.errors import FieldError, validation_sentence
from model.checkpoint import from_bytes, from_file, inspect, inspect_file
from model.config import ModelConfig

BudgetCheck = Callable[[ModelConfig, int], None]
API_FIELDS = frozenset(ConfigOverrides.model_fields)


def _field_error(exc: ValidationError, prefix: str) -> FieldError:
    first = exc.errors()[0]
    field = ".".join([prefix, *(str(part) for part in first.get("loc", ()))])
    allowed = str(first.get("msg", "valid")).removeprefix("Value error, ")
    return FieldError(field, first.get("input"), allowed, validation_sentence(field, first))


def validate_metadata(
    config: ModelConfig, step: int, extra: dict[str, Any], max_step: int = IMPORT_MAX_STEP
) -> StoredExtra:
    """The stored config and extra under the API's own schemas; a FieldError names the field."""
    if step > max_step:
        allowed = f"at most {max_step} (2**{max_step.bit_length() - 1})"
        raise FieldError("checkpoint.step", step, allowed)
    overrides = {k: v for k, v in config.to_dict().items() if k in API_FIELDS}
    try:
        ConfigOverrides.model_validate(overrides)
    except ValidationError as exc:
        raise _field_error(exc, "checkpoint.config") from None
    if config.seed > 2**53:
        raise FieldError("checkpoint.config.seed", config.seed, "an integer from 0 to 2**53")
    try:
        return StoredExtra.model_validate(extra)
    except ValidationError as exc:
        raise _field_error(exc, "checkpoint.extra") from None


def parse(
    source: bytes | Path,
    fallback_text: str | None,
    max_parameters: int,
    device: torch.device,
    budget: BudgetCheck,
    max_step: int = IMPORT_MAX_STEP,
    saved: bool = False,
) -> Parts:
    """Session parts from checkpoint bytes or a spooled upload file; nothing is allocated
    before the header, the metadata and the memory estimate have passed. The header is parsed
    once and the parameter limit checked once, here. Saved sessions (`saved`) load with
    `max_step` = model.checkpoint.MAX_STEP (they may have trained past the import limit) and
    keep their history's lineage."""
    header = inspect_file(source) if isinstance(source, Path) else inspect(source)
    config, _, step, extra = header
    count = config.parameter_count()
    if count > max_parameters:
        raise FieldError(
            "checkpoint",
            count,
            f"at most {max_parameters:,} parameters",
            f"the checkpoint's model has {count:,} parameters, over this server's limit of "
            f"{max_parameters:,}",
        )
    stored = validate_metadata(config, step, extra, max_step)
    budget(config, stored.train.batch_size)
    if isinstance(source, Path):
        checkpoint = from_file(source, header=header)
    else:
        checkpoint = from_bytes(source, header=header)
    parts = from_checkpoint(checkpoint, device, fallback_text)
    if saved:  # which saved history belongs to these weights
        parts.lineage = stored.lineage or None
    return parts
