"""Tokenizer: normalisation rules, id mapping, vocabulary order and serialisation."""

from __future__ import annotations

import json

import pytest

from model.data import BUILTIN_CORPORA, load_corpus
from model.tokenizer import UNK, Tokenizer

EMPTY_WORD = Tokenizer("word", (UNK,))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Cat SAT", ["the", "cat", "sat"]),
        (
            "Hi, you! Ready? Yes; no: ok.",
            ["hi", ",", "you", "!", "ready", "?", "yes", ";", "no", ":", "ok", "."],
        ),
        ("don't stop", ["don't", "stop"]),
        ("Don’t", ["don't"]),  # typographic apostrophe
        ("'quoted' dogs'", ["quoted", "dogs"]),  # apostrophes at word edges go
        ("line one\nline two\r\n\tend", ["line", "one", "line", "two", "end"]),
        ("e-mail (x) #1 $5", ["email", "x", "1", "5"]),  # other characters vanish
        ("ＦＵＬＬ width", ["full", "width"]),  # NFKC folds compatibility forms
        ("café naïve", ["café", "naïve"]),
        ("wait...", ["wait", ".", ".", "."]),
        ("I ❤ 🐈 cats 😀", ["i", "cats"]),
        ("😀🐈", []),
        ("", []),
        ("   \n ", []),
        ("''' -- ", []),
    ],
)
def test_word_split(text: str, expected: list[str]) -> None:
    assert EMPTY_WORD.split(text) == expected
    assert EMPTY_WORD.normalize(text) == " ".join(expected)


def test_char_normalize_only_nfc_and_crlf() -> None:
    tokenizer = Tokenizer("char", (UNK,))
    assert tokenizer.normalize("Cafe\u0301!\r\nA\rb") == "Café!\nA\rb"
    assert tokenizer.split("ab\r\nc") == ["a", "b", "\n", "c"]
    assert tokenizer.split("") == []


def test_build_orders_by_frequency_then_alphabet() -> None:
    tokenizer = Tokenizer.build("b a c b a b d .")
    assert tokenizer.vocab == (UNK, "b", "a", ".", "c", "d")
    assert tokenizer.vocab_size == 6
    assert Tokenizer.build("b a c b a b d .") == tokenizer


def test_build_max_vocab_counts_unk() -> None:
    tokenizer = Tokenizer.build("b a c b a b d", max_vocab=3)
    assert tokenizer.vocab == (UNK, "b", "a")
    assert tokenizer.encode("a b c d") == [2, 1, 0, 0]
    assert Tokenizer.build("a", max_vocab=1).vocab == (UNK,)
    with pytest.raises(ValueError, match="max_vocab must be at least 1"):
        Tokenizer.build("a", max_vocab=0)


def test_unknown_tokens_map_to_zero_and_are_marked() -> None:
    tokenizer = Tokenizer.build("the cat sat .")
    assert tokenizer.encode("The dog sat!") == [tokenizer.vocab.index("the"), 0, 3, 0]
    assert tokenizer.tokens("The dog sat.") == [
        ("the", 4, False),
        ("dog", 0, True),
        ("sat", 3, False),
        (".", 1, False),
    ]
    assert tokenizer.encode("") == []
    assert tokenizer.tokens("😀") == []


def test_char_tokenizer_marks_unseen_characters() -> None:
    tokenizer = Tokenizer.build("abca", kind="char")
    assert tokenizer.vocab == (UNK, "a", "b", "c")
    assert tokenizer.encode("ab😀") == [1, 2, 0]
    assert tokenizer.tokens("z") == [("z", 0, True)]
    assert tokenizer.decode([1, 2, 0]) == "ab" + UNK


def test_decode_attaches_punctuation_to_previous_word() -> None:
    tokenizer = Tokenizer.build("hello , world ! it's fine .")
    ids = tokenizer.encode("Hello, world! It's fine.")
    assert tokenizer.decode(ids) == "hello, world! it's fine."
    assert tokenizer.decode([]) == ""
    assert tokenizer.decode([tokenizer.vocab.index(","), 0]) == ", " + UNK


def test_decode_rejects_ids_outside_the_vocabulary() -> None:
    tokenizer = Tokenizer.build("a b")
    with pytest.raises(ValueError, match=r"token id 3 is outside the vocabulary \(0\.\.2\)"):
        tokenizer.decode([1, 3])
    with pytest.raises(ValueError, match="token id -1"):
        tokenizer.decode([-1])


@pytest.mark.parametrize("name", sorted(BUILTIN_CORPORA))
def test_round_trip_on_builtin_corpora(name: str) -> None:
    text = load_corpus(name)
    words = Tokenizer.build(text)
    ids = words.encode(text)
    assert 0 not in ids
    assert len(ids) == BUILTIN_CORPORA[name].n_words  # stored pre-tokenised
    assert words.encode(words.decode(ids)) == ids
    assert words.vocab_size <= 100
    chars = Tokenizer.build(text, kind="char")
    assert chars.decode(chars.encode(text)) == text


def test_dict_round_trip_through_json() -> None:
    for kind in ("word", "char"):
        tokenizer = Tokenizer.build("The cat sat, the dog ran.", kind=kind)
        restored = Tokenizer.from_dict(json.loads(json.dumps(tokenizer.to_dict())))
        assert restored == tokenizer
        assert restored.kind == kind
        assert restored.encode("the dog") == tokenizer.encode("the dog")
    assert Tokenizer.build("a b").to_dict() == {"kind": "word", "vocab": [UNK, "a", "b"]}


@pytest.mark.parametrize(
    ("vocab", "kind", "message"),
    [
        ([], "word", "vocab\\[0\\] must be the unknown token '<unk>', got nothing"),
        (["a", UNK], "word", "vocab\\[0\\] must be the unknown token '<unk>', got 'a'"),
        ([UNK, "a", "a"], "word", "vocab\\[2\\] = 'a' is a duplicate"),
        ([UNK, "a", UNK], "word", "vocab\\[2\\] = '<unk>' is a duplicate"),
        ([UNK, ""], "word", "vocab\\[1\\] must be a non-empty string"),
        ([UNK, 5], "word", "vocab\\[1\\] must be a non-empty string, got 5"),
        ([UNK, "a b"], "word", "contains whitespace"),
        ([UNK, "ab"], "char", "has 2 characters; a char tokenizer needs single"),
        ([UNK, "a"], "byte", "kind must be one of \\['word', 'char'\\], got 'byte'"),
        ("<unk>", "word", "not a single string"),
    ],
)
def test_from_vocab_rejects_bad_vocabularies(vocab: object, kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Tokenizer.from_vocab(vocab, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"vocab": [UNK]}, "lacks the field\\(s\\) \\['kind'\\]"),
        ({"kind": "word", "vocab": "abc"}, "'vocab' must be a list"),
        ({"kind": "word", "vocab": ["a"]}, "vocab\\[0\\] must be the unknown token"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_from_dict_rejects_malformed_data(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Tokenizer.from_dict(data)  # type: ignore[arg-type]


def test_tokenizer_is_immutable() -> None:
    tokenizer = Tokenizer.build("a b")
    with pytest.raises(AttributeError):
        tokenizer.vocab = (UNK,)  # type: ignore[misc]
    assert isinstance(tokenizer.vocab, tuple)
    assert Tokenizer.from_vocab([UNK, "x"], "word").vocab == (UNK, "x")
