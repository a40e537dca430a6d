"""Per-session leases in a data directory shared by several replicas (ATTNFLOW_SHARED_DATA_DIR).

A session is trained by exactly one replica at a time: the one holding an exclusive `flock` on
`<sessions>/.leases/<id>.lock`. The lock lives in the kernel, not in a table of ours, so it
goes with the process that held it -- on SIGKILL too -- and the next replica asked for the
session takes it and loads the last save. A replica that finds the lease held answers 503 with
Retry-After (nginx then tries the next upstream, which may be the holder; docs/deploy.md).

Lock files are never unlinked: removing one while another process waits on it would let two
processes lock two different inodes under one name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

LEASE_DIR = ".leases"


class Leases:
    """The leases this process holds. Methods block only on open(); call them from any thread."""

    def __init__(self, sessions_root: Path) -> None:
        self.root = sessions_root / LEASE_DIR
        self._held: dict[str, int] = {}  # session id -> fd holding the flock
        self._lock = threading.Lock()

    def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def holds(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._held

    def acquire(self, session_id: str) -> bool:
        """Take the lease without waiting; True when this process holds it (now or already)."""
        with self._lock:
            if session_id in self._held:
                return True
            fd = os.open(self.root / f"{session_id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._held[session_id] = fd
            return True

    def release(self, session_id: str) -> None:
        with self._lock:
            fd = self._held.pop(session_id, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the only descriptor releases the flock

    def close(self) -> None:
        for session_id in list(self._held):
            self.release(session_id)
