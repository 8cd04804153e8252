"""Weighted averaging with free weights fitted on validation: log loss minimized on the simplex.

Why a convex solver and not a search: the log loss of a mixture,
``L(w) = -mean_i log(sum_m w_m p_m[i, y_i])``, is convex in ``w`` (minus the log of a linear
function), so a local method started anywhere on the simplex finds the global minimum. SLSQP
handles the simplex directly (bounds ``0 <= w_m`` and ``sum w = 1``) with the analytic gradient.

When to prefer it over ``greedy_selection``: free weights fit the validation rows exactly, which
is their strength with many rows and their weakness with few (they overfit); greedy selection's
integer weights are coarser and harder to overfit. ``EnsembleReport`` scores both out-of-fold,
which is the honest way to choose.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from knobs.ensemble._combine import Probs, as_stack, check_labels
from knobs.errors import ConfigError

__all__ = ["fit_weights", "mixture_log_loss"]

# NOTE: clipping keeps the loss finite when every member gives the true class probability 0.
_EPS = 1e-12


def mixture_log_loss(w: np.ndarray, table: np.ndarray) -> tuple[float, np.ndarray]:
    """Log loss of the mixture ``w`` and its gradient.

    Args:
        w: ``(n_members,)`` weights.
        table: ``(n_members, n_samples)`` each member's probability of the true class.

    Returns:
        ``(loss, grad)`` with ``grad[m] = -mean_i table[m, i] / mix_i``.
    """
    mix = np.clip(w @ table, _EPS, None)
    return float(-np.mean(np.log(mix))), -(table / mix).mean(axis=1)


def fit_weights(val_probs: Probs, y_val: np.ndarray, *, tol: float = 1e-10, max_iter: int = 500) -> np.ndarray:
    """Member weights on the simplex that minimize the validation log loss of ``average``.

    The result is never worse on validation than equal weights or any single member: those
    points are scored too, and the best of them is returned if the solver stops short.

    Args:
        val_probs: members' validation probabilities ``(n_members, n_samples, n_classes)``.
        y_val: true validation classes ``(n_samples,)``.
        tol: SLSQP's ``ftol`` (the loss change that counts as converged).
        max_iter: SLSQP's iteration limit.

    Returns:
        ``(n_members,)`` non-negative weights summing to 1; pass to ``average(probs, weights)``.

    Example:
        >>> w = fit_weights(val_probs, y_val)  # doctest: +SKIP
        >>> test = average(test_probs, w)  # doctest: +SKIP
    """
    stack = as_stack(val_probs, "val_probs")
    n_members, n_samples, n_classes = stack.shape
    y = check_labels(y_val, n_samples, n_classes, "y_val")
    _check_args(tol, max_iter)
    table = stack[:, np.arange(n_samples), y]
    if n_members == 1:
        return np.ones(1)
    start = np.full(n_members, 1.0 / n_members)
    result = minimize(mixture_log_loss, start, args=(table,), jac=True, method="SLSQP",
                      bounds=[(0.0, 1.0)] * n_members,
                      constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}],
                      options={"ftol": tol, "maxiter": max_iter})
    solved = np.clip(result.x, 0.0, None)
    solved = solved / solved.sum() if solved.sum() > 0 else start
    candidates = [solved, start, *np.eye(n_members)]
    return min(candidates, key=lambda w: mixture_log_loss(w, table)[0])


def _check_args(tol: object, max_iter: object) -> None:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol > 0:
        raise ConfigError(f"fit_weights tol must be a number > 0, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ConfigError(f"fit_weights max_iter must be an integer >= 1, got {max_iter!r}")
