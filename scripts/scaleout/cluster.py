"""N attnflow replicas + nginx on 127.0.0.1 sharing one data dir: a demo and the tests' fixture.

    python scripts/scaleout/cluster.py --replicas 2 --port 8080     # Ctrl+C stops everything

Each replica is `attnflow serve` on its own free port with ATTNFLOW_SHARED_DATA_DIR=true; nginx
runs as a non-daemon child with its prefix, config, pid and logs in a temporary directory
(never port 80, loopback only). Routing, leases and failover: docs/deploy.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Path(__file__).with_name("nginx.conf.template")
RENDER = str(Path(__file__).with_name("render-nginx.sh"))
if str(ROOT) not in sys.path:  # run as a file from a checkout that is not pip-installed
    sys.path.insert(0, str(ROOT))

from app.readiness import free_port, wait_healthy  # noqa: E402 (after the path above)


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if found is None:
        raise RuntimeError("nginx is not installed: run scripts/scaleout/setup-nginx.sh")
    return found


class Cluster:
    """`start()`, `stop()`; `kill(i)` SIGKILLs replica i, `revive(i)` restarts it on the same port
    (nginx's upstream list is fixed)."""

    def __init__(
        self,
        replicas: int = 2,
        port: int = 0,
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="attnflow-scale-"))
        # Started by root, nginx runs its workers as `nobody`: they must pass through this
        # directory to the request-body and proxy temp dirs nginx makes in it (an upload larger
        # than the 16 KiB body buffer is written there). Others may traverse it, not list it.
        self.work.chmod(0o711)
        self.data_dir = data_dir or self.work / "data"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ports = [free_port() for _ in range(replicas)]
        self.env = dict(env or {})
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * replicas
        self.nginx: subprocess.Popen[bytes] | None = None

    def replica_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def _start_replica(self, index: int) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "ATTNFLOW_DATA_DIR": str(self.data_dir),
            "ATTNFLOW_SHARED_DATA_DIR": "true",
            **self.env,
        }
        log = open(self.work / f"replica-{index}.log", "ab")  # noqa: SIM115 (the child keeps it)
        command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1"]
        proc = subprocess.Popen(
            [*command, "--port", str(self.ports[index])], env=env, stdout=log, stderr=log, cwd=ROOT
        )
        log.close()
        self.procs[index] = proc
        return proc

    def _config(self) -> Path:
        servers = [f"127.0.0.1:{port}" for port in self.ports]
        listen = f"127.0.0.1:{self.port}"
        render = [RENDER, str(TEMPLATE), listen, str(self.work), *servers]
        text = subprocess.run(["sh", *render], capture_output=True, check=True, text=True).stdout
        path = self.work / "nginx.conf"
        path.write_text(text)
        return path

    def start(self) -> Cluster:
        try:
            procs = [self._start_replica(i) for i in range(len(self.ports))]
            for index, proc in enumerate(procs):
                wait_healthy(self.replica_url(index), proc, name=f"replica {index}")
            conf = self._config()
            log = open(self.work / "nginx.out", "ab")  # noqa: SIM115
            self.nginx = subprocess.Popen(
                [nginx_binary(), "-p", str(self.work), "-c", str(conf)], stdout=log, stderr=log
            )
            log.close()
            wait_healthy(self.url, self.nginx, 20, name="nginx")
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, index: int) -> None:
        proc = self.procs[index]
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            self.procs[index] = None

    def revive(self, index: int) -> None:
        proc = self._start_replica(index)
        wait_healthy(self.replica_url(index), proc, name=f"replica {index}")

    def stop(self) -> None:
        for proc in [self.nginx, *self.procs]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [self.nginx, *self.procs]:
            if proc is not None:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.nginx = None
        self.procs = [None] * len(self.ports)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
            for p in [*sorted(self.work.glob("*.log")), self.work / "nginx.out"]
            if p.is_file()
        )

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=8080, help="nginx's port on 127.0.0.1")
    parser.add_argument("--data-dir", type=Path, help="default: a temporary directory")
    args = parser.parse_args()
    cluster = Cluster(args.replicas, args.port, args.data_dir)
    cluster.start()
    print(f"attnflow: {cluster.url}  ({args.replicas} replicas, data in {cluster.data_dir})")  # noqa: T201
    try:
        while all(p is not None and p.poll() is None for p in [cluster.nginx, *cluster.procs]):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
