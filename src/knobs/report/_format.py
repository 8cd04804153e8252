"""How a number reads in the report: four significant digits, a dash for a missing value, and a
test metric with its n and 95% interval, to the decimals the interval supports.

Why decimals from the interval: "0.9778" claims four digits that 270 test rows cannot carry (a 95%
interval of 0.95–0.99); "0.978 (264/270; 95% CI 0.95–0.99)" says what was measured and how well.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

__all__ = ["fmt", "fmt_metric", "interval_decimals"]


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)


def interval_decimals(interval: Sequence[float], value: float | None = None) -> int:
    """Decimals that resolve the interval (0 to 6): those of the first significant digit of the
    nearer bound's distance from ``value`` (of the half-width without a value, or where the value
    sits on a bound, as a recall of 1 does); at least 2 for an interval within [0, 1].

    Example:
        >>> interval_decimals([0.95, 0.99], 0.978), interval_decimals([10.2, 14.6]), interval_decimals([0.88, 1.0], 1.0)
        (2, 0, 2)
    """
    low, high = interval
    distances = [d for d in ((value - low, high - value) if value is not None else ()) if d > 0]
    step = min(distances) if distances else (high - low) / 2
    if not (math.isfinite(step) and step > 0):
        return 4
    decimals = min(6, max(0, -math.floor(math.log10(step))))
    return max(decimals, 2) if 0 <= low and high <= 1 else decimals


def fmt_metric(value: float | None, interval: Sequence[float] | None = None, *, n: int | None = None,
               successes: int | None = None) -> str:
    """``0.978 (264/270; 95% CI 0.95–0.99)``: the value one decimal finer than its interval.

    Args:
        value: the metric.
        interval: its 95% interval ``[low, high]``; without one the value reads as ``fmt`` gives it
            (with ``n`` when known).
        n: rows measured.
        successes: for a proportion (accuracy), the rows right: shown as ``successes/n``.

    Example:
        >>> fmt_metric(0.9778, [0.9497, 0.9909], n=270, successes=264)
        '0.978 (264/270; 95% CI 0.95–0.99)'
    """
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return fmt(value)
    count = f"{successes}/{n}" if successes is not None and n else (f"n = {n}" if n else "")
    if not interval or any(v is None or not math.isfinite(v) for v in interval):
        return f"{value:.4g}" + (f" ({count})" if count else "")
    d = interval_decimals(interval, value)
    low, high = interval
    inside = "; ".join(p for p in (count, f"95% CI {low:.{d}f}–{high:.{d}f}") if p)
    return f"{value:.{d + 1}f} ({inside})"
