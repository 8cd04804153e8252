"""Metrics that do not flatter: balanced accuracy, macro-F1 and per-class recall next to accuracy.

Why these: on a 10:1 data set a model that never predicts the minority class scores 91% accuracy.
Balanced accuracy (the mean of per-class recalls) and macro-F1 weigh every class equally, the
confusion matrix shows where the errors go, and log loss judges the probabilities themselves.
``classification_metrics`` returns plain floats and lists, ready for ``summary.json``.

This module is the one place a run's numbers are computed: every metrics object in a run's
``summary.json`` (the final model's test split, the single best trial and the ensemble on
validation and test, the tuned threshold's test split, a fold-mode refit) is ``split_metrics``
of that split's outputs, so they share one naming scheme (docs/summary.md).

Torch-free on purpose (numpy and scikit-learn only): ensembles, reports and benchmarks measure
probabilities from anywhere with the same code.

Example:
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    >>> m = classification_metrics([0, 0, 1, 1], proba)
    >>> m["accuracy"], m["balanced_accuracy"], m["per_class_recall"]
    (0.75, 0.75, [1.0, 0.5])
"""

from __future__ import annotations

import warnings
from statistics import NormalDist
from typing import Any, Callable

import numpy as np
from sklearn import metrics as _sk

from knobs.errors import DataError

__all__ = [
    "accuracy", "balanced_accuracy", "macro_f1", "mean_iou", "roc_auc", "per_class_recall", "confusion_matrix", "log_loss",
    "rmse", "mae", "r2", "label_macro_f1", "label_micro_f1", "subset_accuracy", "label_average_precision",
    "label_roc_auc", "multilabel_metrics", "segmentation_metrics", "label_row_losses", "pixel_row_scores",
    "classification_metrics", "regression_metrics", "split_metrics", "HEADLINE",
    "wilson", "metric_intervals", "bootstrap_draws", "weighted_metrics", "BOOTSTRAP", "LEVEL", "INTERVAL_METHOD",
    "LABEL_INTERVAL_METHOD", "IMAGE_INTERVAL_METHOD", "INTERVAL_METHODS",
]

# The scalar metrics a person reads first, in the order terminal and report show them; a split's
# metrics hold those of its task (classification: the first five, ``roc_auc`` for binary tasks
# only; multilabel: accuracy per label, macro-F1, log loss, ROC AUC and the next three; regression: the last three).
HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "mean_iou", "log_loss", "roc_auc", "subset_accuracy",
            "micro_f1", "average_precision", "rmse", "mae", "r2")

# NOTE: probabilities from float32 softmax sum to 1 only within ~1e-6 per class; a row off by
# more than this is not a probability vector (logits, or one class column missing).
_SUM_TOLERANCE = 1e-3


# ---- classification from labels ----------------------------------------------------------------

def accuracy(y_true, y_pred) -> float:
    """Fraction of rows predicted right; flatters a model that ignores rare classes."""
    y_true, y_pred = _label_pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean recall over the classes present in ``y_true`` (a constant predictor scores 1/C).

    Example:
        >>> balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0])
        0.5
    """
    y_true, y_pred = _label_pair(y_true, y_pred)
    with warnings.catch_warnings():
        # NOTE: scikit-learn warns when y_pred holds a class absent from y_true; those rows are
        # still errors of their true class, so the score is right and the warning is noise.
        warnings.simplefilter("ignore")
        return float(_sk.balanced_accuracy_score(y_true, y_pred))


def macro_f1(y_true, y_pred) -> float:
    """Unweighted mean F1 over the classes that occur in ``y_true`` or ``y_pred``.

    A class that is predicted but never true, or true but never predicted, scores F1 = 0.
    """
    y_true, y_pred = _label_pair(y_true, y_pred)
    return float(_sk.f1_score(y_true, y_pred, average="macro", zero_division=0))


def mean_iou(y_true, y_pred) -> float:
    """Mean intersection over union (Jaccard index) over the classes that occur in ``y_true`` or ``y_pred``: a
    segmentation's headline score when its pixels are the rows (``Trainer(metrics="mean_iou")``).

    Example:
        >>> mean_iou([0, 0, 1, 1], [0, 1, 1, 1])
        0.5833333333333333
    """
    y_true, y_pred = _label_pair(y_true, y_pred)
    return float(_sk.jaccard_score(y_true, y_pred, average="macro", zero_division=0))


def per_class_recall(y_true, y_pred, n_classes: int | None = None) -> list[float | None]:
    """Recall of each class ``0..C-1``; ``None`` for a class with no rows in ``y_true``.

    Args:
        y_true: true labels.
        y_pred: predicted labels.
        n_classes: ``C``; default: one more than the largest label seen.
    """
    matrix = confusion_matrix(y_true, y_pred, n_classes)
    support = matrix.sum(axis=1)
    return [float(matrix[c, c] / support[c]) if support[c] else None for c in range(len(matrix))]


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """``(C, C)`` counts: row = true class, column = predicted class.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 0, 1]).tolist()
        [[1, 0], [1, 1]]
    """
    y_true, y_pred = _label_pair(y_true, y_pred)
    n_classes = _n_classes(n_classes, y_true, y_pred)
    return _sk.confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))


# ---- classification from probabilities ---------------------------------------------------------

def log_loss(y_true, proba) -> float:
    """Mean negative log-likelihood of the true class (natural log; ln C for a uniform guess).

    Args:
        y_true: labels ``0..C-1``.
        proba: ``(n, C)`` class probabilities (rows sum to 1), or ``(n,)`` P(class 1) for binary.
    """
    y_true = _labels(y_true, "y_true")
    proba = _proba(proba, len(y_true))
    _labels_fit(y_true, proba.shape[1])
    return float(_sk.log_loss(y_true, proba, labels=np.arange(proba.shape[1])))


def roc_auc(y_true, proba) -> float | None:
    """Area under the ROC curve: of P(class 1) for two classes, else the mean of each class against the rest
    (scikit-learn's one-vs-rest macro AUC) over the classes ``y_true`` holds; None when it holds one class only.
    Judges the ranking of the probabilities, not a threshold — the validation score to stop early on for a rare
    positive class.

    Example:
        >>> roc_auc([0, 0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]])
        0.75
    """
    y_true = _labels(y_true, "y_true")
    proba = _proba(proba, len(y_true))
    _labels_fit(y_true, proba.shape[1])
    present = np.unique(y_true)
    if len(present) < 2:
        return None
    if proba.shape[1] == 2:
        return float(_sk.roc_auc_score(y_true, proba[:, 1]))
    return float(np.mean([_sk.roc_auc_score(y_true == c, proba[:, c]) for c in present]))


def classification_metrics(y_true, proba, *, threshold: float | None = None) -> dict[str, Any]:
    """Every classification metric for one split, as plain floats and lists for ``summary.json``.

    Args:
        y_true: labels ``0..C-1``.
        proba: ``(n, C)`` class probabilities, or ``(n,)`` P(class 1) for a binary task.
        threshold: binary tasks only: predict class 1 when P(class 1) >= threshold (a threshold
            tuned on validation by ``knobs.balance.Threshold``); default: the most probable class.

    Returns:
        ``n``, ``n_classes``, ``support`` (rows per true class), ``accuracy``,
        ``balanced_accuracy``, ``macro_f1``, ``per_class_recall`` (``None`` for absent classes),
        ``confusion_matrix``, ``log_loss``; binary tasks add ``roc_auc`` (``None`` when
        ``y_true`` holds one class) and ``threshold``.

    Raises:
        DataError: mismatched lengths, labels outside ``0..C-1``, or rows that are not
            probabilities; a threshold on a task that is not binary.
    """
    y_true = _labels(y_true, "y_true")
    proba = _proba(proba, len(y_true))
    n_classes = proba.shape[1]
    _labels_fit(y_true, n_classes)
    pred = _predict(proba, threshold)
    matrix = confusion_matrix(y_true, pred, n_classes)
    result = {
        "n": int(len(y_true)), "n_classes": int(n_classes),
        "support": matrix.sum(axis=1).tolist(),
        "accuracy": accuracy(y_true, pred),
        "balanced_accuracy": balanced_accuracy(y_true, pred),
        "macro_f1": macro_f1(y_true, pred),
        "per_class_recall": per_class_recall(y_true, pred, n_classes),
        "confusion_matrix": matrix.tolist(),
        "log_loss": float(_sk.log_loss(y_true, proba, labels=np.arange(n_classes))),
    }
    if n_classes == 2:
        both = len(np.unique(y_true)) == 2
        result["roc_auc"] = float(_sk.roc_auc_score(y_true, proba[:, 1])) if both else None
        result["threshold"] = 0.5 if threshold is None else float(threshold)
    return result


def _predict(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    if threshold is None:
        return proba.argmax(axis=1)
    if proba.shape[1] != 2:
        raise DataError(f"threshold is for binary tasks, but proba has {proba.shape[1]} classes; "
                        f"leave threshold=None to predict the most probable class")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise DataError(f"threshold must be a probability in [0, 1], got {threshold!r}")
    return (proba[:, 1] >= threshold).astype(np.int64)


# ---- regression ----------------------------------------------------------------------------------

def rmse(y_true, y_pred) -> float:
    """Root mean squared error, in the target's own units."""
    y_true, y_pred = _value_pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error, in the target's own units (less swayed by outliers than RMSE)."""
    y_true, y_pred = _value_pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


def r2(y_true, y_pred) -> float | None:
    """Coefficient of determination: 0 for predicting the mean, 1 for perfect, below 0 is worse.

    Returns ``None`` when it is undefined (fewer than two rows, or a constant target).
    """
    y_true, y_pred = _value_pair(y_true, y_pred)
    if len(y_true) < 2 or np.all(y_true == y_true[0]):
        return None
    return float(_sk.r2_score(y_true, y_pred))


def regression_metrics(y_true, y_pred) -> dict[str, Any]:
    """``{"n", "rmse", "mae", "r2"}`` as plain floats (``r2`` may be ``None``, see ``r2``).

    Several targets ``(n, K)``: each column scored on its own, ``rmse``, ``mae`` and ``r2`` their means over the
    columns (scikit-learn's ``multioutput="uniform_average"``: a pooled R² would credit the columns' different
    means), and ``per_target`` each column's ``{"rmse", "mae", "r2"}`` lists."""
    columns = _value_columns(y_true, y_pred)
    if columns is not None:
        each = [regression_metrics(t, p) for t, p in columns]
        r2s = [m["r2"] for m in each if m["r2"] is not None]
        return {"n": each[0]["n"], "rmse": float(np.mean([m["rmse"] for m in each])),
                "mae": float(np.mean([m["mae"] for m in each])), "r2": float(np.mean(r2s)) if r2s else None,
                "per_target": {key: [m[key] for m in each] for key in ("rmse", "mae", "r2")}}
    y_true, y_pred = _value_pair(y_true, y_pred)
    return {"n": int(len(y_true)), "rmse": rmse(y_true, y_pred), "mae": mae(y_true, y_pred),
            "r2": r2(y_true, y_pred)}


# ---- one split of a run ----------------------------------------------------------------------------

def split_metrics(task: str, y_true, outputs, *, threshold: float | None = None,
                  intervals: bool = False) -> dict[str, Any]:
    """The metrics of one split of a run, as ``summary.json`` holds them (docs/summary.md).

    Args:
        task: ``"classification"``, ``"multilabel"`` or ``"regression"``.
        y_true: labels ``0..C-1``, ``(n, K)`` 0 / 1 label rows, or regression targets in their own units.
        outputs: ``(n, C)`` class probabilities, ``(n, K)`` label probabilities, or ``(n,)`` predictions in the
            target's units.
        threshold: binary classification (see ``classification_metrics``) and multilabel (0.5 by default).
        intervals: add ``"intervals"``: ``metric_intervals`` (95%, seeded) — a run's test splits
            carry them, so every test metric it shows has its uncertainty next to it.

    Example:
        >>> split_metrics("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0])["rmse"]
        0.5773502691896257
    """
    if task == "classification":
        result = classification_metrics(y_true, outputs, threshold=threshold)
    elif task == "multilabel":
        result = multilabel_metrics(y_true, outputs, **({} if threshold is None else {"threshold": threshold}))
    elif task == "segmentation":
        result = segmentation_metrics(y_true, outputs)
    elif task == "regression":
        if threshold is not None:
            raise DataError("threshold is for binary classification; a regression split has none")
        result = regression_metrics(y_true, outputs)
    else:
        raise DataError(f"task must be 'classification', 'multilabel', 'segmentation' or 'regression', got {task!r}")
    if intervals:
        if task == "segmentation":
            y, out = np.asarray(y_true), np.asarray(outputs)
        elif task == "multilabel":
            y, out = _indicator(y_true, "y_true"), np.asarray(outputs, np.float64)
        elif task == "regression" and _value_columns(y_true, outputs) is not None:
            y, out = np.asarray(y_true, np.float64), np.asarray(outputs, np.float64)
        else:
            y = _labels(y_true, "y_true") if task == "classification" else _value_pair(y_true, outputs)[0]
            out = _proba(outputs, len(y)) if task == "classification" else _value_pair(y_true, outputs)[1]
        result["intervals"] = metric_intervals(task, y, out, result, threshold, seed=0)
    return result


# ---- 95% intervals -----------------------------------------------------------------------------------

BOOTSTRAP = 1000
LEVEL = 0.95
INTERVAL_METHOD = (f"accuracy and per-class recall: Wilson score; others: percentile bootstrap over rows "
                   f"({BOOTSTRAP} resamples)")
#: a multi-label split's: a row's labels are not independent draws, so its accuracy takes the bootstrap too
LABEL_INTERVAL_METHOD = f"percentile bootstrap over rows ({BOOTSTRAP} resamples)"
#: a segmentation's: images resampled, since a mask's pixels are not independent draws
IMAGE_INTERVAL_METHOD = f"percentile bootstrap over images ({BOOTSTRAP} resamples)"
INTERVAL_METHODS = {"multilabel": LABEL_INTERVAL_METHOD, "segmentation": IMAGE_INTERVAL_METHOD}
"""The interval method of a task other than one class per row or one value (``INTERVAL_METHOD``)."""


def wilson(successes: int, n: int, level: float = LEVEL) -> list[float]:
    """The Wilson score interval of a proportion (Wilson 1927).

    Example:
        >>> [round(v, 3) for v in wilson(45, 50)]
        [0.786, 0.957]
    """
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, float(centre - half)), min(1.0, float(centre + half))]  # rounding can step past 0 or 1


def metric_intervals(task: str, y: np.ndarray, out: np.ndarray, metrics: dict, threshold, seed: int) -> dict[str, list]:
    """95% intervals of every scalar metric of ``metrics`` (``split_metrics`` of ``y``, ``out``).

    Accuracy takes the Wilson score interval (closed form, right near 0 and 1 where the normal
    approximation is not), and so does each class's recall (``per_class_recall``: a list, None for a
    class without rows); every other scalar metric a percentile bootstrap over rows (``BOOTSTRAP``
    resamples, seeded: the same input gives the same interval; resamples where a metric is
    undefined — one class only for ROC AUC — are left out).

    Why the bootstrap is computed here and not by calling ``split_metrics`` per resample: that
    costs ~30 ms a call (1000 resamples: half a minute for 60 rows). A resample is a weight per row
    (how often it was drawn), so each metric is a weighted sum over rows — the same definitions as
    ``knobs.metrics`` (``test_bootstrap_statistics_match_split_metrics`` holds them equal)."""
    result: dict[str, list] = {}
    measure = None
    if task == "segmentation":  # images resampled, not pixels: a mask's pixels are not independent draws
        counts = _pixel_counts(y, out)  # once: each resample only re-weighs the images' counts
        measure = lambda weights: _pixel_scalars(counts, weights)  # noqa: E731
    elif task == "classification":
        result["accuracy"] = wilson(int(round(metrics["accuracy"] * len(y))), len(y))
        matrix = np.asarray(metrics["confusion_matrix"])
        result["per_class_recall"] = [wilson(int(matrix[c, c]), int(matrix[c].sum())) if matrix[c].sum() else None
                                      for c in range(len(matrix))]
    draws = bootstrap_draws(task, y, out, threshold, np.random.default_rng(seed), measure=measure)
    for key, values in draws.items():
        values = values[np.isfinite(values)]
        if key in metrics and key not in result and len(values):
            low, high = np.percentile(values, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
            result[key] = [float(low), float(high)]
    return result


def bootstrap_draws(task: str, y: np.ndarray, out: np.ndarray, threshold, rng: np.random.Generator,
                    resamples: int = BOOTSTRAP, chunk: int = 100,
                    measure: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None) -> dict[str, np.ndarray]:
    """``{metric: values over the resamples}`` (NaN where a resample leaves a metric undefined); ``measure(weights)``
    in place of ``weighted_metrics`` when given (a segmentation's, from counts made once)."""
    n = len(y)
    parts = []
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        weights = np.zeros((b, n))
        np.add.at(weights, (np.repeat(np.arange(b), n), rng.integers(0, n, b * n)), 1.0)
        parts.append(measure(weights) if measure else weighted_metrics(task, y, out, threshold, weights))
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def weighted_metrics(task: str, y: np.ndarray, out: np.ndarray, threshold, weights: np.ndarray) -> dict[str, np.ndarray]:
    """The scalar metrics of ``split_metrics`` with each row counted ``weights[b, i]`` times, per row ``b``."""
    if task == "segmentation":
        return _pixel_scalars(_pixel_counts(np.asarray(y), np.asarray(out)), weights)
    if task == "multilabel":
        cut = 0.5 if threshold is None else np.asarray(threshold, np.float64)
        return _weighted_label_metrics(y, np.asarray(out, np.float64), cut, weights)
    if task != "classification" and np.ndim(y) == 2:  # several targets: each column's, then their mean
        each = [weighted_metrics(task, y[:, k], np.asarray(out)[:, k], threshold, weights) for k in range(y.shape[1])]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample where a column is constant: its R² NaN
            return {key: np.nanmean(np.stack([m[key] for m in each]), axis=0) for key in each[0]}
    total = weights.sum(axis=1)
    if task != "classification":
        error = np.asarray(out, np.float64) - np.asarray(y, np.float64)
        mean_y = weights @ y / total
        sst = (weights * (y[None, :] - mean_y[:, None]) ** 2).sum(axis=1)
        sse = weights @ error ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(sst > 0, 1 - sse / sst, np.nan)
        return {"rmse": np.sqrt(sse / total), "mae": weights @ np.abs(error) / total, "r2": r2}
    proba = np.asarray(out, np.float64)
    k = proba.shape[1]
    pred = (proba[:, 1] >= threshold).astype(np.int64) if threshold is not None else proba.argmax(axis=1)
    cells = np.zeros((len(y), k * k))
    cells[np.arange(len(y)), y * k + pred] = 1.0
    rates = _confusion_rates((weights @ cells).reshape(-1, k, k))  # [b, true, predicted]
    eps = np.finfo(proba.dtype).eps
    row_loss = -np.log(np.clip(proba[np.arange(len(y)), y] / proba.sum(axis=1), eps, 1 - eps))
    result = {key: rates[key] for key in ("accuracy", "balanced_accuracy", "macro_f1")}
    result["log_loss"] = weights @ row_loss / total
    if k == 2:
        result["roc_auc"] = _weighted_auc(y, proba[:, 1], weights)
    return result


def _weighted_label_metrics(y: np.ndarray, proba: np.ndarray, threshold: Any,
                            weights: np.ndarray) -> dict[str, np.ndarray]:
    """``multilabel_metrics``'s scalars with each row counted ``weights[b, i]`` times: macro-F1 over every label (one
    never true nor predicted counting 0), ROC AUC over the labels with rows of both values, as ``multilabel_metrics``
    has them."""
    total, y = weights.sum(axis=1), np.asarray(y).astype(np.int64)
    pred = (proba >= threshold).astype(np.int64)
    tp, fp, fn = weights @ (y & pred), weights @ ((1 - y) & pred), weights @ (y & (1 - pred))   # [b, K]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        micro = np.where((2 * tp + fp + fn).sum(1) > 0, 2 * tp.sum(1) / (2 * tp + fp + fn).sum(1), 0.0)
    row_loss = label_row_losses(y, proba)
    auc = np.stack([_weighted_auc(y[:, k], proba[:, k], weights) for k in range(y.shape[1])], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no label varied: NaN, left out
        roc_auc = np.nanmean(auc, axis=1)
    return {"accuracy": weights @ np.mean(y == pred, axis=1) / total,
            "subset_accuracy": weights @ np.all(y == pred, axis=1) / total,
            "macro_f1": f1.mean(axis=1), "micro_f1": micro, "log_loss": weights @ row_loss / total, "roc_auc": roc_auc}


def _weighted_auc(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC per row of ``weights`` (Mann-Whitney: P(score of a positive > a negative's), ties
    counting half), from the weights of each distinct score; NaN where a class was not drawn."""
    order = np.argsort(score, kind="stable")
    sorted_scores = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    positive = (y[order] == 1)
    pos = np.add.reduceat(weights[:, order] * positive, starts, axis=1)   # [b, distinct score]
    neg = np.add.reduceat(weights[:, order] * ~positive, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg                                   # negatives scored lower
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / pairs, np.nan)


# ---- multi-label: several classes per row, an (n, K) 0 / 1 indicator ------------------------------

def label_macro_f1(y_true, y_pred) -> float:
    """Unweighted mean F1 over the labels (each label's F1 of its own column); a label never true and never
    predicted counts 0, as scikit-learn's ``zero_division=0`` has it."""
    y_true, y_pred = _indicator_pair(y_true, y_pred)
    return float(_sk.f1_score(y_true, y_pred, average="macro", zero_division=0))


def label_micro_f1(y_true, y_pred) -> float:
    """F1 of every row's every label pooled: frequent labels weigh more than rare ones."""
    y_true, y_pred = _indicator_pair(y_true, y_pred)
    return float(_sk.f1_score(y_true, y_pred, average="micro", zero_division=0))


def subset_accuracy(y_true, y_pred) -> float:
    """The share of rows whose every label is right (exact match; scikit-learn's ``accuracy_score`` on indicators)."""
    y_true, y_pred = _indicator_pair(y_true, y_pred)
    return float(np.mean(np.all(y_true == y_pred, axis=1)))


def label_average_precision(y_true, scores) -> float | None:
    """Mean over the labels of each label's average precision (the area under its precision-recall curve, mAP):
    judges the ranking of the scores, not a threshold. Labels with no positive row are left out (None when none
    has one)."""
    y_true = _indicator(y_true, "y_true")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != y_true.shape:
        raise DataError(f"scores must be one per row and label, shape {y_true.shape}; got {scores.shape}")
    present = y_true.sum(axis=0) > 0
    if not present.any():
        return None
    return float(np.mean([_sk.average_precision_score(y_true[:, k], scores[:, k]) for k in np.flatnonzero(present)]))


def label_roc_auc(y_true, scores) -> float | None:
    """Mean over the labels of each label's ROC AUC; labels on in no row or in every one are left out (None when
    none is left)."""
    y_true = _indicator(y_true, "y_true")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != y_true.shape:
        raise DataError(f"scores must be one per row and label, shape {y_true.shape}; got {scores.shape}")
    varied = np.flatnonzero((y_true.sum(axis=0) > 0) & (y_true.sum(axis=0) < len(y_true)))
    if not len(varied):
        return None
    return float(np.mean([_sk.roc_auc_score(y_true[:, k], scores[:, k]) for k in varied]))


def multilabel_metrics(y_true, proba, *, threshold: Any = 0.5) -> dict[str, Any]:
    """Every multi-label metric for one split, as plain floats and lists for ``summary.json``.

    Args:
        y_true: ``(n, K)`` 0 / 1 labels.
        proba: ``(n, K)`` probabilities, one per label (the sigmoid of each logit).
        threshold: a label is predicted where its probability is at least this; or one threshold per label
            (``knobs.balance.LabelThresholds``' tuned ones).

    Returns:
        ``n``, ``n_labels``, ``support`` (rows carrying each label), ``accuracy`` (the share of row-and-label
        entries right: what a multi-label trial's ``val_accuracy`` measures), ``subset_accuracy`` (rows with every
        label right), ``macro_f1``, ``micro_f1``, ``per_label_f1``, ``log_loss`` (the mean binary cross-entropy
        per label), ``roc_auc`` and ``average_precision`` (means over the labels that have both values / a
        positive row; ``None`` when none has), and ``threshold`` (one for every label) or ``label_thresholds``.

    Raises:
        DataError: labels that are not an ``(n, K)`` 0 / 1 array, probabilities of another shape or outside [0, 1].
    """
    y_true = _indicator(y_true, "y_true")
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape != y_true.shape or not np.all((proba >= 0) & (proba <= 1)):
        raise DataError(f"proba must hold one probability in [0, 1] per row and label, shape {y_true.shape}; got "
                        f"shape {proba.shape}" + ("" if proba.shape != y_true.shape else " with values outside [0, 1]"))
    cut = np.asarray(threshold, dtype=np.float64)
    if cut.shape not in ((), (y_true.shape[1],)) or not np.all((cut >= 0) & (cut <= 1)):
        raise DataError(f"threshold must be a probability, or one per label ({y_true.shape[1]}), got {threshold!r}")
    pred = (proba >= cut).astype(np.int64)
    return {
        "n": int(len(y_true)), "n_labels": int(y_true.shape[1]), "support": y_true.sum(axis=0).tolist(),
        "accuracy": float(np.mean(y_true == pred)), "subset_accuracy": subset_accuracy(y_true, pred),
        "macro_f1": label_macro_f1(y_true, pred), "micro_f1": label_micro_f1(y_true, pred),
        "per_label_f1": [float(v) for v in _sk.f1_score(y_true, pred, average=None, zero_division=0)],
        "log_loss": float(label_row_losses(y_true, proba).mean()),
        "roc_auc": label_roc_auc(y_true, proba), "average_precision": label_average_precision(y_true, proba),
        **({"threshold": float(cut)} if cut.ndim == 0 else {"label_thresholds": cut.tolist()}),
    }


def label_row_losses(y_true, proba) -> np.ndarray:
    """Each row's mean binary cross-entropy over its labels ``(n,)``: what a multi-label split's ``log_loss``
    averages, and what ranks its rows (the worst test rows, the autopilot's paired rows)."""
    y, clipped = np.asarray(y_true, np.float64), np.clip(np.asarray(proba, np.float64), _EPS, 1 - _EPS)
    return -np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped), axis=1)


_EPS = np.finfo(np.float64).eps


def _indicator(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    y = y.reshape(-1, 1) if y.ndim == 1 else y
    if y.ndim != 2 or len(y) == 0 or not np.isin(y, (0, 1)).all():
        raise DataError(f"{name} must be a non-empty (n, labels) array of 0 / 1, got shape {y.shape}")
    return y.astype(np.int64)


def _indicator_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _indicator(y_true, "y_true"), _indicator(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise DataError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}; pass one prediction per "
                        f"row and label")
    return y_true, y_pred


# ---- input checks ----------------------------------------------------------------------------------

def _labels(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise DataError(f"{name} must be a non-empty 1-D array of class labels, got shape {y.shape}")
    if y.dtype.kind not in "iub":
        if y.dtype.kind != "f" or not np.all(np.isfinite(y) & (y == np.round(y))):
            raise DataError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.min() < 0:
        raise DataError(f"{name} holds negative labels ({y.min()}); labels must be 0..C-1")
    return y.astype(np.int64)


def _label_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise DataError(f"y_true has {len(y_true)} rows but y_pred has {len(y_pred)}; pass one "
                        f"prediction per row")
    return y_true, y_pred


def _n_classes(n_classes: int | None, *labels: np.ndarray) -> int:
    seen = max(int(y.max()) for y in labels) + 1
    if n_classes is None:
        return seen
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < seen:
        raise DataError(f"n_classes must be an integer >= {seen} (the labels go up to {seen - 1}), "
                        f"got {n_classes!r}")
    return int(n_classes)


def _proba(proba, n: int) -> np.ndarray:
    """``(n, C)`` float64 probabilities, renormalized; ``(n,)`` is read as binary P(class 1)."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim == 1:
        proba = np.stack([1 - proba, proba], axis=1)
    if proba.ndim != 2 or len(proba) != n or proba.shape[1] < 2:
        raise DataError(f"proba must be (n, C) class probabilities with n = {n} rows (one per label) "
                        f"and C >= 2, or (n,) P(class 1) for a binary task; got shape {proba.shape}")
    if not np.all(np.isfinite(proba)) or proba.min() < 0 or proba.max() > 1:
        raise DataError("proba must hold probabilities in [0, 1]; apply softmax to logits first")
    worst = float(np.max(np.abs(proba.sum(axis=1) - 1)))
    if worst > _SUM_TOLERANCE:
        raise DataError(f"proba rows must sum to 1 (one column per class), but a row is off by "
                        f"{worst:.3g}; apply softmax to logits, and keep every class's column")
    return proba / proba.sum(axis=1, keepdims=True)


def _labels_fit(y_true: np.ndarray, n_classes: int) -> None:
    if int(y_true.max()) >= n_classes:
        raise DataError(f"y_true has label {int(y_true.max())} but proba has only {n_classes} "
                        f"columns; pass one probability column per class 0..C-1")


def segmentation_metrics(y_true, proba) -> dict[str, Any]:
    """Every metric of a split whose labels are a class per pixel, as plain floats and lists for ``summary.json``.

    Args:
        y_true: masks ``(n, H, W)`` of classes ``0..C-1``, -100 for a pixel without a class (left out).
        proba: ``(n, C, H, W)`` class probabilities per pixel.

    Returns:
        ``n`` (images), ``n_pixels`` (labelled), ``n_classes``, ``support`` (pixels per true class), ``accuracy``
        (pixels right), ``balanced_accuracy``, ``macro_f1``, ``mean_iou`` (over the classes present in the truth or
        the prediction, as ``mean_iou``), ``per_class_iou`` (None for a class in neither), ``log_loss`` (per
        labelled pixel) and ``confusion_matrix`` (pixels: row = true class, column = predicted).

    Raises:
        DataError: masks and probabilities whose shapes disagree, or a mask with no labelled pixel.
    """
    y, proba = np.asarray(y_true), np.asarray(proba)  # NOTE: as given (float32 maps): a float64 copy doubled them
    if y.dtype.kind == "f" and np.array_equal(y, np.round(y)):
        y = y.astype(np.int64)
    if y.ndim != 3 or y.dtype.kind not in "iu" or proba.ndim != 4 or proba.shape[0] != y.shape[0] or proba.shape[2:] != y.shape[1:]:
        raise DataError(f"segmentation: masks (n, H, W) and probabilities (n, C, H, W) must agree; got {y.shape} and "
                        f"{proba.shape}")
    cells, loss, pixels = _pixel_counts(y, proba)
    if pixels.sum() == 0:
        raise DataError("segmentation: no pixel of the split has a class (every one is -100)")
    matrix = cells.sum(axis=0)
    rates = _confusion_rates(matrix)
    return {"n": int(len(y)), "n_pixels": int(pixels.sum()), "n_classes": int(proba.shape[1]),
            "support": matrix.sum(axis=1).astype(int).tolist(),
            **{key: float(rates[key]) for key in ("accuracy", "balanced_accuracy", "macro_f1", "mean_iou")},
            "per_class_iou": [None if np.isnan(v) else float(v) for v in rates["iou"]],
            "log_loss": float(loss.sum() / pixels.sum()), "confusion_matrix": matrix.astype(int).tolist()}


def pixel_row_scores(y_true, proba) -> tuple[np.ndarray, np.ndarray]:
    """Each image's mean −log p(true class) over its labelled pixels and its share of them right ``(n,)`` each:
    what ranks a segmentation's images (the worst test images, the autopilot's paired rows)."""
    cells, loss, pixels = _pixel_counts(np.asarray(y_true).astype(np.int64), np.asarray(proba))
    pixels = np.maximum(pixels, 1)  # an image with no labelled pixel: 0 for both
    return loss / pixels, np.trace(cells, axis1=1, axis2=2) / pixels


def _pixel_counts(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: its confusion counts ``(n, C, C)``, its pixels' summed −log p(true class) and its labelled
    pixels — what every segmentation metric (and each bootstrap resample of images) is made of."""
    n, k = proba.shape[:2]
    labelled = y != -100
    true = np.where(labelled, y, 0)
    pred = proba.argmax(axis=1)
    index = np.arange(n)[:, None, None] * (k * k) + true * k + pred  # image, true class, predicted class
    cells = np.bincount(index[labelled], minlength=n * k * k).astype(np.float64)
    p_true = np.take_along_axis(proba, true[:, None], axis=1)[:, 0].astype(np.float64)
    loss = np.where(labelled, -np.log(np.clip(p_true, 1e-15, 1.0)), 0.0).sum(axis=(1, 2))
    return cells.reshape(n, k, k), loss, labelled.sum(axis=(1, 2)).astype(np.float64)


def _confusion_rates(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy, macro-F1, mean IoU and each class's IoU of confusion matrices ``(..., C, C)``
    (row = true class): macro means over the classes present in the truth (recall) or in either (F1, IoU)."""
    tp = np.diagonal(matrix, axis1=-2, axis2=-1)
    support, predicted = matrix.sum(axis=-1), matrix.sum(axis=-2)
    present = (support > 0) | (predicted > 0)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample without a class: NaN, left out of the means
        recall = np.where(support > 0, tp / support, np.nan)
        f1 = np.where(present, 2 * tp / (support + predicted), np.nan)
        iou = np.where(present, tp / (support + predicted - tp), np.nan)
        return {"accuracy": tp.sum(axis=-1) / support.sum(axis=-1), "balanced_accuracy": np.nanmean(recall, axis=-1),
                "macro_f1": np.nanmean(f1, axis=-1), "mean_iou": np.nanmean(iou, axis=-1), "iou": iou}


def _pixel_scalars(counts: tuple[np.ndarray, np.ndarray, np.ndarray], weights: np.ndarray) -> dict[str, np.ndarray]:
    """``segmentation_metrics``' scalars with each image counted ``weights[b, i]`` times, from the images' counts."""
    cells, loss, pixels = counts
    rates = _confusion_rates(np.tensordot(weights, cells, axes=1))  # [b, true, predicted]
    return {**{key: rates[key] for key in ("accuracy", "balanced_accuracy", "macro_f1", "mean_iou")},
            "log_loss": (weights @ loss) / (weights @ pixels)}


def _value_columns(y_true, y_pred) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Several targets ``(n, K)``, K > 1, as their K column pairs; None for one target per row."""
    true, pred = np.asarray(y_true), np.asarray(y_pred)
    if true.ndim != 2 or true.shape[1] < 2:
        return None
    if pred.shape != true.shape:
        raise DataError(f"y_true has shape {true.shape} but y_pred has {pred.shape}; pass one prediction per row and "
                        f"target column")
    return [(true[:, k], pred[:, k]) for k in range(true.shape[1])]


def _value_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    pair = []
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        try:
            pair.append(np.asarray(values, dtype=np.float64).reshape(-1))
        except (TypeError, ValueError):
            raise DataError(f"{name} must hold numbers (regression targets or predictions)") from None
    y_true, y_pred = pair
    if len(y_true) == 0 or len(y_true) != len(y_pred):
        raise DataError(f"y_true and y_pred must be non-empty with one prediction per row; got "
                        f"{len(y_true)} and {len(y_pred)} values")
    if not (np.all(np.isfinite(y_true)) and np.all(np.isfinite(y_pred))):
        raise DataError("y_true and y_pred must be finite; a NaN prediction means the model diverged")
    return y_true, y_pred
