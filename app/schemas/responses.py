"""Response bodies: the JSON contract of every handler (checked by tests/app/test_contract.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.schemas.common import TENSOR
from model.tokenizer import TokenKind

RATIO_NOTE = (
    "‖ΔW‖ / ‖W_before‖ per parameter; null where ‖W_before‖ <= 1e-6 · ‖ΔW‖ (a weight that "
    'started the step at zero, e.g. a bias at step 1: the page shows "new")'
)


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
    tokenizer: TokenKind
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
    update_ratios: dict[str, float | None] = Field(description=RATIO_NOTE)
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
    update_ratios: dict[str, list[float | None]] = Field(description=RATIO_NOTE)
    snapshots: list[int]
    comparison: AblationOut | None


class BlockProbe(BaseModel):
    attention: list[Any] | None = Field(json_schema_extra=TENSOR, description="[heads][T][T]")
    ffn: list[Any] | None = Field(json_schema_extra=TENSOR, description="[T][d_ff]")


class ProbeOut(BaseModel):
    tokens: list[TokenOut]
    attention: list[Any] | None = Field(json_schema_extra=TENSOR)
    ffn: list[Any] | None = Field(
        default=None, json_schema_extra=TENSOR, description="[T][d_ff] block 0's FFN activations"
    )
    predictions: list[list[Prediction]] | None = Field(
        default=None, description="top-5 next tokens after each probe token"
    )
    blocks: list[BlockProbe] = Field(
        default_factory=list, description="every block's attention and FFN, block 0 first"
    )


class EntropySeries(BaseModel):
    steps: list[int]
    heads: list[list[float]] = Field(description="per head, mean entropy (bits) at each step")
    uniform: float | None = Field(description="the same mean for even attention")


class DeadUnits(BaseModel):
    steps: list[int]
    share: list[float] = Field(description="share of FFN units never > 0 on the probe")
    units: int | None


class BlockDynamics(BaseModel):
    index: int = Field(ge=0, description="the block's position, 0 = nearest the input")
    name: str = Field(description='its module path, e.g. "blocks.1" (GET /api/names)')
    label: str = Field(description='what the page calls it, e.g. "block 2"')
    entropy: EntropySeries
    dead_units: DeadUnits


class RatioSeries(BaseModel):
    steps: list[int]
    matrices: dict[str, list[float | None]] = Field(
        description="‖ΔW‖ / ‖W‖ per matrix; null where the matrix started that step at zero"
    )
    parameters: dict[str, str] = Field(
        description='each series of `matrices`: its parameter, e.g. "blocks.1.attn.W_q.weight"'
    )


class Dynamics(BaseModel):
    entropy: EntropySeries = Field(description="block 0's, as blocks[0].entropy")
    dead_units: DeadUnits = Field(description="block 0's, as blocks[0].dead_units")
    blocks: list[BlockDynamics] = Field(description="every block's series, block 0 first")
    update_ratio: RatioSeries


class SnapshotList(BaseModel):
    steps: list[int] = Field(description="stored steps, ascending")
    step: int = Field(description="the session's live step")


class StepFigures(BaseModel):
    step: int
    loss: float
    grad_norm: float
    grad_norms: dict[str, float]
    update_ratios: dict[str, float | None] = Field(description=RATIO_NOTE)


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
