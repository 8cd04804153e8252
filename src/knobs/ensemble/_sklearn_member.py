"""``SklearnMember``: a scikit-learn classifier as an ensemble member, in the torch members' format.

Why a wrapper: ``predict_proba`` of a scikit-learn classifier has one column per class *it saw*
(``classes_``), in sorted label order; a network has one column per class of the task. A class
missing from a training split would silently shift every later column. The wrapper puts each
column at its class index among ``n_classes`` (a class never seen gets probability 0), flattens
image-shaped inputs, and accepts torch tensors, so the same ``X`` feeds every member.

Example:
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> rf = SklearnMember(RandomForestClassifier(n_estimators=200, random_state=0), n_classes=10)  # doctest: +SKIP
    >>> rf.fit(X_train, y_train).predict_proba(X_val).shape  # doctest: +SKIP
    (270, 10)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from knobs.ensemble._combine import check_labels
from knobs.errors import ConfigError, DataError

__all__ = ["SklearnMember", "as_features"]


def as_features(X: Any, name: str = "X") -> np.ndarray:
    """``(n_samples, n_features)`` float64 from an array or a (CPU or device) torch tensor."""
    if hasattr(X, "detach"):  # a torch tensor, without importing torch here
        X = X.detach().cpu().numpy()
    X = np.asarray(X, dtype=float)
    if X.ndim < 2 or len(X) == 0:
        raise DataError(f"{name} must have shape (n_samples, n_features, ...) with n_samples >= 1, got {X.shape}")
    if not np.isfinite(X).all():
        raise DataError(f"{name} contains NaN or infinite values; impute or drop them first")
    return X.reshape(len(X), -1)


class SklearnMember:
    """Wrap a scikit-learn classifier so it gives probabilities over all ``n_classes`` classes.

    Args:
        estimator: a classifier with ``predict_proba`` (an ``SVC`` needs wrapping in
            ``CalibratedClassifierCV(SVC(), ensemble=False)``, or ``probability=True``).
            ``fit`` trains a clone; an already fitted estimator may be used without ``fit``.
        n_classes: classes of the task; default ``max(y) + 1`` from ``fit`` (or the fitted
            estimator's largest class).
        name: the member's name in reports; default the estimator's class name.

    Attributes (after ``fit``):
        estimator_: the fitted clone.
        n_classes_: the number of probability columns.
    """

    def __init__(self, estimator: Any, n_classes: int | None = None, name: str | None = None) -> None:
        self.estimator = estimator
        self.n_classes = n_classes
        self.name = name or type(estimator).__name__

    def fit(self, X: Any, y: Any) -> "SklearnMember":
        """Train a clone of the estimator on ``(X, y)``; returns ``self``."""
        self._check_estimator()
        X = as_features(X, f"{self.name}: X")
        y = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y)
        n_classes = self._n_classes(int(np.max(y, initial=0)) + 1)
        y = check_labels(y, len(X), n_classes, f"{self.name}: y")
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.n_classes_ = n_classes
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n_samples, n_classes_)`` probabilities; column ``k`` is class ``k``."""
        estimator = self._fitted()
        X = as_features(X, f"{self.name}: X")
        try:
            proba = np.asarray(estimator.predict_proba(X), dtype=float)
        except ValueError as err:  # e.g. another number of features than in fit
            raise DataError(f"{self.name}: predict_proba failed on X of shape {X.shape}: {err}") from None
        full = np.zeros((len(X), self.n_classes_))
        full[:, np.asarray(estimator.classes_, dtype=int)] = proba
        return full

    def _check_estimator(self) -> None:
        if not hasattr(self.estimator, "fit") or not hasattr(self.estimator, "predict_proba"):
            hint = (" (for an SVC: wrap it in CalibratedClassifierCV(SVC(), ensemble=False), or pass probability=True)"
                    if type(self.estimator).__name__ in ("SVC", "NuSVC") else "")
            raise ConfigError(f"{self.name}: an ensemble member needs a classifier with fit and predict_proba{hint}")
        if self.n_classes is not None and (isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int)
                                           or self.n_classes < 2):
            raise ConfigError(f"{self.name}: n_classes must be an integer >= 2, got {self.n_classes!r}")

    def _n_classes(self, seen: int) -> int:
        return self.n_classes if self.n_classes is not None else max(seen, 2)

    def _fitted(self) -> Any:
        """``estimator_`` after ``fit``; else the given estimator when it is already fitted."""
        if hasattr(self, "estimator_"):
            return self.estimator_
        self._check_estimator()
        try:
            check_is_fitted(self.estimator)
        except NotFittedError:
            raise ConfigError(f"{self.name}: predict_proba called before fit(X, y), and the estimator is not "
                              "fitted either") from None
        classes = np.asarray(self.estimator.classes_)
        if not np.issubdtype(classes.dtype, np.integer) or classes.min() < 0:
            raise DataError(f"{self.name}: the fitted estimator's classes_ {classes.tolist()} are not class indices "
                            "0 .. n_classes - 1")
        self.n_classes_ = self._n_classes(int(classes.max()) + 1)
        if classes.max() >= self.n_classes_:
            raise DataError(f"{self.name}: the fitted estimator knows class {classes.max()}, beyond n_classes="
                            f"{self.n_classes_}")
        return self.estimator
