"""Corpora, user-text limits, batching and the n-gram baselines, checked against real numbers."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

from model.data import (
    BUILTIN_CORPORA,
    CORPUS_DIR,
    MAX_USER_TEXT_CHARS,
    MIN_USER_TOKENS,
    TokenStream,
    bigram_entropy,
    load_corpus,
    unigram_entropy,
    validate_user_text,
)
from model.tokenizer import Tokenizer
from tests.model.corpus_generator import generate


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- corpora -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["catmat", "recall", "pairs"])
def test_builtin_corpora_match_their_generator(name: str) -> None:
    text = load_corpus(name)
    assert text == generate.CORPORA[name]()
    info = BUILTIN_CORPORA[name]
    assert info.path == CORPUS_DIR / f"{name}.txt"
    assert (info.n_chars, info.n_words) == (len(text), len(text.split()))
    assert text.count("\n") == 3000
    assert len(text.encode("utf-8")) <= 150_000
    assert all(line.endswith(" .") for line in text.splitlines())


def test_corpus_sizes_are_as_reported() -> None:
    assert BUILTIN_CORPORA["catmat"].n_words == 29_844
    assert BUILTIN_CORPORA["recall"].n_words == 3000 * 13
    assert BUILTIN_CORPORA["pairs"].n_words == 3000 * 7
    assert Tokenizer.build(load_corpus("catmat")).vocab_size == 80
    assert Tokenizer.build(load_corpus("recall")).vocab_size == 41
    assert Tokenizer.build(load_corpus("pairs")).vocab_size == 48  # 47 words and <unk>


def test_recall_lines_repeat_the_hidden_object_after_his() -> None:
    for line in load_corpus("recall").splitlines():
        words = line.split()
        assert len(words) == generate.RECALL_TOKENS_PER_LINE
        assert words[11] == words[11 - generate.RECALL_CUE_DISTANCE] == words[3]
        assert words[10] == "his"
    assert load_corpus("recall").split().count("his") == 3000  # "his" appears only as the cue


def test_pairs_lines_read_the_place_from_their_tables() -> None:
    names, objects = generate.PAIRS_NAMES, generate.PAIRS_OBJECTS
    tables = generate.PAIRS_TABLES
    kinds: Counter[str] = Counter()
    pairs_seen = set()
    for line in load_corpus("pairs").splitlines():
        words = line.split()
        assert len(words) == generate.PAIRS_TOKENS_PER_LINE
        assert words[3:5] == ["in", "the"]
        assert words[6] == "."
        first, second, third, place = words[0], words[1], words[2], words[5]
        if first == "everyone":
            kinds["object"] += 1
            assert second == "keeps"
            assert place == tables.object_homes[objects.index(third)]
        elif second == "always":
            kinds["name"] += 1
            assert third == "sleeps"
            assert place == tables.name_homes[names.index(first)]
        else:
            kinds["pair"] += 1
            assert second == "keeps"
            assert place == tables.pair[names.index(first)][objects.index(third)]
            pairs_seen.add((first, third))
    assert kinds["pair"] + kinds["name"] + kinds["object"] == 3000
    assert abs(kinds["pair"] - 1500) < 100  # half the lines, drawn at random
    assert abs(kinds["name"] - kinds["object"]) < 100
    assert len(pairs_seen) == len(names) * len(objects)  # every pair occurs: the table is learnable
    # No accidental shortcut: word classes and fixed words do not overlap.
    fixed = {"keeps", "always", "sleeps", "everyone", "in", "the", "."}
    classes = [set(names), set(objects), set(generate.PAIRS_PLACES), fixed]
    assert sum(len(c) for c in classes) == len(set().union(*classes)) == 47


def test_pairs_tables_need_both_words_on_the_pair_lines() -> None:
    tables = generate.PAIRS_TABLES
    assert tables == generate.pairs_tables()  # seeded: the same tables every time
    assert tables != generate.pairs_tables(seed=generate.SEED + 1)
    places = generate.PAIRS_PLACES
    # Every place fills exactly two cells of every row (name) and every column (objects)...
    for line in (*tables.pair, *zip(*tables.pair, strict=True)):
        assert Counter(line) == dict.fromkeys(places, 2)
    # ... yet no two names share a row and no two objects a column: the pair decides.
    assert len(set(tables.pair)) == len(tables.pair) == 16
    assert len(set(zip(*tables.pair, strict=True))) == 16
    assert Counter(tables.name_homes) == dict.fromkeys(places, 2)
    assert Counter(tables.object_homes) == dict.fromkeys(places, 2)


def test_random_latin_squares_are_latin_and_seeded() -> None:
    for n in (1, 2, 5, 16):
        square = generate._random_latin_square(n, random.Random(n))
        for line in (*square, *zip(*square, strict=True)):
            assert sorted(line) == list(range(n))
    squares = {str(generate._random_latin_square(6, random.Random(seed))) for seed in range(5)}
    assert len(squares) > 1
    again = generate._random_latin_square(6, random.Random(3))
    assert again == generate._random_latin_square(6, random.Random(3))


def test_pairs_figures_follow_from_the_tables() -> None:
    full, windowed = generate.pairs_figures(), generate.pairs_figures(context_length=32)
    ln4, ln8, ln16 = (math.log(n) for n in (4, 8, 16))
    assert full["place_bigram"] == pytest.approx(ln8, abs=1e-12)
    assert full["pair_place_given_name"] == pytest.approx(ln8, abs=1e-12)
    assert full["pair_place_given_object"] == pytest.approx(ln8, abs=1e-12)
    assert full["place_look_back"] == pytest.approx(0.0, abs=1e-12)
    # By hand, per line: the first word (a name 3/4 of the time, else "everyone"), then
    # "keeps" or "always" after a name (2 : 1), then objects on 3/4 of the lines.
    first = -(3 / 4) * math.log(3 / 64) + (1 / 4) * ln4
    second = (3 / 4) * (-(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3))
    line = first + second + (3 / 4) * ln16
    assert line == pytest.approx(5.198, abs=1e-3)
    assert full["look_back_per_token"] == pytest.approx(line / 7, abs=1e-12)
    assert full["bigram_per_token"] == pytest.approx((line + ln8) / 7, abs=1e-12)
    assert full["one_cue_per_token"] == pytest.approx((line + ln8 / 2) / 7, abs=1e-12)
    # Window predictions 0 and 1 see "the" or "in the": ln 8. Predictions 2 and 3 see the
    # objects but not the line's first word: 2/3 of such lines are pair lines, whose place is
    # still uniform, 1/3 "everyone" lines, whose place is the objects' home; "sleeps" lines
    # pay ln 8.
    mixed = -math.log(1 / 3 + 2 / 3 / 8)
    pair_line = -(1 / 8) * math.log(1 / 3 + 2 / 3 / 8) - (7 / 8) * math.log(2 / 3 / 8)
    partly = (1 / 2) * pair_line + (1 / 4) * ln8 + (1 / 4) * mixed
    blind = (2 * ln8 + 2 * partly) / 32
    assert windowed["look_back_per_token"] == pytest.approx((line + blind) / 7, abs=1e-12)
    assert windowed["look_back_per_token"] == pytest.approx(0.778, abs=1e-3)
    # Tables where one word decides the pair lines' place: one cue is then enough.
    tables = generate.PAIRS_TABLES
    by_name = tuple((home,) * 16 for home in tables.name_homes)
    one_word = generate.PairsTables(by_name, tables.name_homes, tables.object_homes)
    assert generate.pairs_figures(tables=one_word)["pair_place_given_name"] == 0.0
    assert generate.pairs_figures(tables=one_word)["pair_place_given_object"] == pytest.approx(ln8)


def test_catmat_pronouns_agree_with_subjects() -> None:
    pronouns = {"cats": "they", "dog": "it", "boy": "he", "women": "they", "girl": "she"}
    for line in load_corpus("catmat").splitlines():
        words = line.split()
        noun = next((w for w in words if w in pronouns), None)
        for joiner in ("and", "because"):
            if noun and joiner in words:
                assert words[words.index(joiner) + 1] == pronouns[noun], line


def test_unknown_corpus_names_the_allowed_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown corpus 'shakespeare'.*\['catmat', 'pairs', 'recall'\]"
    ):
        load_corpus("shakespeare")


# --- user text -----------------------------------------------------------------------------


def test_validate_user_text_accepts_and_returns_text() -> None:
    text = "the cat sat on the mat . " * 11  # 66 tokens
    assert validate_user_text(text) is text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "text is empty"),
        (" \n\t ", "text is empty"),
        ("word " * 63, f"text has 63 word tokens after normalisation; at least {MIN_USER_TOKENS}"),
        ("😀 " * 100, "text has 0 word tokens"),
        ("a" * (MAX_USER_TEXT_CHARS + 1), "text has 200,001 characters; the limit is 200,000"),
    ],
)
def test_validate_user_text_limits(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_user_text(text)


def test_validate_user_text_counts_characters_for_char_kind() -> None:
    assert validate_user_text("x" * 64, kind="char") == "x" * 64
    with pytest.raises(ValueError, match="63 char tokens"):
        validate_user_text("x" * 63, kind="char")


# --- TokenStream ---------------------------------------------------------------------------


def test_split_is_head_and_tail() -> None:
    stream = TokenStream(torch.arange(1000), heldout_fraction=0.1)
    assert torch.equal(stream.train, torch.arange(900))
    assert torch.equal(stream.heldout, torch.arange(900, 1000))
    assert stream.train.dtype == torch.long
    with pytest.raises(ValueError, match=r"heldout_fraction must be in \[0, 1\), got 1.0"):
        TokenStream(torch.arange(10), heldout_fraction=1.0)
    with pytest.raises(ValueError, match=r"1-D tensor, got shape \(2, 5\)"):
        TokenStream(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="integer tensor"):
        TokenStream(torch.zeros(5))


def test_batch_windows_follow_the_raw_stream() -> None:
    # A permutation makes every token unique, so each window's offset can be recovered.
    raw = torch.randperm(5000, generator=_generator(0))
    stream = TokenStream(raw, heldout_fraction=0.2)
    position_of = torch.empty_like(raw)
    position_of[raw] = torch.arange(len(raw))
    x, y = stream.batch("train", 8, 16, _generator(1))
    assert x.shape == y.shape == (8, 16)
    assert x.dtype == y.dtype == torch.long
    for row_x, row_y in zip(x, y, strict=True):
        offset = int(position_of[row_x[0]])
        assert offset + 17 <= len(stream.train)  # the target window stays inside train
        assert torch.equal(row_x, raw[offset : offset + 16])
        assert torch.equal(row_y, raw[offset + 1 : offset + 17])
    hx, _ = stream.batch("heldout", 8, 16, _generator(1))
    assert bool((position_of[hx] >= len(stream.train)).all())


def test_batch_is_deterministic_per_generator_seed() -> None:
    stream = TokenStream.from_text(load_corpus("catmat"), Tokenizer.build(load_corpus("catmat")))
    first = stream.batch("train", 4, 32, _generator(7))
    again = stream.batch("train", 4, 32, _generator(7))
    other = stream.batch("train", 4, 32, _generator(8))
    assert torch.equal(first[0], again[0])
    assert torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])
    generator = _generator(7)
    stream.batch("train", 4, 32, generator)
    assert not torch.equal(stream.batch("train", 4, 32, generator)[0], first[0])  # state advances


def test_batch_reports_a_split_too_short() -> None:
    stream = TokenStream(torch.arange(100), heldout_fraction=0.1)  # 90 train, 10 held out
    with pytest.raises(ValueError, match="the heldout split has 10 tokens, but context_length 9"):
        stream.batch("heldout", 2, 9, _generator(0))
    stream.batch("heldout", 2, 8, _generator(0))  # 8 + 2 = 10 tokens is enough
    with pytest.raises(ValueError, match="needs at least 92"):
        stream.batch("train", 2, 90, _generator(0))
    with pytest.raises(ValueError, match="split must be 'train' or 'heldout', got 'test'"):
        stream.batch("test", 2, 8, _generator(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        stream.batch("train", 0, 8, _generator(0))


def test_heldout_batches_are_fixed_and_disjoint_from_train() -> None:
    stream = TokenStream(torch.arange(1000), heldout_fraction=0.2)  # held out: 800..999
    batches = stream.heldout_batches(batch_size=4, context_length=10, max_batches=3)
    assert len(batches) == 3
    for index, (x, y) in enumerate(batches):
        assert x.shape == y.shape == (4, 10)
        first = 800 + index * 40
        assert torch.equal(x[:, 0], torch.arange(first, first + 40, 10))
        assert torch.equal(y, x + 1)
    assert bool((torch.cat([x for x, _ in batches]) >= 800).all())
    again = stream.heldout_batches(batch_size=4, context_length=10, max_batches=3)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again, strict=True))


def test_heldout_batches_keep_equal_sizes() -> None:
    stream = TokenStream(torch.arange(1000), heldout_fraction=0.2)  # 19 windows of 10
    assert [len(x) for x, _ in stream.heldout_batches(4, 10, 100)] == [4, 4, 4, 4]
    assert [len(x) for x, _ in stream.heldout_batches(32, 10, 100)] == [19]
    with pytest.raises(ValueError, match="max_batches must be at least 1"):
        stream.heldout_batches(4, 10, 0)


# --- n-gram baselines ----------------------------------------------------------------------


def test_bigram_entropy_matches_hand_computation() -> None:
    train, evaluation, s, v = [0, 1, 0, 1, 2], [0, 1, 2, 2], 0.1, 3
    # After 0: 1 twice (2 pairs). After 1: 0 once, 2 once (2 pairs). After 2: never seen.
    p_1_after_0 = (2 + s) / (2 + s * v)
    p_2_after_1 = (1 + s) / (2 + s * v)
    p_2_after_2 = (0 + s) / (0 + s * v)
    expected = -(math.log(p_1_after_0) + math.log(p_2_after_1) + math.log(p_2_after_2)) / 3
    got = bigram_entropy(torch.tensor(train), torch.tensor(evaluation), v, smoothing=s)
    assert got == pytest.approx(expected, rel=1e-12)


def test_unigram_entropy_matches_hand_computation() -> None:
    train, evaluation, s, v = [0, 1, 0, 1, 2], [0, 1, 2, 2], 0.1, 4
    denominator = 5 + s * v
    expected = -(math.log((2 + s) / denominator) + 2 * math.log((1 + s) / denominator)) / 3
    got = unigram_entropy(torch.tensor(train), torch.tensor(evaluation), v, smoothing=s)
    assert got == pytest.approx(expected, rel=1e-12)


def test_entropies_reject_bad_inputs() -> None:
    ids = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        bigram_entropy(ids, ids, vocab_size=2)
    with pytest.raises(ValueError, match="eval_ids needs at least 2 tokens, got 1"):
        unigram_entropy(ids, ids[:1], vocab_size=3)
    with pytest.raises(ValueError, match="smoothing must be positive"):
        bigram_entropy(ids, ids, vocab_size=3, smoothing=0.0)


def test_recall_bigram_bound_sits_well_above_the_look_back_figure() -> None:
    text = load_corpus("recall")
    tokenizer = Tokenizer.build(text)
    stream = TokenStream.from_text(text, tokenizer)
    theory = generate.recall_figures()
    windowed = generate.recall_figures(context_length=32)
    bigram = bigram_entropy(stream.train, stream.heldout, tokenizer.vocab_size)
    unigram = unigram_entropy(stream.train, stream.heldout, tokenizer.vocab_size)
    assert theory["bigram_per_token"] == pytest.approx(10.961 / 13, abs=1e-3)
    assert theory["look_back_per_token"] == pytest.approx(7.090 / 13, abs=1e-3)
    assert windowed["look_back_per_token"] == pytest.approx(0.594, abs=1e-3)
    assert bigram == pytest.approx(theory["bigram_per_token"], abs=0.02)  # measured 0.847
    assert bigram - windowed["look_back_per_token"] > 0.2
    assert unigram > bigram + 2  # measured 3.09: word order carries most of the structure
    for figure in ("0.843", "0.545", "0.594", "2.485"):
        assert figure in BUILTIN_CORPORA["recall"].description


def test_pairs_bigram_bound_sits_well_above_the_look_back_figure() -> None:
    text = load_corpus("pairs")
    tokenizer = Tokenizer.build(text)
    stream = TokenStream.from_text(text, tokenizer)
    theory = generate.pairs_figures()
    windowed = generate.pairs_figures(context_length=32)
    bigram = bigram_entropy(stream.train, stream.heldout, tokenizer.vocab_size)
    plug_in = generate.plug_in_bigram_entropy(text)
    assert plug_in == pytest.approx(theory["bigram_per_token"], abs=0.01)  # measured 1.040
    assert bigram == pytest.approx(theory["bigram_per_token"], abs=0.03)  # measured 1.061
    assert bigram - windowed["look_back_per_token"] > 0.25
    assert theory["bigram_per_token"] > theory["one_cue_per_token"] + 0.1
    assert theory["one_cue_per_token"] > windowed["look_back_per_token"] + 0.1
    description = BUILTIN_CORPORA["pairs"].description
    for figure in ("2.079", "1.040", "0.891", "0.743", "0.778"):
        assert figure in description
    assert f"{theory['bigram_per_token']:.3f}" == "1.040"
    assert f"{theory['one_cue_per_token']:.3f}" == "0.891"
    assert f"{theory['look_back_per_token']:.3f}" == "0.743"


def test_catmat_bigram_entropy_is_between_zero_and_unigram() -> None:
    text = load_corpus("catmat")
    tokenizer = Tokenizer.build(text)
    stream = TokenStream.from_text(text, tokenizer)
    bigram = bigram_entropy(stream.train, stream.heldout, tokenizer.vocab_size)
    unigram = unigram_entropy(stream.train, stream.heldout, tokenizer.vocab_size)
    assert bigram == pytest.approx(1.495, abs=0.01)
    assert unigram == pytest.approx(3.626, abs=0.01)
    assert math.log(tokenizer.vocab_size) > unigram


def test_repository_layout_keeps_corpora_as_plain_text() -> None:
    for info in BUILTIN_CORPORA.values():
        assert info.path is not None
        assert info.path.parent == CORPUS_DIR
    assert not (Path(CORPUS_DIR) / "__init__.py").exists()
