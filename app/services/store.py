"""Sessions on disk: one directory per session under `<data_dir>/sessions/<id>/`.

    checkpoint.safetensors   weights, AdamW moments, config, vocabulary, step, and in `extra` the
                             session's spec, its current optimiser settings, the data generator's
                             state and the history's lineage (model.checkpoint format)
    history.json             what GET /history returns, plus lr and time_ms per step
    snapshots.safetensors    the stored weight/attention snapshots (optional)
    corpus.txt               the user's text, for sessions trained on their own text
    meta.json                id, step, last use (wall clock): the order sessions come back in

Every file is written to a temporary file in the same directory, fsynced, renamed over the old
one and the directory fsynced, so a crash leaves either the old or the new file, never half of
one. A save writes corpus, snapshots, history, checkpoint, meta in that order: the checkpoint
decides the step, and a history that got ahead of it (a crash between the two) is cut back to it
on load. What cannot be read is skipped with a log line; start-up never fails on a bad file.

One process owns a data directory at a time (an exclusive `flock` on `sessions/.lock`, released
by the kernel even on kill -9). Replicas sharing one (`shared=True`, ATTNFLOW_SHARED_DATA_DIR)
each take that lock shared, so a lone process cannot open it beside them, and own single
sessions through leases instead (app.services.lease); `has` then looks at the disk, which
another replica may have written since.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from app.responses import dumps
from app.services.ids import valid_id
from app.services.saved import (
    CHECKPOINT,
    CORPUS,
    HISTORY,
    META,
    SNAPSHOTS,
    TMP_SUFFIX,
    SavedFiles,
    SavedState,
    StoreError,
    atomic_write,
    encode_snapshots,
    fsync_dir,
    read_saved,
)

log = logging.getLogger("attnflow.store")


def short(session_id: str) -> str:
    """What logs show of a session id: the id is the only credential, never log all of it. Of
    a routed id (app.services.ids) these 8 characters are its public route, none of its secret."""
    return session_id[:8]


class SessionStore:
    """The sessions directory. Methods block (file I/O): call them with asyncio.to_thread."""

    def __init__(self, root: Path, max_saved: int, shared: bool = False) -> None:
        self.root = root
        self.max_saved = max_saved
        self.shared = shared
        self.index: dict[str, float] = {}  # id -> last use (wall clock), loadable sessions
        self.broken: set[str] = set()
        self._deleted: set[str] = set()
        self._lock = threading.Lock()  # guards index/broken/_deleted/_locks
        self._locks: dict[str, threading.Lock] = {}
        self._written: dict[str, Any] = {}  # 'id/file' -> fingerprint of what is on disk
        self._lock_file: int | None = None

    # -- opening -------------------------------------------------------------------------------

    def open(self) -> None:
        """Create the directory, take the lock, clean up after a crash and index what is there."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot use {self.root}: {exc}") from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError(
                f"{self.root} is in use by another attnflow process (one process per data "
                "directory, or replicas that all set ATTNFLOW_SHARED_DATA_DIR=true)"
            ) from None
        self._lock_file = fd
        probe = self.root / f".write-test{TMP_SUFFIX}"
        try:
            atomic_write(probe, b"ok")
            probe.unlink()
        except OSError as exc:
            self.close()
            raise StoreError(f"cannot write to {self.root}: {exc}") from None
        if self.shared:  # sessions load on demand, under their lease (no leftovers to clean:
            return  # a temporary file may be another replica's write in progress)
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith("."):
                continue
            if not entry.is_dir() or not valid_id(entry.name):
                log.warning("ignoring %s in the sessions directory: not a session", entry.name)
                continue
            self._index_dir(entry)

    def _index_dir(self, directory: Path) -> None:
        session_id = directory.name
        for leftover in directory.glob(f".*{TMP_SUFFIX}"):  # a write a crash interrupted
            with contextlib.suppress(OSError):
                leftover.unlink()
        checkpoint = directory / CHECKPOINT
        if not checkpoint.is_file():
            log.warning(
                "saved session %s has no %s (a first save was interrupted?); skipped",
                short(session_id),
                CHECKPOINT,
            )
            return
        last_used = None
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            meta = orjson.loads((directory / META).read_bytes())
            if meta["id"] == session_id:
                last_used = float(meta["last_used"])
        if last_used is None:
            last_used = checkpoint.stat().st_mtime
        self.index[session_id] = last_used

    def close(self) -> None:
        if self._lock_file is not None:
            os.close(self._lock_file)  # releases the flock
            self._lock_file = None

    # -- queries -------------------------------------------------------------------------------

    def by_recency(self) -> list[str]:
        """Loadable saved sessions, most recently used first."""
        with self._lock:
            ready = [i for i in self.index if i not in self.broken]
            return sorted(ready, key=lambda i: self.index[i], reverse=True)

    def last_used(self, session_id: str) -> float | None:
        with self._lock:
            return self.index.get(session_id)

    def has(self, session_id: str) -> bool:
        with self._lock:
            if session_id in self.broken:
                return False
            if session_id in self.index:
                return True
        if self.shared and (self.root / session_id / CHECKPOINT).is_file():
            self._index_dir(self.root / session_id)  # saved by another replica since start-up
            with self._lock:
                self._deleted.discard(session_id)
                return session_id in self.index
        return False

    def __len__(self) -> int:
        return len(self.index)

    def mark_broken(self, session_id: str) -> None:
        with self._lock:
            self.broken.add(session_id)

    def _id_lock(self, session_id: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(session_id, threading.Lock())

    # -- writing -------------------------------------------------------------------------------

    def write(self, state: SavedState) -> int:
        """Write one session's files; returns the bytes written. Raises OSError on failure."""
        session_id = state.session_id
        directory = self.root / session_id
        written = 0
        with self._id_lock(session_id):
            if session_id in self._deleted:
                return 0
            if not directory.is_dir():
                directory.mkdir()
                fsync_dir(self.root)
            if state.text is not None:
                text = state.text.encode()
                written += self._write_if_changed(
                    directory / CORPUS, hashlib.sha256(text).hexdigest(), lambda: text
                )
            snapshot_key = (
                tuple((s.step, s.loss) for s in state.snapshots),
                state.snapshot_every,
                state.lineage,
            )
            written += self._write_if_changed(
                directory / SNAPSHOTS,
                snapshot_key,
                lambda: encode_snapshots(state.snapshots, state.snapshot_every, state.lineage),
            )
            history = dumps(state.history)
            atomic_write(directory / HISTORY, history)
            atomic_write(directory / CHECKPOINT, state.checkpoint)
            meta = self._meta(
                session_id, state.step, state.last_used, state.running, state.interrupted
            )
            atomic_write(directory / META, meta)
            written += len(history) + len(state.checkpoint) + len(meta)
            with self._lock:
                self.index[session_id] = state.last_used
                self.broken.discard(session_id)
        return written

    def _write_if_changed(self, path: Path, fingerprint: Any, data: Callable[[], bytes]) -> int:
        """Files that change rarely (corpus, snapshots) are rewritten only when they did."""
        key = f"{path.parent.name}/{path.name}"
        if self._written.get(key) == fingerprint and path.is_file():
            return 0
        payload = data()
        atomic_write(path, payload)
        self._written[key] = fingerprint
        return len(payload)

    @staticmethod
    def _meta(
        session_id: str,
        step: int,
        last_used: float,
        running: bool = False,
        interrupted: dict[str, Any] | None = None,
    ) -> bytes:
        return orjson.dumps(
            {
                "format": "attnflow-session",
                "version": 1,
                "id": session_id,
                "step": step,
                "last_used": last_used,
                "saved_at": time.time(),
                "running": running,
                "interrupted": interrupted,
            }
        )

    def touch(
        self,
        session_id: str,
        step: int,
        last_used: float,
        interrupted: dict[str, Any] | None = None,
    ) -> None:
        """Record a later last use of an unchanged saved session (meta.json only)."""
        directory = self.root / session_id
        with self._id_lock(session_id):
            if session_id in self._deleted or not (directory / CHECKPOINT).is_file():
                return
            meta = self._meta(session_id, step, last_used, interrupted=interrupted)
            atomic_write(directory / META, meta)
            with self._lock:
                self.index[session_id] = last_used

    def delete(self, session_id: str) -> bool:
        """Remove a session's directory for good; False when there was none."""
        directory = self.root / session_id
        with self._id_lock(session_id):
            with self._lock:
                self._deleted.add(session_id)
                self.index.pop(session_id, None)
                self.broken.discard(session_id)
            for key in [k for k in self._written if k.startswith(f"{session_id}/")]:
                self._written.pop(key, None)
            if not directory.is_dir():
                return False
            shutil.rmtree(directory, ignore_errors=True)
            with contextlib.suppress(OSError):
                fsync_dir(self.root)
            return True

    def prune(self, in_memory: set[str]) -> list[str]:
        """Delete the least recently used saved sessions past `max_saved` (never loaded ones)."""
        with self._lock:
            extra = len(self.index) - self.max_saved
            if extra <= 0:
                return []
            candidates = sorted(
                (i for i in self.index if i not in in_memory), key=lambda i: self.index[i]
            )[:extra]
        for session_id in candidates:
            self.delete(session_id)
        return candidates

    # -- reading -------------------------------------------------------------------------------

    def read(self, session_id: str) -> SavedFiles:
        """The files of a saved session (`read_saved`), under its lock."""
        with self._id_lock(session_id):
            return read_saved(self.root / session_id)
