"""Pure statistics of a loss curve: divergence, noise, plateau, slope, and the train/val gap.

Every statistic is scale-free (a ratio to the curve's own level or to its own early values), so the
same cut works for cross-entropy near ln C and for an MSE in squared target units.

Glossary: ``losses`` is a 1-D sequence (per step or per epoch); ``records`` are the Trainer's
per-epoch dicts with ``train_loss`` and ``val_loss``.

Example:
    >>> divergence_index([2.3, 1.0, 0.5, 2.5])
    3
    >>> round(relative_slope([1.0, 0.5, 0.25, 0.125]), 3)   # ln 0.5: halving at every point
    -0.693
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = ["DIVERGE_FACTOR", "curve_stats", "divergence_index", "gap_series", "plateaued",
           "relative_noise", "relative_slope"]

# NOTE: the factor the LR range test stops at (fastai, Lightning, knobs.train.lr_find): a loss
# four times its best so far has left the basin it was descending.
DIVERGE_FACTOR = 4.0


def _finite(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def divergence_index(losses: Sequence[float | None], factor: float = DIVERGE_FACTOR) -> int | None:
    """The first index whose loss is non-finite or exceeds ``factor`` × the lowest loss before it."""
    best = math.inf
    for i, value in enumerate(_finite(losses)):
        if not math.isfinite(value) or value > factor * best:
            return i
        best = min(best, value)
    return None


def relative_noise(losses: Sequence[float | None]) -> float | None:
    """The step-to-step scatter of a curve relative to its level.

    ``std(diff(losses)) / sqrt(2) / mean(losses)``: differencing removes the slow trend, and for
    independent minibatch noise ``std(diff) = sqrt(2) · std``. None with fewer than 3 finite points.
    Plain Python: it runs once per epoch on tens of values, where numpy's call overhead dominates.
    """
    values = [float(v) for v in losses if v is not None and math.isfinite(v)]
    mean = sum(values) / len(values) if values else 0.0
    if len(values) < 3 or mean <= 0:
        return None
    diffs = [b - a for a, b in zip(values, values[1:])]
    centre = sum(diffs) / len(diffs)
    spread = math.sqrt(sum((d - centre) ** 2 for d in diffs) / len(diffs))
    return spread / math.sqrt(2) / mean


def relative_slope(losses: Sequence[float | None]) -> float | None:
    """The least-squares slope of ``log(loss)`` per index: -0.1 means about 10% lower each point.

    None with fewer than 2 finite positive points.
    """
    values = _finite(losses)
    keep = np.isfinite(values) & (values > 0)
    if keep.sum() < 2:
        return None
    x = np.flatnonzero(keep).astype(np.float64)
    return float(np.polyfit(x, np.log(values[keep]), 1)[0])


def plateaued(losses: Sequence[float | None], window: int, tolerance: float = 0.01) -> bool | None:
    """Whether the last ``window`` points improved on the best before them by less than ``tolerance``
    (relative). None when the curve is shorter than ``window + 1``."""
    values = _finite(losses)
    if len(values) <= window or not np.isfinite(values[:-window]).any():
        return None
    before = np.nanmin(values[:-window])
    recent = np.nanmin(values[-window:]) if np.isfinite(values[-window:]).any() else math.inf
    return bool(recent > before * (1 - tolerance))


def gap_series(records: Sequence[dict[str, Any]]) -> list[float | None]:
    """``val_loss − train_loss`` per epoch (None where either is missing or non-finite)."""
    gaps: list[float | None] = []
    for record in records:
        train, val = record.get("train_loss"), record.get("val_loss")
        ok = train is not None and val is not None and math.isfinite(train) and math.isfinite(val)
        gaps.append(float(val - train) if ok else None)
    return gaps


def curve_stats(losses: Sequence[float | None], window: int | None = None) -> dict[str, Any]:
    """All statistics of one curve as plain data: first, last and lowest value, the divergence
    index, relative noise, the slope over the last third and whether the last ``window`` points
    (default: a third of the curve, at least 2) plateaued."""
    values = _finite(losses)
    finite = values[np.isfinite(values)]
    window = window or max(2, len(values) // 3)
    tail = list(values[-max(2, len(values) // 3):])
    return {
        "n": len(values),
        "first": float(finite[0]) if len(finite) else None,
        "last": float(values[-1]) if len(values) and np.isfinite(values[-1]) else None,
        "min": float(finite.min()) if len(finite) else None,
        "argmin": int(np.nanargmin(values)) if len(finite) else None,
        "diverged_at": divergence_index(values),
        "noise": relative_noise(values),
        "slope": relative_slope(tail),
        "plateau": plateaued(values, window),
    }
