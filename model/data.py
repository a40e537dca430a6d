"""Corpora, user-text limits, token streams with a held-out split, and n-gram baselines.

The n-gram entropies are the yardsticks the app plots next to the model's loss:
a model without attention sees one position at a time, so it cannot do much
better than the bigram figure; only looking back can go below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from model.errors import FieldError
from model.tokenizer import Tokenizer, TokenKind

CORPUS_DIR = Path(__file__).resolve().parent / "corpora"
MAX_USER_TEXT_CHARS = 200_000
MIN_USER_TOKENS = 64
Split = Literal["train", "heldout"]
IdsLike = torch.Tensor | np.ndarray | Sequence[int]


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    title: str
    description: str
    path: Path | None  # None for text that did not come from a file
    n_chars: int
    # Whitespace-separated words; the built-in corpora are stored pre-tokenised,
    # so this equals the word tokenizer's token count.
    n_words: int


_CATMAT_DESCRIPTION = (
    "3000 short sentences in the style of 'the cat sat on the mat'. Each subject has its "
    "own verbs and places (birds sit on a branch, fish swim in the pond), and a second "
    "clause refers back with a pronoun that agrees with the subject: 'the dogs ran in the "
    "park because they were hungry .' Word vocabulary: 79 tokens."
)
_RECALL_DESCRIPTION = (
    "3000 lines of 'NAME lost a OBJECT . in the PLACE he found his OBJECT .' with names, "
    "objects and places drawn at random. The object after 'his' can only be predicted by "
    "looking 8 tokens back: a bigram model (or any model without attention) pays "
    "ln 12 = 2.485 nats there, a model that looks back pays 0. Over the whole corpus that "
    "is 0.843 nats/token for a bigram model and 0.545 for a look-back model (0.594 in "
    "windows of 32 tokens, whose first positions cannot see their cue)."
)
_PAIRS_DESCRIPTION = (
    "3000 lines of three kinds: 'NAME keeps OBJECTS in the PLACE .' (half of them), 'NAME "
    "always sleeps in the PLACE .' and 'everyone keeps OBJECTS in the PLACE .', with 16 names "
    "and 16 objects drawn at random and 8 places. In the last two kinds the place follows from "
    "one word; in the first it follows from the pair, through a fixed table in which the name "
    "alone or the objects alone say nothing (ln 8 = 2.079 nats, as much as 'the' alone). A "
    "model without attention sees one position at a time and stays at the bigram figure, "
    "1.040 nats/token; reading the place off one earlier word, as attention alone can, solves "
    "only the one-word lines (0.891); attention gathering both words and the feed-forward "
    "network looking the pair up can reach the look-back figure, 0.743 (0.778 in windows of "
    "32 tokens, whose first positions cannot see the whole line)."
)


def _builtin(name: str, title: str, description: str) -> CorpusInfo:
    path = CORPUS_DIR / f"{name}.txt"
    text = path.read_text(encoding="utf-8")
    return CorpusInfo(name, title, description, path, len(text), len(text.split()))


BUILTIN_CORPORA: dict[str, CorpusInfo] = {
    info.name: info
    for info in (
        _builtin("catmat", "The cat sat on the mat", _CATMAT_DESCRIPTION),
        _builtin("recall", "Recall: find the hidden object", _RECALL_DESCRIPTION),
        _builtin("pairs", "Pairs: who keeps what where", _PAIRS_DESCRIPTION),
    )
}
DEFAULT_CORPUS = "catmat"  # the classic sentence's corpus: what `{}` creates


def load_corpus(name: str) -> str:
    """Text of a built-in corpus; ValueError listing the allowed names otherwise."""
    info = BUILTIN_CORPORA.get(name)
    if info is None or info.path is None:
        allowed = sorted(BUILTIN_CORPORA)
        raise FieldError(
            "corpus",
            name,
            f"one of {allowed}",
            f"unknown corpus {name!r}; allowed names: {allowed}",
        )
    return info.path.read_text(encoding="utf-8")


def validate_user_text(text: str, kind: TokenKind = "word") -> str:
    """Return `text` unchanged if it is usable as a corpus, else raise ValueError.

    Tokens are counted after `kind`-level normalisation, so punctuation-only or
    emoji-only text is rejected as too short.
    """
    allowed = f"at least {MIN_USER_TOKENS} tokens and at most {MAX_USER_TEXT_CHARS:,} characters"
    if not isinstance(text, str):
        raise FieldError("text", text, allowed, f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise FieldError("text", text, allowed, "text is empty; paste at least a few sentences")
    if len(text) > MAX_USER_TEXT_CHARS:
        message = f"text has {len(text):,} characters; the limit is {MAX_USER_TEXT_CHARS:,}"
        raise FieldError("text", text, allowed, message)
    n_tokens = len(Tokenizer(kind, ("<unk>",)).split(text))
    if n_tokens < MIN_USER_TOKENS:
        message = (
            f"text has {n_tokens} {kind} tokens after normalisation; "
            f"at least {MIN_USER_TOKENS} are needed"
        )
        raise FieldError("text", text, allowed, message)
    return text


class TokenStream:
    """A corpus as token ids, split into a training head and a held-out tail."""

    def __init__(self, ids: torch.Tensor, heldout_fraction: float = 0.1) -> None:
        if ids.dim() != 1:
            raise ValueError(f"ids must be a 1-D tensor, got shape {tuple(ids.shape)}")
        if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
            raise ValueError(f"ids must be an integer tensor, got {ids.dtype}")
        if not 0.0 <= heldout_fraction < 1.0:
            raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
        ids = ids.detach().to(device="cpu", dtype=torch.long)
        # The tail, not a random sample: held-out windows then never share
        # tokens with training windows.
        n_heldout = round(len(ids) * heldout_fraction)
        self.train: torch.Tensor = ids[: len(ids) - n_heldout].clone()
        self.heldout: torch.Tensor = ids[len(ids) - n_heldout :].clone()

    @classmethod
    def from_text(
        cls, text: str, tokenizer: Tokenizer, heldout_fraction: float = 0.1
    ) -> TokenStream:
        ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
        return cls(ids, heldout_fraction)

    def batch(
        self, split: Split, batch_size: int, context_length: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows x (B, T) and targets y = x shifted by one token.

        The same generator state gives the same batch.
        """
        ids = self._checked_split(split, batch_size, context_length)
        starts = torch.randint(0, len(ids) - context_length, (batch_size,), generator=generator)
        return _windows(ids, starts, context_length)

    def heldout_batches(
        self, batch_size: int, context_length: int, max_batches: int
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Fixed windows from the held-out tail, so losses are comparable across steps.

        Consecutive windows start context_length apart, so every held-out target
        is scored at most once. All batches hold batch_size windows (a held-out
        tail too short for one full batch gives one smaller batch), so a plain
        mean of the batch losses weights every window equally.
        """
        if max_batches < 1:
            raise ValueError(f"max_batches must be at least 1, got {max_batches}")
        ids = self._checked_split("heldout", batch_size, context_length)
        n_windows = min((len(ids) - 1) // context_length, batch_size * max_batches)
        if n_windows >= batch_size:
            n_windows -= n_windows % batch_size
        starts = torch.arange(n_windows) * context_length
        return [_windows(ids, chunk, context_length) for chunk in starts.split(batch_size)]

    def _checked_split(self, split: str, batch_size: int, context_length: int) -> torch.Tensor:
        if split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if context_length < 1:
            raise ValueError(f"context_length must be at least 1, got {context_length}")
        ids = self.train if split == "train" else self.heldout
        needed = context_length + 2
        if len(ids) < needed:
            raise ValueError(
                f"the {split} split has {len(ids)} tokens, but context_length "
                f"{context_length} needs at least {needed}; use a shorter context "
                "or a longer text"
            )
        return ids


def _windows(
    ids: torch.Tensor, starts: torch.Tensor, context_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    positions = starts.unsqueeze(1) + torch.arange(context_length)
    return ids[positions], ids[positions + 1]


def _id_array(ids: IdsLike, vocab_size: int, name: str) -> np.ndarray:
    array = np.asarray(ids.detach().cpu() if isinstance(ids, torch.Tensor) else ids)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= vocab_size):
        raise ValueError(
            f"{name} holds ids from {array.min()} to {array.max()}, outside 0..{vocab_size - 1}"
        )
    return array


def _checked_inputs(
    train_ids: IdsLike, eval_ids: IdsLike, vocab_size: int, smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be at least 1, got {vocab_size}")
    if smoothing <= 0:
        raise ValueError(f"smoothing must be positive (it keeps log(0) away), got {smoothing}")
    train = _id_array(train_ids, vocab_size, "train_ids")
    evaluation = _id_array(eval_ids, vocab_size, "eval_ids")
    if len(evaluation) < 2:
        raise ValueError(f"eval_ids needs at least 2 tokens, got {len(evaluation)}")
    return train, evaluation


def _lookup_pair_counts(train: np.ndarray, evaluation: np.ndarray, vocab_size: int) -> np.ndarray:
    """How often each consecutive pair of `evaluation` occurs in `train`."""
    # Sparse pair codes: a dense V x V table would not fit for large user vocabularies.
    codes, counts = np.unique(train[:-1] * vocab_size + train[1:], return_counts=True)
    wanted = evaluation[:-1] * vocab_size + evaluation[1:]
    if len(codes) == 0:
        return np.zeros(len(wanted), dtype=np.int64)
    slot = np.minimum(np.searchsorted(codes, wanted), len(codes) - 1)
    return np.where(codes[slot] == wanted, counts[slot], 0)


def bigram_entropy(
    train_ids: IdsLike, eval_ids: IdsLike, vocab_size: int, smoothing: float = 0.1
) -> float:
    """Cross-entropy in nats/token of an add-`smoothing` bigram model on eval_ids.

    P(b | a) = (count(a b) + s) / (count(a followed by anything) + s * V), counted
    on train_ids; scored on each of eval_ids[1:] given the token before it.
    """
    train, evaluation = _checked_inputs(train_ids, eval_ids, vocab_size, smoothing)
    pair_count = _lookup_pair_counts(train, evaluation, vocab_size)
    follower_totals = np.bincount(train[:-1], minlength=vocab_size)[evaluation[:-1]]
    probability = (pair_count + smoothing) / (follower_totals + smoothing * vocab_size)
    return float(-np.log(probability).mean())


def unigram_entropy(
    train_ids: IdsLike, eval_ids: IdsLike, vocab_size: int, smoothing: float = 0.1
) -> float:
    """Cross-entropy in nats/token of an add-`smoothing` unigram model on eval_ids.

    P(b) = (count(b) + s) / (len(train_ids) + s * V); scored on eval_ids[1:], the
    same positions as bigram_entropy, so the two figures compare directly.
    """
    train, evaluation = _checked_inputs(train_ids, eval_ids, vocab_size, smoothing)
    counts = np.bincount(train, minlength=vocab_size)[evaluation[1:]]
    probability = (counts + smoothing) / (len(train) + smoothing * vocab_size)
    return float(-np.log(probability).mean())
