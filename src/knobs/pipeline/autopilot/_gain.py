"""Is a change better, or just lucky? A paired comparison on the validation rows.

The validation metric is a mean over rows (cross-entropy, squared error, or 0/1 correctness), so
two models scored on the same rows can be compared row by row: ``d_i`` = how much better the
changed model does on row ``i``. Their mean is the gain in the metric; their standard error
``sd(d) / sqrt(n)`` is what the gain would wobble by if the validation rows were drawn again.
Pairing removes what both models find hard or easy, so it is much tighter than comparing two
independent means — a clear change shows up even on a few hundred rows, while a change that
moves the metric by less than the rows' own noise does not.

A change is kept when ``gain > max(min_gain, margin_se × se)``. The default is one standard
error, because the two mistakes do not cost the same: keeping a change that does nothing (which
happens 16% of the time, the one-sided normal tail) costs nothing in expectation, while
rejecting a real improvement loses it; a change that truly hurts by one standard error is still
kept only 2% of the time, and a real gain of two standard errors is kept 84% of the time (50% at
a two-standard-error margin). Cross-entropy has heavy tails — a few confidently wrong rows — so
its standard error is large, and a stricter rule rejects changes that cut the loss by a third.

Example:
    >>> import numpy as np
    >>> before = np.array([0.9, 0.8, 1.1, 1.0])
    >>> judge(before, before - 0.5, "minimize").kept
    True
    >>> judge(before, before + np.array([-0.01, 0.02, -0.02, 0.015]), "minimize").kept
    False
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from knobs.metrics import label_row_losses, pixel_row_scores

__all__ = ["Verdict", "judge", "per_row"]


@dataclass(frozen=True)
class Verdict:
    """The gain of a change (positive = better), its standard error, the margin, the decision."""

    gain: float
    se: float
    margin: float
    kept: bool
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def per_row(out: np.ndarray, y: np.ndarray, metric: str, task: str) -> np.ndarray:
    """Each validation row's share of the metric (its mean is the metric): 0/1 correctness for
    ``val_accuracy``, that correctness times ``n / (C n_c)`` for ``val_balanced_accuracy``, else the row's
    cross-entropy (probabilities ``out``) or squared error; a multi-label row's share of its labels right, or its
    mean binary cross-entropy."""
    y = np.asarray(y)
    if task == "segmentation":  # an image's share: its labelled pixels' mean (right, or −log p of the true class)
        loss, right = pixel_row_scores(y, out)
        return right if metric == "val_accuracy" else loss
    if task == "multilabel":  # a row's share: the mean over its labels (the epoch record's mean is over all of them)
        if metric == "val_accuracy":
            return ((np.asarray(out) >= 0.5) == (y >= 0.5)).mean(axis=1)
        return label_row_losses(y, out)
    if metric == "val_accuracy":
        return (np.asarray(out).argmax(axis=1) == y).astype(float)
    if metric == "val_balanced_accuracy":  # each row's correctness weighted 1 / (C n_c): their mean is the metric
        labels, index, counts = np.unique(y, return_inverse=True, return_counts=True)
        weight = len(y) / (len(labels) * counts[index])
        return (np.asarray(out).argmax(axis=1) == y).astype(float) * weight
    if task == "classification":
        return -np.log(np.clip(out[np.arange(len(y)), y.astype(int)], 1e-12, 1.0))
    if y.ndim == 2:  # several targets in their own units: each column's squared error in its spread, averaged
        spread = np.where(y.std(axis=0) > 0, y.std(axis=0), 1.0)
        return (((np.asarray(out) - y) / spread) ** 2).mean(axis=1)
    return (np.asarray(out).reshape(-1) - y) ** 2


def judge(before: np.ndarray, after: np.ndarray, direction: str, min_gain: float = 0.0,
          margin_se: float = 1.0) -> Verdict:
    """Keep the change when its mean paired gain beats ``min_gain`` and ``margin_se`` standard errors."""
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    d = before - after if direction == "minimize" else after - before
    n = len(d)
    gain = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    margin = max(float(min_gain), margin_se * se)
    return Verdict(gain=gain, se=se, margin=margin, kept=bool(gain > margin), n=n)
