"""Word- and character-level tokenizers with a fixed, deterministic vocabulary.

Word-level normalisation, applied in this order:

1. Unicode NFKC, then lowercase.
2. The typographic apostrophes ’ ‘ ʼ count as the ASCII apostrophe '.
3. The punctuation marks . , ! ? ; : become tokens of their own.
4. Apostrophes inside words are kept ("don't" stays one token); apostrophes at
   the start or end of a word are dropped ("'tis" -> "tis", "dogs'" -> "dogs").
5. Newlines, tabs and every other whitespace character separate tokens.
6. Every other character that is not a letter (Unicode category L*), a digit
   (Nd), a combining mark (M*) right after a letter, digit or mark, an
   apostrophe or one of the marks above is dropped without leaving a gap:
   "e-mail" -> "email"; emoji vanish, with their variation selectors.

Character-level normalisation only applies Unicode NFC and turns "\\r\\n" into
"\\n"; every remaining code point is a token.

Id 0 is always the unknown token ``<unk>``: encoding never fails, it maps any
token outside the vocabulary to 0.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

UNK = "<unk>"
TokenKind = Literal["word", "char"]
TOKEN_KINDS: tuple[TokenKind, ...] = ("word", "char")
PUNCTUATION = frozenset(".,!?;:")
APOSTROPHE = "'"
# Typographic variants that users paste from word processors; treating them as
# the ASCII apostrophe keeps "don’t" and "don't" the same token.
_APOSTROPHE_VARIANTS = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc", APOSTROPHE))


def _is_letter_or_digit(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] == "L" or category == "Nd"


def _is_mark(char: str) -> bool:
    # Combining accents and Indic vowel signs keep words whole; on their own
    # (an emoji's variation selector) they are noise.
    return unicodedata.category(char)[0] == "M"


def _check_kind(kind: object) -> TokenKind:
    if kind not in TOKEN_KINDS:
        raise ValueError(f"tokenizer kind must be one of {list(TOKEN_KINDS)}, got {kind!r}")
    return cast(TokenKind, kind)


def _check_vocab(vocab: tuple[str, ...], kind: TokenKind) -> None:
    """Reject vocabularies that encode() and decode() could not use consistently."""
    if not vocab or vocab[0] != UNK:
        first = repr(vocab[0]) if vocab else "nothing (the vocabulary is empty)"
        raise ValueError(f"vocab[0] must be the unknown token {UNK!r}, got {first}")
    seen: set[str] = set()
    for index, token in enumerate(vocab):
        if not isinstance(token, str) or not token:
            raise ValueError(f"vocab[{index}] must be a non-empty string, got {token!r}")
        if token in seen:
            raise ValueError(f"vocab[{index}] = {token!r} is a duplicate; tokens must be unique")
        if kind == "char" and index > 0 and len(token) != 1:
            raise ValueError(
                f"vocab[{index}] = {token!r} has {len(token)} characters; "
                "a char tokenizer needs single characters"
            )
        if kind == "word" and any(char.isspace() for char in token):
            raise ValueError(f"vocab[{index}] = {token!r} contains whitespace; a word cannot")
        seen.add(token)


@dataclass(frozen=True)
class Tokenizer:
    """Maps text to token ids and back; immutable once constructed."""

    kind: TokenKind
    vocab: tuple[str, ...]
    # Derived from vocab, so left out of equality, hashing and repr.
    _ids: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _check_kind(self.kind))
        object.__setattr__(self, "vocab", tuple(self.vocab))
        _check_vocab(self.vocab, self.kind)
        object.__setattr__(self, "_ids", {token: i for i, token in enumerate(self.vocab)})

    @classmethod
    def build(cls, text: str, kind: TokenKind = "word", max_vocab: int | None = None) -> Tokenizer:
        """Vocabulary of `text`, most frequent first, ties broken alphabetically.

        `max_vocab` counts <unk>, so at most max_vocab - 1 corpus tokens are kept.
        """
        if max_vocab is not None and max_vocab < 1:
            raise ValueError(f"max_vocab must be at least 1 (room for {UNK}), got {max_vocab}")
        splitter = cls(_check_kind(kind), (UNK,))
        counts = Counter(splitter.split(text))
        ranked = sorted(counts, key=lambda token: (-counts[token], token))
        if max_vocab is not None:
            ranked = ranked[: max_vocab - 1]
        return cls(kind, (UNK, *ranked))

    @classmethod
    def from_vocab(cls, vocab: Sequence[str], kind: TokenKind) -> Tokenizer:
        """Rebuild a tokenizer from a stored vocabulary; ValueError if it is malformed."""
        if isinstance(vocab, str):
            raise ValueError("vocab must be a sequence of token strings, not a single string")
        return cls(kind, tuple(vocab))

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Tokenizer:
        """Inverse of to_dict(); ValueError names the missing or malformed field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"tokenizer data must be a mapping, got {type(data).__name__}")
        missing = [key for key in ("kind", "vocab") if key not in data]
        if missing:
            raise ValueError(f"tokenizer data lacks the field(s) {missing}")
        vocab = data["vocab"]
        if not isinstance(vocab, (list, tuple)):
            raise ValueError(f"tokenizer 'vocab' must be a list, got {type(vocab).__name__}")
        return cls(_check_kind(data["kind"]), tuple(vocab))

    def to_dict(self) -> dict[str, object]:
        """JSON-safe description, stored in checkpoint metadata."""
        return {"kind": self.kind, "vocab": list(self.vocab)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def normalize(self, text: str) -> str:
        """Normalised text; for words, the tokens joined by single spaces."""
        if self.kind == "char":
            return unicodedata.normalize("NFC", text).replace("\r\n", "\n")
        return " ".join(self._split_words(text))

    def split(self, text: str) -> list[str]:
        """Token strings of `text`, before the id lookup."""
        if self.kind == "char":
            return list(self.normalize(text))
        return self._split_words(text)

    def encode(self, text: str) -> list[int]:
        """Token ids; tokens outside the vocabulary become 0 (<unk>)."""
        return [self._ids.get(token, 0) for token in self.split(text)]

    def tokens(self, text: str) -> list[tuple[str, int, bool]]:
        """(surface token, id, is_unknown) for each token, so callers can mark <unk>."""
        result = []
        for token in self.split(text):
            token_id = self._ids.get(token, 0)
            result.append((token, token_id, token_id == 0))
        return result

    def decode(self, ids: Sequence[int]) -> str:
        """Text for `ids`; words are space-separated with punctuation attached to the left."""
        pieces = [self.vocab[self._check_id(token_id)] for token_id in ids]
        if self.kind == "char":
            return "".join(pieces)
        text = ""
        for piece in pieces:
            glued = piece in PUNCTUATION or not text
            text += piece if glued else " " + piece
        return text

    def _check_id(self, token_id: int) -> int:
        # int() also accepts 0-d tensors and numpy integers; negative ids would
        # otherwise index from the end of the vocabulary without complaint.
        index = int(token_id)
        if not 0 <= index < len(self.vocab):
            last = len(self.vocab) - 1
            raise ValueError(f"token id {index} is outside the vocabulary (0..{last})")
        return index

    @staticmethod
    def _split_words(text: str) -> list[str]:
        """Word-level normalisation as described in the module docstring."""
        text = unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHE_VARIANTS)
        kept: list[str] = []
        after_letter = False  # whether the last kept character was a letter, digit or mark
        for char in text:
            if _is_letter_or_digit(char) or (after_letter and _is_mark(char)):
                kept.append(char)
                after_letter = True
            elif char in PUNCTUATION or char.isspace() or char == APOSTROPHE:
                kept.append(f" {char} " if char in PUNCTUATION else char)
                after_letter = False
            # Anything else is dropped without ending the word: "e-mail" -> "email".
        words = (chunk.strip(APOSTROPHE) for chunk in "".join(kept).split())
        return [word for word in words if word]
