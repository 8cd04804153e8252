"""Combining members' class probabilities: (weighted) averaging and (weighted) majority vote.

Array shapes used across ``knobs.ensemble``:

    probs    (n_members, n_samples, n_classes)  or a list of n_members (n_samples, n_classes)
    labels   (n_members, n_samples)             predicted class per member
    y        (n_samples,)                       true classes, ints in [0, n_classes)
    weights  (n_members,)                       non-negative, normalized to sum to 1

Why probabilities and not models: the ensemble layer is pure NumPy, so anything that outputs
class probabilities (a torch network, a scikit-learn estimator, a stored prediction file) can
be combined, and the pipeline computes each member's outputs once and reuses them.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from knobs.errors import ConfigError, DataError

__all__ = ["Probs", "as_stack", "check_labels", "check_weights", "average", "vote", "plurality"]

Probs = Union[np.ndarray, Sequence[np.ndarray]]

# NOTE: float32 softmax rows sum to 1 within ~1e-6; 1e-3 still rejects logits and raw scores.
_SUM_TOL = 1e-3


def as_stack(probs: Probs, name: str = "probs") -> np.ndarray:
    """Validate members' probabilities and stack them as float64 ``(n_members, n_samples, n_classes)``.

    Raises:
        DataError: naming the member index and its shape when members disagree in shape, or
            when a member holds NaN/inf, negative values or rows that do not sum to 1.
    """
    members = list(probs) if not isinstance(probs, np.ndarray) else None
    if members is None:
        if probs.ndim != 3:
            raise DataError(f"{name} must have shape (n_members, n_samples, n_classes), got {probs.shape}")
        members = list(probs)
    if not members:
        raise DataError(f"{name} is empty: an ensemble needs at least one member")
    arrays = [np.asarray(m, dtype=float) for m in members]
    first = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.ndim != 2 or a.shape != first or a.shape[0] == 0 or a.shape[1] < 2:
            raise DataError(f"{name}[{i}] has shape {a.shape}; every member must be (n_samples, n_classes) "
                            f"with n_classes >= 2, the same as {name}[0] {first}")
        _check_member(a, f"{name}[{i}]")
    return np.stack(arrays)


def _check_member(a: np.ndarray, label: str) -> None:
    if not np.isfinite(a).all():
        raise DataError(f"{label} contains NaN or inf; members must output finite probabilities")
    if (a < 0).any():
        raise DataError(f"{label} contains negative values; pass probabilities (softmax outputs), not logits")
    worst = float(np.max(np.abs(a.sum(axis=1) - 1.0)))
    if worst > _SUM_TOL:
        raise DataError(f"{label} has rows summing to 1 ± {worst:.3g}; pass probabilities (softmax outputs), "
                        "not scores")


def check_labels(y: np.ndarray, n_samples: int, n_classes: int, name: str = "y") -> np.ndarray:
    """Validate true classes: 1-D integers in ``[0, n_classes)``, one per sample."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise DataError(f"{name} must have shape ({n_samples},) to match the members' samples, got {y.shape}")
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)):
        raise DataError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if n_samples and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"{name} holds labels in [{y.min()}, {y.max()}]; expected 0 .. {n_classes - 1}")
    return y.astype(np.int64)


def check_weights(weights: np.ndarray | Sequence[float] | None, n_members: int, name: str = "weights") -> np.ndarray:
    """Member weights normalized to sum to 1; ``None`` means equal weights."""
    if weights is None:
        return np.full(n_members, 1.0 / n_members)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n_members,):
        raise ConfigError(f"{name} must have shape ({n_members},), one per member, got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ConfigError(f"{name} must be finite, non-negative and not all zero, got {w.tolist()}")
    return w / w.sum()


def average(probs: Probs, weights: np.ndarray | Sequence[float] | None = None) -> np.ndarray:
    """The (weighted) mean of members' probabilities, ``(n_samples, n_classes)``.

    Averaging probabilities (not labels) keeps each member's confidence, so a sure member can
    outvote two unsure ones; the result is a proper distribution, so log loss stays defined.

    Args:
        probs: members' probabilities (see the shape glossary above).
        weights: one non-negative weight per member, normalized here; ``None`` for equal weights.

    Example:
        >>> average([np.array([[0.9, 0.1]]), np.array([[0.5, 0.5]])]).round(2).tolist()
        [[0.7, 0.3]]
    """
    stack = as_stack(probs)
    w = check_weights(weights, len(stack))
    return np.tensordot(w, stack, axes=1)


def average_labels(probs: Probs, weights: np.ndarray | Sequence[float] | None = None) -> np.ndarray:
    """The (weighted) mean of multi-label members' probabilities ``(n_samples, n_labels)``: each a label's own
    probability in [0, 1] (a sigmoid per label), so a row need not sum to 1 as ``average``'s rows must.

    Example:
        >>> average_labels([np.array([[0.9, 0.2]]), np.array([[0.5, 0.6]])]).round(2).tolist()
        [[0.7, 0.4]]
    """
    arrays = [np.asarray(m, dtype=float) for m in probs]
    if not arrays:
        raise DataError("probs is empty: an ensemble needs at least one member")
    for i, a in enumerate(arrays):
        if a.ndim != 2 or a.shape != arrays[0].shape or len(a) == 0:
            raise DataError(f"probs[{i}] has shape {a.shape}; every member must be (n_samples, n_labels), the same as "
                            f"probs[0] {arrays[0].shape}")
        if not (np.isfinite(a).all() and ((a >= 0) & (a <= 1)).all()):
            raise DataError(f"probs[{i}] holds values outside [0, 1]; pass each label's probability (a sigmoid), "
                            f"not logits")
    return np.tensordot(check_weights(weights, len(arrays)), np.stack(arrays), axes=1)


def vote(probs: Probs, weights: np.ndarray | Sequence[float] | None = None) -> np.ndarray:
    """(Weighted) majority vote of members' predicted classes, ``(n_samples,)`` ints.

    Each member votes for its arg-max class with its weight; the class with the most votes wins.
    Ties between classes are broken by the (weighted) summed probability of the tied classes,
    so a vote is never decided by class order.

    Example:
        >>> p = np.array([[[0.6, 0.4]], [[0.4, 0.6]], [[0.9, 0.1]]])
        >>> vote(p).tolist()
        [0]
    """
    stack = as_stack(probs)
    w = check_weights(weights, len(stack))
    counts = plurality(stack.argmax(axis=2), stack.shape[2], w)
    # NOTE: weighted counts are float sums; isclose treats rounding-level differences as ties.
    tied = np.isclose(counts, counts.max(axis=1, keepdims=True), rtol=0.0, atol=1e-9)
    summed = np.tensordot(w, stack, axes=1)
    return np.where(tied, summed, -np.inf).argmax(axis=1)


def plurality(labels: np.ndarray, n_classes: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted vote counts ``(n_samples, n_classes)`` from members' labels ``(n_members, n_samples)``."""
    n_members, n_samples = labels.shape
    w = np.ones(n_members) if weights is None else weights
    counts = np.zeros((n_samples, n_classes))
    for member, weight in zip(labels, w):
        counts[np.arange(n_samples), member] += weight
    return counts
