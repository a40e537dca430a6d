"""Names the server and the page share, defined once.

The page reads them from the API instead of keeping its own copies, so a renamed variant or an added
block shows up everywhere at once.
"""

from __future__ import annotations

# The four phases of one training step, in the order the diagram animates them.
PHASES: tuple[str, ...] = ("forward", "loss", "backward", "update")

# The three models of the ablation: the full block, and each half on its own.
VARIANTS: tuple[str, ...] = ("attention+ffn", "attention_only", "ffn_only")


def block_name(index: int) -> str:
    """The module path of block `index`, as hook points and parameter names spell it."""
    return f"blocks.{index}"
