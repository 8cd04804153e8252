"""Axis settings that read right whatever the numbers: a title always, and ticks that never collide.

Why a module of its own: plotly's defaults misread a run's numbers. A constant learning rate on a
log axis gets ticks "3, 1, 6, 3, 1, 6" (minor labels of an axis less than a decade wide); the
minor labels of a wide log axis collide ("5, 0.001, 2"); SI prefixes print weight decays as
"1μ 10μ"; an integer hyperparameter gets ticks at 1.5 and 2.5. Every figure asks here instead:
a log axis only when the values span a decade, labelled at powers of ten (and at 2 and 5 times
them when it spans less than two decades), a single tick for a flat range, integer ticks for
integers.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

__all__ = ["value_axis"]

_DECADE = 10.0  # a log axis needs at least max/min >= this to carry a full decade's tick
_SMALL = 1e-3   # below this, ticks read as powers of ten (10⁻⁴), never SI prefixes (100μ)


def value_axis(values: Iterable[Any], title: str, *, log: bool = False, integer: bool = False,
               bounds: tuple[float, float] | None = None) -> dict[str, Any]:
    """Layout of an axis showing ``values`` (None and non-finite ones are ignored).

    Args:
        values: the numbers the axis will show.
        title: the axis title (every axis has one).
        log: the quantity is read on a log scale (a learning rate, a weight decay, a width);
            the axis is logarithmic only when the values span a decade or more.
        integer: the quantity is an integer (depth, width): ticks only at integers.
        bounds: the range the axis spans (a searched parameter's low and high: where the trials
            sit in the space, a bound hit included); default: the values' own range.
    """
    axis = _axis(values, title, log, integer, bounds)
    if bounds is not None and bounds[1] > bounds[0]:
        axis["range"] = _padded(bounds, axis.get("type") == "log")
    return axis


def _padded(bounds: tuple[float, float], log: bool) -> list[float]:
    """``bounds`` with 4% room each side, in axis units (log10 for a log axis)."""
    low, high = (math.log10(b) for b in bounds) if log else bounds
    pad = (high - low) * 0.04
    return [low - pad, high + pad]


def _axis(values: Iterable[Any], title: str, log: bool, integer: bool,
          bounds: tuple[float, float] | None) -> dict[str, Any]:
    axis: dict[str, Any] = {"title": {"text": title}, "automargin": True}
    finite = sorted({float(v) for v in [*values, *(bounds or ())] if _finite(v)})
    if not finite:
        return axis
    low, high = finite[0], finite[-1]
    if math.isclose(low, high, rel_tol=1e-9, abs_tol=0.0):
        # NOTE: a flat range (a constant learning rate) on auto ticks repeats one digit over a
        # tiny span; one tick with the value itself says what it is.
        return {**axis, "type": "linear", "tickmode": "array", "tickvals": [low], "ticktext": [_short(low)]}
    if integer:
        return {**axis, **_integer_ticks(finite, log)}
    if log and low > 0 and high / low >= _DECADE:
        return {**axis, **_log_ticks(low, high)}
    return {**axis, "type": "linear", "nticks": 6, "exponentformat": "power" if high < _SMALL else "none"}


def _log_ticks(low: float, high: float) -> dict[str, Any]:
    """Two decades or more: one labelled tick per decade; fewer: ticks at 1, 2 and 5 times a power
    of ten (0.2, 0.5, 1, 2), which cannot collide and leave no decade with a single label."""
    if high / low >= 100:
        return {"type": "log", "dtick": 1, "exponentformat": "power" if low < _SMALL else "none"}
    ticks = [round(m * 10.0 ** k, 12) for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
             for m in (1, 2, 5)]
    ticks = [t for t in ticks if low / 1.1 <= t <= high * 1.1]
    powers = low < _SMALL
    return {"type": "log", "tickmode": "array", "tickvals": ticks, "ticktext": [_tick_label(t, powers) for t in ticks]}


def _tick_label(value: float, powers: bool) -> str:
    """``0.2``, ``5``; on an axis reaching below 0.001 as powers of ten (``2×10⁻⁴``), never with an
    SI prefix (``200μ``)."""
    if not powers:
        return f"{value:g}"
    exponent = math.floor(math.log10(value))
    mantissa = round(value / 10.0 ** exponent)
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    return power if mantissa == 1 else f"{mantissa}×{power}"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _integer_ticks(finite: list[float], log: bool) -> dict[str, Any]:
    low, high = finite[0], finite[-1]
    if log and low >= 1 and high / low >= 4:
        # powers of two: the grid widths are searched on (64, 128, 256, 512)
        ticks = [2 ** k for k in range(math.floor(math.log2(low)), math.ceil(math.log2(high)) + 1)
                 if low / 1.5 <= 2 ** k <= high * 1.5]
        return {"type": "log", "tickmode": "array", "tickvals": ticks, "ticktext": [str(t) for t in ticks]}
    if len(finite) <= 12 and all(float(v).is_integer() for v in finite) and high - low <= 12:
        ticks = list(range(int(low), int(high) + 1))
        return {"type": "linear", "tickmode": "array", "tickvals": ticks, "ticktext": [str(t) for t in ticks]}
    return {"type": "linear", "tickmode": "linear", "tick0": 0, "dtick": _nice_step((high - low) / 5),
            "tickformat": "d"}


def _nice_step(raw: float) -> int:
    """The integer step of 1, 2 or 5 times a power of ten nearest above ``raw`` (at least 1)."""
    if raw <= 1:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _short(value: float) -> str:
    return f"{value:.3g}"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
