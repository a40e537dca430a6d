"""What a session says about itself: its info, its history, and the payloads read from its model
(forward traces, weights, checkpoint bytes). Model reads run on the session's worker thread."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.responses import dumps
from app.services.forward import ForwardOptions, forward_payload
from app.services.specs import checkpoint_extra
from app.services.weights import weights_payload
from model.checkpoint import to_bytes
from model.precision import autocast

if TYPE_CHECKING:
    from app.services.session import Session

OPTIMIZER_FIELDS = ("lr", "weight_decay", "beta1", "beta2", "batch_size", "eval_every")


def info(session: Session) -> dict[str, Any]:
    """SessionInfo."""
    config, spec, trainer = session.model.config, session.spec, session.trainer
    return {
        "id": session.id,
        "preset": spec.preset,
        "corpus": spec.corpus,
        "tokenizer": spec.tokenizer,
        "seed": spec.seed,
        "config": config.to_dict(),
        "optimizer": {k: getattr(trainer.config, k) for k in OPTIMIZER_FIELDS},
        "step": session.step,
        "vocab_size": config.vocab_size,
        "parameters": config.parameter_count(),
        "running": session.running,
        "comparing": session.comparing,
        "probe": spec.probe,
        "shapes": session.shapes,
        "batch_shape": [spec.train.batch_size, config.context_length, config.d_model],
        "bigram_bound": session.bigram_bound,
        "device": str(session.device),
        "interrupted": session.interrupted,
        "precision": trainer.config.precision,
    }


def history_data(session: Session) -> dict[str, Any]:
    """Any thread: the log has its own lock. What a save writes (with lr and time_ms)."""
    return {
        "step": session.step,
        **session.log.to_dict(),
        "snapshots": session.snapshots.steps(),
        "comparison": session.comparison,
    }


def history_bytes(session: Session) -> bytes:
    """History, as GET /history returns it."""
    data = history_data(session)
    data.pop("time_ms")
    data.pop("lr")
    return dumps(data)


def forward_bytes(session: Session, text: str, options: ForwardOptions) -> bytes:
    """Worker thread: traced in the precision the model trains in, and labelled so; values go
    out fp32."""
    precision = session.trainer.config.precision
    with autocast(precision, session.device):
        payload = forward_payload(session.model, session.tokenizer, text, session.step, options)
    return dumps({**payload, "precision": precision})


def weights_bytes(
    session: Session, max_size: int | None, values: bool, names: list[str] | None, digits: int
) -> bytes:
    """Worker thread."""
    model, init, step = session.model, session.init_state, session.step
    return dumps(weights_payload(model, init, step, max_size, values, names, digits))


def checkpoint_bytes(session: Session, text: str | None, **more: Any) -> bytes:
    """Worker thread: the weights, AdamW state, settings and batch order as of now."""
    trainer = session.trainer
    extra = checkpoint_extra(session.spec, text, trainer.config, trainer.generator, **more)
    return to_bytes(session.model, session.tokenizer, session.step, extra, trainer.optimizer)
