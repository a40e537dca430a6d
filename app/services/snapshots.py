"""What a snapshot holds, and the model as it was at a stored step.

A snapshot is everything the page shows for one step without asking the live model: the probe
sentence's attention, FFN activations and next-token predictions, small weight heatmaps, the
training step that led there, and (while the memory budget allows, see `SnapshotStore`) the full
weights. With those weights any sentence can be run through the model as it was then: the page
then shows the learner's own sentence at step 0 as well as now.

All functions here run on the session's worker thread, like every other touch of a model.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import torch

from app.services.errors import NotFound
from app.services.events import vocab_tokens
from app.services.forward import ForwardOptions, _predictions, forward_payload, run_traced
from app.services.history import SnapshotData
from app.services.tensors import round_significant, to_numpy
from app.services.weights import downsampled_weights, weights_payload
from model.names import block_name
from model.tokenizer import Tokenizer
from model.training import StepRecord
from model.transformer import TransformerLM

TOP_K = 5


def attention_hook(block: int) -> str:
    return f"{block_name(block)}.attn.hook_weights"


def ffn_hook(block: int) -> str:
    return f"{block_name(block)}.ffn.hook_post"


def _probe(tensor: torch.Tensor | None) -> np.ndarray | None:
    """One sequence's hook tensor, rounded as snapshots keep it."""
    return None if tensor is None else round_significant(to_numpy(tensor[0]), 4)


def step_figures(record: StepRecord | None) -> dict[str, Any] | None:
    """The diagram's numbers of one training step (what its arrows and blocks are labelled with)."""
    if record is None:
        return None
    return {
        "step": record.step,
        "loss": record.loss,
        "grad_norm": record.grad_norm,
        "grad_norms": dict(record.grad_norms),
        "update_ratios": dict(record.update_ratios),
    }


def capture_snapshot(
    model: TransformerLM,
    tokenizer: Tokenizer,
    probe_ids: list[int],
    step: int,
    record: StepRecord | None = None,
    heldout_loss: float | None = None,
) -> SnapshotData:
    """The model right now, as a snapshot (a few small arrays and one copy of the weights)."""
    tokens = vocab_tokens(tokenizer, probe_ids)
    tensors, logits = run_traced(model, probe_ids)
    blocks = [
        (_probe(tensors.get(attention_hook(i))), _probe(tensors.get(ffn_hook(i))))
        for i in range(model.config.n_blocks)
    ]
    with torch.no_grad():
        state = {name: p.detach().clone() for name, p in model.named_parameters()}
    return SnapshotData(
        step=step,
        loss=None if record is None else record.loss,
        tokens=tokens,
        attention=blocks[0][0],
        weights=downsampled_weights(model),
        record=step_figures(record),
        heldout_loss=heldout_loss,
        ffn=blocks[0][1],
        predictions=_predictions(logits, tokenizer, TOP_K),
        state=state,
        later_blocks=blocks[1:],
    )


class PastModels:
    """One spare model per session, loaded with a snapshot's weights on demand.

    Loading costs one copy of the weights; the last loaded step is remembered so that scrubbing
    back and forth between views of one step loads once.
    """

    def __init__(self) -> None:
        self._spare: weakref.WeakKeyDictionary[Any, tuple[TransformerLM, int | None]] = (
            weakref.WeakKeyDictionary()
        )

    def model_at(
        self, owner: Any, live: TransformerLM, state: dict[str, torch.Tensor], step: int
    ) -> TransformerLM:
        spare, loaded = self._spare.get(owner, (None, None))
        if spare is None or spare.config != live.config:
            device = next(live.parameters()).device
            spare, loaded = TransformerLM(live.config).to(device), None
        if loaded != step:
            with torch.no_grad():
                for name, p in spare.named_parameters():
                    p.copy_(state[name])
            loaded = step
        self._spare[owner] = (spare, loaded)
        return spare

    def forget(self, owner: Any) -> None:
        self._spare.pop(owner, None)


PAST = PastModels()


def weights_at(
    snap: SnapshotData, init_state: dict[str, torch.Tensor], step: int
) -> dict[str, torch.Tensor]:
    """The weights of step `step`: the snapshot's copy, or for step 0 the seeded initial weights
    (a restored session's snapshots come back without full weights; step 0 is recomputable)."""
    if snap.state is not None:
        return snap.state
    if step == 0 and init_state:
        return init_state
    raise NotFound(
        f"the full weights of step {step} are no longer kept (only the probe sentence and "
        "small heatmaps are); pick step 0, a nearby stored step or the live model",
    )


def past_forward(
    owner: Any,
    live: TransformerLM,
    tokenizer: Tokenizer,
    snap: SnapshotData,
    init_state: dict[str, torch.Tensor],
    text: str,
    options: ForwardOptions,
) -> dict[str, Any]:
    model = PAST.model_at(owner, live, weights_at(snap, init_state, snap.step), snap.step)
    return forward_payload(model, tokenizer, text, snap.step, options)


def past_weights(
    owner: Any,
    live: TransformerLM,
    snap: SnapshotData,
    init_state: dict[str, torch.Tensor],
    max_size: int | None,
    patterns: list[str] | None,
    digits: int,
) -> dict[str, Any]:
    model = PAST.model_at(owner, live, weights_at(snap, init_state, snap.step), snap.step)
    return weights_payload(model, init_state, snap.step, max_size, True, patterns, digits)
