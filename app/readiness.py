"""Starting servers from outside: a free loopback port, and waiting for a child's /healthz.

One copy for the scale-out script (scripts/scaleout/cluster.py) and the tests' and benches' live
servers (tests/live_server.py); a script cannot import tests, and both can import the app.
Standard library only, so importing it loads nothing of the app.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1 (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0, name: str = "the app"
) -> None:
    """Return once `url`/healthz answers 200; RuntimeError if `proc` exits first or time runs out.

    Connection errors (not listening yet) and 5xx (a proxy whose upstream is not up) both mean
    "not yet"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # URLError and HTTPError are OSErrors
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not answer {url}/healthz within {timeout:.0f} s")
