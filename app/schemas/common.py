"""What the request and response schemas share: the strict request base, registry enums."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue, field_validator
from pydantic.json_schema import JsonDict

_SURROGATE = re.compile("[\ud800-\udfff]")
HARD_MAX_STEPS = 1_000_000


def one_of(value: str, choices: Iterable[str], what: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {sorted(choices)}")
    return value


# Nested lists of numbers (null for -inf, e.g. masked attention scores), any depth.
TENSOR: JsonDict = {"description": "nested arrays of numbers; null where the value is -inf"}


def enum_of(names: Iterable[str]) -> JsonDict:
    """A JSON-schema enum for a str field validated against a registry (presets, corpora)."""
    values: list[JsonValue] = []
    values.extend(sorted(names))
    return {"enum": values}


class RequestModel(BaseModel):
    """Unknown fields, NaN/Infinity (which Python's JSON parser accepts) and coercions (`true`
    for a number, `"5"` for an integer) are refused: the JSON types must be the documented ones."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _real_text(cls, value: Any) -> Any:
        """JSON may spell a lone UTF-16 surrogate (`"\\ud800"`); it is not text, and nothing
        downstream (tokenizer, JSON writer, disk) can encode it."""
        if isinstance(value, str) and _SURROGATE.search(value):
            raise ValueError("contains a lone UTF-16 surrogate, which is not a character")
        return value
