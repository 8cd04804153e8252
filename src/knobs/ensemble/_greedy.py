"""Greedy ensemble selection with replacement (Caruana, Niculescu-Mizil, Crew & Ksikes, ICML 2004).

Why this and not fitted weights: with a handful of members and a few hundred validation rows,
free weights overfit the validation split; adding one member at a time (a member may be added
again, which is how it earns a larger weight) gives integer weights that are hard to overfit.
The paper's "sorted initialization" starts from the ``init_best`` best single members, and the
ensemble kept is the best prefix of the hill-climbing path, so the selection is never worse on
validation than the best single member. auto-sklearn and AutoGluon use the same procedure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from knobs.ensemble._combine import Probs, as_stack, check_labels
from knobs.errors import ConfigError

__all__ = ["Selection", "greedy_selection", "score", "METRICS"]

METRICS = ("log_loss", "accuracy")
# NOTE: clipping keeps log loss finite when a member gives the true class probability 0.
_EPS = 1e-12


@dataclass(frozen=True)
class Selection:
    """The outcome of greedy selection.

    Attributes:
        weights: ``(n_members,)`` ``counts / counts.sum()``; pass to ``average(probs, weights)``.
        counts: ``(n_members,)`` how often each member is in the kept ensemble.
        order: member indices in the order the hill climb added them (the whole path).
        val_score: the validation score of ``order[:i + 1]`` for each step ``i`` (the metric's
            own units: log loss, or accuracy).
        best_score: the best of ``val_score``: the score of the kept ensemble.
        n_used: the length of the kept prefix ``order[:n_used]`` (the earliest best step).
        metric: ``"log_loss"`` (lower is better) or ``"accuracy"`` (higher is better).
    """

    weights: np.ndarray
    counts: np.ndarray
    order: list[int]
    val_score: list[float]
    best_score: float
    n_used: int
    metric: str

    def to_dict(self) -> dict[str, Any]:
        return {"weights": self.weights.tolist(), "counts": self.counts.tolist(), "order": list(self.order),
                "val_score": list(self.val_score), "best_score": self.best_score, "n_used": self.n_used,
                "metric": self.metric}


def score(probs: np.ndarray, y: np.ndarray, metric: str) -> float:
    """Log loss (clipped) or accuracy of ``(n_samples, n_classes)`` probabilities."""
    if metric == "accuracy":
        return float(np.mean(probs.argmax(axis=1) == y))
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], _EPS, None))))


def greedy_selection(val_probs: Probs, y_val: np.ndarray, size: int = 25, metric: str = "log_loss",
                     init_best: int = 1, seed: int | None = None, patience: int | None = None) -> Selection:
    """Choose member weights on validation by greedy forward selection with replacement.

    Each step adds the member whose addition gives the best validation score of the averaged
    probabilities, even when no addition improves it (the path may climb out of a dip later);
    the kept ensemble is the path's best prefix.

    Args:
        val_probs: members' validation probabilities (see ``knobs.ensemble._combine``).
        y_val: true validation classes.
        size: steps of the hill climb, the ``init_best`` starting members included.
        metric: ``"log_loss"`` (the default: smooth, so steps rarely tie) or ``"accuracy"``.
        init_best: start from this many best single members, each added once (Caruana's sorted
            initialization; it guards against the first greedy steps overfitting).
        seed: ties between equally good candidates go to a seeded random choice (as in
            auto-sklearn); ``None`` gives them to the lowest member index, e.g. the best trial.
        patience: stop once this many steps in a row have not improved the best score;
            ``None`` runs all ``size`` steps (cheap: one pass over the members per step).

    Returns:
        A ``Selection``; its ``weights`` sum to 1.

    Example:
        >>> sel = greedy_selection([p_a, p_b, p_c], y_val, size=25)  # doctest: +SKIP
        >>> test = average([t_a, t_b, t_c], sel.weights)  # doctest: +SKIP
    """
    stack = as_stack(val_probs, "val_probs")
    n_members, n_samples, n_classes = stack.shape
    y = check_labels(y_val, n_samples, n_classes, "y_val")
    _check_args(size, metric, init_best, patience, n_members)
    rng = np.random.default_rng(seed) if seed is not None else None
    # NOTE: log loss only needs each member's true-class column: (m, n) instead of (m, n, c).
    table = stack[:, np.arange(n_samples), y] if metric == "log_loss" else stack
    running = np.zeros(table.shape[1:])
    order: list[int] = []
    losses: list[float] = []
    ranked = np.argsort(_candidate_losses(table, running, 0, y), kind="stable")
    for step in range(size):
        if step < init_best:
            pick = int(ranked[step])
            loss = float(_candidate_losses(table[pick:pick + 1], running, step, y)[0])
        else:
            candidates = _candidate_losses(table, running, step, y)
            pick = _argmin(candidates, rng)
            loss = float(candidates[pick])
        running = running + table[pick]
        order.append(pick)
        losses.append(loss)
        if patience is not None and step - int(np.argmin(losses)) >= patience:
            break
    return _selection(order, losses, n_members, metric)


def _check_args(size: Any, metric: Any, init_best: Any, patience: Any, n_members: int) -> None:
    if not _is_int(size) or size < 1:
        raise ConfigError(f"greedy_selection size must be an integer >= 1, got {size!r}")
    if metric not in METRICS:
        raise ConfigError(f"greedy_selection metric must be one of {METRICS}, got {metric!r}")
    if not _is_int(init_best) or not 1 <= init_best <= min(n_members, size):
        raise ConfigError(f"greedy_selection init_best must be an integer in [1, min(n_members={n_members}, "
                          f"size={size})], got {init_best!r}")
    if patience is not None and (not _is_int(patience) or patience < 1):
        raise ConfigError(f"greedy_selection patience must be None or an integer >= 1, got {patience!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _candidate_losses(table: np.ndarray, running: np.ndarray, k: int, y: np.ndarray) -> np.ndarray:
    """Loss (lower is better) of the ensemble ``(running + member) / (k + 1)`` for every member at once.

    ``table`` is ``(m, n)`` true-class probabilities (log loss) or ``(m, n, c)`` probabilities (accuracy).
    """
    mixed = (running[None] + table) / (k + 1)
    if table.ndim == 2:
        return -np.log(np.clip(mixed, _EPS, None)).mean(axis=1)
    return 1.0 - (mixed.argmax(axis=2) == y[None]).mean(axis=1)


def _argmin(values: np.ndarray, rng: np.random.Generator | None) -> int:
    """Index of the smallest value; exact ties go to ``rng`` or, without one, to the lowest index."""
    best = np.flatnonzero(values == values.min())
    return int(best[0] if rng is None or len(best) == 1 else rng.choice(best))


def _selection(order: list[int], losses: list[float], n_members: int, metric: str) -> Selection:
    """Keep the earliest best prefix of the path; convert losses back to the metric's units."""
    n_used = int(np.argmin(losses)) + 1
    counts = np.bincount(order[:n_used], minlength=n_members)
    scores = [1.0 - v if metric == "accuracy" else v for v in losses]
    return Selection(weights=counts / counts.sum(), counts=counts, order=order, val_score=scores,
                     best_score=scores[n_used - 1], n_used=n_used, metric=metric)
