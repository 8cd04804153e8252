"""Class weights from the training counts: each class contributes equally to the loss.

Why: with 10:1 data the cross-entropy gradient is dominated by the majority class, and the model
learns that predicting it is nearly always right. Weighting each row by ``n / (C * n_c)`` (the
"balanced" heuristic of King & Zeng 2001, scikit-learn's ``compute_class_weight``) makes every
class's total weight the same, ``n / C``.

Example:
    >>> class_weights([0, 0, 0, 1], n_classes=2).tolist()
    [0.6666666666666666, 2.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from knobs.data._validate import validate_labels
from knobs.errors import ConfigError, DataError
from knobs.train._batches import label_classes

__all__ = ["as_classes", "class_weights", "label_weights", "sample_weights", "class_counts", "infer_classes"]


def class_counts(y, n_classes: int | None = None, *, name: str = "y_train") -> np.ndarray:
    """Rows per class ``0..C-1`` (``np.int64``, length ``C``; ``C`` the largest label + 1 when not given);
    labels are checked."""
    y = as_classes(y, name)
    n_classes = infer_classes(y, n_classes)
    return np.bincount(validate_labels(y, n_classes, name=name), minlength=n_classes)


def as_classes(y, name: str = "y_train") -> Any:
    """1-D labels as given; labels of more axes as the classes they hold (``label_classes``: a label column or
    one-hot rows as their indices, a class per position — token tags, pixel classes — as every labelled position's
    class), so a segmentation's class weights count its pixels."""
    labels = y if isinstance(y, np.ndarray) else np.asarray(y.detach().cpu() if hasattr(y, "detach") else y)
    return label_classes(labels, name) if labels.ndim >= 2 else y


def infer_classes(y, n_classes: int | None) -> int:
    """``n_classes``, or the largest label + 1 when it is None (as scikit-learn reads the classes off ``y``; a
    class above every label given cannot be known then). Labels that are not integers get ``validate_labels``'
    message, which names them."""
    if n_classes is not None:
        return n_classes
    labels = np.asarray(as_classes(y))
    if labels.size == 0:
        raise DataError("the labels are empty: there is no class to count")
    if labels.dtype.kind in "iub" or (labels.dtype.kind == "f" and bool(np.isfinite(labels).all())):
        return max(int(np.max(labels)) + 1, 1)
    return max(len(np.unique(labels)), 1)


def class_weights(y, n_classes: int | None = None, mode: Any = "balanced") -> np.ndarray:
    """One loss weight per class, ``(C,)`` float64.

    Args:
        y: the training labels (never validation or test: their counts are not ours to use).
        n_classes: ``C`` (default: the largest label + 1).
        mode: ``"balanced"`` for ``n / (C * n_c)``, or explicit weights: a sequence of ``C``
            positive numbers or a ``{class: weight}`` mapping (unnamed classes weigh 1).

    Raises:
        DataError: labels outside ``0..C-1``; "balanced" with a class absent from ``y``.
        ConfigError: an unknown mode, or explicit weights of the wrong length or not positive.
    """
    y = as_classes(y)
    n_classes = infer_classes(y, n_classes)
    counts = class_counts(y, n_classes)
    if isinstance(mode, str):
        if mode != "balanced":
            raise ConfigError(f"class_weight must be 'balanced', 'none' or explicit weights (one "
                              f"per class), got {mode!r}")
        return _balanced(np.asarray(y), counts)
    return _explicit(mode, n_classes)


def sample_weights(y, weights: np.ndarray) -> np.ndarray:
    """Each row's weight: the weight of its class."""
    return np.asarray(weights, dtype=np.float64)[np.asarray(y, dtype=np.int64)]


def _balanced(y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    absent = np.flatnonzero(counts == 0)
    if absent.size:
        raise DataError(f"class_weight='balanced' needs every class in the training labels, but "
                        f"class(es) {absent.tolist()} have no rows; a class the model never sees "
                        f"cannot be learned, so drop it or collect rows of it")
    return compute_class_weight("balanced", classes=np.arange(len(counts)), y=y.astype(np.int64))


def _explicit(mode: Any, n_classes: int) -> np.ndarray:
    if isinstance(mode, Mapping):
        unknown = [key for key in mode if not (isinstance(key, (int, np.integer)) and 0 <= key < n_classes)]
        if unknown:
            raise ConfigError(f"class_weight keys must be classes 0..{n_classes - 1}, got {unknown}")
        weights = np.ones(n_classes)
        for key, value in mode.items():
            weights[int(key)] = _positive(value, f"class_weight[{key}]")
        return weights
    if isinstance(mode, Sequence) or isinstance(mode, np.ndarray):
        if len(mode) != n_classes:
            raise ConfigError(f"class_weight must hold one weight per class: expected {n_classes}, "
                              f"got {len(mode)}")
        return np.array([_positive(v, f"class_weight[{i}]") for i, v in enumerate(mode)])
    raise ConfigError(f"class_weight must be 'balanced', 'none' or explicit weights (one per "
                      f"class), got {mode!r}")


def _positive(value: Any, name: str) -> float:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def label_weights(Y) -> np.ndarray:
    """Multi-label targets' ``pos_weight``, one per label ``(K,)`` float64: the label's negative over positive
    training rows, so each label's rare "on" weighs as much in total as its "off" — for
    ``nn.BCEWithLogitsLoss(pos_weight=torch.tensor(label_weights(Y_train)))`` under ``Trainer(task="multilabel")``,
    the multi-label counterpart of ``class_weights``.

    Raises:
        DataError: targets that are not ``(n, K)`` of 0 / 1, or a label on in no training row or in every one (its
            weight would be infinite or 0: such a label is learned as a constant whatever the weight).

    Example:
        >>> label_weights([[1, 0], [0, 0], [0, 1], [0, 1]]).tolist()
        [3.0, 1.0]
    """
    labels = np.asarray(Y.detach().cpu() if hasattr(Y, "detach") else Y)
    labels = labels.reshape(-1, 1) if labels.ndim == 1 else labels
    if labels.ndim != 2 or len(labels) == 0 or not np.isin(labels, (0, 1)).all():
        raise DataError(f"label_weights: expected multi-label targets (n, labels) of 0 / 1, got shape {labels.shape}")
    positives = labels.sum(axis=0)
    constant = np.flatnonzero((positives == 0) | (positives == len(labels))).tolist()
    if constant:
        raise DataError(f"label_weights: labels {constant} are on in none or all of the {len(labels)} training rows; "
                        f"no weight makes them learnable: collect rows that tell them apart, or drop those labels")
    return (len(labels) - positives) / positives
