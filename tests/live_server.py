"""The real app in a uvicorn child process on a free 127.0.0.1 port, for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO

from app.readiness import free_port, wait_healthy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextmanager
def serve(
    env: Mapping[str, str] | None = None,
    *,
    target: str = "app.main:create_app",
    factory: bool = True,
    log: IO[bytes] | None = None,
    timeout: float = 60.0,
) -> Iterator[str]:
    """Yields the base URL of a running server; stops it afterwards.

    Persistence is off unless `env` turns it on, so every run starts clean: nothing is saved into
    or restored from the checkout's data/ directory.
    """
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning"] + (["--factory"] if factory else [])
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
        "ATTNFLOW_PERSIST": "false",
        **(env or {}),
    }
    output = log if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
