"""Names the page shares with the server: phases, variants, blocks, hook points, weights."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Query

from app.routers import errors
from app.schemas.names import BlockNames, Names
from model import names
from model.config import MAX_BLOCKS

router = APIRouter(prefix="/api", tags=["catalog"])


@lru_cache(maxsize=MAX_BLOCKS)
def _names(n_blocks: int) -> Names:
    return Names(
        phases=list(names.PHASES),
        variants={
            "both": names.BOTH,
            "attention_only": names.ATTENTION_ONLY,
            "ffn_only": names.FFN_ONLY,
        },
        max_blocks=MAX_BLOCKS,
        blocks=[BlockNames.model_validate(names.block_names(i)) for i in range(n_blocks)],
    )


@router.get("/names", response_model=Names, responses=errors(422))
async def shared_names(
    n_blocks: Annotated[int, Query(ge=1, le=MAX_BLOCKS)] = MAX_BLOCKS,
) -> Names:
    """The names the page and the server share, for a model of `n_blocks` blocks."""
    return _names(n_blocks)
