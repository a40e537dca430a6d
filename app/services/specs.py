"""Plain specs between the layers: what to build (`CreateSpec`, from a request or the CLI), what a
session was made from (`Spec`), and the one builder of a checkpoint's `extra` metadata, used by
the app and by `attnflow train` alike (so both resume with the same batches)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import torch

from model.data import DEFAULT_CORPUS
from model.presets import DEFAULT_PRESET
from model.training import TrainConfig

CUSTOM = "custom"


@dataclass(frozen=True)
class CreateSpec:
    """A new session as asked for; every field optional. `config` and `optimizer` hold only the
    fields that replace the preset's (or the defaults); None or absent keeps them."""

    preset: str = DEFAULT_PRESET
    corpus: str = DEFAULT_CORPUS
    text: str | None = None  # the user's own text; replaces `corpus` (which then reads custom)
    tokenizer: str = "word"
    seed: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=dict)
    precision: str | None = None  # None: the server's default
    probe: str | None = None


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


def checkpoint_extra(
    spec: Spec,
    text: str | None,
    train: TrainConfig,
    generator: torch.Generator,
    **more: Any,
) -> dict[str, Any]:
    """A checkpoint's `extra`: the spec, the train settings as of now (an lr changed since
    creation) and the batch generator's state, so a resumed run draws the batches the original
    would have. `text` is left out for built-in corpora (and by saves, which keep it apart)."""
    return {
        **spec.to_extra(text),
        "train": train.to_dict(),
        "data_generator": encode_generator(generator),
        **more,
    }


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
