"""The stream contract: one typed definition per WebSocket message, and its droppable flag.

Every producer (the recorder, the training loop, the comparison, the broadcaster, the stream
router) builds its messages from these classes; the broadcaster serialises them once (orjson
writes dataclasses and numpy arrays natively). `stream_schema()` publishes the same list, as JSON
schemas, at GET /api/stream/schema; docs/api-contract.md describes each.

Droppable messages may be dropped for a slow client; the next delivered one of that type then
carries `skipped` (spliced in by app.services.stream.Watcher, so it is not a field here).
Tokens have one shape everywhere, stream and snapshots and /forward alike: `Token`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import TypeAdapter
from typing_extensions import TypedDict

from model.names import PHASES
from model.tokenizer import Tokenizer
from model.training import StepRecord

UNKNOWN_ID = 0  # the tokenizer's <unk>
RunState = Literal["started", "paused", "finished", "diverged", "reset"]


class Token(TypedDict):
    """One token of a sentence: its text, vocabulary id and whether it is <unk>."""

    text: str
    id: int
    unknown: bool


def token(text: str, token_id: int, unknown: bool) -> Token:
    return {"text": text, "id": token_id, "unknown": unknown}


def vocab_tokens(tokenizer: Tokenizer, ids: list[int]) -> list[Token]:
    """Tokens of known ids (the probe sentence): their vocabulary text."""
    return [token(tokenizer.vocab[i], i, i == UNKNOWN_ID) for i in ids]


@dataclass(frozen=True, kw_only=True)
class Hello:
    """Sent once on connect."""

    droppable: ClassVar[bool] = False
    type: Literal["hello"] = "hello"
    session: str
    step: int
    running: bool
    comparing: bool


@dataclass(frozen=True, kw_only=True)
class Step:
    """One training step (of a background run or a /train call)."""

    droppable: ClassVar[bool] = True
    type: Literal["step"] = "step"
    record: StepRecord
    phases: tuple[str, ...] = PHASES  # the diagram animates them in this order


@dataclass(frozen=True, kw_only=True)
class Eval:
    """A held-out loss measurement."""

    droppable: ClassVar[bool] = False
    type: Literal["eval"] = "eval"
    step: int
    heldout_loss: float | None


@dataclass(frozen=True, kw_only=True)
class Attention:
    """The probe sentence's attention, [heads][T][T], at most every stream_attention_interval_s
    and at every snapshot step."""

    droppable: ClassVar[bool] = True
    type: Literal["attention"] = "attention"
    step: int
    tokens: list[Token]
    attention: Any  # (heads, T, T) floats: numpy on the way out


@dataclass(frozen=True, kw_only=True)
class Run:
    """A background run (or a reset, a checkpoint load) changed state."""

    droppable: ClassVar[bool] = False
    type: Literal["run"] = "run"
    state: RunState
    step: int
    message: str


@dataclass(frozen=True, kw_only=True)
class Diverged:
    """Just before the `run` message with state diverged: why, and which weights came back."""

    droppable: ClassVar[bool] = False
    type: Literal["diverged"] = "diverged"
    step: int
    loss: float | None
    rolled_back_to: int | None  # null when the failing step was simply not applied
    message: str


@dataclass(frozen=True, kw_only=True)
class Compare:
    """Progress of the ablation comparison: one variant's training step."""

    droppable: ClassVar[bool] = True
    type: Literal["compare"] = "compare"
    variant: str
    step: int
    loss: float


@dataclass(frozen=True, kw_only=True)
class CompareDone:
    """The comparison ended: its AblationResult, or null and a message when it failed."""

    droppable: ClassVar[bool] = False
    type: Literal["compare_done"] = "compare_done"
    result: dict[str, Any] | None
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class Bye:
    """The server ends the stream (shutdown, session deleted, evicted, expired, unknown)."""

    droppable: ClassVar[bool] = False
    type: Literal["bye"] = "bye"
    reason: str


Message = Hello | Step | Eval | Attention | Run | Diverged | Compare | CompareDone | Bye
MESSAGES: tuple[type[Message], ...] = (
    Hello,
    Step,
    Eval,
    Attention,
    Run,
    Diverged,
    Compare,
    CompareDone,
    Bye,
)
DROPPABLE: frozenset[str] = frozenset(m.type for m in MESSAGES if m.droppable)


def stream_schema() -> dict[str, Any]:
    """Every message type: whether it is droppable, and its JSON schema."""
    messages = []
    for kind in MESSAGES:
        schema = TypeAdapter(kind).json_schema()
        schema["required"] = ["type", *schema.get("required", [])]
        if kind.droppable:
            schema["properties"]["skipped"] = {
                "type": "integer",
                "description": "messages of this type dropped for this client since the last one",
            }
        messages.append(
            {
                "type": kind.type,
                "droppable": kind.droppable,
                "description": (kind.__doc__ or "").strip(),
                "schema": schema,
            }
        )
    return {"messages": messages}
