"""Generate the built-in corpora catmat.txt, recall.txt and pairs.txt (deterministic, seeded).

Run ``python3 model/corpora/generate.py`` from the repository root to rewrite
the three files next to this script and print their figures. The text is stored
already tokenised (lowercase, a space before every punctuation mark), so the
word tokenizer's split is simply ``str.split``.

catmat.txt
    Short "the cat sat on the mat" sentences, one per line. Each subject has its
    own verbs and places (birds sit on a branch, fish swim in the pond), and a
    second clause refers back with a pronoun that agrees with the subject in
    gender and number ("the dogs ran in the park because they were hungry .").

recall.txt
    Every line follows one 13-token template::

        NAME lost a OBJECT . in the PLACE he found his OBJECT .
        0    1    2 3      4 5  6   7     8  9     10  11     12

    NAME (10 words), OBJECT (12) and PLACE (10) are drawn independently and
    uniformly. Every other word follows from the one before it, except after
    a full stop, which is followed by "in" (position 5) or by the next line's
    NAME (position 0), half the time each.

    Positions predictable only by looking back:

    * 11, the recalled OBJECT: "his" appears nowhere else and is followed by
      any of the 12 objects equally often, so a bigram model (and a model
      without attention, which sees one position at a time) pays
      ln 12 = 2.485 nats there, while copying the token 8 places back
      (position 3) costs 0 nats.
    * 5 ("in") and the next line's 0 (NAME): the bigram model only sees ".",
      so it pays ln 2 = 0.693 nats extra at each; the word two before the
      full stop ("a" or "his") settles which full stop it is.

    Per line (13 predictions), a look-back model pays the three random slots,
    ln 10 + ln 12 + ln 10 = 7.090 nats, i.e. 0.545 nats/token; a bigram model
    pays ln 12 + 2 ln 2 = 3.871 more, 10.961 nats, i.e. 0.843 nats/token. In
    windows of 32 tokens the first predictions lack the cue (the recalled
    object needs 8 tokens of context, the full stops' successors 3), which lifts the
    look-back figure to about 0.594 nats/token; recall_figures() computes it.

pairs.txt
    Every line has 7 tokens and one of three templates, drawn with chances
    1/2, 1/4 and 1/4 (the tables are PAIRS_TABLES.pair, .name_homes and
    .object_homes)::

        NAME keeps OBJECTS in the PLACE .        place = pair[NAME][OBJECTS]
        NAME always sleeps in the PLACE .        place = name_homes[NAME]
        everyone keeps OBJECTS in the PLACE .    place = object_homes[OBJECTS]
        0    1      2       3  4   5     6

    NAME (16 words) and OBJECTS (16) are drawn uniformly and independently;
    PLACE is one of 8 words. Every other word follows from the one before it,
    except that NAME is followed by "keeps" or "always" (2 : 1).

    The first template is the point of the corpus. The pair table is a random
    16 x 16 Latin square with its 16 symbols folded onto the 8 places, so
    every place fills exactly two cells of every row and every column: the
    name alone or the objects alone say nothing about the place (ln 8 = 2.079
    nats, as much as "the" alone); the two together settle it. No model whose
    logits add up separate evidence from the two words does better than ln 8
    there; only combining them non-linearly helps. The other two templates
    (each place is the home of two names and of two objects) have a single cue
    5 or 3 tokens back: they teach attention where the cues are, which a table
    like this one cannot do on its own (with pair lines alone, from an 8 x 8
    table, attention + FFN had not left ln 8 after 2000 steps).

    So a model without attention, which sees one position at a time, pays
    ln 8 at every place (the bigram figure); attention alone can read a place
    off one earlier word, which solves the one-cue lines but not the pair
    lines (its softmax weights depend on both words, which lets it chip at
    them slowly); attention gathering both words into the position of "the"
    and the feed-forward network looking the pair up solves all three.

    Per line, a look-back model pays the randomness of the line itself,
    5.198 nats (0.743 nats/token); a bigram model also pays ln 8 at the place
    (1.040 nats/token); reading the place off one word at a time leaves ln 8
    on the pair lines (0.891 nats/token). In windows of 32 tokens the first
    four predictions cannot see the whole line before the place, which lifts
    the look-back figure to about 0.778 nats/token; pairs_figures() computes
    all of these from the tables.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

SEED = 1234
CORPUS_DIR = Path(__file__).resolve().parent
CATMAT_LINES = 3000
RECALL_LINES = 3000
PAIRS_LINES = 3000


@dataclass(frozen=True)
class Subject:
    """A kind of actor with the verbs and places that fit it."""

    singular: str
    plural: str | None  # None where the plural would make the pronoun ambiguous
    pronoun: str
    verbs: tuple[str, ...]
    places: tuple[tuple[str, str], ...]  # (preposition, place)
    afterwards: tuple[str, ...]  # what it does in the "and it ..." clause


_PEOPLE_PLACES = (("in", "garden"), ("in", "park"), ("in", "room"), ("on", "sofa"))
SUBJECTS = (
    Subject("cat", "cats", "it", ("sat", "slept", "lay"),
            (("on", "mat"), ("on", "rug"), ("on", "bed"), ("under", "table"), ("in", "box")),
            ("purred", "slept", "yawned")),
    Subject("dog", "dogs", "it", ("ran", "sat", "played"),
            (("in", "park"), ("in", "garden"), ("on", "rug"), ("under", "table")),
            ("barked", "slept", "played")),
    Subject("bird", "birds", "it", ("sat", "sang", "landed"),
            (("on", "branch"), ("on", "fence"), ("on", "roof"), ("in", "tree")),
            ("sang", "chirped", "flew")),
    Subject("fish", None, "it", ("swam", "hid"),
            (("in", "pond"), ("in", "river"), ("in", "tank")),
            ("swam", "hid", "rested")),
    Subject("boy", "boys", "he", ("sat", "played", "read", "ran"), _PEOPLE_PLACES,
            ("laughed", "smiled", "sang")),
    Subject("girl", "girls", "she", ("sat", "played", "read", "ran"), _PEOPLE_PLACES,
            ("laughed", "smiled", "sang")),
    Subject("man", "men", "he", ("sat", "read", "slept", "worked"),
            (("in", "kitchen"), ("on", "sofa"), ("in", "garden"), ("in", "room")),
            ("smiled", "rested", "laughed")),
    Subject("woman", "women", "she", ("sat", "read", "slept", "worked"),
            (("in", "kitchen"), ("on", "sofa"), ("in", "garden"), ("in", "room")),
            ("smiled", "rested", "laughed")),
)  # fmt: skip
SUBJECT_ADJECTIVES = ("big", "small", "young", "little", "black", "white", "brown")
PLACE_ADJECTIVES = ("big", "small", "old", "new")
STATES = ("tired", "hungry", "happy", "cold", "sleepy")

RECALL_NAMES = ("tom", "sam", "ben", "max", "leo", "dan", "tim", "bob", "jim", "ned")
RECALL_OBJECTS = (
    "key", "coin", "ring", "book", "cup", "map", "hat", "ball", "pen", "sock", "spoon", "watch",
)  # fmt: skip
RECALL_PLACES = ("shed", "barn", "yard", "hall", "attic", "loft", "den", "tent", "cave", "boat")
RECALL_TOKENS_PER_LINE = 13
RECALL_CUE_DISTANCE = 8  # the recalled object copies the token 8 places back
STOP_CUE_DISTANCE = 3  # "a" or "his", 3 places before the full stop's successor

PAIRS_NAMES = (
    "tom", "sam", "ben", "max", "leo", "dan", "tim", "bob",
    "jim", "ned", "ted", "ray", "joe", "ken", "ron", "pat",
)  # fmt: skip
PAIRS_OBJECTS = (
    "keys", "coins", "rings", "books", "cups", "maps", "hats", "balls",
    "pens", "socks", "spoons", "bells", "combs", "drums", "forks", "kites",
)  # fmt: skip
PAIRS_PLACES = ("shed", "barn", "attic", "cellar", "garage", "kitchen", "hall", "loft")
PAIRS_KINDS = ("pair", "pair", "name", "object")  # drawn uniformly: pair lines half the time
PAIRS_TOKENS_PER_LINE = 7
PAIRS_PLACE_POSITION = 5  # the place is token 5; the name is token 0, the objects token 2


def _maybe(rng: random.Random, words: tuple[str, ...], chance: float) -> list[str]:
    return [rng.choice(words)] if rng.random() < chance else []


def _catmat_sentence(rng: random.Random) -> str:
    subject = rng.choice(SUBJECTS)
    plural = subject.plural is not None and rng.random() < 0.3
    noun = subject.plural if plural and subject.plural else subject.singular
    pronoun = "they" if plural else subject.pronoun
    article = "the" if plural or rng.random() < 0.7 else "a"
    verb = rng.choice(subject.verbs)
    preposition, place = rng.choice(subject.places)
    words = [article, *_maybe(rng, SUBJECT_ADJECTIVES, 0.3), noun, verb, preposition, "the"]
    words += [*_maybe(rng, PLACE_ADJECTIVES, 0.2), place]
    clause = rng.random()
    if clause < 0.35:
        # "and it purred": the pronoun and the verb both depend on the subject.
        afterwards = [action for action in subject.afterwards if action != verb]
        words += ["and", pronoun, rng.choice(afterwards)]
    elif clause < 0.7:
        words += ["because", pronoun, "were" if plural else "was", rng.choice(STATES)]
    return " ".join([*words, "."])


def _recall_sentence(rng: random.Random) -> str:
    name = rng.choice(RECALL_NAMES)
    hidden = rng.choice(RECALL_OBJECTS)
    place = rng.choice(RECALL_PLACES)
    return f"{name} lost a {hidden} . in the {place} he found his {hidden} ."


def _match(
    column: int, allowed: list[list[int]], column_of: dict[int, int], tried: set[int]
) -> bool:
    """Give `column` a symbol it allows, moving other columns along an augmenting path."""
    for symbol in allowed[column]:
        if symbol not in tried:
            tried.add(symbol)
            if symbol not in column_of or _match(column_of[symbol], allowed, column_of, tried):
                column_of[symbol] = column
                return True
    return False


def _random_latin_square(n: int, rng: random.Random) -> list[list[int]]:
    """A random n x n Latin square, built row by row.

    Each new row is a random perfect matching of columns to the symbols their
    column has not used yet; a Latin rectangle can always be extended (Hall's
    theorem), so the augmenting-path search never fails.
    """
    rows: list[list[int]] = []
    for _ in range(n):
        allowed = [[s for s in range(n) if all(row[c] != s for row in rows)] for c in range(n)]
        for options in allowed:
            rng.shuffle(options)
        column_of: dict[int, int] = {}
        columns = list(range(n))
        rng.shuffle(columns)
        for column in columns:
            if not _match(column, allowed, column_of, set()):
                raise AssertionError("a Latin rectangle always extends")
        row = [0] * n
        for symbol, column in column_of.items():
            row[column] = symbol
        rows.append(row)
    return rows


@dataclass(frozen=True)
class PairsTables:
    pair: tuple[tuple[str, ...], ...]  # pair[name index][object index] -> place
    name_homes: tuple[str, ...]  # name index -> place
    object_homes: tuple[str, ...]  # object index -> place


def pairs_tables(seed: int = SEED) -> PairsTables:
    """The three seeded look-up tables of pairs.txt (see the module docstring)."""
    rng = random.Random(seed + 2)
    n_places = len(PAIRS_PLACES)
    square = _random_latin_square(len(PAIRS_NAMES), rng)
    pair = tuple(tuple(PAIRS_PLACES[symbol % n_places] for symbol in row) for row in square)

    def homes(count: int) -> tuple[str, ...]:
        places = [PAIRS_PLACES[i % n_places] for i in range(count)]
        rng.shuffle(places)
        return tuple(places)

    return PairsTables(pair, homes(len(PAIRS_NAMES)), homes(len(PAIRS_OBJECTS)))


PAIRS_TABLES = pairs_tables()


def _pairs_line(kind: str, name: int, thing: int, tables: PairsTables) -> list[str]:
    """The words of one line; `name` or `thing` is ignored by the kinds without it."""
    who, what = PAIRS_NAMES[name], PAIRS_OBJECTS[thing]
    if kind == "pair":
        return [who, "keeps", what, "in", "the", tables.pair[name][thing], "."]
    if kind == "name":
        return [who, "always", "sleeps", "in", "the", tables.name_homes[name], "."]
    return ["everyone", "keeps", what, "in", "the", tables.object_homes[thing], "."]


def _pairs_sentence(rng: random.Random) -> str:
    kind = rng.choice(PAIRS_KINDS)
    name = rng.randrange(len(PAIRS_NAMES))
    thing = rng.randrange(len(PAIRS_OBJECTS))
    return " ".join(_pairs_line(kind, name, thing, PAIRS_TABLES))


def _lines(make: Callable[[random.Random], str], count: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(make(rng) + "\n" for _ in range(count))


def catmat_text(seed: int = SEED) -> str:
    return _lines(_catmat_sentence, CATMAT_LINES, seed)


def recall_text(seed: int = SEED) -> str:
    return _lines(_recall_sentence, RECALL_LINES, seed + 1)


def pairs_text(seed: int = SEED) -> str:
    return _lines(_pairs_sentence, PAIRS_LINES, seed + 3)


CORPORA: dict[str, Callable[[], str]] = {
    "catmat": catmat_text,
    "recall": recall_text,
    "pairs": pairs_text,
}


def recall_figures(context_length: int | None = None) -> dict[str, float]:
    """Theoretical nats/token on recall.txt (see the module docstring).

    With a context_length, a look-back model is charged like a bigram model at
    the window positions that cannot yet see their cue.
    """
    random_slots = math.log(len(RECALL_NAMES) * len(RECALL_OBJECTS) * len(RECALL_PLACES))
    recall_cost = math.log(len(RECALL_OBJECTS))
    stop_cost = 2 * math.log(2)  # both successors of "." cost ln 2 to a bigram model
    blind_recall, blind_stop = 0.0, 0.0
    if context_length is not None:
        # Prediction t of a window sees t + 1 tokens; its cue d tokens before the
        # target is visible once t >= d - 1.
        blind_recall = min(RECALL_CUE_DISTANCE - 1, context_length) / context_length
        blind_stop = min(STOP_CUE_DISTANCE - 1, context_length) / context_length
    look_back = random_slots + blind_recall * recall_cost + blind_stop * stop_cost
    bigram = random_slots + recall_cost + stop_cost
    return {
        "recalled_position_bigram": recall_cost,
        "recalled_position_look_back": 0.0,
        "look_back_per_token": look_back / RECALL_TOKENS_PER_LINE,
        "bigram_per_token": bigram / RECALL_TOKENS_PER_LINE,
    }


def _entropy(weights: Mapping[str, float]) -> float:
    """Entropy in nats of the distribution proportional to `weights`."""
    total = sum(weights.values())
    return -sum(w / total * math.log(w / total) for w in weights.values())


def _pairs_line_distribution(tables: PairsTables) -> dict[tuple[str, ...], float]:
    """Every possible line of pairs.txt with its probability."""
    lines: defaultdict[tuple[str, ...], float] = defaultdict(float)
    weight = 1 / (len(PAIRS_KINDS) * len(PAIRS_NAMES) * len(PAIRS_OBJECTS))
    for kind in PAIRS_KINDS:
        for name in range(len(PAIRS_NAMES)):
            for thing in range(len(PAIRS_OBJECTS)):
                lines[tuple(_pairs_line(kind, name, thing, tables))] += weight
    return dict(lines)


def _place_entropy_given_last(lines: dict[tuple[str, ...], float], seen: int) -> float:
    """H(place | the `seen` tokens just before it), in nats."""
    places: defaultdict[tuple[str, ...], defaultdict[str, float]] = defaultdict(
        lambda: defaultdict(float)
    )
    for words, chance in lines.items():
        before = words[PAIRS_PLACE_POSITION - seen : PAIRS_PLACE_POSITION]
        places[before][words[PAIRS_PLACE_POSITION]] += chance
    return sum(sum(c.values()) * _entropy(c) for c in places.values())


def pairs_figures(
    context_length: int | None = None, tables: PairsTables = PAIRS_TABLES
) -> dict[str, float]:
    """Theoretical nats/token on pairs.txt (see the module docstring).

    With a context_length, a look-back model is charged, at the window positions
    that cannot see the whole line before a place, what the place costs given
    the part of the line that it can see.
    """
    lines = _pairs_line_distribution(tables)
    line_entropy = -sum(chance * math.log(chance) for chance in lines.values())
    # Nothing before the place but "the" tells it apart; the rest of a line costs
    # a bigram model what it costs a look-back model (checked by the tests).
    place_bigram = _place_entropy_given_last(lines, 1)
    pair_chance = PAIRS_KINDS.count("pair") / len(PAIRS_KINDS)
    blind = 0.0
    if context_length is not None:
        # Prediction t of a window sees t + 1 tokens; each t is a place target once per line.
        seen = [min(t + 1, PAIRS_PLACE_POSITION) for t in range(context_length)]
        blind = sum(_place_entropy_given_last(lines, n) for n in seen) / context_length
    rows, columns = tables.pair, list(zip(*tables.pair, strict=True))
    per_token = 1 / PAIRS_TOKENS_PER_LINE
    return {
        "place_bigram": place_bigram,
        "pair_place_given_name": sum(_entropy(Counter(row)) for row in rows) / len(rows),
        "pair_place_given_object": sum(_entropy(Counter(c)) for c in columns) / len(columns),
        "place_look_back": _place_entropy_given_last(lines, PAIRS_PLACE_POSITION),
        "look_back_per_token": (line_entropy + blind) * per_token,
        "one_cue_per_token": (line_entropy + pair_chance * place_bigram) * per_token,
        "bigram_per_token": (line_entropy + place_bigram) * per_token,
    }


def plug_in_bigram_entropy(text: str) -> float:
    """Empirical H(next word | word) of `text` in nats, without smoothing."""
    words = text.split()
    pairs = Counter(itertools.pairwise(words))
    previous = Counter(words[:-1])
    total = sum(pairs.values())
    return -sum(n / total * math.log(n / previous[a]) for (a, _), n in pairs.items())


def main() -> None:
    for name, make in CORPORA.items():
        text = make()
        (CORPUS_DIR / f"{name}.txt").write_text(text, encoding="utf-8")
        words = text.split()
        print(  # noqa: T201
            f"{name}: {len(text.encode('utf-8'))} bytes, {text.count(chr(10))} lines, "
            f"{len(words)} words, vocab {len(set(words))}, "
            f"plug-in bigram entropy {plug_in_bigram_entropy(text):.3f} nats/token"
        )
    for label, context in (("full context", None), ("windows of 32", 32)):
        for name, theory in (("recall", recall_figures), ("pairs", pairs_figures)):
            figures = ", ".join(f"{k} {v:.3f}" for k, v in theory(context).items())
            print(f"{name} theory ({label}): {figures}")  # noqa: T201


if __name__ == "__main__":
    main()
