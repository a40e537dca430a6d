"""Names the page shares with the server: phases, variants, blocks, hook points, weights."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from app.routers import errors
from model import names
from model.config import MAX_BLOCKS


class BlockNames(BaseModel):
    index: int = Field(ge=0, description="0-based position of the block, input side first")
    name: str = Field(description='module path, e.g. "blocks.0"')
    label: str = Field(description='what the page calls it, e.g. "block 1"')
    stages: dict[str, str] = Field(description="page name → hook point, e.g. attention_weights")
    weights: dict[str, str] = Field(description='short name → parameter name, e.g. "W_q"')


class Names(BaseModel):
    phases: list[str] = Field(description="the phases of one training step, in animation order")
    variants: dict[str, str] = Field(
        description="the ablation's models by role (both, attention_only, ffn_only), in the "
        "order the comparison runs and shows them"
    )
    max_blocks: int
    blocks: list[BlockNames] = Field(description="the first n_blocks blocks, input side first")


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
