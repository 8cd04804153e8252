"""A decision threshold for binary tasks, tuned on validation and applied unchanged at test time.

Why: ``argmax`` predicts class 1 when P(class 1) > 0.5, which is the right rule only when both
kinds of error cost the same and the classes are as frequent in use as in training. Under
imbalance the best cut for balanced accuracy or F1 is usually far below 0.5. Tuning it is a
decision like any other, so it is made on the validation split; the test split then measures it.

Every cut between two distinct validation scores is tried at once from scikit-learn's
``roc_curve`` (no grid to choose); ties go to the cut nearest 0.5, the untuned rule.

Example:
    >>> t = Threshold("balanced_accuracy").fit([0, 0, 0, 1], [0.1, 0.2, 0.35, 0.4])
    >>> t.threshold_, t.predict([0.3, 0.5]).tolist()
    (0.375, [0, 1])
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_curve

from knobs.balance._options import THRESHOLD_METRICS
from knobs.errors import ConfigError, DataError

__all__ = ["THRESHOLD_METRICS", "LabelThresholds", "Threshold", "best_threshold", "positive_proba"]


def best_threshold(y_true, p1, metric: str = "balanced_accuracy") -> tuple[float, float]:
    """The cut on P(class 1) that maximizes ``metric`` on these rows; a pure function.

    Args:
        y_true: binary labels (both classes present).
        p1: P(class 1) per row.
        metric: one of ``THRESHOLD_METRICS``.

    Returns:
        ``(threshold, score)``: predict class 1 when ``p1 >= threshold``.
    """
    fpr, tpr, cuts = roc_curve(y_true, p1, drop_intermediate=False)
    positives = float(np.sum(y_true == 1))
    negatives = float(len(y_true)) - positives
    scores = _score(metric, tpr * positives, fpr * negatives, positives, negatives)
    # NOTE: row i of roc_curve predicts 1 for p1 >= cuts[i]; any cut in (cuts[i+1], cuts[i]]
    # gives the same predictions here, and the midpoint is the one farthest from both scores.
    lower = np.append(cuts[1:], -np.inf)
    middle = np.where(np.isfinite(lower), (cuts + lower) / 2, cuts)
    middle = np.where(middle > lower, middle, cuts)
    candidates, scores = middle[1:], scores[1:]  # row 0 (cut = inf) never predicts class 1
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    pick = best[np.argmin(np.abs(candidates[best] - 0.5))]
    return float(candidates[pick]), float(scores[pick])


def _score(metric: str, tp, fp, positives: float, negatives: float) -> np.ndarray:
    fn, tn = positives - tp, negatives - fp
    if metric == "balanced_accuracy":
        return (tp / positives + tn / negatives) / 2
    if metric == "f1":
        return 2 * tp / (2 * tp + fp + fn)
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (tp * tn - fp * fn) / denominator, 0.0)


def positive_proba(proba: Any, *, name: str = "proba") -> np.ndarray:
    """P(class 1) from ``(n, 2)`` probabilities or ``(n,)``; refuses more than two classes."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim == 2 and proba.shape[1] > 2:
        raise DataError(f"a decision threshold is for binary tasks, but {name} has "
                        f"{proba.shape[1]} classes; for multiclass tasks predict the most probable "
                        f"class and use class weights or resampling (threshold='none')")
    if proba.ndim == 2 and proba.shape[1] == 2:
        proba = proba[:, 1]
    if proba.ndim != 1 or not np.all(np.isfinite(proba)) or proba.min(initial=0) < 0 or proba.max(initial=0) > 1:
        raise DataError(f"{name} must be P(class 1) of shape (n,) or class probabilities (n, 2) in "
                        f"[0, 1], got shape {proba.shape}")
    return proba


class Threshold:
    """A binary decision threshold chosen on validation.

    Args:
        metric: what the threshold maximizes: ``"balanced_accuracy"`` (Youden's J, shifted),
            ``"f1"`` (of class 1) or ``"mcc"`` (Matthews correlation).

    Attributes set by ``fit``: ``threshold_`` (predict 1 when P(class 1) >= it), ``score_`` (the
    metric on the validation rows at that threshold).
    """

    def __init__(self, metric: str = "balanced_accuracy") -> None:
        self.metric = metric

    def fit(self, y_val, proba_val) -> "Threshold":
        """Choose the threshold on validation labels and probabilities; return ``self``.

        Raises:
            ConfigError: an unknown metric.
            DataError: more than two classes (in the labels or the probabilities), lengths that
                differ, or validation rows of one class only.
        """
        if self.metric not in THRESHOLD_METRICS:
            raise ConfigError(f"threshold metric must be one of {THRESHOLD_METRICS}, got {self.metric!r}")
        p1 = positive_proba(proba_val, name="proba_val")
        y = _binary_labels(y_val, len(p1))
        self.threshold_, self.score_ = best_threshold(y, p1, self.metric)
        return self

    def predict(self, proba) -> np.ndarray:
        """Labels 0/1 for probabilities (validation's threshold, never re-tuned on these rows)."""
        if not hasattr(self, "threshold_"):
            raise ConfigError("Threshold.predict before fit: call fit(y_val, proba_val) first")
        return (positive_proba(proba) >= self.threshold_).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        """``{"metric", "threshold", "val_score"}`` for ``summary.json``."""
        fitted = hasattr(self, "threshold_")
        return {"metric": self.metric, "threshold": self.threshold_ if fitted else None,
                "val_score": self.score_ if fitted else None}

    def __repr__(self) -> str:
        fitted = f", threshold_={self.threshold_:.4g}" if hasattr(self, "threshold_") else ""
        return f"Threshold(metric={self.metric!r}{fitted})"


class LabelThresholds:
    """One decision threshold per label of a multi-label task, each chosen on validation for its own label.

    Why per label: a rare label's probabilities rarely pass 0.5 however well they rank its rows, so one cut for
    every label sacrifices the rare ones' recall; each label's own cut (``best_threshold`` on its column) is the
    usual remedy, decided on validation like any other choice.

    Args:
        metric: what each label's threshold maximizes on its column: ``"balanced_accuracy"``, ``"f1"`` or ``"mcc"``.
        min_rows: the fewest validation rows with the label, and without it, for its cut to be tuned; below that
            it keeps 0.5. Why: a cut chosen on a handful of positives fits them, not the label — on digit strips with
            labels on 1% of the rows (~5 validation positives each) tuned cuts lost test macro-F1 on one seed in
            three and micro-F1 on every one (docs/benchmarks.md, "Rare labels").

    Attributes set by ``fit``: ``thresholds_`` ``(K,)`` (predict label k where its probability >= ``thresholds_[k]``;
    0.5 for a label with fewer than ``min_rows`` validation rows either side, listed in ``untuned_``), ``scores_``
    (each label's metric on validation at its threshold; None where untuned).

    Example:
        >>> t = LabelThresholds("f1", min_rows=1).fit([[1, 0], [0, 1], [0, 0]], [[0.3, 0.8], [0.1, 0.9], [0.2, 0.4]])
        >>> t.thresholds_.tolist(), t.predict([[0.25, 0.5]]).tolist()
        ([0.25, 0.8500000000000001], [[1, 0]])
    """

    def __init__(self, metric: str = "f1", min_rows: int = 10) -> None:
        self.metric = metric
        self.min_rows = min_rows

    def fit(self, y_val, proba_val) -> "LabelThresholds":
        """Choose each label's threshold on validation labels ``(n, K)`` and probabilities ``(n, K)``; return ``self``.

        Raises:
            ConfigError: an unknown metric.
            DataError: labels that are not 0 / 1, shapes that differ.
        """
        if self.metric not in THRESHOLD_METRICS:
            raise ConfigError(f"threshold metric must be one of {THRESHOLD_METRICS}, got {self.metric!r}")
        y, proba = np.asarray(y_val), np.asarray(proba_val, dtype=np.float64)
        if y.ndim != 2 or y.shape != proba.shape or not np.isin(y, (0, 1)).all():
            raise DataError(f"label thresholds need 0 / 1 labels (n, K) and probabilities of the same shape; got "
                            f"{y.shape} and {proba.shape}")
        self.thresholds_, self.scores_, self.untuned_ = np.full(y.shape[1], 0.5), [], []
        for k in range(y.shape[1]):
            positives = int(y[:, k].sum())
            if min(positives, len(y) - positives) < max(1, self.min_rows):
                self.untuned_.append(k)
                self.scores_.append(None)
                continue
            self.thresholds_[k], score = best_threshold(y[:, k].astype(np.int64), proba[:, k], self.metric)
            self.scores_.append(score)
        return self

    def predict(self, proba) -> np.ndarray:
        """0 / 1 label rows for probabilities ``(n, K)`` (validation's thresholds, never re-tuned on these rows)."""
        if not hasattr(self, "thresholds_"):
            raise ConfigError("LabelThresholds.predict before fit: call fit(y_val, proba_val) first")
        return (np.asarray(proba) >= self.thresholds_).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        """``{"metric", "min_rows", "thresholds", "val_scores", "untuned"}`` for ``summary.json``."""
        fitted = hasattr(self, "thresholds_")
        return {"metric": self.metric, "min_rows": self.min_rows,
                "thresholds": self.thresholds_.tolist() if fitted else None,
                "val_scores": list(self.scores_) if fitted else None, "untuned": list(self.untuned_) if fitted else None}


def _binary_labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"y_val must be 1-D with one label per probability ({n}), got shape {y.shape}")
    values = np.unique(y)
    if not np.isin(values, (0, 1)).all():
        raise DataError(f"a decision threshold is for binary tasks with labels 0/1, but y_val holds "
                        f"{values.tolist()[:10]}; for multiclass tasks use threshold='none'")
    if len(values) < 2:
        raise DataError(f"tuning a threshold needs validation rows of both classes, but y_val holds "
                        f"only class {values.tolist()}; use a larger or stratified validation split")
    return y.astype(np.int64)
