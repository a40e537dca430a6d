"""nginx + 2 replicas on loopback (scripts/scaleout/cluster.py), shared by the tests here.

Skips, saying why, where nginx is not installed (`.ci/run` installs it with
scripts/scaleout/setup-nginx.sh). Sessions are saved every 0.5 s, so a SIGKILL loses little.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.scaleout.cluster import Cluster, nginx_binary

ENV = {
    "ATTNFLOW_PERSIST_EVERY_S": "0.5",
    "ATTNFLOW_TORCH_THREADS": "1",
    "ATTNFLOW_MAX_SESSIONS": "24",  # all 20 fit one replica after the other is killed
    "ATTNFLOW_MAX_RUNNING": "24",
}


@pytest.fixture(scope="package")  # stopped once tests/scale is done
def cluster() -> Iterator[Cluster]:
    try:
        nginx_binary()
    except RuntimeError as missing:
        pytest.skip(str(missing))
    running = Cluster(replicas=2, env=ENV)
    try:
        running.start()
    except RuntimeError:
        print(running.logs())
        running.cleanup()
        raise
    yield running
    running.cleanup()


def lease_holders(data_dir: Path) -> dict[str, set[int]]:
    """Session id -> pids holding an flock on its lease file, read from the kernel (/proc/locks),
    not from anything the replicas say about themselves."""
    leases = data_dir / "sessions" / ".leases"
    by_file = {}
    for path in leases.glob("*.lock"):
        stat = path.stat()
        by_file[(os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)] = path.stem
    holders: dict[str, set[int]] = defaultdict(set)
    for line in Path("/proc/locks").read_text().splitlines():
        # "1: FLOCK  ADVISORY  WRITE 9249 fe:00:2146961 0 EOF"; "1: -> FLOCK ..." waits for one
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        major, minor, inode = fields[5].split(":")
        session = by_file.get((int(major, 16), int(minor, 16), int(inode)))
        if session is not None:
            holders[session].add(int(fields[4]))
    return holders


def holders_of(cluster: Cluster, ids: list[str]) -> dict[str, int]:
    """The one replica index holding each session (fails if two or none hold one)."""
    pids = {proc.pid: index for index, proc in enumerate(cluster.procs) if proc is not None}
    held = lease_holders(cluster.data_dir)
    owner = {}
    for sid in ids:
        assert len(held[sid]) == 1, (sid, held[sid])
        owner[sid] = pids[next(iter(held[sid]))]
    return owner
