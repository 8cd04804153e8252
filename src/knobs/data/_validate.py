"""Checks on arrays that must hold before any training starts.

Why here and not in the loss: ``F.cross_entropy`` with a label of 10 for 10 classes fails deep in
torch (or silently on some devices); NaN features turn into a NaN loss epochs later. Both are found
in one pass over the arrays and reported with the values and the fix.
"""

from __future__ import annotations

import numpy as np

from knobs.errors import DataError

__all__ = ["validate_labels", "validate_features", "declare_classes"]

_SHOWN = 10  # how many offending values or positions a message lists


def validate_labels(y, n_classes: int, *, name: str = "y") -> np.ndarray:
    """Check class labels are integers in ``0..n_classes-1``; return them as ``np.int64``.

    Args:
        y: 1-D labels (any integer or integer-valued float array).
        n_classes: the number of classes ``C``.
        name: what the message calls the labels (``"y_train"``, a CSV column).

    Raises:
        DataError: naming the bad values, how many rows hold them, and the expected range.

    Example:
        >>> validate_labels([0, 2, 1], 3).tolist()
        [0, 2, 1]
    """
    y = np.asarray(y)
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise DataError(f"n_classes must be a positive integer, got {n_classes!r}")
    if y.ndim != 1:
        raise DataError(f"{name} must be a 1-D array of class labels, got shape {y.shape}")
    if y.dtype.kind not in "iub":
        if y.dtype.kind != "f":
            example = f" such as {_show(np.unique(y)[:3])}" if y.size and y.dtype.kind in "US" else ""
            raise DataError(f"{name} must hold integer class labels 0..{n_classes - 1}, got dtype {y.dtype}"
                            f"{example}; encode the classes first, e.g. classes, y = np.unique(y, "
                            f"return_inverse=True) (load_csv does this)")
        bad = np.unique(y[~np.isfinite(y) | (y != np.round(y))])
        if bad.size:
            raise DataError(
                f"{name} must hold integer class labels 0..{n_classes - 1}; found non-integer "
                f"values {_show(bad)}. Encode the classes as integers (load_csv does this)."
            )
    out_of_range = (y < 0) | (y >= n_classes)
    if out_of_range.any():
        bad = np.unique(y[out_of_range])
        raise DataError(
            f"{name} has labels {_show(bad)} in {int(out_of_range.sum())} rows outside the expected "
            f"range 0..{n_classes - 1} for {n_classes} classes; re-encode the labels to 0..C-1 "
            f"or set n_classes to the true number of classes"
        )
    return y.astype(np.int64)


def validate_features(X, *, name: str = "X") -> np.ndarray:
    """Check features are numeric and finite; return them as a float array (dtype kept if float).

    Raises:
        DataError: naming how many NaN / inf values there are and the first columns holding them.
    """
    X = np.asarray(X)
    if X.dtype.kind not in "iubf":
        raise DataError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.dtype.kind != "f":
        X = X.astype(np.float32)
    finite = np.isfinite(X)
    if not finite.all():
        flat = ~finite.reshape(len(X), -1)
        columns = np.flatnonzero(flat.any(axis=0))
        raise DataError(
            f"{name} has {int(np.isnan(X).sum())} NaN and {int(np.isinf(X).sum())} infinite values "
            f"in {int(flat.any(axis=1).sum())} rows (columns {_show(columns)}); drop or impute "
            f"those rows before training"
        )
    return X


def _show(values: np.ndarray) -> str:
    """Up to ``_SHOWN`` values as a short list, with the count of the rest."""
    items = [v.item() if hasattr(v, "item") else v for v in values[:_SHOWN]]
    more = f" (+{len(values) - _SHOWN} more)" if len(values) > _SHOWN else ""
    return f"{items}{more}"


def declare_classes(dataset, n_classes: int):
    """Keep a classification target's own integer labels and hold them to ``0..n_classes-1``.

    Why: ``load_csv`` re-encodes whatever labels it finds to ``0..C-1``, which hides a label of 7
    in a file that should have 5 classes. Declaring ``n_classes`` (config ``data.n_classes``)
    restores the original labels and checks them, so such a row is reported, not learned.

    Raises:
        DataError: the task is not classification, labels are not integers, or one is out of range.
    """
    import dataclasses

    if dataset.task != "classification":
        raise DataError(f"data.n_classes is for classification, but {dataset.source} has a {dataset.task} target")
    original = np.asarray(dataset.class_names if dataset.class_names is not None else range(dataset.n_classes))
    try:
        labels = original.astype(np.float64)[dataset.y]
    except ValueError:
        raise DataError(f"{dataset.source}: data.n_classes needs integer labels; found {_show(original)}") from None
    if np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    labels = validate_labels(labels, n_classes, name=f"{dataset.source}: the target")
    return dataclasses.replace(dataset, y=labels, n_classes=n_classes, class_names=[str(i) for i in range(n_classes)])
