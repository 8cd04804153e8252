"""Checking augmentation options: known keys, numbers in range, and hyperparameters by prefix.

Why a module of its own: image and text augmentation both take plain dicts (so a ``knobs.Space``
can tune them and a TOML config can hold them) and both must reject a typo or an out-of-range
value with one message that names the key; the rules live here once.
"""

from __future__ import annotations

import difflib
import math
from numbers import Integral, Real
from typing import Any, Iterable, Mapping

from knobs.errors import ConfigError

__all__ = ["check_keys", "check_number", "check_probability", "check_count", "pick_params"]


def check_keys(section: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Raise ``ConfigError`` for the first key of ``given`` that is not in ``valid``.

    The message names the key, the closest valid name when there is one, and every valid name.
    """
    valid = list(valid)
    for key in given:
        if key in valid:
            continue
        close = difflib.get_close_matches(str(key), valid, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{section}: unknown augmentation {key!r}{hint} (expected one of {', '.join(valid)})")


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def check_number(key: str, value: Any, low: float, high: float = math.inf, *,
                 low_open: bool = False, high_open: bool = False, meaning: str = "") -> float:
    """``value`` as a float when it lies in the interval, else ``ConfigError`` naming ``key``."""
    inside = _is_number(value) and (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high)
    if not inside:
        interval = f"{'(' if low_open else '['}{low:g}, {'inf' if math.isinf(high) else f'{high:g}'}{')' if high_open or math.isinf(high) else ']'}"
        raise ConfigError(f"{key}: expected a number in {interval}{meaning}, got {value!r}")
    return float(value)


def check_probability(key: str, value: Any) -> float:
    """A probability in [0, 1], else ``ConfigError`` naming ``key``."""
    return check_number(key, value, 0.0, 1.0, meaning=" (a probability)")


def check_count(key: str, value: Any, low: int = 0) -> int:
    """An integer >= ``low`` (a float such as 4.0 from a search space counts), else ``ConfigError``."""
    whole = isinstance(value, Integral) or (_is_number(value) and float(value).is_integer())
    if isinstance(value, bool) or not whole or value < low:
        raise ConfigError(f"{key}: expected an integer >= {low}, got {value!r}")
    return int(value)


def pick_params(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of a trial's ``params`` under ``prefix``, with the prefix removed.

    Example:
        >>> pick_params({"lr": 0.1, "augment.rotation": 10.0}, "augment.")
        {'rotation': 10.0}
    """
    if not isinstance(params, Mapping):
        raise ConfigError(f"params: expected a dict of hyperparameters, got {type(params).__name__}")
    return {key[len(prefix):]: value for key, value in params.items()
            if isinstance(key, str) and key.startswith(prefix)}


def options_from_dict(cls: Any, config: Any, valid: Iterable[str], example: str) -> Any:
    """Checked options of the dataclass ``cls`` from a plain dict (unknown names are errors), or
    the options as given; shared by the image and text option sets.

    Raises:
        ConfigError: an unknown name (with the closest valid one) or a value out of range.
    """
    if config is None:
        return cls().check()
    if isinstance(config, cls):
        return config.check()
    if not isinstance(config, Mapping):
        raise ConfigError(f"augment: expected a dict of options such as {example}, got {type(config).__name__}")
    check_keys("augment", config, valid)
    return cls(**config).check()
