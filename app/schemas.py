"""Request and response bodies. They carry the limits, so /openapi.json documents every one.

Limits that come from settings (steps per call, text length) are written into the OpenAPI schema of
each app by `app.openapi`; the static bounds here are the hard caps behind them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator
from pydantic.json_schema import JsonDict

from model.config import MAX_BLOCKS
from model.data import BUILTIN_CORPORA, MAX_USER_TEXT_CHARS
from model.presets import DEFAULT_PRESET, PRESETS

_SURROGATE = re.compile("[\ud800-\udfff]")
DEFAULT_CORPUS = "catmat" if "catmat" in BUILTIN_CORPORA else next(iter(BUILTIN_CORPORA))
HARD_MAX_STEPS = 1_000_000


def _one_of(value: str, choices: Iterable[str], what: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {what}; choose one of {sorted(choices)}")
    return value


# Nested lists of numbers (null for -inf, e.g. masked attention scores), any depth.
TENSOR: JsonDict = {"description": "nested arrays of numbers; null where the value is -inf"}


def _enum(names: Iterable[str]) -> JsonDict:
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


class ConfigOverrides(RequestModel):
    """Model config fields that replace the preset's; omitted or null fields keep it."""

    d_model: int | None = Field(default=None, ge=1, le=4096, examples=[64])
    n_heads: int | None = Field(default=None, ge=1, le=128, examples=[4])
    d_ff: int | None = Field(default=None, ge=1, le=16384, examples=[256])
    context_length: int | None = Field(default=None, ge=2, le=2048, examples=[32])
    n_blocks: int | None = Field(default=None, ge=1, le=MAX_BLOCKS, examples=[1])
    activation: Literal["gelu", "relu"] | None = None
    use_attention: bool | None = None
    use_ffn: bool | None = None
    residual: bool | None = None
    norm: Literal["pre", "post", "none"] | None = None
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

    preset: str = Field(default=DEFAULT_PRESET, json_schema_extra=_enum(PRESETS))
    corpus: str = Field(default=DEFAULT_CORPUS, json_schema_extra=_enum(BUILTIN_CORPORA))
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_USER_TEXT_CHARS,
        description="your own training text; replaces `corpus` (which then reads 'custom')",
    )
    tokenizer: Literal["word", "char"] = "word"
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
        return _one_of(value, PRESETS, "preset")

    @field_validator("corpus")
    @classmethod
    def _known_corpus(cls, value: str) -> str:
        return _one_of(value, BUILTIN_CORPORA, "corpus")


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
        json_schema_extra=_enum(BUILTIN_CORPORA),
    )

    @field_validator("corpus")
    @classmethod
    def _known_corpus(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, BUILTIN_CORPORA, "corpus")


# ---- checkpoint metadata: an import meets the limits of the API ----------------------------

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

    preset: str = Field(default="custom", json_schema_extra=_enum([*PRESETS, "custom"]))
    corpus: str = Field(default="custom", json_schema_extra=_enum([*BUILTIN_CORPORA, "custom"]))
    tokenizer: Literal["word", "char"] | None = None
    seed: int = Field(default=0, ge=0, le=2**53)
    probe: str | None = Field(default=None, min_length=1, max_length=500)
    text: str | None = Field(default=None, min_length=1, max_length=MAX_USER_TEXT_CHARS)
    train: StoredTrain = Field(default_factory=StoredTrain)
    data_generator: str | None = Field(default=None, max_length=16_384)  # 6,744 for torch 2.13
    lineage: str | None = Field(default=None, max_length=64)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        return _one_of(value, [*PRESETS, "custom"], "preset")

    @field_validator("corpus")
    @classmethod
    def _known_corpus(cls, value: str) -> str:
        return _one_of(value, [*BUILTIN_CORPORA, "custom"], "corpus")


# ---- responses ------------------------------------------------------------------------------


class ErrorItem(BaseModel):
    field: str | None = Field(description="dotted path into the body, or a query parameter")
    value: Any = Field(default=None, description="what was sent (shortened)")
    message: str = Field(description="what is allowed")


class ErrorBody(BaseModel):
    detail: str
    errors: list[ErrorItem] = Field(default_factory=list)


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class PresetOut(BaseModel):
    name: str
    description: str
    config: dict[str, Any]
    batch_size: int
    lr: float
    parameters: int = Field(description="with the default corpus's word vocabulary")


class PresetList(BaseModel):
    presets: list[PresetOut]
    default: str


class CorpusOut(BaseModel):
    name: str
    title: str
    description: str
    n_chars: int
    n_words: int


class CorpusList(BaseModel):
    corpora: list[CorpusOut]
    default: str
    max_user_text_chars: int
    min_user_tokens: int


class Interrupted(BaseModel):
    step: int = Field(description="the step the session came back at")
    message: str = Field(examples=["interrupted by a restart at step 130"])


class SessionInfo(BaseModel):
    id: str = Field(description="unguessable; the only way to reach the session")
    preset: str
    corpus: str
    tokenizer: Literal["word", "char"]
    seed: int
    config: dict[str, Any] = Field(description="the full model config, vocab_size included")
    optimizer: dict[str, Any]
    step: int
    vocab_size: int
    parameters: int
    running: bool
    comparing: bool
    probe: str
    shapes: dict[str, list[int]]
    batch_shape: list[int] = Field(description="[batch, context_length, d_model]")
    bigram_bound: float | None = Field(description="held-out nats/token of a bigram model")
    device: str
    interrupted: Interrupted | None = Field(
        default=None,
        description="set when a restart (crash or shutdown) stopped this session's background "
        "run; cleared when a run starts again",
    )
    precision: Literal["fp32", "bf16"] = Field(
        description="what the forward passes of training run in (weights are always fp32)"
    )


class TokenOut(BaseModel):
    text: str
    id: int
    unknown: bool


class Stage(BaseModel):
    name: str = Field(examples=["blocks.0.attn.hook_weights"])
    shape: list[int] = Field(description="shape of `values` (after downsampling)")
    values: list[Any] = Field(json_schema_extra=TENSOR)
    downsampled: bool
    original_shape: list[int]


class Prediction(BaseModel):
    token: str
    id: int
    prob: float


class ForwardResult(BaseModel):
    step: int
    tokens: list[TokenOut]
    n_tokens_in: int = Field(description="tokens in the text before truncation")
    truncated: bool = Field(description="true when only the last context_length tokens were kept")
    notice: str | None
    stages: list[Stage]
    attention: list[Any] | None = Field(json_schema_extra=TENSOR, description="[heads][T][T]")
    scores: list[Any] | None = Field(json_schema_extra=TENSOR)
    attention_shape: list[int] | None
    predictions: list[list[Prediction]]
    auto_downsampled: bool = Field(description="the trace was too big and max_dim was applied")
    digits: int = Field(description="significant digits kept (0: full float32)")
    precision: Literal["fp32", "bf16"] = Field(
        description="the precision this trace was computed in (values are sent as fp32)"
    )


class StepRecordOut(BaseModel):
    step: int
    loss: float
    lr: float
    grad_norm: float
    grad_norms: dict[str, float]
    update_norms: dict[str, float]
    update_ratios: dict[str, float]
    time_ms: float


class EvalOut(BaseModel):
    step: int
    heldout_loss: float | None


class Diverged(BaseModel):
    step: int
    loss: float | None
    rolled_back_to: int | None = Field(
        default=None,
        description="the step whose weights were put back (the divergence guard); null when "
        "the step that failed was simply not applied (a non-finite loss or gradient)",
    )
    message: str


class TrainResult(BaseModel):
    records: list[StepRecordOut]
    evals: list[EvalOut]
    step: int
    diverged: Diverged | None


class Series(BaseModel):
    steps: list[int]
    loss: list[float | None]


class VariantOut(BaseModel):
    variant: str
    parameters: int
    steps: list[int]
    train_loss: list[float | None]
    eval_steps: list[int]
    heldout_loss: list[float | None]
    final_heldout_loss: float | None


class AblationOut(BaseModel):
    steps: int
    corpus: str | None = Field(default=None, description="the corpus the three variants trained on")
    bigram_bound: float | None
    variants: dict[str, VariantOut]


class History(BaseModel):
    step: int
    stride: int = Field(description="1, or k when a long run kept every k-th record")
    train: Series
    heldout: Series
    grad_norm: list[float | None]
    grad_norms: dict[str, list[float | None]]
    update_norms: dict[str, list[float | None]]
    update_ratios: dict[str, list[float | None]]
    snapshots: list[int]
    comparison: AblationOut | None


class ProbeOut(BaseModel):
    tokens: list[TokenOut]
    attention: list[Any] | None = Field(json_schema_extra=TENSOR)
    ffn: list[Any] | None = Field(
        default=None, json_schema_extra=TENSOR, description="[T][d_ff] block 0's FFN activations"
    )
    predictions: list[list[Prediction]] | None = Field(
        default=None, description="top-5 next tokens after each probe token"
    )


class EntropySeries(BaseModel):
    steps: list[int]
    heads: list[list[float]] = Field(description="per head, mean entropy (bits) at each step")
    uniform: float | None = Field(description="the same mean for even attention")


class DeadUnits(BaseModel):
    steps: list[int]
    share: list[float] = Field(description="share of FFN units never > 0 on the probe")
    units: int | None


class RatioSeries(BaseModel):
    steps: list[int]
    matrices: dict[str, list[float | None]] = Field(description="‖ΔW‖ / ‖W‖ per matrix")


class Dynamics(BaseModel):
    entropy: EntropySeries
    dead_units: DeadUnits
    update_ratio: RatioSeries


class SnapshotList(BaseModel):
    steps: list[int] = Field(description="stored steps, ascending")
    step: int = Field(description="the session's live step")


class StepFigures(BaseModel):
    step: int
    loss: float
    grad_norm: float
    grad_norms: dict[str, float]
    update_ratios: dict[str, float]


class Snapshot(BaseModel):
    step: int
    loss: float | None
    heldout_loss: float | None = Field(
        default=None, description="held-out loss of this model, measured for the step-0 snapshot"
    )
    record: StepFigures | None = Field(
        default=None, description="the training step that produced this model (null at step 0)"
    )
    probe: ProbeOut
    weights: dict[str, list[Any]] = Field(description="each matrix downsampled to at most 32x32")


class Histogram(BaseModel):
    edges: list[float]
    counts: list[int]


class WeightOut(BaseModel):
    name: str
    shape: list[int]
    mean: float
    std: float
    norm: float
    change_from_init: float = Field(description="‖W − W_init‖ / ‖W_init‖ (‖W − W_init‖ if 0)")
    histogram: Histogram
    values: list[Any] | None = Field(json_schema_extra=TENSOR)
    downsampled: bool


class Weights(BaseModel):
    step: int
    weights: list[WeightOut]


class StreamMessage(BaseModel):
    type: str = Field(examples=["step"])
    droppable: bool = Field(description="may be dropped for a slow client (then `skipped` counts)")
    description: str
    json_schema: dict[str, Any] = Field(alias="schema", description="JSON schema of the message")


class StreamSchema(BaseModel):
    messages: list[StreamMessage]


class CompareStarted(BaseModel):
    started: bool
    steps: int
    corpus: str
