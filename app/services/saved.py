"""The files of one saved session: what a save writes (`SavedState`), what a load read
(`SavedFiles`), the snapshots file's format, and the crash-safe write every file goes through
(layout and order: app.services.store)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays

from app.services.history import SnapshotData
from model.checkpoint import read_header

CHECKPOINT = "checkpoint.safetensors"
HISTORY = "history.json"
SNAPSHOTS = "snapshots.safetensors"
CORPUS = "corpus.txt"
META = "meta.json"
HISTORY_FORMAT = "attnflow-history"
SNAPSHOTS_FORMAT = "attnflow-snapshots"
TMP_SUFFIX = ".tmp"


class StoreError(Exception):
    """A saved session that cannot be read, or a data directory that cannot be used."""


@dataclass
class SavedState:
    """Everything one save writes, captured on the session's worker thread between steps."""

    session_id: str
    revision: int
    step: int
    checkpoint: bytes
    history: dict[str, Any]
    snapshots: list[SnapshotData]
    snapshot_every: int
    text: str | None  # user text; None for a built-in corpus
    last_used: float  # wall clock
    lineage: str  # which weights the history and snapshots belong to
    # Set by the manager: a run was going at this save (after a crash it comes back paused and
    # says it was interrupted), or the note of an earlier interruption not resumed yet.
    running: bool = False
    interrupted: dict[str, Any] | None = None


@dataclass
class SavedFiles:
    """What a load read: the checkpoint, and whatever of the rest could be read."""

    session_id: str
    checkpoint: bytes
    history: dict[str, Any] | None
    snapshots: list[SnapshotData]
    snapshot_every: int
    snapshot_lineage: str | None
    text: str | None
    problems: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # meta.json, {} when unreadable


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash at any point leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def encode_snapshots(snapshots: list[SnapshotData], every: int, lineage: str) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    items = []
    for snap in snapshots:
        if snap.attention is not None:
            arrays[f"{snap.step}.attention"] = np.ascontiguousarray(snap.attention, np.float32)
        if snap.ffn is not None:
            arrays[f"{snap.step}.ffn"] = np.ascontiguousarray(snap.ffn, np.float32)
        for index, (attention, ffn) in enumerate(snap.later_blocks, start=1):
            for kind, values in (("attention", attention), ("ffn", ffn)):
                if values is not None:  # block 0 keeps the names files have always used
                    arrays[f"{snap.step}.{kind}.{index}"] = np.ascontiguousarray(values, np.float32)
        for name, values in snap.weights.items():
            arrays[f"{snap.step}.w.{name}"] = np.ascontiguousarray(values, np.float32)
        # The full weights (`state`) stay in memory only: too big to rewrite on every save.
        items.append(
            {
                "step": snap.step,
                "loss": snap.loss,
                "tokens": snap.tokens,
                "record": snap.record,
                "heldout_loss": snap.heldout_loss,
                "predictions": snap.predictions,
                "blocks": 1 + len(snap.later_blocks),
            }
        )
    metadata = {
        "format": SNAPSHOTS_FORMAT,
        "every": str(every),
        "lineage": lineage,
        "items": json.dumps(items),
    }
    return save_arrays(arrays, metadata=metadata)


def decode_snapshots(data: bytes) -> tuple[list[SnapshotData], int, str]:
    _, metadata, _ = read_header(data)
    if metadata.get("format") != SNAPSHOTS_FORMAT:
        raise ValueError("not an attnflow snapshots file")
    every = int(metadata["every"])
    items = json.loads(metadata["items"])
    arrays = load_arrays(data)
    snapshots = []
    for item in items:
        step = int(item["step"])
        prefix = f"{step}.w."
        weights = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        loss = item.get("loss")
        snapshots.append(
            SnapshotData(
                step=step,
                loss=None if loss is None else float(loss),
                tokens=list(item["tokens"]),
                attention=arrays.get(f"{step}.attention"),
                weights=weights,
                record=item.get("record"),
                heldout_loss=item.get("heldout_loss"),
                ffn=arrays.get(f"{step}.ffn"),
                predictions=item.get("predictions"),
                later_blocks=[
                    (arrays.get(f"{step}.attention.{i}"), arrays.get(f"{step}.ffn.{i}"))
                    for i in range(1, int(item.get("blocks", 1)))
                ],
            )
        )
    return snapshots, every, str(metadata.get("lineage", ""))


def read_saved(directory: Path) -> SavedFiles:
    """The files of a saved session. StoreError when its checkpoint cannot be read; a bad
    history, snapshot or meta file is reported in `problems` and left out."""
    session_id = directory.name
    problems: list[str] = []
    try:
        checkpoint = (directory / CHECKPOINT).read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read its checkpoint: {exc}") from None
    text = None
    corpus = directory / CORPUS
    if corpus.is_file():
        try:
            text = corpus.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{CORPUS} is unreadable ({exc})")
    history = None
    try:
        history = orjson.loads((directory / HISTORY).read_bytes())
        if not isinstance(history, dict) or history.get("format") != HISTORY_FORMAT:
            raise ValueError("not an attnflow history file")
    except FileNotFoundError:
        problems.append(f"{HISTORY} is missing")
        history = None
    except (OSError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
        problems.append(f"{HISTORY} is unreadable ({exc})")
        history = None
    snapshots: list[SnapshotData] = []
    every, lineage = 0, None
    path = directory / SNAPSHOTS
    if path.is_file():
        try:
            snapshots, every, lineage = decode_snapshots(path.read_bytes())
        except Exception as exc:  # any malformed file: safetensors raises its own types
            problems.append(f"{SNAPSHOTS} is unreadable ({exc})")
    meta: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = orjson.loads((directory / META).read_bytes())
        meta = loaded if isinstance(loaded, dict) else {}
    return SavedFiles(
        session_id, checkpoint, history, snapshots, every, lineage, text, problems, meta
    )
