"""The three parameter types of a search space: ``Float``, ``Int`` and ``Choice``.

Why a unit-cube encoding: every sampler (random, Sobol, coarse-to-fine boxes, the GP) works on
``[0, 1]`` per parameter and never needs to know about log scales, integer rounding or options.
Each parameter therefore owns one coordinate and two maps:

* ``to_unit(value) -> float`` puts a value at the centre of the mass it owns;
* ``from_unit(u) -> value`` is the inverse, and maps a *uniform* ``u`` to the parameter's own
  prior (uniform, log-uniform, uniform over integers or options).

So ``from_unit(rng.random())`` *is* sampling, and a grid of unit points is a grid of values.

Parameters are value objects: the constructors validate eagerly (a bad bound is reported where
the space is written, not deep inside a search) and two parameters are equal when their JSON
forms are.

Example:
    >>> lr = Float(1e-4, 1e-1, log=True)
    >>> round(lr.from_unit(0.5), 6)     # the geometric mean of the bounds
    0.003162
    >>> Choice(["sgd", "adam"]).from_unit(0.7)
    'adam'
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from knobs.errors import ConfigError, SpaceError

__all__ = ["Param", "Float", "Int", "Choice", "param_from_json", "value_key"]

# NOTE: stepped floats are rounded to 15 significant digits so that Float(0, 1, step=0.1) yields
# 0.3 rather than 0.30000000000000004; 15 digits stay within 1e-15 relative of the exact grid.
_STEP_DIGITS = 15
# NOTE: a value counts as "on the step grid" when it is within this fraction of a step of it.
_STEP_TOL = 1e-8


def value_key(value: Any) -> tuple:
    """A hashable key under which equal option / condition values match.

    ``True`` and ``1`` are different options, while ``1`` and ``1.0`` are the same number (so
    ``Choice([1, 1.0])`` is a duplicate and a config may say ``1.0`` for the option ``1``).
    """
    if value is None:
        return ("none",)
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, numbers.Real):
        return ("num", float(value))
    if isinstance(value, str):
        return ("str", value)
    return ("other", repr(value))


def _scalar(value: Any, what: str) -> Any:
    """A JSON scalar (str, bool, int, float, None) from ``value``, or a SpaceError."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpaceError(f"{what} must be finite, got {value!r}")
        return value
    raise SpaceError(
        f"{what} must be a str, int, float, bool or None (JSON scalars), got "
        f"{type(value).__name__} {value!r}"
    )


def _normalize_when(when: Any) -> dict[str, tuple]:
    """``{"parent": v}`` or ``{"parent": [v1, v2]}`` as ``{"parent": (v1, v2)}``."""
    if when is None:
        return {}
    if not isinstance(when, dict):
        raise SpaceError(
            f"when must be a dict like {{'optimizer': 'sgd'}} or {{'optimizer': ['sgd', 'adam']}}, "
            f"got {type(when).__name__} {when!r}"
        )
    out: dict[str, tuple] = {}
    for parent, values in when.items():
        if not isinstance(parent, str) or not parent:
            raise SpaceError(f"when keys must be parameter names (non-empty str), got {parent!r}")
        seq = list(values) if isinstance(values, (list, tuple)) else [values]
        if not seq:
            raise SpaceError(f"when[{parent!r}] is an empty list: the parameter could never be "
                             "active")
        out[parent] = tuple(_scalar(v, f"when[{parent!r}] value") for v in seq)
    return out


def _finite(value: Any, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise SpaceError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise SpaceError(f"{what} must be finite, got {value!r}")
    return value


def _integer(value: Any, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise SpaceError(f"{what} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


def _unit(u: Any) -> float:
    u = float(u)
    if math.isnan(u):
        raise SpaceError("unit coordinate is NaN; expected a number in [0, 1]")
    return min(max(u, 0.0), 1.0)


def _bin(u: float, n: int) -> int:
    """Index of the equal-mass bin ``[i/n, (i+1)/n)`` holding ``u`` (``u = 1`` is the last)."""
    return min(int(u * n), n - 1)


def _spread(points: int, n: int) -> list[int]:
    """``points`` evenly spread indices out of ``range(n)`` (the middle one for one point)."""
    if points == 1:
        return [(n - 1) // 2]
    return list(dict.fromkeys(int(i) for i in np.round(np.linspace(0, n - 1, points))))


def _type_error(name: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")


class Param:
    """Base of ``Float``, ``Int`` and ``Choice``: one coordinate of the unit cube.

    Subclasses implement ``check``, ``to_unit``, ``from_unit``, ``grid`` and ``to_json``.

    Attributes:
        kind: ``"float"``, ``"int"`` or ``"choice"``.
        when: ``{parent: (allowed values, ...)}``; empty when the parameter is always active.
    """

    kind = ""

    def __init__(self, when: Any = None) -> None:
        self.when = _normalize_when(when)

    def check(self, value: Any, name: str = "value") -> Any:
        """Return ``value`` in canonical form, or raise ConfigError naming ``name``."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a valid value of this parameter."""
        try:
            self.check(value)
        except ConfigError:
            return False
        return True

    def to_unit(self, value: Any) -> float:
        """The unit coordinate in ``[0, 1]`` of a valid value (the centre of the mass it owns)."""
        raise NotImplementedError

    def from_unit(self, u: float) -> Any:
        """The value owning unit coordinate ``u`` (clipped to ``[0, 1]``)."""
        raise NotImplementedError

    def grid(self, points: int) -> list:
        """``points`` values evenly spread on this parameter's own scale, without duplicates."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def _when_json(self) -> dict[str, list]:
        return {parent: list(values) for parent, values in self.when.items()}

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        d = self.to_json()
        kind = d.pop("type")
        shown = {k: v for k, v in d.items() if not (v is None or v is False or v == {})}
        args = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"{kind.capitalize()}({args})"


class Float(Param):
    """A real-valued parameter on ``[low, high]``.

    Args:
        low: lower bound (inclusive, finite).
        high: upper bound (inclusive, finite, > low).
        log: sample log-uniformly (needs ``low > 0``); use it for learning rates and weight
            decays, whose effect scales with their order of magnitude.
        step: restrict values to ``low + k * step`` (``high`` is rounded down onto the grid);
            cannot be combined with ``log``.
        when: ``{"parent": value}`` or ``{"parent": [v1, v2]}`` — active only then.

    Raises:
        SpaceError: non-finite bounds, ``low >= high``, ``log`` with ``low <= 0``, ``step <= 0``,
            ``step`` wider than the range, ``step`` with ``log``, or a malformed ``when``.
    """

    kind = "float"

    def __init__(self, low: float, high: float, log: bool = False, step: float | None = None,
                 when: dict | None = None) -> None:
        super().__init__(when)
        self.low = _finite(low, "Float low")
        self.high = _finite(high, "Float high")
        if not self.low < self.high:
            raise SpaceError(f"Float: low ({low!r}) must be < high ({high!r})")
        if not math.isfinite(self.high - self.low):
            raise SpaceError(f"Float: high - low overflows for low={low!r}, high={high!r}")
        if not isinstance(log, (bool, np.bool_)):
            raise SpaceError(f"Float: log must be True or False, got {log!r}")
        self.log = bool(log)
        if self.log and self.low <= 0:
            raise SpaceError(f"Float: log=True needs low > 0, got low={low!r}")
        self.step = None if step is None else _finite(step, "Float step")
        self._n = None  # number of values on the step grid
        if self.step is not None:
            if self.step <= 0:
                raise SpaceError(f"Float: step must be > 0, got {step!r}")
            if self.log:
                raise SpaceError("Float: step and log=True cannot be combined")
            self._n = int(math.floor((self.high - self.low) / self.step + _STEP_TOL)) + 1
            if self._n < 2:
                raise SpaceError(f"Float: step ({step!r}) is wider than high - low")

    def check(self, value: Any, name: str = "value") -> float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise _type_error(name, "a float", value)
        v = float(value)
        if self._n is not None:
            k = (v - self.low) / self.step
            if not (abs(k - round(k)) <= _STEP_TOL and 0 <= round(k) < self._n):
                raise ConfigError(
                    f"{name}={value!r} is not on the grid {self.low!r} + k * {self.step!r} "
                    f"within [{self.low!r}, {self.high!r}]"
                )
        elif not self.low <= v <= self.high:
            raise ConfigError(f"{name}={value!r} is out of range [{self.low!r}, {self.high!r}]")
        return v

    def _stepped(self, k: int) -> float:
        return float(f"{self.low + k * self.step:.{_STEP_DIGITS}g}")

    def to_unit(self, value: Any) -> float:
        v = self.check(value)
        if self._n is not None:
            return (round((v - self.low) / self.step) + 0.5) / self._n
        if self.log:
            return (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (v - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        u = _unit(u)
        if self._n is not None:
            return self._stepped(_bin(u, self._n))
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            v = math.exp(lo + u * (hi - lo))
        else:
            v = self.low + u * (self.high - self.low)
        return min(max(v, self.low), self.high)

    def grid(self, points: int) -> list[float]:
        if self._n is not None:
            return [self._stepped(k) for k in _spread(points, self._n)]
        if points == 1:
            mid = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
            return [mid]
        space = np.geomspace if self.log else np.linspace
        values = [float(v) for v in space(self.low, self.high, points)]
        values[0], values[-1] = self.low, self.high  # exact bounds despite rounding
        return list(dict.fromkeys(values))

    def to_json(self) -> dict[str, Any]:
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log,
                "step": self.step, "when": self._when_json()}


class Int(Param):
    """An integer parameter on ``[low, high]``.

    Every integer gets equal probability (or, with ``log=True``, the mass of its bin
    ``[v - 0.5, v + 0.5]`` on a log axis: small values are tried as often as large orders of
    magnitude — use it for widths like 16…1024).

    Args:
        low: lower bound (inclusive integer).
        high: upper bound (inclusive integer, > low; rounded down onto the step grid).
        log: log-uniform over the integers (needs ``low >= 1`` and ``step == 1``).
        step: restrict values to ``low + k * step``.
        when: ``{"parent": value}`` or ``{"parent": [v1, v2]}`` — active only then.

    Raises:
        SpaceError: non-integer bounds or step, ``low >= high``, ``step < 1``, a step wider than
            the range, ``log`` with ``low < 1`` or ``step != 1``, or a malformed ``when``.
    """

    kind = "int"

    def __init__(self, low: int, high: int, log: bool = False, step: int = 1,
                 when: dict | None = None) -> None:
        super().__init__(when)
        self.low = _integer(low, "Int low")
        self.high = _integer(high, "Int high")
        if not self.low < self.high:
            raise SpaceError(f"Int: low ({low!r}) must be < high ({high!r})")
        if not isinstance(log, (bool, np.bool_)):
            raise SpaceError(f"Int: log must be True or False, got {log!r}")
        self.log = bool(log)
        self.step = _integer(step, "Int step")
        if self.step < 1:
            raise SpaceError(f"Int: step must be >= 1, got {step!r}")
        if self.log and self.low < 1:
            raise SpaceError(f"Int: log=True needs low >= 1, got low={low!r}")
        if self.log and self.step != 1:
            raise SpaceError(f"Int: log=True needs step=1, got step={step!r}")
        self._n = (self.high - self.low) // self.step + 1
        if self._n < 2:
            raise SpaceError(f"Int: step ({step!r}) is wider than high - low")

    def check(self, value: Any, name: str = "value") -> int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise _type_error(name, "an int", value)
        v = int(value)
        last = self.low + (self._n - 1) * self.step
        if not self.low <= v <= last:
            raise ConfigError(f"{name}={value!r} is out of range [{self.low}, {last}]")
        if (v - self.low) % self.step:
            raise ConfigError(f"{name}={value!r} is not on the grid {self.low} + k * {self.step}")
        return v

    def _log_bounds(self) -> tuple[float, float]:
        # NOTE: integer v owns [v - 0.5, v + 0.5) on the log axis, so low - 0.5 >= 0.5 > 0.
        return math.log(self.low - 0.5), math.log(self.high + 0.5)

    def to_unit(self, value: Any) -> float:
        v = self.check(value)
        if self.log:
            lo, hi = self._log_bounds()
            centre = 0.5 * (math.log(v - 0.5) + math.log(v + 0.5))
            return (centre - lo) / (hi - lo)
        return ((v - self.low) // self.step + 0.5) / self._n

    def from_unit(self, u: float) -> int:
        u = _unit(u)
        if self.log:
            lo, hi = self._log_bounds()
            v = math.floor(math.exp(lo + u * (hi - lo)) + 0.5)
            return int(min(max(v, self.low), self.high))
        return self.low + _bin(u, self._n) * self.step

    def grid(self, points: int) -> list[int]:
        if not self.log:
            return [self.low + k * self.step for k in _spread(points, self._n)]
        if points == 1:
            return [int(round(math.sqrt(self.low * self.high)))]
        values = np.clip(np.round(np.geomspace(self.low, self.high, points)), self.low, self.high)
        return list(dict.fromkeys(int(v) for v in values))

    def to_json(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log,
                "step": self.step, "when": self._when_json()}

    def __repr__(self) -> str:
        d = self.to_json()
        extra = "".join(f", {k}={d[k]!r}" for k in ("log", "when") if d[k])
        step = f", step={self.step}" if self.step != 1 else ""
        return f"Int(low={self.low}, high={self.high}{step}{extra})"


class Choice(Param):
    """One of a fixed list of options (optimizer names, activation functions, flags…).

    Option ``i`` of ``k`` owns the unit bin ``[i/k, (i+1)/k)`` and encodes to its centre.

    Args:
        options: a non-empty list of distinct JSON scalars (str, int, float, bool, None). For
            structured values (layer widths…) use string keys and decode them in the objective.
        when: ``{"parent": value}`` or ``{"parent": [v1, v2]}`` — active only then.

    Raises:
        SpaceError: no options, duplicate options, non-scalar options, or a malformed ``when``.
    """

    kind = "choice"

    def __init__(self, options: list | tuple, when: dict | None = None) -> None:
        if not isinstance(options, (list, tuple)) and when is not None and not isinstance(when, dict):
            # NOTE: Choice("relu", "tanh") read "tanh" as the condition and said so in words about `when`
            raise SpaceError(f"Choice takes its options as one list: Choice([{options!r}, {when!r}, ...]), got them "
                             f"as separate arguments")
        super().__init__(when)
        if not isinstance(options, (list, tuple)):
            raise SpaceError(f"Choice options must be a list, got {type(options).__name__} "
                             f"{options!r}")
        if not options:
            raise SpaceError("Choice needs at least one option, got []")
        self.options = tuple(_scalar(o, "Choice option") for o in options)
        self._index: dict[tuple, int] = {}
        for i, option in enumerate(self.options):
            key = value_key(option)
            if key in self._index:
                raise SpaceError(f"Choice has duplicate option {option!r} in {list(options)!r}")
            self._index[key] = i

    def index(self, value: Any, name: str = "value") -> int:
        """Position of ``value`` in ``options``, or ConfigError naming ``name``."""
        i = self._index.get(value_key(value))
        if i is None:
            raise ConfigError(f"{name}={value!r} is not one of the options {list(self.options)!r}")
        return i

    def check(self, value: Any, name: str = "value") -> Any:
        return self.options[self.index(value, name)]

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.options)

    def from_unit(self, u: float) -> Any:
        return self.options[_bin(_unit(u), len(self.options))]

    def grid(self, points: int) -> list:
        return list(self.options)

    def to_json(self) -> dict[str, Any]:
        return {"type": "choice", "options": list(self.options), "when": self._when_json()}


_TYPES = {"float": Float, "int": Int, "choice": Choice}


def param_from_json(d: Any, name: str = "parameter") -> Param:
    """Rebuild a parameter from ``Param.to_json()`` output; SpaceError naming ``name`` if bad."""
    if not isinstance(d, dict) or d.get("type") not in _TYPES:
        raise SpaceError(f"{name}: expected a dict with type in {sorted(_TYPES)}, got {d!r}")
    kwargs = {k: v for k, v in d.items() if k != "type"}
    try:
        return _TYPES[d["type"]](**kwargs)
    except TypeError as e:
        raise SpaceError(f"{name}: bad fields in {d!r} ({e})") from None
    except SpaceError as e:
        raise SpaceError(f"{name}: {e}") from None
