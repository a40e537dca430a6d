"""JSON responses written by orjson, which serialises numpy arrays natively.

FastAPI's own encoder walks nested lists in Python (~13 ms for one 64x64 matrix, see
shared/MEASURED.md); handlers that return tensors build numpy arrays and return this response, or
serialise to bytes off the event loop with `dumps` and wrap them in `JsonBytes`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

# Non-finite floats (a masked attention score is -inf) become null, as orjson always does.
OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _fallback(value: Any) -> Any:
    """What orjson cannot write natively: non-contiguous arrays, numpy scalars, tuples of them."""
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_fallback, option=OPTIONS)


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class JsonBytes(Response):
    """Already-serialised JSON (made in a worker thread so the event loop never encodes it)."""

    media_type = "application/json"
