"""Resampling the training rows with imbalanced-learn: random undersampling and SMOTE.

Why training rows only: synthetic or dropped rows in validation or test would change what the
score measures (imbalanced-learn's own pipelines resample inside training folds only). These
functions take the training pair and return a new one; validation and test never pass through.

SMOTE (Chawla et al. 2002) makes a minority row by interpolating between a minority row and one
of its ``k_neighbors`` nearest minority neighbours, so the class region fills in instead of
repeating points. Distances are Euclidean: apply it to standardized features.

Example:
    >>> X, y = np.random.default_rng(0).normal(size=(40, 3)), np.array([0] * 32 + [1] * 8)
    >>> Xs, ys = smote(X, y, n_classes=2, k_neighbors=3, seed=0)
    >>> np.bincount(ys).tolist()
    [32, 32]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from knobs.balance._weights import class_counts
from knobs.errors import ConfigError, DataError

__all__ = ["undersample", "undersample_index", "smote"]


def undersample(X, y, n_classes: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Keep a random ``min_c n_c`` rows of every class (imbalanced-learn's ``RandomUnderSampler``).

    It throws data away, so it suits large majority classes; with small data prefer weights,
    oversampling or SMOTE. Rows are returned as they were (no copies, no new values).

    Raises:
        DataError: labels outside ``0..C-1`` or ``X``/``y`` of different lengths.
    """
    X, y = _pair(X, y, n_classes)
    index = undersample_index(y, n_classes, seed)
    return X[index], y[index]


def undersample_index(y, n_classes: int | None = None, seed: int = 0) -> np.ndarray:
    """The sorted positions ``undersample`` keeps: it draws from the labels alone, so rows read from
    disk are selected without being read.

    Raises:
        DataError: labels outside ``0..C-1``.
    """
    y = np.asarray(y)
    class_counts(y, n_classes)
    y = y.astype(np.int64) if y.dtype.kind == "f" else y
    sampler = _imblearn("under_sampling", "RandomUnderSampler", "undersample")(random_state=seed)
    sampler.fit_resample(np.zeros((len(y), 1)), y)
    return np.sort(sampler.sample_indices_)


def smote(X, y, n_classes: int | None = None, k_neighbors: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Add synthetic minority rows until every class has as many rows as the largest one.

    Args:
        X: training features ``(n, ...)`` (flattened for the neighbour search, then reshaped).
        y: training labels.
        n_classes: ``C`` (default: the largest label + 1).
        k_neighbors: neighbours among which SMOTE interpolates; each minority class needs at
            least ``k_neighbors + 1`` rows.
        seed: the random state.

    Returns:
        ``(X, y)``: the original rows first, in order, then the synthetic ones; ``X`` keeps its
        dtype and feature shape.

    Raises:
        ConfigError: ``k_neighbors`` not a positive integer.
        DataError: a minority class with fewer than ``k_neighbors + 1`` rows (naming it, its
            count and the fix), bad labels, or ``X``/``y`` of different lengths.
    """
    if isinstance(k_neighbors, bool) or not isinstance(k_neighbors, (int, np.integer)) or k_neighbors < 1:
        raise ConfigError(f"smote k_neighbors must be a positive integer, got {k_neighbors!r}")
    X, y = _pair(X, y, n_classes)
    _check_smote_counts(class_counts(y, n_classes), k_neighbors)
    sampler = _imblearn("over_sampling", "SMOTE", "smote")(k_neighbors=int(k_neighbors), random_state=seed)
    X_res, y_res = sampler.fit_resample(X.reshape(len(X), -1), y)
    return np.asarray(X_res, dtype=X.dtype).reshape((-1, *X.shape[1:])), np.asarray(y_res, dtype=y.dtype)


def _check_smote_counts(counts: np.ndarray, k_neighbors: int) -> None:
    largest = counts.max()
    short = [(c, int(n)) for c, n in enumerate(counts) if 0 < n < largest and n < k_neighbors + 1]
    if short:
        cls, n = min(short, key=lambda item: item[1])
        fix = (f"set k_neighbors (smote_k) <= {n - 1}, or " if n > 1 else "") + "use sampler='oversample'"
        raise DataError(f"SMOTE with k_neighbors={k_neighbors} needs at least {k_neighbors + 1} "
                        f"training rows of every minority class, but class {cls} has {n} "
                        f"(classes short of rows: {dict(short)}); {fix}")


def _pair(X, y, n_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim < 2 or len(X) != len(y):
        raise DataError(f"resampling needs training X (n, features...) and y (n,); got X {X.shape} "
                        f"and y {y.shape}")
    class_counts(y, n_classes)
    return X, y.astype(np.int64) if y.dtype.kind == "f" else y


def _imblearn(module: str, name: str, sampler: str) -> Any:
    """imbalanced-learn's class, imported when first needed (it is an optional dependency)."""
    try:
        imported = __import__(f"imblearn.{module}", fromlist=[name])
    except ImportError:
        raise ConfigError(f"sampler={sampler!r} needs the imbalanced-learn package: "
                          f"pip install imbalanced-learn") from None
    return getattr(imported, name)
