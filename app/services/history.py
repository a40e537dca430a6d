"""What a session remembers of its training: per-step metrics and weight/attention snapshots.

Both are bounded. The metrics log keeps every record until `max_points`, then keeps every 2nd,
4th, ... step (the stride doubles), so a week-long run costs the same memory as a long one. The
snapshot store keeps the geometric steps 0, 1, 2, 4, 8, ... (early learning is fast and must not
be lost) plus every `every` steps, and doubles `every` when it is full.

A snapshot also keeps the model's full weights (`state`), so the page can run any sentence through
the model as it was at that step. Those copies are bounded too: past `state_budget` floats the
store forgets the full weights of middle snapshots (periodic ones first), never those of step 0
or of the newest snapshot; the snapshot itself (probe sentence, small heatmaps) stays.

Written by the session's worker thread, read by request handlers: a lock keeps reads consistent.
"""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from app.services.events import Token
from model.training import EvalRecord, StepRecord

PER_PARAMETER = ("grad_norms", "update_norms", "update_ratios")


def _floats(values: array) -> np.ndarray:
    return np.frombuffer(values, dtype=np.float64 if values.typecode == "d" else np.float32).copy()


def _as_floats(values: Any) -> np.ndarray:
    """A JSON list of numbers (null = NaN) as float64."""
    if not isinstance(values, list):
        raise ValueError("a saved column is not a list")
    return np.array(values, dtype=np.float64).reshape(-1)  # None -> nan


def _ints(values: Any) -> np.ndarray:
    if not isinstance(values, list):
        raise ValueError("saved steps are not a list")
    steps = np.array(values, dtype=np.int64).reshape(-1)
    if len(steps) and (np.any(np.diff(steps) <= 0) or steps[0] < 0):
        raise ValueError("saved steps are not increasing")
    return steps


class MetricsLog:
    def __init__(self, names: list[str], max_points: int) -> None:
        self._lock = threading.Lock()
        self.names = list(names)
        self.max_points = max_points
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.stride = 1
            self.steps = array("q")
            self.columns = {c: array("d") for c in ("loss", "lr", "grad_norm", "time_ms")}
            self.per_parameter = {
                kind: {n: array("f") for n in self.names} for kind in PER_PARAMETER
            }
            self.eval_steps = array("q")
            self.eval_loss = array("d")

    def __len__(self) -> int:
        return len(self.steps)

    def add_step(self, record: StepRecord) -> None:
        if record.step % self.stride:
            return
        with self._lock:
            self.steps.append(record.step)
            for name, column in self.columns.items():
                column.append(float(getattr(record, name)))
            for kind, series in self.per_parameter.items():
                values = getattr(record, kind)
                for name, column in series.items():
                    # NaN for a missing value and for a "new" ratio (None): JSON null, CSV empty
                    value = values.get(name)
                    column.append(float("nan") if value is None else value)
            if len(self.steps) >= self.max_points:
                self._thin()

    def _thin(self) -> None:
        """Keep the records whose step is a multiple of the doubled stride."""
        self.stride *= 2
        keep = [i for i, s in enumerate(self.steps) if s % self.stride == 0]

        def pick(column: array) -> array:
            return array(column.typecode, (column[i] for i in keep))

        self.steps = pick(self.steps)
        self.columns = {n: pick(c) for n, c in self.columns.items()}
        self.per_parameter = {
            k: {n: pick(c) for n, c in series.items()} for k, series in self.per_parameter.items()
        }

    def add_eval(self, record: EvalRecord) -> None:
        with self._lock:
            self.eval_steps.append(record.step)
            self.eval_loss.append(record.heldout_loss)

    def evals_since(self, index: int) -> list[dict[str, Any]]:
        with self._lock:
            pairs = zip(self.eval_steps[index:], self.eval_loss[index:], strict=True)
            return [{"step": s, "heldout_loss": loss} for s, loss in pairs]

    def n_evals(self) -> int:
        return len(self.eval_steps)

    def to_dict(self) -> dict[str, Any]:
        """Columns as numpy arrays (orjson writes them; NaN becomes null)."""
        with self._lock:
            steps = np.frombuffer(self.steps, dtype=np.int64).copy()
            return {
                "stride": self.stride,
                "train": {"steps": steps, "loss": _floats(self.columns["loss"])},
                "heldout": {
                    "steps": np.frombuffer(self.eval_steps, dtype=np.int64).copy(),
                    "loss": _floats(self.eval_loss),
                },
                "lr": _floats(self.columns["lr"]),
                "grad_norm": _floats(self.columns["grad_norm"]),
                "time_ms": _floats(self.columns["time_ms"]),
                **{k: {n: _floats(c) for n, c in s.items()} for k, s in self.per_parameter.items()},
            }

    def restore(self, data: dict[str, Any], up_to_step: int) -> None:
        """Adopt a saved `to_dict()` (JSON-decoded, null for NaN), keeping steps <= up_to_step.

        ValueError when the columns do not line up; the log is left unchanged then.
        """
        steps = _ints(data["train"]["steps"])
        keep = steps <= up_to_step
        n = len(steps)

        def column(values: Any) -> np.ndarray:
            array = _as_floats(values)
            if len(array) != n:
                raise ValueError(f"a column has {len(array)} values for {n} steps")
            return array[keep]

        columns = {
            "loss": column(data["train"]["loss"]),
            "lr": column(data["lr"]),
            "grad_norm": column(data["grad_norm"]),
            "time_ms": column(data["time_ms"]),
        }
        per_parameter = {}
        for kind in PER_PARAMETER:
            saved = data.get(kind) or {}
            per_parameter[kind] = {
                name: column(saved[name]) if name in saved else np.full(int(keep.sum()), np.nan)
                for name in self.names
            }
        eval_steps = _ints(data["heldout"]["steps"])
        eval_loss = _as_floats(data["heldout"]["loss"])
        if len(eval_steps) != len(eval_loss):
            raise ValueError("held-out steps and losses differ in length")
        eval_keep = eval_steps <= up_to_step
        stride = int(data.get("stride", 1))
        if stride < 1 or stride & (stride - 1):
            raise ValueError(f"stride {stride} is not a power of two")
        with self._lock:
            self.stride = stride
            self.steps = array("q", steps[keep].tobytes())
            self.columns = {
                k: array("d", v.astype(np.float64).tobytes()) for k, v in columns.items()
            }
            self.per_parameter = {
                kind: {n: array("f", v.astype(np.float32).tobytes()) for n, v in series.items()}
                for kind, series in per_parameter.items()
            }
            self.eval_steps = array("q", eval_steps[eval_keep].tobytes())
            self.eval_loss = array("d", eval_loss[eval_keep].astype(np.float64).tobytes())

    def rows(self) -> tuple[list[str], list[list[float | int | None]]]:
        """A table with one row per kept step: for CSV and metrics.json."""
        data = self.to_dict()
        heldout = dict(
            zip(data["heldout"]["steps"].tolist(), data["heldout"]["loss"].tolist(), strict=True)
        )
        header = ["step", "loss", "heldout_loss", "lr", "grad_norm", "time_ms"]
        columns: list[list[Any]] = [
            data["train"]["steps"].tolist(),
            data["train"]["loss"].tolist(),
            [heldout.get(s) for s in data["train"]["steps"].tolist()],
            data["lr"].tolist(),
            data["grad_norm"].tolist(),
            data["time_ms"].tolist(),
        ]
        for kind in PER_PARAMETER:
            for name in self.names:
                header.append(f"{kind[:-1]}:{name}")
                columns.append(data[kind][name].tolist())
        return header, [list(row) for row in zip(*columns, strict=True)]


# Full-weight copies kept per session: 8M floats (32 MB) holds all 64 snapshots of the tiny
# preset (62k parameters); bigger models keep step 0, the newest and as many others as fit.
STATE_BUDGET_FLOATS = 8_000_000


@dataclass
class SnapshotData:
    step: int
    loss: float | None
    tokens: list[Token]
    attention: np.ndarray | None
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    # The training step that produced this model (loss, gradient norms, update ratios); None
    # for a model no step has touched yet (made, reset or loaded).
    record: dict[str, Any] | None = None
    # Held-out loss of this very model, when it was measured at capture (the step-0 model).
    heldout_loss: float | None = None
    ffn: np.ndarray | None = None  # (T, d_ff) block 0's FFN activations on the probe
    predictions: list[list[dict[str, Any]]] | None = None  # top-5 next tokens per probe token
    state: dict[str, torch.Tensor] | None = None  # full weights; in memory only
    # Blocks 1.. of a deeper model: (attention (H, T, T), FFN activations (T, d_ff)) each.
    later_blocks: list[tuple[np.ndarray | None, np.ndarray | None]] = field(default_factory=list)

    def blocks(self) -> list[dict[str, np.ndarray | None]]:
        """Every block's probe attention and FFN activations, block 0 first."""
        pairs = [(self.attention, self.ffn), *self.later_blocks]
        return [{"attention": attention, "ffn": ffn} for attention, ffn in pairs]

    @property
    def state_floats(self) -> int:
        return sum(t.numel() for t in self.state.values()) if self.state else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "loss": self.loss,
            "heldout_loss": self.heldout_loss,
            "record": self.record,
            "probe": {
                "tokens": self.tokens,
                "attention": self.attention,
                "ffn": self.ffn,
                "predictions": self.predictions,
                "blocks": self.blocks(),
            },
            "weights": self.weights,
        }


def is_geometric(step: int) -> bool:
    return step == 0 or (step & (step - 1)) == 0


class SnapshotStore:
    def __init__(
        self, every: int, max_snapshots: int, state_budget: int = STATE_BUDGET_FLOATS
    ) -> None:
        self._lock = threading.Lock()
        self.base_every = every
        self.max_snapshots = max_snapshots
        self.state_budget = state_budget
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.every = self.base_every
            self._items: dict[int, SnapshotData] = {}

    def due(self, step: int) -> bool:
        return step not in self._items and (is_geometric(step) or step % self.every == 0)

    def add(self, snapshot: SnapshotData) -> None:
        with self._lock:
            self._items[snapshot.step] = snapshot
            while len(self._items) > self.max_snapshots and self._drop_periodic():
                pass
            while self._state_floats() > self.state_budget and self._drop_state():
                pass

    def _state_floats(self) -> int:
        return sum(snap.state_floats for snap in self._items.values())

    def _drop_state(self) -> bool:
        """Forget one middle snapshot's full weights (periodic first, then the latest geometric
        one, so the early steps stay longest); False when only step 0 and the newest have any."""
        newest = max(self._items)
        held = [s for s, snap in self._items.items() if snap.state and s not in (0, newest)]
        if not held:
            return False
        periodic = [s for s in held if not is_geometric(s)]
        victim = min(periodic) if periodic else max(held)
        self._items[victim].state = None
        return True

    def _drop_periodic(self) -> bool:
        """Double the period and forget periodic snapshots off it; False if nothing could go."""
        periodic = [s for s in self._items if not is_geometric(s)]
        if not periodic:
            return False
        self.every *= 2
        doomed = [s for s in periodic if s % self.every] or sorted(periodic)[:1]
        for step in doomed:
            del self._items[step]
        return True

    def steps(self) -> list[int]:
        with self._lock:
            return sorted(self._items)

    def get(self, step: int) -> SnapshotData | None:
        with self._lock:
            return self._items.get(step)

    def items(self) -> tuple[list[SnapshotData], int]:
        """(snapshots in step order, current period): what a save writes."""
        with self._lock:
            return [self._items[s] for s in sorted(self._items)], self.every

    def restore(self, snapshots: list[SnapshotData], every: int) -> None:
        """Replace the store with saved snapshots and their period."""
        with self._lock:
            self.every = max(self.base_every, every)
            self._items = {snap.step: snap for snap in snapshots}
            while len(self._items) > self.max_snapshots and self._drop_periodic():
                pass
