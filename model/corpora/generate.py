"""Generate the built-in corpora catmat.txt and recall.txt (deterministic, seeded).

Run ``python3 model/corpora/generate.py`` from the repository root to rewrite
both files next to this script and print their figures. The text is stored
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
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEED = 1234
CORPUS_DIR = Path(__file__).resolve().parent
CATMAT_LINES = 3000
RECALL_LINES = 3000


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


def _lines(make: Callable[[random.Random], str], count: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(make(rng) + "\n" for _ in range(count))


def catmat_text(seed: int = SEED) -> str:
    return _lines(_catmat_sentence, CATMAT_LINES, seed)


def recall_text(seed: int = SEED) -> str:
    return _lines(_recall_sentence, RECALL_LINES, seed + 1)


CORPORA: dict[str, Callable[[], str]] = {"catmat": catmat_text, "recall": recall_text}


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
        figures = ", ".join(f"{k} {v:.3f}" for k, v in recall_figures(context).items())
        print(f"recall theory ({label}): {figures}")  # noqa: T201


if __name__ == "__main__":
    main()
