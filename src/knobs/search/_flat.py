"""Regions a search has shown to be flat: near-copies of one config that gave exactly the same result.

Why: a tree ensemble's ``max_features`` is used as ``int(max_features * n_features)`` and its
``max_depth`` stops mattering once the trees are fully grown, so many configs train the very same model.
A GP with short lengthscales (fitted to explain the jumps between those steps) keeps variance between its
points, and EI spent 19 of the last 20 trials of one dev run (``rf_digits``, seed 1) walking
``max_features`` from 0.453 to 0.468 in steps of 0.001, every one the same model and the same loss
(docs/benchmarks.md, "Exact repeats"). Two evaluated configs that differ on one or two axes, by a
little, and return the same loss to the last bit, say the objective is flat between them there; a
candidate inside that segment (widened by its own width, so a walk that keeps stepping past its end
meets a box twice as long each time) would most likely train that model again.

Only near pairs count: an error rate takes few values, so far-apart configs often tie by chance, and
a box spanning them would forbid a whole region on no evidence.

Example:
    >>> import numpy as np
    >>> X = np.array([[0.2, 0.50], [0.2, 0.52], [0.7, 0.1]])
    >>> boxes = flat_boxes(X, np.array([0.3, 0.3, 0.9]))
    >>> inside(np.array([[0.2, 0.51], [0.2, 0.60], [0.3, 0.51]]), boxes).tolist()
    [True, False, False]
"""

from __future__ import annotations

import numpy as np

__all__ = ["flat_boxes", "inside", "resolution", "near_copy", "MAX_AXES", "MAX_GAP"]

# NOTE: a pair differing on more axes, or by more on one (unit cube), is a coincidence as often as
# a plateau; the walks this is for differ on one axis (sometimes two) by a few thousandths.
MAX_AXES = 2
MAX_GAP = 0.1
_TOL = 1e-9


def flat_boxes(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi), each (k, d): one box per pair of rows of ``X`` (the GP's coordinates) with bit-equal
    ``y`` that differ on 1..MAX_AXES axes by at most MAX_GAP each; on those axes the pair's segment
    widened by its own width on both sides, elsewhere their common value."""
    lo, hi = [], []
    for value in np.unique(y[np.isfinite(y)]):
        rows = X[y == value]
        if len(rows) < 2:
            continue
        i, j = np.triu_indices(len(rows), k=1)
        a, b = rows[i], rows[j]
        gap = np.abs(a - b)
        differ = gap > _TOL
        near = (differ.sum(axis=1) >= 1) & (differ.sum(axis=1) <= MAX_AXES) & (gap.max(axis=1) <= MAX_GAP)
        low, high = np.minimum(a, b)[near], np.maximum(a, b)[near]
        width = high - low
        lo.append(low - width)
        hi.append(high + width)
    d = X.shape[1]
    if not lo:
        return np.empty((0, d)), np.empty((0, d))
    return np.vstack(lo), np.vstack(hi)


def inside(U: np.ndarray, boxes: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(m,) True where a row of ``U`` lies in any of the boxes."""
    lo, hi = boxes
    if len(lo) == 0:
        return np.zeros(len(U), bool)
    within = (U[:, None, :] >= lo[None] - _TOL) & (U[:, None, :] <= hi[None] + _TOL)
    return within.all(axis=2).any(axis=1)


def resolution(X: np.ndarray, y: np.ndarray, continuous: np.ndarray) -> np.ndarray:
    """(d,) per continuous axis the widest gap between two rows of ``X`` that differ on that axis
    alone (by at most MAX_GAP) and gave bit-equal ``y``: steps that small did not change the model
    anywhere it was tried (``max_features`` is ``int(max_features * n_features)`` everywhere); 0 where
    no such pair was seen, and on discrete axes (a depth step that does nothing at one depth matters
    at another)."""
    out = np.zeros(X.shape[1])
    for value in np.unique(y[np.isfinite(y)]):
        rows = X[y == value]
        if len(rows) < 2:
            continue
        i, j = np.triu_indices(len(rows), k=1)
        gap = np.abs(rows[i] - rows[j])
        differ = gap > _TOL
        one = (differ.sum(axis=1) == 1) & (gap.max(axis=1) <= MAX_GAP)
        for axis in np.flatnonzero(continuous):
            pairs = one & differ[:, axis]
            if pairs.any():
                out[axis] = max(out[axis], gap[pairs, axis].max())
    return out


def near_copy(U: np.ndarray, X: np.ndarray, step: np.ndarray) -> np.ndarray:
    """(m,) True where a row of ``U`` equals a row of ``X`` on every axis but one, and differs there
    by no more than ``step`` on that axis (``resolution``)."""
    if not step.any() or len(X) == 0:
        return np.zeros(len(U), bool)
    gap = np.abs(U[:, None, :] - X[None])
    differ = gap > _TOL
    small = (gap <= step + _TOL) & (step > 0)
    return ((differ.sum(axis=2) == 1) & (differ & small).any(axis=2)).any(axis=1)
