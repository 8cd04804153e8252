"""Fold mode (``data.folds = k``): the non-test rows dealt into k folds, each prepared on its own.

Why each fold is prepared from raw rows: everything learned from data — fill values, categories,
the vocabulary, the standardizer — must come from the rows a model trains on. Fitted once on all
non-test rows, they would carry each fold's validation rows into its training (a leak that makes
the cross-validated estimate optimistic). So every fold runs the same two steps as a single-split
run, ``encode_splits`` then ``prepare``, on its own training part.

Folds are stratified by class (``knobs.data.kfold``) and, with ``data.groups``, never cut a group
(``StratifiedGroupKFold``). The test rows took no part: they were sealed before the folds were dealt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from knobs.data import Dataset, Splits, encode_splits, kfold
from knobs.errors import ConfigError
from knobs.pipeline.inputs._prepared import PreparedData, prepare

__all__ = ["FoldData", "prepare_folds"]


@dataclass(eq=False)
class FoldData:
    """One fold: its encoded (unstandardized) rows, its prepared tensors, and which rows it holds.

    Attributes:
        number: 0-based fold number.
        splits: ``(train, val)`` encoded with this fold's preprocessor, not standardized (the
            preflight data checks read them); ``test`` is None.
        data: the tensors the trial trains on, standardized with this fold's training statistics.
        train_index, val_index: positions among the non-test rows.
        groups: ``{"train": labels, "val": labels}`` when the data has groups, else None.
    """

    number: int
    splits: Splits
    data: PreparedData
    train_index: np.ndarray
    val_index: np.ndarray
    groups: dict | None = None


def prepare_folds(cfg, dataset: Dataset, rest: tuple[np.ndarray, np.ndarray],
                  groups: np.ndarray | None) -> list[FoldData]:
    """Deal the raw non-test rows ``rest`` into ``cfg.data.folds`` folds and prepare each.

    Raises:
        ConfigError: more folds than rows of a class or than groups, or a fold whose training
            part lacks a class — naming ``data.folds``.
    """
    X, y = rest
    k = cfg.data.folds
    _check_enough(k, dataset, y, groups, cfg.data.groups)
    folds = kfold(X, y, k=k, seed=cfg.seed, groups=groups)
    out = []
    for fold in folds:
        _check_fold_classes(k, dataset, fold.number, fold.train[1])
        preprocessor, encoded, report = encode_splits(dataset, Splits(train=fold.train, val=fold.val, test=None))
        texts = fold.train[0] if dataset.loading.get("kind") == "text" else None
        data = prepare(dataset, encoded, cfg.model.family, cfg.data.standardize, preprocessor, report, texts=texts)
        parts = None if groups is None else {"train": groups[fold.train_index], "val": groups[fold.val_index]}
        out.append(FoldData(fold.number, encoded, data, fold.train_index, fold.val_index, parts))
    return out


def _check_enough(k: int, dataset: Dataset, y: np.ndarray, groups: np.ndarray | None, column: str | None) -> None:
    if dataset.task == "classification":
        labels, counts = np.unique(y, return_counts=True)
        smallest = int(np.argmin(counts))
        if counts[smallest] < k:
            raise ConfigError(
                f"data.folds = {k}: stratified folds need at least {k} rows of every class outside the test "
                f"split, but class {_name(dataset, labels[smallest])!r} has {int(counts[smallest])}; use "
                f"data.folds <= {int(counts[smallest])} or collect more rows of that class")
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups < k:
            raise ConfigError(f"data.folds = {k}: each group stays in one fold, and only {n_groups} groups of "
                              f"data.groups = {column!r} lie outside the test split; use data.folds <= {n_groups}")
    elif len(y) < k:
        raise ConfigError(f"data.folds = {k}: only {len(y)} rows lie outside the test split")


def _check_fold_classes(k: int, dataset: Dataset, number: int, y_train: np.ndarray) -> None:
    """A fold that never trains on a class cannot be judged on it; with groups that can happen."""
    if dataset.task != "classification":
        return
    missing = np.setdiff1d(np.arange(dataset.n_classes), y_train)
    if missing.size:
        raise ConfigError(f"data.folds = {k}: fold {number + 1}'s training part has no row of class "
                          f"{_name(dataset, missing[0])!r} (all its non-test rows fall in that fold's groups); "
                          f"use fewer folds, or rows of that class from more groups")


def _name(dataset: Dataset, label) -> str:
    names = dataset.class_names
    return str(names[int(label)]) if names else str(label)
