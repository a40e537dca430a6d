"""nginx's `hash KEY consistent` in Python, to say which replica a key goes to first.

A transcription of ngx_http_upstream_init_chash / find_chash_point
(src/http/modules/ngx_http_upstream_hash_module.c, the ketama-style ring): each `server
host:port` of weight 1 gets 160 points, point j = crc32(host "\\0" port prev), prev being point
j-1 as 4 little-endian bytes (0 for the first); a key goes to the first point at or after
crc32(key), wrapping round. The scale tests check it against where nginx really sent sessions.
"""

from __future__ import annotations

import bisect
import struct
import zlib

POINTS_PER_WEIGHT = 160


class Ring:
    def __init__(self, servers: list[str]) -> None:
        points: dict[int, int] = {}
        for index, server in enumerate(servers):
            host, _, port = server.rpartition(":")
            base = host.encode() + b"\0" + port.encode()
            previous = 0
            for _ in range(POINTS_PER_WEIGHT):
                point = zlib.crc32(base + struct.pack("<I", previous))
                points.setdefault(point, index)  # nginx keeps the first of equal points
                previous = point
        self._hashes = sorted(points)
        self._servers = [points[h] for h in self._hashes]

    def first(self, key: str) -> int:
        """The index (in `servers`) of the replica nginx tries first for `key`."""
        at = bisect.bisect_left(self._hashes, zlib.crc32(key.encode()))
        return self._servers[at % len(self._hashes)]
