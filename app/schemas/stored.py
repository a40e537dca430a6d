"""Checkpoint metadata under the API's limits: an import meets the limits of a request."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from app.schemas.common import RequestModel, enum_of, one_of
from model.data import BUILTIN_CORPORA, MAX_USER_TEXT_CHARS
from model.presets import PRESETS
from model.tokenizer import TokenKind

# Steps a checkpoint may bring in: sessions go on training from there and must still load back
# (model.checkpoint refuses files past 2**53, the page's exact integers); 2**53 - 2**50 is
# ~8e15 steps of headroom.
IMPORT_MAX_STEP = 2**50


class StoredTrain(RequestModel):
    """`extra.train` of a checkpoint: TrainConfig as saved, with the API's bounds."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    batch_size: int = Field(default=16, ge=1, le=1024)
    lr: float = Field(default=3e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(default=0.01, ge=0.0, le=10.0)
    beta1: float = Field(default=0.9, ge=0.0, lt=1.0)
    beta2: float = Field(default=0.99, ge=0.0, lt=1.0)
    eps: float = Field(default=1e-8, gt=0.0, le=1.0)
    eval_every: int = Field(default=25, ge=0, le=100_000)
    eval_batches: int = Field(default=4, ge=1, le=64)
    data_seed: int = Field(default=0, ge=0, le=2**63 - 1)
    instrument: bool = True
    precision: Literal["fp32", "bf16"] = "fp32"


class StoredExtra(RequestModel):
    """`extra` of a checkpoint: what the session was made from, under SessionCreate's limits.
    Keys this version does not know are ignored (a newer writer may add some)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, strict=True)

    preset: str = Field(default="custom", json_schema_extra=enum_of([*PRESETS, "custom"]))
    corpus: str = Field(default="custom", json_schema_extra=enum_of([*BUILTIN_CORPORA, "custom"]))
    tokenizer: TokenKind | None = None
    seed: int = Field(default=0, ge=0, le=2**53)
    probe: str | None = Field(default=None, min_length=1, max_length=500)
    text: str | None = Field(default=None, min_length=1, max_length=MAX_USER_TEXT_CHARS)
    train: StoredTrain = Field(default_factory=StoredTrain)
    data_generator: str | None = Field(default=None, max_length=16_384)  # 6,744 for torch 2.13
    lineage: str | None = Field(default=None, max_length=64)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        return one_of(value, [*PRESETS, "custom"], "preset")

    @field_validator("corpus")
    @classmethod
    def _known_corpus(cls, value: str) -> str:
        return one_of(value, [*BUILTIN_CORPORA, "custom"], "corpus")
