"""How well a GP predicted each result before it came in (the prequential score, Dawid 1984).

Glossary of array shapes:
    n: observations in the order they came in; d: input dimensions.
    X (n, d), y (n,): as in ``gp``; raw (p,): hyperparameters (``gp``'s log-space vector).
    terms (n,): log p(y_j | y_0..y_{j-1}) under fixed hyperparameters, observation noise included.

Why: choosing a GP's hyperparameter prior per problem by the marginal likelihood (Laplace evidence)
picked the wrong prior on both problems it was meant to separate (docs/benchmarks.md, "Bayes levers,
second round"): a smooth trend explains Hartmann-6's scattered points well after the fact, yet
misses its narrow minimum. Scoring each prior's GP on the results that arrived AFTER its
hyperparameters were fitted asks the question the search cares about: which model foresees where
the next points land.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack, solve_triangular

from .gp import JITTER
from .kernel import kernel_matrix

__all__ = ["one_step_log_liks"]

LOG_2PI = float(np.log(2.0 * np.pi))


def one_step_log_liks(X: np.ndarray, y: np.ndarray, is_cat: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """``terms[j] = log p(y_j | y_<j)`` under hyperparameters ``raw`` (fixed), from one Cholesky.

    NOTE: with K + noise = L L^T and w = L^-1 y, the points are y = L w with w ~ N(0, I), so given
    the first j points y_j is normal with variance L_jj^2 and standardized residual w_j: each term
    is -w_j^2 / 2 - log L_jj - log(2 pi) / 2, and the terms sum to the log marginal likelihood.
    A factor that fails (not positive definite) gives -inf everywhere: that model predicts nothing.

    Example:
        >>> X = np.array([[0.1], [0.5], [0.9]]); y = np.array([0.0, 1.0, 0.0])
        >>> terms = one_step_log_liks(X, y, np.array([False]), np.array([0.0, 0.0, np.log(1e-2)]))
        >>> bool(abs(terms[0] - (-0.5 * np.log(2 * np.pi * 1.01))) < 1e-9)
        True
    """
    d = X.shape[1]
    K = kernel_matrix(X, X, is_cat, np.exp(-2.0 * raw[:d]), float(np.exp(raw[d])))
    K[np.diag_indices(len(X))] += np.exp(raw[d + 1]) + JITTER
    L, info = lapack.dpotrf(K, lower=1, clean=1)
    if info != 0:
        return np.full(len(X), -np.inf)
    w = solve_triangular(L, y, lower=True, check_finite=False)
    return -0.5 * w * w - np.log(np.diag(L)) - 0.5 * LOG_2PI
