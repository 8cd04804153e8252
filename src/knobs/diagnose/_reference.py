"""A reference for what the data allows: quick scikit-learn models scored on the same split.

Why: "the training loss is high" means nothing without knowing how low it could go, and that is a
property of the data (label noise, Bayes error), not of the network. A ridge (linear) model and a
k-nearest-neighbour model, fitted in milliseconds, give a validation score any working network
should at least match on its own training rows: diabetes regression explains about half the
variance whatever the model; two noisy rings are separated by k-NN but never by a line. A network
whose training score stays clearly below the reference's validation score underfits (Ng's "high
bias" against a human-level or best-known error).

Example:
    >>> reference_scores((X, y), (Xv, yv), "classification")    # doctest: +SKIP
    {'linear': 0.96, 'knn': 0.98, 'best': 'knn', 'score': 0.98, 'metric': 'accuracy'}
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

__all__ = ["reference_scores", "r2", "MAX_ROWS", "label_signal"]

#: The reference fits at most this many training rows (a seeded subsample), to stay quick.
MAX_ROWS = 2000


def r2(mse: float, targets: np.ndarray) -> float:
    """The coefficient of determination of a model with mean squared error ``mse``."""
    variance = float(np.var(targets))
    return 1.0 - mse / max(variance, 1e-12)


def reference_scores(train, val, task: str, seed: int = 0) -> dict[str, Any]:
    """Validation accuracy (classification) or R² (regression) of a linear and a k-NN model; with a class per
    position (token tags, pixel classes) none (``score`` None): a per-row model has no such reference."""
    (X, y), (Xv, yv) = (_flat(pair) for pair in (train, val))
    if task == "classification" and _per_position(y):
        return {"score": None, "best": None, "metric": "accuracy", "skipped": PER_POSITION}
    if task == "multilabel":
        return _label_reference(X, y.reshape(len(y), -1), Xv, yv.reshape(len(yv), -1), seed)
    if len(X) > MAX_ROWS:
        keep = np.random.default_rng(seed).choice(len(X), MAX_ROWS, replace=False)
        X, y = X[keep], y[keep]
    models = _models(task, len(X))
    scores = {}
    for name, model in models.items():
        model.fit(X, y)
        scores[name] = float(model.score(Xv, yv))
    best = max(scores, key=scores.get)
    return {**scores, "best": best, "score": scores[best],
            "metric": "accuracy" if task == "classification" else "r2"}


def label_signal(train, task: str, seed: int = 0, folds: int = 5) -> dict[str, Any]:
    """How far the training rows' labels follow from their inputs: the linear and k-NN models' scores
    cross-validated on the training rows alone (``folds`` folds, stratified for classes), beside chance —
    1/C in balanced accuracy (whatever the class mix: the most frequent class's share in plain accuracy is
    out of reach of a model on 99:1 data whose rare class it does see), or 0 in R² — and that chance's
    standard error (binomial per class; ``sqrt(2/n)`` for R²).

    NOTE: cross-validated on the training rows, not scored on the validation rows: a validation split's
    rows come in clusters (a digit's 27 images fall together on one predicted label), so a model fitted on
    labels that carry nothing can still hit or miss whole classes and land far from chance by luck; the
    training rows' own labels, drawn row by row, give an honest binomial error."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    X, y = _flat(train)
    classification = task == "classification"
    if (classification and _per_position(y)) or task == "multilabel":  # chance is a per-row label's
        return {}
    if len(X) > MAX_ROWS:
        keep = np.random.default_rng(seed).choice(len(X), MAX_ROWS, replace=False)
        X, y = X[keep], y[keep]
    counts = np.bincount(y.astype(np.int64)) if classification else None
    smallest = int(counts[counts > 0].min()) if classification else len(y)
    k = min(folds, smallest, len(y))
    if k < 2:
        return {}
    split = (StratifiedKFold if classification else KFold)(k, shuffle=True, random_state=seed)
    scoring = "balanced_accuracy" if classification else "r2"
    scores = {name: float(cross_val_score(model, X, y, cv=split, scoring=scoring).mean())
              for name, model in _models(task, len(X) - len(X) // k).items()}
    if classification:
        present = counts[counts > 0]
        chance = 1.0 / len(present)
        se = float(np.sqrt(np.sum(chance * (1 - chance) / present)) / len(present))
    else:
        chance, se = 0.0, float(np.sqrt(2 / len(y)))
    majority = float(counts.max() / counts.sum()) if classification else 0.0
    return {**scores, "chance": chance, "chance_se": se, "majority": majority, "rows": len(y), "folds": k,
            "metric": scoring}


def _models(task: str, n: int) -> dict[str, Any]:
    # NOTE: k = 5 is scikit-learn's default; the linear models are ridge (closed form, milliseconds
    # where an iterative logistic regression takes a second on digits).
    k = max(1, min(5, n - 1))
    if task == "classification":
        return {"linear": RidgeClassifier(alpha=1.0), "knn": KNeighborsClassifier(n_neighbors=k)}
    return {"linear": Ridge(alpha=1.0), "knn": KNeighborsRegressor(n_neighbors=k)}


def _label_reference(X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray, seed: int) -> dict[str, Any]:
    """Multi-label: the share of validation labels right (the Trainer's ``val_accuracy``) of a ridge fitted to the
    0 / 1 targets, thresholded at 0.5, and of a k-NN classifier (scikit-learn's own multi-output form)."""
    if len(X) > MAX_ROWS:
        keep = np.random.default_rng(seed).choice(len(X), MAX_ROWS, replace=False)
        X, y = X[keep], y[keep]
    k = max(1, min(5, len(X) - 1))
    predictions = {"linear": Ridge(alpha=1.0).fit(X, y).predict(Xv) > 0.5,
                   "knn": KNeighborsClassifier(n_neighbors=k).fit(X, y.astype(np.int64)).predict(Xv)}
    scores = {name: float(np.mean(p.reshape(yv.shape) == (yv > 0.5))) for name, p in predictions.items()}
    best = max(scores, key=scores.get)
    return {**scores, "best": best, "score": scores[best], "metric": "label accuracy"}


#: Why the references are left out for per-position labels.
PER_POSITION = "the labels hold a class per position (token tags, pixel classes); a per-row model is no reference"


def _per_position(y: np.ndarray) -> bool:
    """Integer labels of several columns that are not one-hot rows: a class per position (``dense_targets``)."""
    if y.ndim != 2 or y.dtype.kind not in "iub":
        return False
    return not (((y == 0) | (y == 1)).all() and (y.sum(1) == 1).all())


def _flat(pair) -> tuple[np.ndarray, np.ndarray]:
    X, y = (np.asarray(a.detach().cpu() if hasattr(a, "detach") else a) for a in pair)
    y = y.reshape(len(y), -1)
    return X.reshape(len(X), -1).astype(np.float64), (y[:, 0] if y.shape[1] == 1 else y)
