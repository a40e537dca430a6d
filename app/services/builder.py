"""From a request (or a checkpoint) to the parts of a session: text, tokenizer, data, model.

Shared by the API and `attnflow train`, so a checkpoint trained in the terminal imports into the
app with the same corpus, tokenizer and settings. Sizes are checked before anything is allocated.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from app.errors import ApiError
from app.schemas import SessionCreate
from model.checkpoint import Checkpoint
from model.config import ModelConfig
from model.data import TokenStream, load_corpus, validate_user_text
from model.presets import get_preset
from model.tokenizer import Tokenizer
from model.training import TrainConfig
from model.transformer import TransformerLM

CUSTOM = "custom"
CLASSIC_PROBE = "the cat sat on the mat ."


@dataclass(frozen=True)
class Spec:
    """What a session was made from; stored in checkpoints as `extra`."""

    preset: str
    corpus: str
    tokenizer: str
    seed: int
    probe: str
    train: TrainConfig

    def to_extra(self, text: str | None) -> dict[str, Any]:
        extra = {
            "preset": self.preset,
            "corpus": self.corpus,
            "tokenizer": self.tokenizer,
            "seed": self.seed,
            "probe": self.probe,
            "train": self.train.to_dict(),
        }
        if self.corpus == CUSTOM and text is not None:
            extra["text"] = text  # user text is at most MAX_USER_TEXT_CHARS: it fits the header
        return extra


@dataclass
class Parts:
    spec: Spec
    text: str
    tokenizer: Tokenizer
    data: TokenStream
    model: TransformerLM
    step: int = 0
    optimizer_state: dict[str, torch.Tensor] = field(default_factory=dict)
    # The training-batch generator's state: a resumed run draws the batches the original would.
    generator_state: torch.Tensor | None = None
    # Which history belongs to this model (set when a saved session is loaded back).
    lineage: str | None = None


def encode_generator(generator: torch.Generator) -> str:
    """A torch.Generator's state as base64 (it goes into a checkpoint's JSON `extra`)."""
    return base64.b64encode(generator.get_state().numpy().tobytes()).decode("ascii")


def decode_generator(value: object) -> torch.Tensor | None:
    """The state `encode_generator` wrote, or None when `value` is not one (then the run
    reseeds its generator: same batches as a fresh session, not those of the original run)."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None
    if len(raw) != torch.Generator().get_state().numel():
        return None
    state = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
    try:
        torch.Generator().set_state(state)
    except (RuntimeError, ValueError):
        return None
    return state


class DeviceTokenStream(TokenStream):
    """Batches moved to the model's device (the data itself stays on the CPU)."""

    def __init__(self, ids: torch.Tensor, device: torch.device) -> None:
        super().__init__(ids)
        self.device = device

    def batch(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().batch(*args, **kwargs)
        return x.to(self.device), y.to(self.device)

    def heldout_batches(self, *args: Any, **kwargs: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [
            (x.to(self.device), y.to(self.device))
            for x, y in super().heldout_batches(*args, **kwargs)
        ]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def make_stream(text: str, tokenizer: Tokenizer, device: torch.device) -> TokenStream:
    if device.type == "cpu":
        return TokenStream.from_text(text, tokenizer)
    return DeviceTokenStream(torch.tensor(tokenizer.encode(text), dtype=torch.long), device)


def corpus_text(request: SessionCreate) -> tuple[str, str]:
    """(corpus name, text): a built-in corpus, or the user's text checked against its limits."""
    if request.text is None:
        return request.corpus, load_corpus(request.corpus)
    try:
        return CUSTOM, validate_user_text(request.text, request.tokenizer)
    except ValueError as exc:
        raise ApiError(422, str(exc), "text", request.text) from None


def default_probe(text: str, tokenizer: Tokenizer, context_length: int) -> str:
    """The classic sentence when the vocabulary knows it, else the corpus's first line."""
    if (
        0 not in tokenizer.encode(CLASSIC_PROBE)
        and len(tokenizer.split(CLASSIC_PROBE)) <= context_length
    ):
        return CLASSIC_PROBE
    first = next((line for line in text.splitlines() if line.strip()), text)
    ids = tokenizer.encode(first)[: min(context_length, 24)]
    return tokenizer.decode(ids) if ids else text[:80]


def check_size(config: ModelConfig, max_parameters: int) -> None:
    count = config.parameter_count()
    if count > max_parameters:
        raise ApiError(
            422,
            f"a model of {count:,} parameters is over this server's limit of {max_parameters:,} "
            "(ATTNFLOW_MAX_PARAMETERS); choose smaller sizes",
            "config",
            count,
        )


def train_config(request: SessionCreate, preset_lr: float, preset_batch: int) -> TrainConfig:
    opt, defaults = request.optimizer, TrainConfig()
    try:
        return TrainConfig(
            lr=opt.lr or preset_lr,
            batch_size=opt.batch_size or preset_batch,
            weight_decay=defaults.weight_decay if opt.weight_decay is None else opt.weight_decay,
            beta1=defaults.beta1 if opt.beta1 is None else opt.beta1,
            beta2=defaults.beta2 if opt.beta2 is None else opt.beta2,
            eval_every=defaults.eval_every if opt.eval_every is None else opt.eval_every,
            data_seed=request.seed,
        )
    except ValueError as exc:  # the schema's bounds make this rare; name the field anyway
        name = str(exc).split("=", 1)[0]
        raise ApiError(422, str(exc), f"optimizer.{name}", getattr(opt, name, None)) from None


def checked_stream(
    text: str, tokenizer: Tokenizer, config: ModelConfig, batch_size: int, device: torch.device
) -> TokenStream:
    """The token stream, refused if its held-out tail cannot fill one window of the context."""
    data = make_stream(text, tokenizer, device)
    try:
        data.heldout_batches(batch_size, config.context_length, 1)
    except ValueError as exc:
        raise ApiError(422, str(exc), "config.context_length", config.context_length) from None
    return data


def build(
    request: SessionCreate,
    max_parameters: int,
    device: torch.device,
    budget: Callable[[ModelConfig, int], None] | None = None,
) -> Parts:
    """The parts of a new session; `budget(config, batch_size)` may refuse it (memory) before
    anything big is allocated."""
    preset = get_preset(request.preset)
    corpus, text = corpus_text(request)
    tokenizer = Tokenizer.build(text, request.tokenizer)
    overrides = request.config.model_dump(exclude_none=True)
    config = ModelConfig(
        **{**preset.model, **overrides, "vocab_size": tokenizer.vocab_size, "seed": request.seed}
    )
    check_size(config, max_parameters)
    train = train_config(request, preset.lr, preset.batch_size)
    if budget is not None:
        budget(config, train.batch_size)
    data = checked_stream(text, tokenizer, config, train.batch_size, device)
    probe = request.probe or default_probe(text, tokenizer, config.context_length)
    spec = Spec(request.preset, corpus, request.tokenizer, request.seed, probe, train)
    return Parts(spec, text, tokenizer, data, TransformerLM(config).to(device))


def from_checkpoint(
    checkpoint: Checkpoint, device: torch.device, fallback_text: str | None
) -> Parts:
    """Parts of a session resumed from a checkpoint; its corpus comes from the stored extra."""
    extra = checkpoint.extra if isinstance(checkpoint.extra, dict) else {}
    corpus = str(extra.get("corpus", CUSTOM))
    if isinstance(extra.get("text"), str):
        text = extra["text"]
    elif corpus != CUSTOM:
        try:
            text = load_corpus(corpus)
        except ValueError as exc:
            raise ApiError(422, str(exc), "checkpoint.extra.corpus", corpus) from None
    elif fallback_text is not None:
        text = fallback_text
    else:
        raise ApiError(
            422,
            "the checkpoint names no corpus and stores no text to train on",
            "checkpoint.extra.corpus",
            corpus,
        )
    config = checkpoint.model.config
    try:
        train = TrainConfig(**{**extra.get("train", {}), "data_seed": config.seed})
    except (TypeError, ValueError) as exc:
        raise ApiError(
            422,
            f"stored train settings are invalid: {exc}",
            "checkpoint.extra.train",
            extra.get("train"),
        ) from None
    data = checked_stream(text, checkpoint.tokenizer, config, train.batch_size, device)
    probe = str(
        extra.get("probe") or default_probe(text, checkpoint.tokenizer, config.context_length)
    )
    spec = Spec(
        str(extra.get("preset", "custom")),
        corpus,
        checkpoint.tokenizer.kind,
        config.seed,
        probe,
        train,
    )
    state = {k: v.to(device) for k, v in checkpoint.optimizer_state.items()}
    return Parts(
        spec,
        text,
        checkpoint.tokenizer,
        data,
        checkpoint.model.to(device),
        checkpoint.step,
        state,
        generator_state=decode_generator(extra.get("data_generator")),
    )
