"""The real app in a uvicorn child process on a free 127.0.0.1 port, for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the app did not answer {url}/healthz within {timeout:.0f} s")


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
        _wait_healthy(url, proc, timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
