"""The page's answers as JSON, fast: orjson, with the standard library for what orjson refuses.

Why orjson: the page's answers are encoded many times a second while a run works, and a large
study's are hundreds of kB; orjson is several times faster. Why a fallback: a diverged trial's loss is
``NaN``, which strict JSON (orjson) cannot write; it goes out as null. (Reading is orjson too, one
call per log line or study row: ``_events.py``, ``_study.py``.)
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

__all__ = ["dumps"]


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
