"""JSON in and out, fast: orjson, with the standard library for what orjson refuses.

Why orjson: opening a 10,000-trial run means decoding about 12 MB of ``events.jsonl`` and the
study's JSON columns, and the page's answers are encoded many times a second while a run works;
orjson does both several times faster. Why a fallback: a diverged trial's loss is logged as
``NaN``, which the standard library writes and reads but strict JSON (orjson) does not.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

import orjson

__all__ = ["loads_array", "dumps"]


def loads_array(items: Sequence[bytes | str]) -> list[Any]:
    """The JSON texts ``items`` decoded together (as one array); ``ValueError`` if one is not JSON."""
    if not items:
        return []
    if isinstance(items[0], str):
        text = "[" + ",".join(items) + "]"
        data = text.encode()
    else:
        data = b"[" + b",".join(items) + b"]"
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # NaN / Infinity, as the standard library writes them


def dumps(value: Any) -> bytes:
    """``value`` as compact JSON; NaN and infinities become null (JSON has none), numpy values plain."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(_finite(value), separators=(",", ":"), default=str, ensure_ascii=False).encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    return value
