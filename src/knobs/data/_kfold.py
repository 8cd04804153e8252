"""k-fold cross-validation for small data, with the test split kept sealed.

Why: with a few hundred rows one validation split is a noisy judge (a 50-row validation set
moves accuracy in steps of 2 points). Training k times, each time validating on a different
fold, uses every non-test row for validation once and reports the spread, so two settings whose
means differ by less than their standard deviations are not told apart by luck.

The test split takes no part: ``cv_folds`` refuses ``Splits`` that still hold it, so the folds
are dealt from train + validation only, after the vault has taken the test rows. Folds are
stratified by class (scikit-learn's ``StratifiedKFold``) and, given group labels, never cut a
group (``StratifiedGroupKFold``, ``GroupKFold``).

Example:
    >>> from knobs.data import load_builtin, split
    >>> splits = split(load_builtin("iris"), val=0.2, test=0.2, seed=0)
    >>> # vault = Vault.seal(run_dir / "vault", *splits.test), then the folds without the test rows:
    >>> folds = cv_folds(splits.without_test(), k=5, seed=0)
    >>> [len(f.val_index) for f in folds]
    [24, 24, 24, 24, 24]
    >>> result = cross_validate(lambda fold: {"accuracy": fit_and_score(fold)}, folds)  # doctest: +SKIP
    >>> print(result)  # doctest: +SKIP
    accuracy  0.9556 ± 0.0304  (5 folds)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from knobs.data._group_split import check_groups, check_seed
from knobs.data._splits import Splits
from knobs.data._target import is_label_rows
from knobs.errors import ConfigError, DataError

__all__ = ["Fold", "CVResult", "kfold", "kfold_indices", "cv_folds", "cross_validate", "aggregate"]

Pair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class Fold:
    """One round of k-fold: train on ``train``, validate on ``val``.

    Attributes:
        number: 0-based fold number.
        train: ``(X, y)`` rows of the other k-1 folds.
        val: ``(X, y)`` rows of this fold.
        train_index: positions of the training rows in the arrays given to ``kfold``.
        val_index: positions of the validation rows.
    """

    number: int
    train: Pair
    val: Pair
    train_index: np.ndarray
    val_index: np.ndarray


@dataclass(frozen=True)
class CVResult:
    """Per-metric mean and standard deviation over the folds, and every fold's own figures.

    ``std`` is the sample standard deviation (ddof = 1) across folds.
    """

    mean: dict[str, float]
    std: dict[str, float]
    per_fold: list[dict[str, float]] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.per_fold)

    def to_dict(self) -> dict[str, Any]:
        """``{"k", "mean", "std", "per_fold"}``: plain JSON for ``summary.json``."""
        return {"k": self.k, "mean": dict(self.mean), "std": dict(self.std),
                "per_fold": [dict(m) for m in self.per_fold]}

    def __str__(self) -> str:
        width = max(len(name) for name in self.mean)
        return "\n".join(f"{name:<{width}}  {self.mean[name]:.4f} ± {self.std[name]:.4f}  ({self.k} folds)"
                         for name in self.mean)


def kfold(X, y, k: int = 5, seed: int = 0, groups=None, stratify: bool | None = None) -> list[Fold]:
    """Deal the rows into k folds; fold i validates on part i and trains on the rest.

    Args:
        X: features, ``(n, ...)`` (indexed along the first axis).
        y: targets, ``(n,)`` (or a class per position, ``(n, ...)``, never stratified; rows of 0 / 1 labels
            ``(n, K)``, stratified label by label — iterative stratification — unless ``stratify=False`` or grouped).
        k: the number of folds (at least 2).
        seed: the shuffling seed; the same seed gives the same folds.
        groups: one group label per row; a group's rows are never split between train and val.
        stratify: keep each class's share in every fold. Default: yes for integer labels
            (classification), no for float targets (regression).

    Returns:
        ``k`` folds whose validation parts are disjoint and together cover every row. Each holds
        its rows as copies (k copies of ``X`` in all): to deal large rows, take the positions from
        ``kfold_indices`` and index one fold at a time.

    Raises:
        ConfigError: ``k`` not an integer >= 2, or a seed that is not a non-negative integer.
        DataError: ``X``/``y`` of different lengths, ``k`` above the rows of the smallest class
            (stratified) or above the number of rows or groups, ``groups`` of the wrong length.

    Example:
        >>> folds = kfold(np.zeros((10, 2)), np.array([0, 1] * 5), k=5)
        >>> [len(f.val_index) for f in folds]
        [2, 2, 2, 2, 2]
    """
    X, y = np.asarray(X), np.asarray(y)
    _check_k(k)
    check_seed(seed)
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise DataError(f"kfold needs X (n, ...) and y with one entry per row (n, ...); got X "
                        f"{X.shape} and y {y.shape}")
    return [Fold(number=i, train=(X[tr], y[tr]), val=(X[va], y[va]), train_index=tr, val_index=va)
            for i, (tr, va) in enumerate(kfold_indices(y, k=k, seed=seed, groups=groups, stratify=stratify))]


def kfold_indices(y, k: int = 5, seed: int = 0, groups=None,
                  stratify: bool | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(train_index, val_index)`` of each of the folds ``kfold`` deals, without the rows.

    Why: the folds depend on the targets (and groups) alone, and ``kfold`` copies the rows of all
    k folds at once; a caller with large rows takes the positions and indexes one fold at a time.
    Arguments and errors as ``kfold``'s.

    Example:
        >>> [len(val) for _, val in kfold_indices(np.array([0, 1] * 5), k=5)]
        [2, 2, 2, 2, 2]
    """
    y = np.asarray(y)
    _check_k(k)
    check_seed(seed)
    if y.ndim == 0:
        raise DataError(f"kfold needs y with one entry per row (n, ...); got y {y.shape}")
    if k > len(y):
        raise DataError(f"k={k} folds need at least {k} rows, got {len(y)}; lower k")
    groups = None if groups is None else check_groups(groups, len(y))
    # NOTE: a class per pixel has no one class to stratify by; rows of 0 / 1 labels are stratified label by label
    several = groups is None and stratify is not False and is_label_rows(y)
    strata = y if (stratify if stratify is not None else y.dtype.kind in "iub") and y.ndim == 1 else None
    if strata is not None:
        _check_class_counts(strata, k)
    if groups is not None:
        _check_group_count(groups, k)
    if several:
        from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

        return list(MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros((len(y), 1)), y))
    splitter = _splitter(k, seed, grouped=groups is not None, stratified=strata is not None)
    labels = strata if strata is not None else np.zeros(len(y))
    return list(splitter.split(np.zeros((len(y), 1)), labels, groups))


def cv_folds(splits: Splits, k: int = 5, seed: int = 0, groups=None,
             stratify: bool | None = None) -> list[Fold]:
    """k folds over train + validation of ``splits``, after the test split went to the vault.

    Args:
        splits: splits whose test pair was sealed and dropped (``splits.without_test()``).
        k: the number of folds.
        seed: the shuffling seed.
        groups: one label per train row then per val row; default: the groups kept by
            ``group_split`` (``GroupSplits``), so grouped data stays grouped.
        stratify: as in ``kfold``.

    Returns:
        Folds indexing the rows of ``concatenate([train, val])``.

    Raises:
        DataError: the test split is still in ``splits``, or any ``kfold`` refusal.
    """
    if splits.test is not None:
        raise DataError("cv_folds runs on train + val only: seal the test split first "
                        "(vault = Vault.seal(directory, *splits.test)) and pass "
                        "splits.without_test(), so no fold ever sees a test row")
    X = np.concatenate([splits.train[0], splits.val[0]])
    y = np.concatenate([splits.train[1], splits.val[1]])
    kept = getattr(splits, "groups", None)
    if groups is None and kept:
        groups = np.concatenate([kept["train"], kept["val"]])
    return kfold(X, y, k=k, seed=seed, groups=groups, stratify=stratify)


def cross_validate(fit_eval: Callable[[Fold], dict[str, float]], folds: Sequence[Fold]) -> CVResult:
    """Run ``fit_eval`` on every fold and aggregate its metrics.

    Args:
        fit_eval: trains a fresh model on ``fold.train``, returns metrics on ``fold.val`` as
            ``{name: number}`` (the same names for every fold).
        folds: from ``kfold`` or ``cv_folds``.

    Returns:
        ``CVResult`` with the mean and standard deviation of each metric.

    Raises:
        ConfigError: fewer than 2 folds, or ``fit_eval`` returning something other than the same
            ``{name: number}`` dict on every fold (naming the fold and key).
    """
    if len(folds) < 2:
        raise ConfigError(f"cross_validate needs at least 2 folds (from kfold or cv_folds), got {len(folds)}")
    return aggregate([fit_eval(fold) for fold in folds])


def aggregate(per_fold: Sequence[dict[str, float]]) -> CVResult:
    """Mean and sample standard deviation of each metric over folds; a pure function.

    Raises:
        ConfigError: fewer than 2 folds, a non-numeric value, or folds reporting different metrics.
    """
    if len(per_fold) < 2:
        raise ConfigError(f"aggregate needs the metrics of at least 2 folds, got {len(per_fold)}")
    rows = [_check_metrics(i, m, per_fold[0]) for i, m in enumerate(per_fold)]
    table = {name: np.array([row[name] for row in rows]) for name in rows[0]}
    # NOTE: ddof=1 (the sample standard deviation): with k = 5 folds ddof=0 would understate
    # the spread by a factor sqrt(4/5), making differences between settings look surer than they are.
    return CVResult(mean={name: float(v.mean()) for name, v in table.items()},
                    std={name: float(v.std(ddof=1)) for name, v in table.items()},
                    per_fold=rows)


def _check_metrics(number: int, metrics: Any, first: Any) -> dict[str, float]:
    if not isinstance(metrics, dict) or not metrics:
        raise ConfigError(f"fold {number}: fit_eval must return a non-empty dict of "
                          f"{{metric name: number}}, got {type(metrics).__name__}")
    if isinstance(first, dict) and set(metrics) != set(first):
        raise ConfigError(f"fold {number}: fit_eval returned metrics {sorted(metrics)} but fold 0 "
                          f"returned {sorted(first)}; return the same metrics on every fold")
    row = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or math.isnan(value):
            raise ConfigError(f"fold {number}: metric {name!r} must be a number, got {value!r}")
        row[str(name)] = float(value)
    return row


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ConfigError(f"k must be an integer >= 2 (the number of folds), got {k!r}")


def _check_class_counts(y: np.ndarray, k: int) -> None:
    labels, counts = np.unique(y, return_counts=True)
    smallest = int(np.argmin(counts))
    if counts[smallest] < k:
        raise DataError(
            f"stratified k={k} folds need at least {k} rows of every class, but class "
            f"{labels[smallest].item()!r} has {int(counts[smallest])} (class counts "
            f"{dict(zip(labels.tolist(), counts.tolist()))}); use k <= {int(counts[smallest])}, "
            f"collect more rows of that class, or stratify=False"
        )


def _check_group_count(groups: np.ndarray, k: int) -> None:
    n_groups = len(np.unique(groups))
    if n_groups < k:
        raise DataError(f"k={k} folds need at least {k} groups (each group stays in one fold), "
                        f"found {n_groups}; use k <= {n_groups} or finer groups")


def _splitter(k: int, seed: int, *, grouped: bool, stratified: bool):
    if grouped and stratified:
        return StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    if grouped:
        try:
            return GroupKFold(n_splits=k, shuffle=True, random_state=seed)
        except TypeError:
            # NOTE: GroupKFold shuffles from scikit-learn 1.6 on; older versions deal the groups
            # deterministically (balanced by size), which is reproducible but ignores the seed.
            return GroupKFold(n_splits=k)
    if stratified:
        return StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return KFold(n_splits=k, shuffle=True, random_state=seed)
