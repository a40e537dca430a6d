"""Request bodies; they carry the limits, so /openapi.json documents every one."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from app.schemas.common import HARD_MAX_STEPS, RequestModel, enum_of, one_of
from model.config import MAX_BLOCKS, Activation, NormPlacement
from model.data import BUILTIN_CORPORA, DEFAULT_CORPUS, MAX_USER_TEXT_CHARS
from model.presets import DEFAULT_PRESET, PRESETS
from model.tokenizer import TokenKind


class ConfigOverrides(RequestModel):
    """Model config fields that replace the preset's; omitted or null fields keep it."""

    d_model: int | None = Field(default=None, ge=1, le=4096, examples=[64])
    n_heads: int | None = Field(default=None, ge=1, le=128, examples=[4])
    d_ff: int | None = Field(default=None, ge=1, le=16384, examples=[256])
    context_length: int | None = Field(default=None, ge=2, le=2048, examples=[32])
    n_blocks: int | None = Field(default=None, ge=1, le=MAX_BLOCKS, examples=[1])
    activation: Activation | None = None
    use_attention: bool | None = None
    use_ffn: bool | None = None
    residual: bool | None = None
    norm: NormPlacement | None = None
    dropout: float | None = Field(default=None, ge=0.0, lt=1.0, examples=[0.0])


class OptimizerSettings(RequestModel):
    """AdamW settings; omitted fields take the preset's (lr, batch_size) or the defaults."""

    lr: float | None = Field(default=None, gt=0.0, le=10.0, examples=[0.003])
    weight_decay: float | None = Field(default=None, ge=0.0, le=10.0, examples=[0.01])
    beta1: float | None = Field(default=None, ge=0.0, lt=1.0, examples=[0.9])
    beta2: float | None = Field(default=None, ge=0.0, lt=1.0, examples=[0.99])
    batch_size: int | None = Field(default=None, ge=1, le=1024, examples=[16])
    eval_every: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        examples=[25],
        description="held-out loss every N steps (0: never)",
    )


class SessionCreate(RequestModel):
    """Everything optional: `{}` gives the tiny preset on the catmat corpus."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"preset": "tiny", "corpus": "catmat", "seed": 0}]}
    )

    preset: str = Field(default=DEFAULT_PRESET, json_schema_extra=enum_of(PRESETS))
    corpus: str = Field(default=DEFAULT_CORPUS, json_schema_extra=enum_of(BUILTIN_CORPORA))
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_USER_TEXT_CHARS,
        description="your own training text; replaces `corpus` (which then reads 'custom')",
    )
    tokenizer: TokenKind = "word"
    seed: int = Field(
        default=0, ge=0, le=2**53, description="seeds the initial weights and batch order"
    )
    config: ConfigOverrides = Field(default_factory=ConfigOverrides)
    optimizer: OptimizerSettings = Field(default_factory=OptimizerSettings)
    precision: Literal["auto", "fp32", "bf16"] | None = Field(
        default=None,
        description="fp32, or bf16 autocast over fp32 weights and AdamW state; auto = bf16 "
        "where the device does bf16 fast and d_model >= 256; omitted: the server's "
        "ATTNFLOW_PRECISION",
    )
    probe: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        examples=["the cat sat on the mat ."],
        description="sentence whose attention is snapshotted while training (default: the "
        "corpus's first line)",
    )

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        return one_of(value, PRESETS, "preset")

    @field_validator("corpus")
    @classmethod
    def _known_corpus(cls, value: str) -> str:
        return one_of(value, BUILTIN_CORPORA, "corpus")


class ForwardRequest(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"text": "the cat sat on the mat ."}]}
    )

    text: str = Field(min_length=1, max_length=100_000, examples=["the cat sat on the mat ."])
    top_k: int = Field(default=5, ge=1, le=50, description="predictions per position")


class TrainRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"steps": 50}]})

    steps: int = Field(ge=1, le=HARD_MAX_STEPS, examples=[50])
    lr: float | None = Field(
        default=None, gt=0.0, le=10.0, description="new learning rate from now on"
    )


class RunRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"steps": 2000}]})

    steps: int | None = Field(
        default=None, ge=1, le=HARD_MAX_STEPS, description="stop after this many"
    )
    lr: float | None = Field(default=None, gt=0.0, le=10.0)


class CompareRequest(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"steps": 1000, "corpus": "pairs"}, {"steps": 300}]}
    )

    steps: int | None = Field(
        default=None,
        ge=1,
        le=HARD_MAX_STEPS,
        description="steps for each of the 3 variants (default 200, at most the per-call limit)",
    )
    corpus: str | None = Field(
        default=None,
        description=(
            "a built-in corpus to compare on instead of the session's own; `pairs` is the one "
            "where only attention and the FFN together can learn the task"
        ),
        json_schema_extra=enum_of(BUILTIN_CORPORA),
    )

    @field_validator("corpus")
    @classmethod
    def _known_corpus(cls, value: str | None) -> str | None:
        return None if value is None else one_of(value, BUILTIN_CORPORA, "corpus")
