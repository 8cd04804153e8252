"""Hyperparameter checks shared by the model families: one ``ConfigError`` naming the key."""

from __future__ import annotations

import math
from typing import Any

from knobs.errors import ConfigError

__all__ = ["check_int", "check_dropout", "check_shape", "check_choice"]


def check_int(name: str, value: Any, minimum: int) -> int:
    """An integer ≥ ``minimum`` (floats with an integral value are accepted: searches yield them)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or int(value) != value or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_dropout(value: Any) -> float:
    """A dropout probability in [0, 1)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0.0 <= value < 1.0:
        raise ConfigError(f"dropout: expected a probability in [0, 1), got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    """One of ``options``."""
    if value not in options:
        raise ConfigError(f"{name}: unknown {value!r}; expected one of {', '.join(options)}")
    return value


def check_shape(value: Any, ndim: int | None, what: str) -> tuple[int, ...]:
    """A tuple of positive ints (of length ``ndim`` when given)."""
    try:
        shape = tuple(value)
    except TypeError:
        shape = None
    valid = shape is not None and len(shape) > 0 and all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    )
    if not valid or (ndim is not None and len(shape) != ndim):
        raise ConfigError(f"input_shape: expected {what}, got {value!r}")
    return shape
