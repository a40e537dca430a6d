"""Memory estimates, from a config alone, checked before anything is allocated.

The formula (float32, 4 bytes a number; P parameters, B batch, T context, C d_model, F d_ff,
H heads, V vocabulary, L blocks, N parameter tensors) is documented in docs/api-contract.md:

- session state: 36·P bytes = weights, gradients and AdamW's two moments (16·P), the initial
  weights kept for "change since init" (4·P), the copy `optimizer.step` is measured against
  (4·P) and the divergence guard's last good weights and moments (12·P);
- one training step: 8·B·T·(L·(12·C + 3·F) + 4·V) bytes of activations and their gradients;
  the fused attention kernel keeps no T×T matrix (measured), but with dropout the explicit path
  does: + 4·5·B·L·H·T² bytes (scores, weights, mask, dropped weights, gradient);
- history and snapshots: 8·max_history_points·(3·N + 4) + 4·max_snapshots·(1024·N + H·T²).

A request: a forward trace of T tokens holds 4·2·(L·(T·(10·C + 2·F) + 2·H·T²) + T·V) bytes
(tensors and their rounded copies) plus its JSON body, ~12 bytes a number at full precision
(digits + 8 when rounded), all of it with `full=true`, at most `max_trace_floats` numbers
otherwise. A gradient check holds a float64 copy of the model and its gradients (16·P; the
float32 copy it makes first is freed before) and the float64 activations of one batch,
16·B·T·(L·(12·C + 3·F) + 4·V) bytes. A weights dump (at most 16 bytes a parameter as JSON)
always stays below the session's own 36·P, so it needs no check of its own. Measured peaks sit
below these estimates, within a factor of 3 (tests/app/test_hardening_budget.py checks both
directions).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.services.errors import FieldError, OverLimit
from model.config import ModelConfig

FLOAT = 4
DOUBLE = 8
STATE_BYTES_PER_PARAMETER = 36
EXPLICIT_ATTENTION_COPIES = 5
PROBE_TOKENS = 24  # the probe sentence is cut to this many tokens (builder.default_probe)


@dataclass(frozen=True)
class Estimate:
    """Bytes by part; `total` is what is compared with the limits."""

    parts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        shown = ", ".join(f"{name} {mib(size)}" for name, size in self.parts.items() if size)
        return f"{mib(self.total)} ({shown})"


def mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def _n_tensors(config: ModelConfig) -> int:
    per_block = (8 if config.use_attention else 0) + (4 if config.use_ffn else 0)
    norms = 2 if config.norm != "none" else 0
    return 4 + config.n_blocks * (per_block + norms) + (2 if config.norm == "pre" else 0)


def _activation_numbers(config: ModelConfig, batch_size: int) -> int:
    """Numbers one training step keeps for backward (activations and their gradients)."""
    c, f, v, blocks = config.d_model, config.d_ff, config.vocab_size, config.n_blocks
    per_token = blocks * ((12 * c if config.use_attention else 2 * c) + 3 * f) + 4 * v
    return 2 * batch_size * config.context_length * per_token


def session_estimate(
    config: ModelConfig, batch_size: int, max_history_points: int, max_snapshots: int
) -> Estimate:
    """What a session of this config holds in memory while it trains."""
    b, t, h, blocks = batch_size, config.context_length, config.n_heads, config.n_blocks
    activations = FLOAT * _activation_numbers(config, b)
    if config.use_attention and config.dropout > 0:
        activations += FLOAT * EXPLICIT_ATTENTION_COPIES * b * blocks * h * t * t
    n = _n_tensors(config)
    probe = min(t, PROBE_TOKENS)
    snapshots = FLOAT * max_snapshots * (1024 * n + (h * probe * probe))
    return Estimate(
        {
            "weights and optimiser": STATE_BYTES_PER_PARAMETER * config.parameter_count(),
            "training activations": activations,
            "history and snapshots": 8 * max_history_points * (3 * n + 4) + snapshots,
        }
    )


def gradcheck_estimate(config: ModelConfig, batch_size: int) -> Estimate:
    """A gradient check (model/gradcheck.py) on top of the session: float64 copies."""
    return Estimate(
        {
            "float64 model and gradients": 2 * DOUBLE * config.parameter_count(),
            "float64 activations": DOUBLE * _activation_numbers(config, batch_size),
        }
    )


def json_bytes_per_number(digits: int) -> int:
    return 12 if digits <= 0 else min(12, digits + 8)


def forward_estimate(
    config: ModelConfig,
    tokens: int,
    full: bool,
    digits: int,
    max_trace_floats: int,
    max_dim: int | None = None,
) -> Estimate:
    """A forward trace of `tokens` tokens (at most the context) and its JSON body: all of it
    with `full`, each axis cut to `max_dim` when given, else at most `max_trace_floats`."""
    t = max(1, min(tokens, config.context_length))
    c, f, h, blocks = config.d_model, config.d_ff, config.n_heads, config.n_blocks
    attention = 2 * h * t * t if config.use_attention else 0
    floats = blocks * (t * (10 * c + 2 * f) + attention) + t * config.vocab_size
    if full:
        sent = floats + attention
    elif max_dim:
        pooled, width = min(t, max_dim), blocks * (10 * min(c, max_dim) + 2 * min(f, max_dim))
        maps = (blocks + 1) * 2 * min(h, max_dim) * pooled * pooled
        sent = maps + pooled * (width + min(config.vocab_size, max_dim))
    else:
        sent = min(floats + attention, max_trace_floats)
    return Estimate(
        {
            "trace": 2 * FLOAT * floats,
            "response body": json_bytes_per_number(digits) * sent,
        }
    )


def refuse_over(estimate: Estimate, limit: int, what: str, field: str, hint: str) -> None:
    """413 naming the estimate and the limit when a request would pass it."""
    if estimate.total > limit:
        raise OverLimit(
            f"{what} needs an estimated {estimate.describe()}, over this server's limit of "
            f"{mib(limit)} (ATTNFLOW_MAX_SESSION_BYTES); {hint}",
            field,
            estimate.total,
        )


class OverBudget(Exception):
    """A new session would pass ATTNFLOW_MAX_TOTAL_BYTES: make room (evict), then retry."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


class MemoryBudget:
    """The estimated bytes of the sessions in memory, against the per-session and total limits."""

    def __init__(self, max_session: int, max_total: int, history_points: int, snapshots: int):
        self.max_session = max_session
        self.max_total = max_total
        self.history_points = history_points
        self.snapshots = snapshots
        self.estimates: dict[str, int] = {}  # session id -> estimated bytes

    def estimate(self, config: ModelConfig, batch_size: int) -> Estimate:
        return session_estimate(config, batch_size, self.history_points, self.snapshots)

    @property
    def used(self) -> int:
        return sum(self.estimates.values())

    def fits(self, config: ModelConfig, batch_size: int) -> None:
        """FieldError when one session of this config would pass ATTNFLOW_MAX_SESSION_BYTES."""
        estimate = self.estimate(config, batch_size)
        if estimate.total > self.max_session:
            raise FieldError(
                "config",
                estimate.total,
                f"at most {mib(self.max_session)} of memory",
                f"a session of this config and batch_size={batch_size} needs an estimated "
                f"{estimate.describe()}, over this server's limit of {mib(self.max_session)} "
                "(ATTNFLOW_MAX_SESSION_BYTES); choose a smaller batch_size, context_length, "
                "d_model or vocabulary",
            )

    def check(self, config: ModelConfig, batch_size: int) -> None:
        """Before a new session is allocated: its own limit, then the total (OverBudget)."""
        self.fits(config, batch_size)
        needed = self.estimate(config, batch_size).total
        if self.used + needed > self.max_total:
            raise OverBudget(needed)

    def book(self, session_id: str, config: ModelConfig, batch_size: int) -> None:
        self.estimates[session_id] = self.estimate(config, batch_size).total

    def release(self, session_id: str) -> None:
        self.estimates.pop(session_id, None)
