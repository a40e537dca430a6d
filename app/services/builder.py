"""From a spec (or a checkpoint) to the parts of a session: text, tokenizer, data, model.

Shared by the API and `attnflow train`, so a checkpoint trained in the terminal imports into the
app with the same corpus, tokenizer and settings. Sizes are checked before anything is allocated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from app.services.errors import FieldError
from app.services.specs import CUSTOM, CreateSpec, Spec, decode_generator
from model.checkpoint import Checkpoint
from model.config import ConfigError, ModelConfig
from model.data import TokenStream, load_corpus, validate_user_text
from model.precision import fast_bf16, resolve_precision
from model.presets import get_preset
from model.tokenizer import Tokenizer
from model.training import TrainConfig
from model.transformer import TransformerLM

CLASSIC_PROBE = "the cat sat on the mat ."


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


def corpus_text(spec: CreateSpec) -> tuple[str, str]:
    """(corpus name, text): a built-in corpus, or the user's text checked against its limits."""
    if spec.text is None:
        return spec.corpus, load_corpus(spec.corpus)
    return CUSTOM, validate_user_text(spec.text, spec.tokenizer)  # type: ignore[arg-type]


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
        raise FieldError(
            "config",
            count,
            f"at most {max_parameters:,} parameters",
            f"a model of {count:,} parameters is over this server's limit of "
            f"{max_parameters:,} (ATTNFLOW_MAX_PARAMETERS); choose smaller sizes",
        )


def session_precision(requested: str, device: torch.device, config: ModelConfig) -> str:
    """fp32 or bf16 for the request; bf16 on a CUDA device without it is refused (on a CPU
    without AMX or AVX-512-BF16 it works, only slowly, so it is allowed)."""
    if requested == "bf16" and device.type == "cuda" and not fast_bf16(device):
        message = "precision bf16 is not available: this CUDA device has no bfloat16 support"
        raise FieldError("precision", requested, "fp32 or auto on this device", message)
    return resolve_precision(requested, device, config.d_model)


def train_config(
    spec: CreateSpec, preset_lr: float, preset_batch: int, precision: str = "fp32"
) -> TrainConfig:
    chosen = {k: v for k, v in spec.optimizer.items() if v is not None}
    values = {"lr": preset_lr, "batch_size": preset_batch, **chosen}
    try:
        return TrainConfig(**values, precision=precision, data_seed=spec.seed)
    except FieldError as exc:  # the schema's bounds make this rare; name the field anyway
        raise exc.at("optimizer") from None
    except TypeError:  # a field TrainConfig does not have
        unknown = sorted(set(chosen) - set(TrainConfig.__dataclass_fields__))
        name = unknown[0] if unknown else "optimizer"
        raise FieldError(
            f"optimizer.{name}", chosen.get(name), "an optimizer setting", f"{name} is unknown"
        ) from None


def checked_stream(
    text: str, tokenizer: Tokenizer, config: ModelConfig, batch_size: int, device: torch.device
) -> TokenStream:
    """The token stream, refused if its held-out tail cannot fill one window of the context."""
    data = make_stream(text, tokenizer, device)
    try:
        data.heldout_batches(batch_size, config.context_length, 1)
    except ValueError as exc:
        length = config.context_length
        raise FieldError(
            "config.context_length", length, "shorter than the held-out text", str(exc)
        ) from None
    return data


def model_config(spec: CreateSpec, preset_model: dict[str, Any], vocab_size: int) -> ModelConfig:
    overrides = {k: v for k, v in spec.config.items() if v is not None}
    values = {**preset_model, **overrides, "vocab_size": vocab_size, "seed": spec.seed}
    try:
        return ModelConfig.from_dict(values)
    except ConfigError as exc:
        raise exc.at("config") from None


def build(
    spec: CreateSpec,
    max_parameters: int,
    device: torch.device,
    budget: Callable[[ModelConfig, int], None] | None = None,
    default_precision: str = "auto",
) -> Parts:
    """The parts of a new session; `budget(config, batch_size)` may refuse it (memory) before
    anything big is allocated."""
    preset = get_preset(spec.preset)
    corpus, text = corpus_text(spec)
    tokenizer = Tokenizer.build(text, spec.tokenizer)  # type: ignore[arg-type]
    config = model_config(spec, preset.model, tokenizer.vocab_size)
    check_size(config, max_parameters)
    precision = session_precision(spec.precision or default_precision, device, config)
    train = train_config(spec, preset.lr, preset.batch_size, precision)
    if budget is not None:
        budget(config, train.batch_size)
    data = checked_stream(text, tokenizer, config, train.batch_size, device)
    probe = spec.probe or default_probe(text, tokenizer, config.context_length)
    made = Spec(spec.preset, corpus, spec.tokenizer, spec.seed, probe, train)
    return Parts(made, text, tokenizer, data, TransformerLM(config).to(device))


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
        except FieldError as exc:
            raise exc.at("checkpoint.extra") from None
    elif fallback_text is not None:
        text = fallback_text
    else:
        raise FieldError(
            "checkpoint.extra.corpus",
            corpus,
            "a built-in corpus name, or custom with the text stored",
            "the checkpoint names no corpus and stores no text to train on",
        )
    config = checkpoint.model.config
    try:
        train = TrainConfig(**{**extra.get("train", {}), "data_seed": config.seed})
    except (TypeError, ValueError) as exc:
        raise FieldError(
            "checkpoint.extra.train",
            extra.get("train"),
            "valid train settings",
            f"the stored train settings are invalid: {exc}",
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
