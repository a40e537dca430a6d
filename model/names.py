"""Names the server and the page share, defined once.

The page reads them from the API (`GET /api/names`) instead of keeping its own copies, so a renamed
variant, stage or an added block shows up everywhere at once. Hook-point and parameter names are
module paths in `TransformerLM` (tests/model/test_names.py checks them against a real model).
"""

from __future__ import annotations

# The four phases of one training step, in the order the diagram animates them.
PHASES: tuple[str, ...] = ("forward", "loss", "backward", "update")

# The three models of the ablation: the full block, and each half on its own.
BOTH = "attention+ffn"
ATTENTION_ONLY = "attention_only"
FFN_ONLY = "ffn_only"
VARIANTS: tuple[str, ...] = (BOTH, ATTENTION_ONLY, FFN_ONLY)

# Hook points inside every block, by what the page calls them: the path after `blocks.{i}.`.
BLOCK_STAGES: dict[str, str] = {
    "attention_scores": "attn.hook_scores",  # (B, H, T, T), before the softmax
    "attention_weights": "attn.hook_weights",  # (B, H, T, T), rows sum to 1
    "attention_out": "attn.hook_out",  # (B, T, C)
    "resid_mid": "hook_resid_mid",  # (B, T, C): after the attention sublayer
    "ffn_pre": "ffn.hook_pre",  # (B, T, F): before the activation
    "ffn_hidden": "ffn.hook_post",  # (B, T, F): the FFN's hidden units
    "ffn_out": "ffn.hook_out",  # (B, T, C)
    "resid_post": "hook_resid_post",  # (B, T, C): the block's output
}

# The weight matrices of every block, by the short name the diagram shows, and the sublayer
# (module path after `blocks.{i}.`) each belongs to.
BLOCK_WEIGHTS: dict[str, str] = {
    "W_q": "attn",
    "W_k": "attn",
    "W_v": "attn",
    "W_o": "attn",
    "W_1": "ffn",
    "W_2": "ffn",
}


def block_name(index: int) -> str:
    """The module path of block `index`, as hook points and parameter names spell it."""
    return f"blocks.{index}"


def block_label(index: int) -> str:
    """What the page calls block `index`: counted from 1, input side first."""
    return f"block {index + 1}"


def stage_name(index: int, stage: str) -> str:
    """The hook point of `stage` (a key of BLOCK_STAGES) in block `index`."""
    return f"{block_name(index)}.{BLOCK_STAGES[stage]}"


def weight_name(index: int, short: str) -> str:
    """The parameter name of weight matrix `short` (a key of BLOCK_WEIGHTS) in block `index`."""
    return f"{block_name(index)}.{BLOCK_WEIGHTS[short]}.{short}.weight"


def block_names(index: int) -> dict[str, object]:
    """Everything the page names in block `index`: its path, label, hook points and weights."""
    return {
        "index": index,
        "name": block_name(index),
        "label": block_label(index),
        "stages": {stage: stage_name(index, stage) for stage in BLOCK_STAGES},
        "weights": {short: weight_name(index, short) for short in BLOCK_WEIGHTS},
    }
