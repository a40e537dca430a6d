"""What a session can be made from: presets and corpora."""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter

from app.schemas import DEFAULT_CORPUS, CorpusList, CorpusOut, PresetList, PresetOut
from model.config import ModelConfig
from model.data import BUILTIN_CORPORA, MAX_USER_TEXT_CHARS, MIN_USER_TOKENS, load_corpus
from model.presets import DEFAULT_PRESET, PRESETS
from model.tokenizer import Tokenizer

router = APIRouter(prefix="/api", tags=["catalog"])


@lru_cache(maxsize=1)
def _presets() -> PresetList:
    vocab = Tokenizer.build(load_corpus(DEFAULT_CORPUS)).vocab_size
    presets = [
        PresetOut(
            name=p.name,
            description=p.description,
            config=ModelConfig(vocab_size=vocab, **p.model).to_dict(),
            batch_size=p.batch_size,
            lr=p.lr,
            parameters=ModelConfig(vocab_size=vocab, **p.model).parameter_count(),
        )
        for p in PRESETS.values()
    ]
    return PresetList(presets=presets, default=DEFAULT_PRESET)


@router.get("/presets", response_model=PresetList)
async def presets() -> PresetList:
    """The named starting points, with sizes for the default corpus's vocabulary."""
    return _presets()


@router.get("/corpora", response_model=CorpusList)
async def corpora() -> CorpusList:
    """The built-in corpora and the limits on your own text."""
    items = [
        CorpusOut(
            name=c.name,
            title=c.title,
            description=c.description,
            n_chars=c.n_chars,
            n_words=c.n_words,
        )
        for c in BUILTIN_CORPORA.values()
    ]
    return CorpusList(
        corpora=items,
        default=DEFAULT_CORPUS,
        max_user_text_chars=MAX_USER_TEXT_CHARS,
        min_user_tokens=MIN_USER_TOKENS,
    )
