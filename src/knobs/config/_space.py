"""``[search.space]`` in TOML → a ``knobs.Space`` plus the fixed values.

Syntax (docs/config.md):
    lr = { low = 1e-4, high = 1e-1, log = true }          # Float (log-uniform)
    width = { low = 16, high = 512, log = true }          # Int: both bounds are TOML integers
    dropout = { low = 0.0, high = 0.5 }                   # Float: write 0.0, not 0
    optimizer = { choices = ["adam", "sgd"] }             # Choice
    momentum = { low = 0.5, high = 0.99, when = { optimizer = "sgd" } }   # conditional
    activation = "relu"                                   # fixed: not searched, passed to every trial
"""

from __future__ import annotations

from typing import Any

from knobs.errors import ConfigError, SpaceError
from knobs.space import Choice, Float, Int, Space

__all__ = ["build_space"]

_NUMERIC_KEYS = {"type", "low", "high", "log", "step", "when"}
_CHOICE_KEYS = {"choices", "when"}


def build_space(entries: dict[str, Any]) -> tuple[Space | None, dict[str, Any]]:
    """Split ``entries`` into a search space and fixed values.

    Returns:
        (space or None when nothing is searched, {name: fixed value}).
    """
    params, fixed = {}, {}
    for name, entry in entries.items():
        if isinstance(entry, dict):
            params[name] = _param(name, entry)
        else:
            fixed[name] = entry
    if not params:
        return None, fixed
    try:
        return Space(params), fixed
    except SpaceError as e:
        raise ConfigError(f"search.space: {e}") from None


def _param(name: str, entry: dict[str, Any]) -> Float | Int | Choice:
    where = f"search.space.{name}"
    allowed = _CHOICE_KEYS if "choices" in entry else _NUMERIC_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'; valid keys: {', '.join(sorted(allowed))}")
    try:
        if "choices" in entry:
            return Choice(list(entry["choices"]), when=entry.get("when"))
        if "low" not in entry or "high" not in entry:
            raise ConfigError(f"{where}: give low and high (a range) or choices (a list)")
        kind = entry.get("type") or _infer_kind(entry["low"], entry["high"])
        options = {k: entry[k] for k in ("log", "step", "when") if k in entry}
        if kind == "int":
            return Int(int(entry["low"]), int(entry["high"]), **options)
        if kind == "float":
            return Float(float(entry["low"]), float(entry["high"]), **options)
        raise ConfigError(f"{where}.type: expected 'float' or 'int' (got {kind!r})")
    except (SpaceError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None


def _infer_kind(low: Any, high: Any) -> str:
    both_int = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
    return "int" if both_int else "float"
