"""The names the page shares with the server (GET /api/names), from model/names.py."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
